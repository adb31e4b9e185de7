//! Spark over Spark Connect: a session per attempt ([`SparkSession`]), the SQL it sends,
//! and what Spark's errors mean for retries. `spark_sql` sends SQL as written;
//! `delta_sql` with `engine: spark` lets Spark compute while Updraft keeps the Delta log.

mod errors;
mod session;

pub use session::{Operation, SparkSession, command, relation, sql_relation};

use crate::{TaskContext, TaskError};
use std::collections::BTreeMap;

/// The connection a Spark task uses unless it names another.
pub const DEFAULT_CONN: &str = "spark";

/// Opens the attempt's Spark session on the connection named `conn`, tagged with the
/// attempt so that stopping it stops its operations on the server.
pub async fn attempt_session(
    ctx: &TaskContext,
    conn: &str,
    conf: &BTreeMap<String, String>,
) -> Result<SparkSession, TaskError> {
    let connection = ctx.connections.get(conn)?;
    SparkSession::open(connection, &attempt_tag(ctx), conf, &ctx.log, &ctx.cancel).await
}

/// The tag of an attempt's operations: the DAG, task, run and try, in characters Spark
/// takes in a tag.
fn attempt_tag(ctx: &TaskContext) -> String {
    let text = format!(
        "updraft-{}-{}-{}-try{}",
        ctx.dag_id, ctx.task_id, ctx.run_id, ctx.try_number
    );
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether the Spark Connect server at `conn` answers, and its version.
pub async fn server_version(conn: &crate::Connection) -> Result<String, TaskError> {
    let session = SparkSession::open(
        conn,
        "updraft-conn-check",
        &BTreeMap::new(),
        &crate::TaskLog::stderr(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    let version = session.version().await;
    session.close().await;
    version
}
