//! Where an attempt's log is: the path its row recorded, else where the settings put it.
//! The path always comes from the history, never from what a caller typed. And the end of
//! a log, read without reading the rest.

use super::RunsError;
use crate::settings::Settings;
use crate::store::{Store, TaskTryRow};
use std::path::PathBuf;

/// One attempt and its log file.
pub struct AttemptLog {
    pub attempt: TaskTryRow,
    pub path: PathBuf,
}

/// The log of attempt `try_number` (default: the latest) of a task in a run.
pub async fn attempt_log(
    store: &Store,
    settings: &Settings,
    (dag_id, run_id, task_id): (&str, &str, &str),
    try_number: Option<i64>,
) -> Result<AttemptLog, RunsError> {
    let tries = store.tries(dag_id, run_id, Some(task_id)).await?;
    let chosen = match try_number {
        Some(n) => tries.into_iter().find(|t| t.try_number == n),
        None => tries.into_iter().last(),
    };
    let Some(attempt) = chosen else {
        return Err(RunsError::NotFound(format!(
            "no attempt{} of task `{task_id}` in run `{run_id}` of `{dag_id}`",
            try_number.map(|n| format!(" {n}")).unwrap_or_default()
        )));
    };
    let path = log_path(settings, &attempt)?;
    Ok(AttemptLog { attempt, path })
}

/// The log file of an attempt already read from the history.
pub fn log_path(settings: &Settings, attempt: &TaskTryRow) -> Result<PathBuf, RunsError> {
    match &attempt.log_path {
        Some(path) => Ok(PathBuf::from(path)),
        None => settings
            .log_path(
                &attempt.dag_id,
                &attempt.run_id,
                &attempt.task_id,
                attempt.try_number,
            )
            .map_err(RunsError::NotFound),
    }
}

/// The end of a log file.
pub struct LogTail {
    /// The last lines (whole lines, unless one line is longer than asked for).
    pub text: String,
    /// The size of the whole file.
    pub total_bytes: u64,
    /// Whether the file holds more than `text`.
    pub truncated: bool,
}

/// The last `max_bytes` of a log, read from its end (an attempt with no file: empty).
pub async fn log_tail(path: &std::path::Path, max_bytes: u64) -> std::io::Result<LogTail> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogTail {
                text: String::new(),
                total_bytes: 0,
                truncated: false,
            });
        }
        Err(e) => return Err(e),
    };
    let total_bytes = file.metadata().await?.len();
    let start = total_bytes.saturating_sub(max_bytes);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes).await?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0
        && let Some(newline) = text.find('\n')
        && newline + 1 < text.len()
    {
        // Begin at a whole line.
        text.drain(..=newline);
    }
    Ok(LogTail {
        text,
        total_bytes,
        truncated: start > 0,
    })
}
