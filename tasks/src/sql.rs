//! `sql`: runs statements against a named PostgreSQL or SQLite connection, in one
//! transaction. With `parameters`, each statement is prepared and the values are bound
//! (`$1`, `$2`, ...) instead of spliced into the SQL text.

use crate::{Connection, TaskContext, TaskError, TaskOutcome, parse_config};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _};
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlConfig {
    conn: String,
    sql: Statements,
    #[serde(default)]
    parameters: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "expected a SQL statement or a list of them")]
enum Statements {
    One(String),
    Many(Vec<String>),
}

impl Statements {
    fn list(&self) -> Vec<&str> {
        match self {
            Statements::One(s) => vec![s.as_str()],
            Statements::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}
updraft_core::declare_task_type!(Sql, "sql", |config, _| validate(config));

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: SqlConfig = parse_config(config)?;
    if cfg.sql.list().iter().all(|s| s.trim().is_empty()) {
        return Err(TaskError::Config("`sql` is empty".into()));
    }
    if let Some(bad) = cfg
        .parameters
        .iter()
        .find(|v| v.is_array() || v.is_object())
    {
        return Err(TaskError::Config(format!(
            "`parameters` must be strings, numbers, booleans or null, not {bad}"
        )));
    }
    Ok(())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let cfg: SqlConfig = parse_config(config)?;
    let conn = ctx.connections.get(&cfg.conn)?;
    ctx.log
        .line(format!("connecting to `{}` ({conn})", cfg.conn));
    let statements = cfg.sql.list();
    let work = async {
        match conn.scheme() {
            "postgres" | "postgresql" => run_postgres(conn, &statements, &cfg.parameters).await,
            "sqlite" => run_sqlite(conn, &statements, &cfg.parameters).await,
            other => Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`; the sql task supports postgres:// and sqlite://",
                cfg.conn
            ))),
        }
    };
    let rows = tokio::select! {
        r = work => r.map_err(|e| redact(conn, e))?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled("the transaction was rolled back".into())),
    };
    ctx.log.line(format!(
        "committed {} statement(s), {rows} row(s) affected",
        statements.len()
    ));
    Ok(TaskOutcome::default()
        .with("statements", statements.len())
        .with("rows_affected", rows))
}

/// Runs every statement in one transaction on the connection the macro arm opened.
macro_rules! run_in_transaction {
    ($conn:expr, $statements:expr, $parameters:expr) => {{
        let mut tx = $conn.begin().await.map_err(db_error)?;
        let mut rows = 0u64;
        for sql in $statements {
            let sql = AssertSqlSafe(sql.to_string());
            let done = if $parameters.is_empty() {
                sqlx::raw_sql(sql).execute(&mut *tx).await
            } else {
                let mut query = sqlx::query(sql);
                for p in $parameters {
                    query = match p {
                        Value::Null => query.bind(None::<String>),
                        Value::Bool(b) => query.bind(*b),
                        Value::Number(n) if n.is_i64() => query.bind(n.as_i64()),
                        Value::Number(n) => query.bind(n.as_f64()),
                        Value::String(s) => query.bind(s.clone()),
                        other => query.bind(other.to_string()),
                    };
                }
                query.execute(&mut *tx).await
            };
            rows += done.map_err(db_error)?.rows_affected();
        }
        tx.commit().await.map_err(db_error)?;
        Ok(rows)
    }};
}

async fn run_postgres(
    conn: &Connection,
    statements: &[&str],
    parameters: &[Value],
) -> Result<u64, TaskError> {
    let mut db = connect_postgres(conn).await?;
    run_in_transaction!(db, statements, parameters)
}

/// Opens a PostgreSQL connection (unreachable after a few seconds, not a minute).
pub(crate) async fn connect_postgres(conn: &Connection) -> Result<sqlx::PgConnection, TaskError> {
    crate::db_error::within_connect_timeout(
        &format!("connection `{}`", conn.name),
        sqlx::PgConnection::connect(conn.secret_uri()),
    )
    .await
}

/// Opens a SQLite database, creating the file when missing.
pub(crate) async fn connect_sqlite(conn: &Connection) -> Result<sqlx::SqliteConnection, TaskError> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(conn.secret_uri())
        .map_err(|e| TaskError::Config(format!("bad sqlite URI: {e}")))?
        .create_if_missing(true);
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(db_error)
}

async fn run_sqlite(
    conn: &Connection,
    statements: &[&str],
    parameters: &[Value],
) -> Result<u64, TaskError> {
    let mut db = connect_sqlite(conn).await?;
    run_in_transaction!(db, statements, parameters)
}

/// A database error: retried unless the server rejected the SQL itself.
pub(crate) fn db_error(e: sqlx::Error) -> TaskError {
    crate::db_error::task_error(e)
}

pub(crate) fn redact(conn: &Connection, e: TaskError) -> TaskError {
    match e {
        TaskError::Retryable(m) => TaskError::Retryable(conn.redact(&m)),
        TaskError::Fatal(m) => TaskError::Fatal(conn.redact(&m)),
        TaskError::Config(m) => TaskError::Config(conn.redact(&m)),
        TaskError::Cancelled(m) => TaskError::Cancelled(conn.redact(&m)),
    }
}
