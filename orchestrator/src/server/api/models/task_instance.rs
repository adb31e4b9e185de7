//! `TaskInstanceResponse`: a task of a run, with the DAG version it was planned on.

use super::task_try::AttemptFields;
use super::{DagVersionResponse, stable_uuid};
use crate::store::{DagRunRow, TaskInstanceRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A task instance, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct TaskInstanceResponse {
    /// A UUID, the same for the same task of the same run on every server.
    pub id: String,
    #[serde(flatten)]
    pub attempt: AttemptFields,
    pub logical_date: Option<DateTime<Utc>>,
    pub run_after: DateTime<Utc>,
    pub note: Option<String>,
    pub rendered_map_index: Option<String>,
    pub rendered_fields: Option<serde_json::Value>,
    pub trigger: Option<serde_json::Value>,
    pub triggerer_job: Option<serde_json::Value>,
    /// Updraft's: the task's type, and when an `up_for_retry` instance may run again.
    pub task_type: String,
    pub next_try_at: Option<DateTime<Utc>>,
}

impl TaskInstanceResponse {
    /// `ti` of `run` (of the DAG people see as `display_name`), planned on `version`.
    pub fn new(
        ti: &TaskInstanceRow,
        run: &DagRunRow,
        display_name: &str,
        version: Option<DagVersionResponse>,
    ) -> Self {
        Self {
            id: stable_uuid(&[
                &ti.dag_id,
                &ti.run_id,
                &ti.task_id,
                &ti.map_index.to_string(),
            ]),
            attempt: AttemptFields::of_instance(ti, display_name, version),
            logical_date: Some(run.logical_date),
            run_after: super::dag_run::run_after(run),
            note: ti.note.clone(),
            rendered_map_index: (ti.map_index >= 0).then(|| ti.map_index.to_string()),
            rendered_fields: None,
            trigger: None,
            triggerer_job: None,
            task_type: ti.task_type.clone(),
            next_try_at: ti.next_try_at,
        }
    }
}
