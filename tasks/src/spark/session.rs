//! One attempt's Spark session over Spark Connect: a new server-side session tagged with
//! the attempt, whose every operation is logged (id, SQL, time; Spark's error class and
//! SQLSTATE on failure) and interrupted on the server when the attempt is stopped.

use super::errors::{does_not_answer, spark_error};
use crate::{Connection, TaskError, TaskLog};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::ipc::reader::StreamReader;
use futures::StreamExt;
use spark_connect_core::{ChannelBuilder, RetryPolicy, SparkConnectClient};
use spark_connect_proto as proto;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a server has to answer the first call before the attempt fails as retryable:
/// the client's own retries would otherwise wait for more than ten minutes.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Settings every attempt's session gets before the user's `spark_conf`: UTC, so a
/// timestamp means the same instant on both sides, and Parquet timestamps as INT64
/// microseconds (Spark's INT96 default reads back as `timestamp_ntz` elsewhere).
const SESSION_CONF: [(&str, &str); 2] = [
    ("spark.sql.session.timeZone", "UTC"),
    ("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS"),
];

/// A Spark Connect session of one attempt.
pub struct SparkSession {
    client: SparkConnectClient,
    user_id: String,
    /// The tag on every operation of the attempt, which interrupts them all at once.
    tag: String,
    /// Where the server is, token masked, for messages.
    shown: String,
    log: TaskLog,
    cancel: CancellationToken,
}

/// What an operation sends: a query whose rows come back, or a command.
pub enum Operation {
    Query(Box<proto::Relation>),
    Command(Box<proto::Command>),
}

impl SparkSession {
    /// Opens a new session on the server `conn` names, tagged `tag`, with the session
    /// settings and `conf`; fails as retryable when the server does not answer in 10 s.
    pub async fn open(
        conn: &Connection,
        tag: &str,
        conf: &BTreeMap<String, String>,
        log: &TaskLog,
        cancel: &CancellationToken,
    ) -> Result<Self, TaskError> {
        let shown = conn.to_string();
        let builder = ChannelBuilder::parse(conn.secret_uri()).map_err(|e| {
            TaskError::Config(format!(
                "connection `{}` is not a Spark Connect URL ({}): expected sc://host:15002/;token=…",
                conn.name,
                conn.redact(&e.to_string())
            ))
        })?;
        let mut client = SparkConnectClient::connect(&builder)
            .await
            .map_err(|e| TaskError::Config(format!("{shown}: {}", conn.redact(&e.to_string()))))?;
        // Our own deadline bounds the first answer; later calls fail over to the attempt's
        // retries instead of the client's hour-long backoff.
        client.set_retry_policy(RetryPolicy {
            max_retries: Some(2),
            initial_backoff_ms: 200,
            max_retry_exception_elapsed_time_ms: Some(ANSWER_WITHIN.as_millis() as u64),
            ..RetryPolicy::default()
        });
        let session = Self {
            // The server keeps sessions by user and id: the client's own calls (interrupt,
            // release) send its user, so every request must.
            user_id: builder.user_id().unwrap_or_default().to_string(),
            client,
            tag: tag.replace(',', "_"),
            shown,
            log: log.clone(),
            cancel: cancel.clone(),
        };
        let version = session.version().await?;
        log.line(format!(
            "Spark {version} at {}: session {} tagged {}",
            session.shown,
            session.client.session_id(),
            session.tag
        ));
        for (key, value) in SESSION_CONF
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(conf.clone())
        {
            session.set_conf(&key, &value).await?;
        }
        Ok(session)
    }

    /// The server's Spark version, or a retryable error when it does not answer in 10 s.
    pub async fn version(&self) -> Result<String, TaskError> {
        let request = proto::AnalyzePlanRequest {
            session_id: self.client.session_id().to_string(),
            user_context: Some(self.user_context()),
            analyze: Some(proto::analyze_plan_request::Analyze::SparkVersion(
                proto::analyze_plan_request::SparkVersion::default(),
            )),
            ..Default::default()
        };
        let answer = tokio::time::timeout(ANSWER_WITHIN, self.client.analyze_plan(request))
            .await
            .map_err(|_| does_not_answer(&self.shown, "no answer"))?
            .map_err(|e| does_not_answer(&self.shown, &e.to_string()))?;
        match answer.result {
            Some(proto::analyze_plan_response::Result::SparkVersion(v)) => Ok(v.version),
            _ => Err(TaskError::Fatal(format!(
                "{} answered a version request without a version",
                self.shown
            ))),
        }
    }

    async fn set_conf(&self, key: &str, value: &str) -> Result<(), TaskError> {
        tokio::time::timeout(ANSWER_WITHIN, self.client.set_config(key, value))
            .await
            .map_err(|_| does_not_answer(&self.shown, "no answer to a setting"))?
            .map_err(|e| spark_error(&format!("setting {key}"), &e))
    }

