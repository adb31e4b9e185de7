//! `updraft conn check`: whether a named connection answers within 10 s, and what it is
//! (the server's version), for each kind a task can use: PostgreSQL, SQLite, Kafka, S3
//! and Spark Connect.

use crate::{Connection, TaskError};
use std::time::Duration;

/// How long a connection has to answer.
pub const CHECK_WITHIN: Duration = Duration::from_secs(10);

/// What a connection is, when it answers: its kind and what it says about itself.
pub async fn check_connection(conn: &Connection) -> Result<String, TaskError> {
    let shown = conn.to_string();
    let check = async {
        match conn.scheme() {
            "postgres" | "postgresql" => postgres(conn).await,
            "sqlite" => sqlite(conn).await,
            "kafka" => kafka(conn).await,
            "s3" | "s3a" => s3(conn).await,
            "sc" => crate::spark::server_version(conn)
                .await
                .map(|v| format!("Spark Connect, Spark {v}")),
            other => Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`: checks know postgres://, sqlite://, kafka://, s3:// and sc://",
                conn.name
            ))),
        }
    };
    match tokio::time::timeout(CHECK_WITHIN, check).await {
        Ok(answer) => answer.map_err(|e| crate::sql::redact(conn, e)),
        Err(_) => Err(TaskError::Retryable(format!(
            "{shown} does not answer within {} s",
            CHECK_WITHIN.as_secs()
        ))),
    }
}

async fn postgres(conn: &Connection) -> Result<String, TaskError> {
    let mut db = crate::sql::connect_postgres(conn).await?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut db)
        .await
        .map_err(crate::sql::db_error)?;
    Ok(version)
}

async fn sqlite(conn: &Connection) -> Result<String, TaskError> {
    let mut db = crate::sql::connect_sqlite(conn).await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut db)
        .await
        .map_err(crate::sql::db_error)?;
    Ok(format!("SQLite {version}"))
}

/// A Kafka-protocol cluster (`kafka://HOST:PORT[,HOST:PORT]`): its brokers and topics.
async fn kafka(conn: &Connection) -> Result<String, TaskError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let bootstrap = conn
        .secret_uri()
        .trim_start_matches("kafka://")
        .trim_end_matches('/')
        .to_string();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .map_err(|e| TaskError::Config(format!("bad Kafka address `{bootstrap}`: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let metadata = consumer.fetch_metadata(None, CHECK_WITHIN).map_err(|e| {
            TaskError::Retryable(format!(
                "the Kafka cluster at {bootstrap} does not answer: {e}"
            ))
        })?;
        Ok(format!(
            "Kafka protocol: {} broker(s), {} topic(s)",
            metadata.brokers().len(),
            metadata.topics().len()
        ))
    })
    .await
    .map_err(|e| TaskError::Retryable(format!("the Kafka check stopped: {e}")))?
}

/// An S3 bucket (`s3://bucket/prefix`, credentials and endpoint from `AWS_*`): that it
/// lists.
async fn s3(conn: &Connection) -> Result<String, TaskError> {
    use futures::StreamExt;
    let (store, prefix) = crate::lake::object_store_at(conn.secret_uri())?;
    let mut listing = store.list(Some(&prefix));
    match listing.next().await {
        Some(Err(e)) => Err(TaskError::Retryable(format!("listing {conn}: {e}"))),
        Some(Ok(_)) => Ok("S3: the bucket lists, objects under the prefix".into()),
        None => Ok("S3: the bucket lists, nothing under the prefix yet".into()),
    }
}
