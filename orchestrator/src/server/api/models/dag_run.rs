//! `DAGRunResponse`: a run, with the DAG versions it was worked with.

use super::{ClearTaskInstanceCollectionResponse, DagVersionResponse};
use crate::store::{DagRunRow, RunState, RunType};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A run, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct DagRunResponse {
    pub dag_run_id: String,
    pub dag_id: String,
    pub dag_display_name: String,
    pub logical_date: Option<DateTime<Utc>>,
    pub queued_at: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    /// Seconds from start to end.
    pub duration: Option<f64>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
    /// When the run became due: the end of a scheduled run's interval, else its logical date.
    pub run_after: DateTime<Utc>,
    pub last_scheduling_decision: Option<DateTime<Utc>>,
    pub run_type: RunType,
    pub state: RunState,
    pub triggered_by: Option<String>,
    pub triggering_user_name: Option<String>,
    /// Shown with the values of password-like keys hidden (tasks read them whole).
    pub conf: serde_json::Value,
    pub note: Option<String>,
    pub dag_versions: Vec<DagVersionResponse>,
    pub bundle_version: Option<String>,
    pub partition_key: Option<String>,
    pub partition_date: Option<DateTime<Utc>>,
    /// Updraft's: the version the run is pinned to (None until it starts).
    pub dag_version: Option<i64>,
}

impl DagRunResponse {
    /// `run` of the DAG people see as `display_name`, worked with `versions` (oldest
    /// first).
    pub fn new(run: &DagRunRow, display_name: &str, versions: Vec<DagVersionResponse>) -> Self {
        Self {
            dag_run_id: run.run_id.clone(),
            dag_id: run.dag_id.clone(),
            dag_display_name: display_name.to_string(),
            logical_date: Some(run.logical_date),
            queued_at: Some(run.queued_at),
            start_date: run.started_at,
            end_date: run.ended_at,
            duration: run
                .started_at
                .zip(run.ended_at)
                .map(|(start, end)| (end - start).as_seconds_f64()),
            data_interval_start: Some(run.data_interval_start),
            data_interval_end: Some(run.data_interval_end),
            run_after: run_after(run),
            last_scheduling_decision: None,
            run_type: run.run_type,
            state: run.state,
            triggered_by: None,
            triggering_user_name: None,
            conf: run.conf_shown(),
            note: run.note.clone(),
            dag_versions: versions,
            bundle_version: None,
            partition_key: None,
            partition_date: None,
            dag_version: run.dag_version,
        }
    }
}

/// When `run` became due: the end of a scheduled run's interval, else its logical date.
pub fn run_after(run: &DagRunRow) -> DateTime<Utc> {
    match run.run_type {
        RunType::Scheduled | RunType::Backfill => run.data_interval_end,
        RunType::Manual | RunType::AssetTriggered => run.logical_date,
    }
}

/// What a clear answers: a dry run, what it would touch; else the run, queued again.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ClearDagRunResponse {
    DryRun(ClearTaskInstanceCollectionResponse),
    Cleared(Box<DagRunResponse>),
}
