//! `DAGResponse`: a DAG of the folder with its stored row.

use super::BUNDLE_NAME;
use crate::dag::{Dag, Schedule};
use crate::store::DagRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use utoipa::ToSchema;

/// A DAG tag, as Airflow lists them.
#[derive(Serialize, ToSchema)]
pub struct DagTagResponse {
    pub name: String,
    pub dag_id: String,
    pub dag_display_name: String,
}

/// A DAG, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct DagResponse {
    pub dag_id: String,
    pub dag_display_name: String,
    pub is_paused: bool,
    /// A DAG the folder holds is never stale (a stale one is no longer listed).
    pub is_stale: bool,
    pub last_parsed_time: Option<DateTime<Utc>>,
    pub last_parse_duration: Option<f64>,
    pub last_expired: Option<DateTime<Utc>>,
    pub bundle_name: &'static str,
    pub bundle_version: Option<String>,
    pub relative_fileloc: Option<String>,
    pub fileloc: String,
    pub description: Option<String>,
    pub timetable_summary: Option<String>,
    pub timetable_description: Option<String>,
    pub timetable_partitioned: bool,
    pub timetable_periodic: bool,
    pub tags: Vec<DagTagResponse>,
    pub max_active_tasks: i64,
    pub max_active_runs: Option<i64>,
    /// Updraft does not pause a DAG after failed runs: 0, Airflow's "never".
    pub max_consecutive_failed_dag_runs: i64,
    pub has_task_concurrency_limits: bool,
    /// A DAG that loaded has no import errors (those that do not load are import errors).
    pub has_import_errors: bool,
    pub next_dagrun_logical_date: Option<DateTime<Utc>>,
    pub next_dagrun_data_interval_start: Option<DateTime<Utc>>,
    pub next_dagrun_data_interval_end: Option<DateTime<Utc>>,
    pub next_dagrun_run_after: Option<DateTime<Utc>>,
    pub allowed_run_types: Option<Vec<String>>,
    pub is_backfillable: bool,
    pub owners: Vec<String>,
    /// A token for the file; Airflow 3 reads sources by DAG id, so it only identifies.
    pub file_token: String,
    /// Updraft's: the schedule as written, its time zone, and when its next run is due.
    pub schedule: Option<String>,
    pub timezone: String,
    pub next_run_after: Option<DateTime<Utc>>,
}

impl DagResponse {
    /// `dag` (as loaded from `dags_folder`) with its stored `row`.
    pub fn new(dag: &Dag, row: &DagRow, dags_folder: &Path) -> Self {
        let periodic = matches!(
            dag.schedule,
            Schedule::Cron { .. } | Schedule::Interval { .. }
        );
        // The DAG's fileloc is canonical; the folder as configured may not be.
        let folder = std::fs::canonicalize(dags_folder).unwrap_or_else(|_| dags_folder.into());
        let relative = dag
            .fileloc
            .strip_prefix(&folder)
            .ok()
            .map(|p| p.display().to_string());
        Self {
            dag_id: dag.dag_id.clone(),
            dag_display_name: dag.display_name().to_string(),
            is_paused: row.is_paused,
            is_stale: false,
            last_parsed_time: Some(row.last_parsed_at),
            last_parse_duration: None,
            last_expired: None,
            bundle_name: BUNDLE_NAME,
            bundle_version: None,
            relative_fileloc: relative,
            fileloc: row.fileloc.clone(),
            description: dag.description.clone(),
            timetable_summary: dag.schedule_summary(),
            timetable_description: dag.schedule_summary(),
            timetable_partitioned: false,
            timetable_periodic: periodic,
            tags: dag
                .tags
                .iter()
                .map(|name| DagTagResponse {
                    name: name.clone(),
                    dag_id: dag.dag_id.clone(),
                    dag_display_name: dag.display_name().to_string(),
                })
                .collect(),
            max_active_tasks: i64::from(dag.max_active_tasks),
            max_active_runs: Some(i64::from(dag.max_active_runs)),
            max_consecutive_failed_dag_runs: 0,
            has_task_concurrency_limits: false,
            has_import_errors: false,
            next_dagrun_logical_date: None,
            next_dagrun_data_interval_start: None,
            next_dagrun_data_interval_end: None,
            next_dagrun_run_after: row.next_run_after,
            allowed_run_types: None,
            is_backfillable: periodic,
            // Airflow's default owner when a DAG names none.
            owners: vec![dag.owner.clone().unwrap_or_else(|| "airflow".to_string())],
            file_token: crate::dag::source::sha256(row.fileloc.as_bytes()),
            schedule: dag.schedule_summary(),
            timezone: row.timezone.clone(),
            next_run_after: row.next_run_after,
        }
    }
}

/// A DAG with the rest of its definition, as Airflow's `dags/{id}/details` answers.
#[derive(Serialize, ToSchema)]
pub struct DagDetailsResponse {
    #[serde(flatten)]
    pub dag: DagResponse,
    pub catchup: bool,
    /// Airflow's old name of `max_active_tasks`.
    pub concurrency: i64,
    pub render_template_as_native_obj: bool,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub params: serde_json::Value,
    pub doc_md: Option<String>,
    pub latest_dag_version: Option<super::DagVersionResponse>,
}

impl DagDetailsResponse {
    /// `dag` with its stored `row` and its newest recorded version.
    pub fn new(
        dag: &Dag,
        row: &DagRow,
        dags_folder: &Path,
        latest: Option<super::DagVersionResponse>,
    ) -> Self {
        Self {
            dag: DagResponse::new(dag, row, dags_folder),
            catchup: dag.catchup,
            concurrency: i64::from(dag.max_active_tasks),
            render_template_as_native_obj: false,
            start_date: dag.start_date,
            end_date: dag.end_date,
            params: serde_json::Value::Object(dag.params.clone()),
            doc_md: dag.description.clone(),
            latest_dag_version: latest,
        }
    }
}
