//! What Updraft's task types and its orchestrator both need, so that neither reaches into
//! the other: the task-type contract ([`TaskType`], [`TaskContext`], [`TaskOutcome`],
//! [`TaskError`]), the records an attempt reports ([`Report`]), the stored states and
//! run types, the attempt log, connections, secrets masking, YAML positions, database
//! errors, durations, and where records stream (a landing folder or a Kafka topic).
//!
//! How a report becomes a row: a task pushes a [`Report`] into `ctx.reports` while it
//! runs; the engine takes them when the attempt ends and the store writes each into its
//! table (`store/reports.rs`) in the transaction that records the attempt's end.

pub mod config_message;
mod connections;
mod context;
pub mod csv_row;
pub mod dag_runs;
pub mod db_error;
mod error;
pub mod log;
pub mod report;
pub mod secrets;
mod state;
pub mod stored_name;
mod stream_uri;
mod task_type;
pub mod yaml_locations;

pub use connections::{Connection, Connections};
pub use context::{MAX_OUTPUT_BYTES, Processes, Recheck, TaskContext, TaskOutcome};
pub use error::TaskError;
pub use log::TaskLog;
pub use report::{Report, ReportKind, Reports};
pub use state::{RunState, RunType, TaskState};
pub use stored_name::UnknownName;
pub use stream_uri::StreamUri;
pub use task_type::{TaskType, literal_paths};

/// Parses a human duration such as `30s`, `10m`, `1h` or `1d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(trimmed)
        .map_err(|e| format!("bad duration `{text}`: {e} (use e.g. 30s, 10m, 1h, 1d)"))
}
