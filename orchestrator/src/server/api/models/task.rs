//! `TaskResponse`: a task of a DAG as defined (not one of a run).

use crate::dag::Task;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Airflow's serialized `timedelta`.
#[derive(Serialize, ToSchema)]
pub struct TimeDelta {
    #[serde(rename = "__type")]
    pub kind: &'static str,
    pub days: u64,
    pub seconds: u64,
    pub microseconds: u32,
}

impl From<Duration> for TimeDelta {
    fn from(d: Duration) -> Self {
        let secs = d.as_secs();
        Self {
            kind: "TimeDelta",
            days: secs / 86_400,
            seconds: secs % 86_400,
            microseconds: d.subsec_micros(),
        }
    }
}

/// A task, as Airflow's API answers it; its type is Airflow's operator.
#[derive(Serialize, ToSchema)]
pub struct TaskResponse {
    pub task_id: String,
    pub task_display_name: String,
    pub operator_name: String,
    pub owner: Option<String>,
    pub doc_md: Option<String>,
    pub downstream_task_ids: Vec<String>,
    pub trigger_rule: &'static str,
    pub retries: u32,
    pub retry_delay: TimeDelta,
    /// Airflow's field is a number (its flag as 0/1, or the backoff's base).
    pub retry_exponential_backoff: u8,
    pub execution_timeout: Option<TimeDelta>,
    pub depends_on_past: bool,
    pub wait_for_downstream: bool,
    pub extra_links: Vec<String>,
    pub is_mapped: bool,
    pub pool: &'static str,
    pub pool_slots: u32,
    pub params: Option<serde_json::Value>,
    pub template_fields: Vec<String>,
    /// Updraft's: the task's type, upstream ids and `with:` block as written.
    pub task_type: String,
    pub upstream_task_ids: Vec<String>,
}

impl From<&Task> for TaskResponse {
    fn from(task: &Task) -> Self {
        Self {
            task_id: task.task_id.clone(),
            task_display_name: task.task_id.clone(),
            operator_name: task.task_type.clone(),
            owner: None,
            doc_md: task.description.clone(),
            downstream_task_ids: task.downstream.clone(),
            trigger_rule: task.trigger_rule.as_str(),
            retries: task.retry.retries,
            retry_delay: task.retry.delay.into(),
            retry_exponential_backoff: u8::from(task.retry.exponential_backoff),
            execution_timeout: task.execution_timeout.map(TimeDelta::from),
            depends_on_past: false,
            wait_for_downstream: false,
            extra_links: Vec::new(),
            is_mapped: false,
            pool: "default_pool",
            pool_slots: 1,
            params: None,
            template_fields: vec!["with".to_string()],
            task_type: task.task_type.clone(),
            upstream_task_ids: task.upstream.clone(),
        }
    }
}

/// A task a run would gain from a newer DAG version (it has no instance yet).
#[derive(Serialize, ToSchema)]
pub struct NewTaskResponse {
    pub task_id: String,
    pub task_display_name: String,
}
