//! What a task attempt is told about itself, and what it reports back.

use crate::{Connections, TaskLog};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a running attempt may need besides its configuration.
#[derive(Clone)]
pub struct TaskContext {
    /// The DAG the task belongs to.
    pub dag_id: String,
    /// The run this attempt belongs to.
    pub run_id: String,
    /// The task's id within its DAG.
    pub task_id: String,
    /// The lake root (`--lake`), where tasks keep tables of their own (`<lake>/audit`).
    pub lake: String,
    /// The folder of the DAG file; relative file paths in a task's config start here.
    pub dag_folder: std::path::PathBuf,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub try_number: u32,
    /// Set when this attempt checks again what an earlier check of the same try found
    /// not ready (a sensor, `trigger_dag` with `wait`): when that first check was. A
    /// sensor's `timeout` counts from there, across restarts.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Start of the run's data interval (inclusive).
    pub data_interval_start: DateTime<Utc>,
    /// End of the run's data interval (exclusive).
    pub data_interval_end: DateTime<Utc>,
    /// Named connections (`UPDRAFT_CONN_*`, `[connections]`).
    pub connections: Arc<Connections>,
    /// Where the attempt writes its log.
    pub log: TaskLog,
    /// Fires when the attempt must stop (timeout, shutdown).
    pub cancel: CancellationToken,
    /// Where the attempt reports records for the history (tests, models), for the
    /// caller to record with the attempt's end.
    pub reports: crate::Reports,
    /// How the attempt starts commands.
    pub processes: Processes,
    /// Other DAGs' runs, for `trigger_dag`: None outside a recorded run.
    pub dag_runs: Option<Arc<dyn crate::dag_runs::DagRuns>>,
}

/// How an attempt starts commands: under a supervisor that kills them when the process
/// running the attempt dies, each one reported to the caller.
#[derive(Clone, Default)]
pub struct Processes {
    /// The supervisor and its first argument (`updraft __supervise`); it leads the
    /// command's process group and kills it when its stdin (a pipe from this process)
    /// closes. None: commands run directly (`task test`, unit tests).
    pub supervisor: Option<(std::path::PathBuf, String)>,
    /// Told the process group of each command started (found again after a crash); the
    /// task goes on once it is recorded.
    pub on_start: Option<Arc<dyn Fn(u32) -> futures::future::BoxFuture<'static, ()> + Send + Sync>>,
}

/// The most an attempt's outputs may hold, as JSON text: they are for small values
/// (counts, names, short lists), not data.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The result of a successful attempt.
#[derive(Debug, Default, Clone)]
pub struct TaskOutcome {
    /// Figures the task reports (rows, bytes, status...), stored with the attempt.
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// Values the task hands to later tasks (`{{ outputs.<task_id>.<key> }}`, beside its
    /// metrics): a shell command's `$UPDRAFT_OUTPUT` lines, a query's rows.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// The task decided there was nothing to do and should be marked skipped.
    pub skipped: bool,
    /// A sensor's condition is not met yet: the task waits, holding no slot, and is
    /// checked again (in the same try) then.
    pub recheck: Option<Recheck>,
}

/// When a waiting task is checked again, and what it waits for (shown while it waits).
#[derive(Debug, Clone)]
pub struct Recheck {
    pub at: DateTime<Utc>,
    pub waiting_for: String,
}

impl Recheck {
    /// The attempt log's line for a check that found the condition not met.
    pub fn log_line(&self) -> String {
        format!(
            "not yet: waiting for {}; next check at {}",
            self.waiting_for,
            self.at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

impl TaskOutcome {
    /// An outcome that marks the task skipped: there was nothing to do.
    pub fn nothing_to_do() -> Self {
        Self {
            skipped: true,
            ..Self::default()
        }
    }

    /// An outcome that says the condition is not met yet: check again at `at`.
    pub fn not_yet(at: DateTime<Utc>, waiting_for: impl Into<String>) -> Self {
        Self {
            recheck: Some(Recheck {
                at,
                waiting_for: waiting_for.into(),
            }),
            ..Self::default()
        }
    }

    /// Adds one metric.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.metrics.insert(key.to_string(), value.into());
        self
    }

    /// Adds one output.
    pub fn with_output(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.outputs.insert(key.to_string(), value.into());
        self
    }
}
