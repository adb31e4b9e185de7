//! Database errors as a person reads them, and whether a retry can help. PostgreSQL's
//! own source line (sqlx appends `at line 1392`) is left out: it reads as a line of the
//! user's SQL. The position in the statement, the detail and the hint are kept.

use crate::TaskError;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use std::time::Duration;

/// How long opening a database connection may take before it is reported unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The error's text for messages.
pub fn describe(e: &sqlx::Error) -> String {
    let Some(db) = e.as_database_error() else {
        return match e {
            sqlx::Error::Io(io) => format!("cannot reach the database: {}", io_reason(io)),
            sqlx::Error::PoolTimedOut => {
                "timed out waiting for a database connection (is the server up and reachable?)"
                    .into()
            }
            other => other.to_string(),
        };
    };
    let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() else {
        return db.message().to_string();
    };
    let mut text = format!("{} (SQLSTATE {})", pg.message(), pg.code());
    if let Some(PgErrorPosition::Original(at)) = pg.position() {
        text.push_str(&format!(" at character {at} of the statement"));
    }
    if let Some(detail) = pg.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = pg.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

/// "connection refused" and its kin in plain words.
fn io_reason(io: &std::io::Error) -> String {
    match io.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => io.to_string(),
    }
}

/// Whether a retry can fix it: SQL that the server rejects as written (syntax, unknown
/// names, bad data) fails the same way every time. Constraint violations are retried:
/// writers racing for one key (or one catalog entry) produce them too.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return !matches!(
            e,
            sqlx::Error::Configuration(_) | sqlx::Error::ColumnNotFound(_)
        );
    };
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<PgDatabaseError>().is_some() {
        // 42: syntax error or access rule violation; 22: data exception; 0A: feature
        // not supported.
        return !["42", "22", "0A"].iter().any(|c| code.starts_with(c));
    }
    // SQLite: extended result codes, whose low byte is the primary code. SQLITE_ERROR
    // (syntax, a missing table), SQLITE_MISMATCH and SQLITE_RANGE are the statement's own.
    let primary = code.parse::<i32>().map_or(0, |c| c & 0xff);
    !matches!(primary, 1 | 20 | 25)
}

/// A task error for a database error: fatal when no retry can help.
pub fn task_error(e: sqlx::Error) -> TaskError {
    let text = format!("database error: {}", describe(&e));
    if is_retryable(&e) {
        TaskError::Retryable(text)
    } else {
        TaskError::Fatal(text)
    }
}

/// Runs a connect future with [`CONNECT_TIMEOUT`]; a slow one is reported unreachable.
pub async fn within_connect_timeout<T>(
    what: &str,
    connect: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, TaskError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(result) => result.map_err(task_error),
        Err(_) => Err(TaskError::Retryable(format!(
            "cannot reach {what}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}
