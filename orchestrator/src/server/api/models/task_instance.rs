//! `TaskInstanceResponse`: a task of a run, with the DAG version it was planned on.

use super::{DagVersionResponse, stable_uuid};
use crate::store::{DagRunRow, TaskInstanceRow, TaskState};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Airflow's `map_index` of a task that is not mapped.
const NOT_MAPPED: i64 = -1;

/// A task instance, as Airflow's API answers it.
#[derive(Serialize)]
pub struct TaskInstanceResponse {
    /// A UUID, the same for the same task of the same run on every server.
    pub id: String,
    pub task_id: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub map_index: i64,
    pub logical_date: Option<DateTime<Utc>>,
    pub run_after: DateTime<Utc>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub state: TaskState,
    pub try_number: i64,
    pub max_tries: i64,
    pub task_display_name: String,
    pub dag_display_name: String,
    pub hostname: Option<String>,
    pub unixname: Option<String>,
    /// Updraft has no pools: every task is in Airflow's `default_pool`, one slot.
    pub pool: &'static str,
    pub pool_slots: i64,
    pub queue: Option<String>,
    pub priority_weight: Option<i64>,
    /// The task's type, Airflow's operator.
    pub operator: Option<String>,
    pub operator_name: Option<String>,
    pub queued_when: Option<DateTime<Utc>>,
    pub scheduled_when: Option<DateTime<Utc>>,
    pub pid: Option<i64>,
    pub executor: Option<String>,
    pub executor_config: &'static str,
    pub note: Option<String>,
    pub rendered_map_index: Option<String>,
    pub rendered_fields: Option<serde_json::Value>,
    pub trigger: Option<serde_json::Value>,
    pub triggerer_job: Option<serde_json::Value>,
    pub dag_version: Option<DagVersionResponse>,
    /// Updraft's: the task's type, and when an `up_for_retry` instance may run again.
    pub task_type: String,
    pub next_try_at: Option<DateTime<Utc>>,
}

impl TaskInstanceResponse {
    /// `ti` of `run`, planned on `version`.
    pub fn new(ti: &TaskInstanceRow, run: &DagRunRow, version: Option<DagVersionResponse>) -> Self {
        Self {
            id: stable_uuid(&[&ti.dag_id, &ti.run_id, &ti.task_id, &NOT_MAPPED.to_string()]),
            task_id: ti.task_id.clone(),
            dag_id: ti.dag_id.clone(),
            dag_run_id: ti.run_id.clone(),
            map_index: NOT_MAPPED,
            logical_date: Some(run.logical_date),
            run_after: super::dag_run::run_after(run),
            start_date: ti.started_at,
            end_date: ti.ended_at,
            duration: ti.duration,
            state: ti.state,
            try_number: ti.try_number,
            max_tries: ti.max_tries,
            task_display_name: ti.task_id.clone(),
            dag_display_name: ti.dag_id.clone(),
            hostname: ti.hostname.clone(),
            unixname: None,
            pool: "default_pool",
            pool_slots: 1,
            queue: None,
            priority_weight: None,
            operator: Some(ti.task_type.clone()),
            operator_name: Some(ti.task_type.clone()),
            queued_when: None,
            scheduled_when: None,
            pid: None,
            executor: None,
            executor_config: "{}",
            note: None,
            rendered_map_index: None,
            rendered_fields: None,
            trigger: None,
            triggerer_job: None,
            dag_version: version,
            task_type: ti.task_type.clone(),
            next_try_at: ti.next_try_at,
        }
    }
}
