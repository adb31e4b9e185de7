//! `TaskInstanceHistoryResponse`: one attempt of a task instance, with Updraft's error
//! and metrics beside Airflow's fields.

use crate::store::{TaskInstanceRow, TaskState, TaskTryRow};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An attempt, as Airflow's `tries` answers it.
#[derive(Serialize)]
pub struct TaskInstanceHistoryResponse {
    pub task_id: String,
    pub dag_id: String,
    pub dag_run_id: String,
    pub map_index: i64,
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
    pub pool: &'static str,
    pub pool_slots: i64,
    pub queue: Option<String>,
    pub priority_weight: Option<i64>,
    pub operator: Option<String>,
    pub operator_name: Option<String>,
    pub queued_when: Option<DateTime<Utc>>,
    pub scheduled_when: Option<DateTime<Utc>>,
    pub pid: Option<i64>,
    pub executor: Option<String>,
    pub executor_config: &'static str,
    pub dag_version: Option<super::DagVersionResponse>,
    /// Updraft's: why the attempt failed, what it reported, and the job that ran it.
    pub error: Option<String>,
    pub metrics: serde_json::Value,
    pub job_id: Option<String>,
}

impl TaskInstanceHistoryResponse {
    /// Attempt `attempt` of `instance`.
    pub fn new(attempt: &TaskTryRow, instance: &TaskInstanceRow) -> Self {
        Self {
            task_id: attempt.task_id.clone(),
            dag_id: attempt.dag_id.clone(),
            dag_run_id: attempt.run_id.clone(),
            map_index: -1,
            start_date: Some(attempt.started_at),
            end_date: attempt.ended_at,
            duration: attempt.duration,
            state: attempt.state,
            try_number: attempt.try_number,
            max_tries: instance.max_tries,
            task_display_name: attempt.task_id.clone(),
            dag_display_name: attempt.dag_id.clone(),
            hostname: attempt.hostname.clone(),
            unixname: None,
            pool: "default_pool",
            pool_slots: 1,
            queue: None,
            priority_weight: None,
            operator: Some(instance.task_type.clone()),
            operator_name: Some(instance.task_type.clone()),
            queued_when: None,
            scheduled_when: None,
            pid: None,
            executor: None,
            executor_config: "{}",
            dag_version: None,
            error: attempt.error.clone(),
            metrics: serde_json::from_str(&attempt.metrics).unwrap_or_default(),
            job_id: attempt.job_id.clone(),
        }
    }
}
