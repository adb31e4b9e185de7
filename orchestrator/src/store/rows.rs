//! Rows of the history tables as read back, serialized with their column names.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use updraft_core::{RunState, RunType, TaskState};

/// Column list shared by every `dag_run` query.
pub(super) const DAG_RUN_SELECT: &str =
    "SELECT dag_id, run_id, run_type, logical_date, data_interval_start,
    data_interval_end, state, conf, queued_at, started_at, ended_at, job_id, dag_version, note FROM dag_run";

row_struct! {
    /// A row of `dag`.
    #[derive(Debug, Clone, Serialize)]
    pub struct DagRow {
        pub dag_id: String,
        pub is_paused: bool,
        pub schedule: Option<String>,
        pub timezone: String,
        pub fileloc: String,
        pub description: Option<String>,
        pub last_parsed_at: DateTime<Utc>,
        /// When the next scheduled run is due (None: none is, or no scheduler has looked).
        pub next_run_after: Option<DateTime<Utc>>,
    }
}

row_struct! {
    /// A row of `dag_run`.
    #[derive(Debug, Clone, Serialize)]
    pub struct DagRunRow {
        pub dag_id: String,
        pub run_id: String,
        pub run_type: RunType,
        pub logical_date: DateTime<Utc>,
        pub data_interval_start: DateTime<Utc>,
        pub data_interval_end: DateTime<Utc>,
        pub state: RunState,
        /// Shown with the values of password-like keys hidden (tasks read them whole).
        #[serde(serialize_with = "as_shown_conf")]
        pub conf: String,
        pub queued_at: DateTime<Utc>,
        pub started_at: Option<DateTime<Utc>>,
        pub ended_at: Option<DateTime<Utc>>,
        /// The job executing the run by itself; None: any scheduler.
        #[serde(skip)]
        pub job_id: Option<String>,
        /// The DAG version the run is worked with (None until it starts).
        pub dag_version: Option<i64>,
        /// What a person wrote about the run.
        pub note: Option<String>,
    }
}

impl DagRunRow {
    /// Whether the run is still to finish (queued or running).
    pub fn is_active(&self) -> bool {
        matches!(self.state, RunState::Queued | RunState::Running)
    }

    /// The run's `conf` as JSON (an empty object when unreadable).
    pub fn conf_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.conf).unwrap_or_else(|_| serde_json::json!({}))
    }

    /// The run's `conf` as people see it: values under password-like keys hidden.
    pub fn conf_shown(&self) -> serde_json::Value {
        updraft_core::secrets::hide_secret_keys(&self.conf_json())
    }
}

/// Column list shared by every `task_instance` query that reads whole rows.
pub(super) const TASK_INSTANCE_SELECT: &str =
    "SELECT dag_id, run_id, task_id, map_index, map_item, task_type, state, try_number,
    max_tries, started_at, ended_at, duration, hostname, next_try_at, dag_version, note, queue
    FROM task_instance";

row_struct! {
    /// A row of `task_instance`.
    #[derive(Debug, Clone, Serialize)]
    pub struct TaskInstanceRow {
        pub dag_id: String,
        pub run_id: String,
        pub task_id: String,
        /// Which instance of a mapped task (`for_each`) this is; -1: not mapped.
        pub map_index: i32,
        /// A mapped instance's item (JSON).
        pub map_item: Option<String>,
        pub task_type: String,
        pub state: TaskState,
        pub try_number: i64,
        pub max_tries: i64,
        pub started_at: Option<DateTime<Utc>>,
        pub ended_at: Option<DateTime<Utc>>,
        pub duration: Option<f64>,
        pub hostname: Option<String>,
        /// When an `up_for_retry` instance may run again.
        pub next_try_at: Option<DateTime<Utc>>,
        /// The DAG version the instance was planned on.
        pub dag_version: Option<i64>,
        /// What a person wrote about the instance.
        pub note: Option<String>,
        /// The queue whose schedulers may run it.
        pub queue: String,
    }
}

row_struct! {
    /// A row of `task_try`: one attempt.
    #[derive(Debug, Clone, Serialize)]
    pub struct TaskTryRow {
        pub dag_id: String,
        pub run_id: String,
        pub task_id: String,
        /// Its instance's map index (-1: not mapped).
        pub map_index: i32,
        pub try_number: i64,
        pub state: TaskState,
        pub started_at: DateTime<Utc>,
        pub ended_at: Option<DateTime<Utc>>,
        pub duration: Option<f64>,
        pub hostname: Option<String>,
        pub error: Option<String>,
        pub log_path: Option<String>,
        #[serde(serialize_with = "as_json")]
        pub metrics: String,
        /// The job that ran the attempt.
        pub job_id: Option<String>,
        /// What a waiting task (a sensor) waits, or waited, for.
        pub waiting_for: Option<String>,
    }
}

/// JSON stored as text is shown as JSON, not as a quoted string.
fn as_shown_conf<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => updraft_core::secrets::hide_secret_keys(&v).serialize(s),
        Err(_) => s.serialize_str(updraft_core::secrets::MASK),
    }
}

fn as_json<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.serialize(s),
        Err(_) => s.serialize_str(text),
    }
}

row_struct! {
    /// A row of `job`: a process that executes runs.
    #[derive(Debug, Clone, Serialize)]
    pub struct JobRow {
        pub job_id: String,
        pub job_type: String,
        pub hostname: String,
        pub pid: i64,
        pub state: String,
        pub started_at: DateTime<Utc>,
        pub heartbeat_at: DateTime<Utc>,
        pub ended_at: Option<DateTime<Utc>>,
    }
}
