//! Where an attempt's log is: the path its row recorded, else where the settings put it.
//! The path always comes from the history, never from what a caller typed.

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
