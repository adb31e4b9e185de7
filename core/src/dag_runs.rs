//! What a task may ask of the orchestrator's history about other DAGs' runs: create one
//! (`trigger_dag`). The orchestrator gives an attempt of a recorded run an implementation;
//! a task run outside one (`updraft task test`) has none.

use crate::TaskError;
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

/// The orchestrator's side of [`RunRequest`].
pub trait DagRuns: Send + Sync {
    /// Creates the run (exactly once for the task asking, whatever its retries and
    /// however many schedulers), or says why not.
    fn trigger(&self, request: RunRequest) -> BoxFuture<'_, Result<RunCreated, TaskError>>;
}
