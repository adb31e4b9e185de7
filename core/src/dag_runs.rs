//! What a task may ask of the orchestrator's history about runs: create one of another
//! DAG (`trigger_dag`), look at one (`trigger_dag` with `wait`, the `dag_run` sensor), and
//! read what the task itself handed on in its DAG's last successful run (the `delta`
//! sensor). The orchestrator gives an attempt of a recorded run an implementation; a task
//! run outside one (`updraft task test`) has none.

use crate::{RunState, TaskError, TaskState};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// A run of another DAG to create.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub dag_id: String,
    /// Default: `manual__<logical date>`.
    pub run_id: Option<String>,
    /// Default: the logical date of the run the task belongs to.
    pub logical_date: Option<DateTime<Utc>>,
    /// The run's `conf` (a JSON object).
    pub conf: serde_json::Value,
    /// When a run with that id exists and this task did not create it: clear it and run
    /// it again, instead of failing.
    pub reset: bool,
    /// A later check of the try that made the request (`wait`): a run with that id is the
    /// one it made or cleared, found as it is.
    pub again: bool,
}

/// The run a request led to.
#[derive(Debug, Clone)]
pub struct RunCreated {
    pub dag_id: String,
    pub run_id: String,
    pub logical_date: DateTime<Utc>,
    /// False when this task had created it before (a retry) and it was kept.
    pub created: bool,
    /// True when an existing run was cleared to run again (`reset`).
    pub reset: bool,
}

/// Which run of a DAG to look at.
#[derive(Debug, Clone)]
pub enum RunAt {
    Id(String),
    LogicalDate(DateTime<Utc>),
    /// The logical date of the run the asking task belongs to.
    SameLogicalDate,
}

/// A run as a task sees it.
#[derive(Debug, Clone)]
pub struct RunSeen {
    pub run_id: String,
    pub state: RunState,
    /// The state of the task asked about, when one was (None when the run has no such
    /// task instance).
    pub task_state: Option<TaskState>,
}

/// The orchestrator's side of these requests.
pub trait DagRuns: Send + Sync {
    /// Creates the run (exactly once for the task asking, whatever its retries and
    /// however many schedulers), or says why not.
    fn trigger(&self, request: RunRequest) -> BoxFuture<'_, Result<RunCreated, TaskError>>;
    /// The run of `dag_id` at `at`, with the state of its task `task_id` when given;
    /// None when there is no such run.
    fn run<'a>(
        &'a self,
        dag_id: &'a str,
        at: RunAt,
        task_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<RunSeen>, TaskError>>;
    /// The outputs the asking task handed on in the last successful run of its DAG
    /// before this one (by logical date); None when there is none.
    fn previous_outputs(&self) -> BoxFuture<'_, Result<Option<serde_json::Value>, TaskError>>;
}
