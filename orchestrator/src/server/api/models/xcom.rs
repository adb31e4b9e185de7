//! `XComResponse` and kin: a task instance's outputs as Airflow's XCom entries — one
//! entry per output (metrics included) and `return_value`, the whole object.

use crate::store::{DagRunRow, TaskInstanceRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// The key of the entry that holds every output at once.
pub const RETURN_VALUE: &str = "return_value";

/// One XCom entry without its value (a listing's item).
#[derive(Serialize, ToSchema)]
pub struct XComResponse {
    pub key: String,
    pub timestamp: DateTime<Utc>,
    pub logical_date: Option<DateTime<Utc>>,
    pub map_index: i64,
    pub task_id: String,
    pub dag_id: String,
    pub run_id: String,
    pub dag_display_name: String,
    pub task_display_name: String,
    pub run_after: DateTime<Utc>,
}

impl XComResponse {
    /// Entry `key` of the instance `ti` of `run` (of the DAG people see as `display_name`).
    pub fn new(key: &str, ti: &TaskInstanceRow, run: &DagRunRow, display_name: &str) -> Self {
        Self {
            key: key.to_string(),
            timestamp: ti.ended_at.or(ti.started_at).unwrap_or(run.queued_at),
            logical_date: Some(run.logical_date),
            map_index: i64::from(ti.map_index),
            task_id: ti.task_id.clone(),
            dag_id: ti.dag_id.clone(),
            run_id: ti.run_id.clone(),
            dag_display_name: display_name.to_string(),
            task_display_name: ti.task_id.clone(),
            run_after: super::dag_run::run_after(run),
        }
    }
}

/// One XCom entry with its value as JSON (Airflow's `XComResponseNative`) or, with
/// `stringify=true`, as JSON text (`XComResponseString`).
#[derive(Serialize, ToSchema)]
pub struct XComValueResponse {
    #[serde(flatten)]
    pub entry: XComResponse,
    pub value: serde_json::Value,
}

/// A page of XCom entries (Airflow's `XComCollectionResponse`).
#[derive(Serialize, ToSchema)]
pub struct XComCollectionResponse {
    pub xcom_entries: Vec<XComResponse>,
    pub total_entries: i64,
}
