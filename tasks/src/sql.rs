//! `sql`: runs statements against a named PostgreSQL or SQLite connection, in one
//! transaction. With `parameters`, each statement is prepared and the values are bound
//! (`$1`, `$2`, ...) instead of spliced into the SQL text. With `output:`, the last
//! statement's rows are its outputs.

use crate::lake::QueryResult;
use crate::{Connection, TaskContext, TaskError, TaskOutcome, parse_config};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _};
use sqlx::{Column, Row};
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlConfig {
    conn: String,
    sql: Statements,
    #[serde(default)]
    parameters: Vec<Value>,
    output: Option<SqlOutput>,
}

/// What of the last statement's rows the task hands on.
#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SqlOutput {
    /// Every row as an object, under `rows` (at most [`MAX_ROWS`]).
    Rows,
    /// The first row's columns as outputs of their own (none without a row).
    FirstRow,
}

/// The most rows `output: rows` hands on.
const MAX_ROWS: usize = 1000;

#[derive(Deserialize)]
#[serde(untagged, expecting = "expected a SQL statement or a list of them")]
pub(crate) enum Statements {
    One(String),
    Many(Vec<String>),
}

impl Statements {
    pub(crate) fn list(&self) -> Vec<&str> {
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
            "postgres" | "postgresql" => {
                run_postgres(conn, &statements, &cfg.parameters, cfg.output).await
            }
            "sqlite" => run_sqlite(conn, &statements, &cfg.parameters, cfg.output).await,
            other => Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`; the sql task supports postgres:// and sqlite://",
                cfg.conn
            ))),
        }
    };
    let (rows, returned) = tokio::select! {
        r = work => r.map_err(|e| redact(conn, e))?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled("the transaction was rolled back".into())),
    };
    ctx.log.line(format!(
        "committed {} statement(s), {rows} row(s) affected",
        statements.len()
    ));
    let outcome = TaskOutcome::default()
        .with("statements", statements.len())
        .with("rows_affected", rows);
    Ok(match (cfg.output, returned) {
        (Some(SqlOutput::Rows), Some(returned)) => outcome.with_output("rows", returned),
        (Some(SqlOutput::FirstRow), Some(returned)) => match returned.into_iter().next() {
            Some(Value::Object(first)) => TaskOutcome {
                outputs: first,
                ..outcome
            },
            _ => outcome,
        },
        _ => outcome,
    })
}

/// Binds `parameters` to `$query` ($1, $2, ...).
macro_rules! bind_parameters {
    ($query:expr, $parameters:expr) => {{
        let mut query = $query;
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
        query
    }};
}

/// The rows of a statement for `output:`, at most [`MAX_ROWS`] (more is an error).
pub(crate) fn at_most_max_rows(rows: Vec<Value>) -> Result<Vec<Value>, TaskError> {
    if rows.len() > MAX_ROWS {
        return Err(TaskError::Fatal(format!(
            "`output:` hands on at most {MAX_ROWS} rows and the last statement returned more: \
             add a LIMIT, or write the rows to a table and pass its name"
        )));
    }
    Ok(rows)
}

/// Runs every statement in one transaction on the connection the macro arm opened; with
/// `output`, the last one through `$returning` (the rows it returned, as objects).
macro_rules! run_in_transaction {
    ($conn:expr, $statements:expr, $parameters:expr, $output:expr, $returning:ident) => {{
        let mut tx = $conn.begin().await.map_err(db_error)?;
        let mut rows = 0u64;
        let mut returned = None;
        let last = $statements.len().saturating_sub(1);
        for (i, sql) in $statements.iter().enumerate() {
            if i == last && $output.is_some() {
                let found = at_most_max_rows($returning(&mut tx, sql, $parameters).await?)?;
                rows += found.len() as u64;
                returned = Some(found);
                continue;
            }
            let sql = AssertSqlSafe(sql.to_string());
            let done = if $parameters.is_empty() {
                sqlx::raw_sql(sql).execute(&mut *tx).await
            } else {
                bind_parameters!(sqlx::query(sql), $parameters)
                    .execute(&mut *tx)
                    .await
            };
            rows += done.map_err(db_error)?.rows_affected();
        }
        tx.commit().await.map_err(db_error)?;
        Ok((rows, returned))
    }};
}

async fn run_postgres(
    conn: &Connection,
    statements: &[&str],
    parameters: &[Value],
    output: Option<SqlOutput>,
) -> Result<(u64, Option<Vec<Value>>), TaskError> {
    let mut db = connect_postgres(conn).await?;
    run_in_transaction!(db, statements, parameters, output, postgres_rows)
}

/// A statement's rows as JSON objects, PostgreSQL typing them (`row_to_json`), at most
/// one more than [`MAX_ROWS`]; a statement that changes rows returns those of its
/// `RETURNING`.
pub(crate) async fn postgres_rows(
    tx: &mut sqlx::PgConnection,
    sql: &str,
    parameters: &[Value],
) -> Result<Vec<Value>, TaskError> {
    let statement = sql.trim().trim_end_matches(';');
    let wrapped = format!(
        "WITH t AS ({statement}) SELECT row_to_json(t)::text FROM t LIMIT {}",
        MAX_ROWS + 1
    );
    let query = sqlx::query_scalar::<_, String>(AssertSqlSafe(wrapped));
    let texts = bind_parameters!(query, parameters)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(texts
        .iter()
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect())
}

/// A statement's rows as JSON objects (SQLite types each value, not each column).
async fn sqlite_rows(
    tx: &mut sqlx::SqliteConnection,
    sql: &str,
    parameters: &[Value],
) -> Result<Vec<Value>, TaskError> {
    let query = sqlx::query(AssertSqlSafe(sql.to_string()));
    let rows: Vec<sqlx::sqlite::SqliteRow> = bind_parameters!(query, parameters)
        .fetch(&mut *tx)
        .take(MAX_ROWS + 1)
        .try_collect()
        .await
        .map_err(db_error)?;
    Ok(sqlite_json_rows(&rows).rows)
}

/// The first column of the first row `sql` returns on the connection (a sensor's
/// condition), typed as JSON; None when it returns no row.
pub(crate) async fn first_cell(conn: &Connection, sql: &str) -> Result<Option<Value>, TaskError> {
    let statement = sql.trim().trim_end_matches(';');
    let found = match conn.scheme() {
        "postgres" | "postgresql" => {
            // `json_each` over the row keeps its columns' order: the first is the cell.
            let wrapped = format!(
                "WITH t AS ({statement}) SELECT j.value::text FROM
                   (SELECT row_to_json(t) AS r FROM t LIMIT 1) s
                   CROSS JOIN LATERAL json_each(s.r) j LIMIT 1"
            );
            let mut db = connect_postgres(conn).await?;
            let text: Option<String> = sqlx::query_scalar(AssertSqlSafe(wrapped))
                .fetch_optional(&mut db)
                .await
                .map_err(db_error)?;
            text.and_then(|t| serde_json::from_str(&t).ok())
        }
        "sqlite" => {
            let mut db = connect_sqlite(conn).await?;
            let row = sqlx::query(AssertSqlSafe(statement.to_string()))
                .fetch_optional(&mut db)
                .await
                .map_err(db_error)?;
            let rows: Vec<_> = row.into_iter().collect();
            let found = sqlite_json_rows(&rows);
            let first = found.columns.first().cloned();
            found
                .rows
                .into_iter()
                .next()
                .zip(first)
                .and_then(|(row, column)| row.get(&column).cloned())
        }
        other => {
            return Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`; a sql condition needs postgres:// or sqlite://",
                conn.name
            )));
        }
    };
    Ok(found)
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
    output: Option<SqlOutput>,
) -> Result<(u64, Option<Vec<Value>>), TaskError> {
    let mut db = connect_sqlite(conn).await?;
    run_in_transaction!(db, statements, parameters, output, sqlite_rows)
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

/// SQLite rows as JSON objects (SQLite types each value, not each column).
pub(crate) fn sqlite_json_rows(rows: &[sqlx::sqlite::SqliteRow]) -> QueryResult {
    let columns: Vec<String> = rows
        .first()
        .map(|r| r.columns().iter().map(|c| c.name().to_string()).collect())
        .unwrap_or_default();
    let values = rows
        .iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for (i, name) in columns.iter().enumerate() {
                let value = row
                    .try_get::<Option<i64>, _>(i)
                    .map(|v| v.map(serde_json::Value::from))
                    .or_else(|_| {
                        row.try_get::<Option<f64>, _>(i)
                            .map(|v| v.map(serde_json::Value::from))
                    })
                    .or_else(|_| {
                        row.try_get::<Option<String>, _>(i)
                            .map(|v| v.map(serde_json::Value::from))
                    })
                    .ok()
                    .flatten()
                    .unwrap_or(serde_json::Value::Null);
                object.insert(name.clone(), value);
            }
            serde_json::Value::Object(object)
        })
        .collect();
    QueryResult {
        columns,
        rows: values,
    }
}