    /// Runs `sql` and returns its rows (none for a statement without a result).
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, TaskError> {
        self.execute(Operation::Query(Box::new(sql_relation(sql))), sql)
            .await
    }

    /// Runs one operation, logged as `what`; stops it on the server when the attempt is
    /// cancelled.
    pub async fn execute(
        &self,
        operation: Operation,
        what: &str,
    ) -> Result<Vec<RecordBatch>, TaskError> {
        let operation_id = uuid::Uuid::new_v4().to_string();
        let plan = proto::Plan {
            op_type: Some(match operation {
                Operation::Query(relation) => proto::plan::OpType::Root(*relation),
                Operation::Command(command) => proto::plan::OpType::Command(*command),
            }),
        };
        let request = proto::ExecutePlanRequest {
            session_id: self.client.session_id().to_string(),
            user_context: Some(self.user_context()),
            operation_id: Some(operation_id.clone()),
            plan: Some(plan),
            client_type: Some(format!("updraft/{}", env!("CARGO_PKG_VERSION"))),
            tags: vec![self.tag.clone()],
            ..Default::default()
        };
        self.log.line(format!(
            "spark operation {operation_id}: {}",
            one_line(what)
        ));
        let started = Instant::now();
        let run = async {
            let mut stream = self
                .client
                .execute_plan(request)
                .await
                .map_err(|e| spark_error("starting the operation", &e))?;
            let mut batches = Vec::new();
            while let Some(answer) = stream.next().await {
                let answer = answer.map_err(|status| {
                    spark_error(
                        "running the operation",
                        &spark_connect_core::SparkError::from_grpc_status(status),
                    )
                })?;
                if let Some(proto::execute_plan_response::ResponseType::ArrowBatch(batch)) =
                    answer.response_type
                {
                    batches.extend(arrow_batches(&batch.data)?);
                }
            }
            Ok::<_, TaskError>(batches)
        };
        let result = tokio::select! {
            result = run => result,
            _ = self.cancel.cancelled() => {
                self.interrupt().await;
                Err(TaskError::Cancelled(format!("spark operation {operation_id} interrupted")))
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok(batches) => {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                self.log.line(format!(
                    "spark operation {operation_id} done in {seconds:.2}s ({rows} rows back)"
                ));
            }
            Err(e) => self.log.line(format!(
                "spark operation {operation_id} failed after {seconds:.2}s: {e}"
            )),
        }
        result
    }

    /// Stops every running operation of the attempt on the server.
    pub async fn interrupt(&self) {
        let ended = tokio::time::timeout(ANSWER_WITHIN, self.client.interrupt_tag(&self.tag)).await;
        match ended {
            Ok(Ok(ids)) => self.log.line(format!(
                "interrupted {} spark operation(s) tagged {}",
                ids.len(),
                self.tag
            )),
            Ok(Err(e)) => self
                .log
                .line(format!("could not interrupt spark operations: {e}")),
            Err(_) => self
                .log
                .line(format!("{} did not answer the interrupt", self.shown)),
        }
    }

    /// Ends the session on the server (its temp views go with it).
    pub async fn close(self) {
        if let Ok(Err(e)) = tokio::time::timeout(ANSWER_WITHIN, self.client.release_session()).await
        {
            tracing::debug!("releasing the spark session: {e}");
        }
    }

    /// The attempt's log.
    pub fn log(&self) -> &TaskLog {
        &self.log
    }

    fn user_context(&self) -> proto::UserContext {
        proto::UserContext {
            user_id: self.user_id.clone(),
            ..Default::default()
        }
    }
}

/// A relation that runs `sql`.
pub fn sql_relation(sql: &str) -> proto::Relation {
    relation(proto::relation::RelType::Sql(proto::Sql {
        query: sql.to_string(),
        ..Default::default()
    }))
}

/// A relation of the given kind.
pub fn relation(kind: proto::relation::RelType) -> proto::Relation {
    proto::Relation {
        common: None,
        rel_type: Some(kind),
    }
}

/// A command of the given kind.
pub fn command(kind: proto::command::CommandType) -> proto::Command {
    proto::Command {
        command_type: Some(kind),
    }
}

/// Decodes the Arrow IPC stream of one answer.
fn arrow_batches(data: &[u8]) -> Result<Vec<RecordBatch>, TaskError> {
    let reader = StreamReader::try_new(std::io::Cursor::new(data), None)
        .map_err(|e| TaskError::Fatal(format!("Spark sent rows that do not decode: {e}")))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TaskError::Fatal(format!("Spark sent rows that do not decode: {e}")))
}

/// SQL on one line, shortened for the log.
fn one_line(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}
