//! `TaskInstanceHistoryResponse`: one attempt of a task instance, with Updraft's error
//! and metrics beside Airflow's fields; and the fields it shares with
//! `TaskInstanceResponse` (an instance is its latest attempt and a little more).

use super::DagVersionResponse;
use crate::store::{TaskInstanceRow, TaskState, TaskTryRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// What Airflow says of an attempt, whether it answers an instance or its history.
#[derive(Serialize, ToSchema)]
pub struct AttemptFields {
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
    pub dag_version: Option<DagVersionResponse>,
}

impl AttemptFields {
    /// The fields of `instance` as its latest attempt left it.
    pub fn of_instance(
        instance: &TaskInstanceRow,
        display_name: &str,
        version: Option<DagVersionResponse>,
    ) -> Self {
        Self {
            task_id: instance.task_id.clone(),
            dag_id: instance.dag_id.clone(),
            dag_run_id: instance.run_id.clone(),
            map_index: i64::from(instance.map_index),
            start_date: instance.started_at,
            end_date: instance.ended_at,
            duration: instance.duration,
            state: instance.state,
            try_number: instance.try_number,
            // Airflow counts retries (tries after the first); Updraft the tries allowed.
            max_tries: instance.max_tries.saturating_sub(1),
            task_display_name: instance.task_id.clone(),
            dag_display_name: display_name.to_string(),
            hostname: instance.hostname.clone(),
            unixname: None,
            pool: "default_pool",
            pool_slots: 1,
            queue: Some(instance.queue.clone()),
            priority_weight: None,
            operator: Some(instance.task_type.clone()),
            operator_name: Some(instance.task_type.clone()),
            queued_when: None,
            scheduled_when: None,
            pid: None,
            executor: None,
            executor_config: "{}",
            dag_version: version,
        }
    }
}

/// An attempt, as Airflow's `tries` answers it.
#[derive(Serialize, ToSchema)]
pub struct TaskInstanceHistoryResponse {
    #[serde(flatten)]
    pub attempt: AttemptFields,
    /// Updraft's: why the attempt failed, what it reported, and the job that ran it.
    pub error: Option<String>,
    pub metrics: serde_json::Value,
    pub job_id: Option<String>,
}

impl TaskInstanceHistoryResponse {
    /// Attempt `attempt` of `instance`, of the DAG people see as `display_name`.
    pub fn new(attempt: &TaskTryRow, instance: &TaskInstanceRow, display_name: &str) -> Self {
        let mut fields = AttemptFields::of_instance(instance, display_name, None);
        fields.start_date = Some(attempt.started_at);
        fields.end_date = attempt.ended_at;
        fields.duration = attempt.duration;
        fields.state = attempt.state;
        fields.try_number = attempt.try_number;
        fields.hostname = attempt.hostname.clone();
        Self {
            attempt: fields,
            error: attempt.error.clone(),
            metrics: serde_json::from_str(&attempt.metrics).unwrap_or_default(),
            job_id: attempt.job_id.clone(),
        }
    }
}
