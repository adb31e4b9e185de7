//! What people ask of runs — list them, trigger one, clear or mark its tasks, backfill a
//! range, pause a DAG — as requests that the CLI and the API server make the same way: a request struct in, a typed answer or a
//! [`RunsError`] out that tells a user's mistake from a failure.

pub mod backfill;
mod clear;
mod history;
pub mod list;
mod logs;
mod mark;
mod pause;
mod trigger;
mod upcoming;

pub use clear::{ClearRequest, Cleared, TaskPick, clear};
pub use history::{CleanReport, clean_history};
pub use list::{RunListRequest, RunPage, list};
pub use logs::{
    AttemptLog, LogPage, LogSource, LogTail, attempt_log, log_chunks, log_page, log_source,
    log_tail, tail_offset,
};
pub use mark::{MarkRequest, MarkState, MarkedRun, mark};
pub use pause::set_paused;
pub use trigger::{TriggerRequest, Triggered, manual_run_id, trigger};
pub use upcoming::{Upcoming, upcoming};

use crate::store::StoreError;

/// Why a request about runs did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// A field of the request is wrong (a bad run id, `conf` that is not an object...).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// What it names does not exist (a run).
    #[error("{0}")]
    NotFound(String),
    /// It clashes with what exists (a run id or logical date already taken).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something else failed (starting a job).
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl From<StoreError> for RunsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RunExists { .. } | StoreError::TaskRunning { .. } => {
                RunsError::Conflict(e.to_string())
            }
            other => RunsError::Store(other),
        }
    }
}
