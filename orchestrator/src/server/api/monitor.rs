//! `/api/v2/monitor/health` (is the history store reachable, are schedulers alive) and
//! `/api/v2/importErrors` (DAG files that do not load, with where).

use super::models::{
    HealthInfoResponse, ImportErrorCollectionResponse, ImportErrorResponse, SchedulerJob,
    VersionInfo,
};
use crate::server::error::ApiError;
use crate::server::{AppState, Caller};
use axum::Json;
use axum::extract::{Extension, State};
use chrono::Utc;
use std::sync::Arc;

/// DAG files that do not load, with where.
#[utoipa::path(get, operation_id = "get_import_errors", path = "/api/v2/importErrors", tag = "ImportError",
    responses((status = 200, body = ImportErrorCollectionResponse)))]
pub async fn import_errors(
    State(state): State<Arc<AppState>>,
) -> Json<ImportErrorCollectionResponse> {
    let errors: Vec<ImportErrorResponse> = state.with_dags(|files| {
        files
            .errors()
            .iter()
            .map(ImportErrorResponse::new)
            .collect()
    });
    Json(ImportErrorCollectionResponse::all(errors))
}

/// Updraft's version (it is not an Airflow).
#[utoipa::path(get, operation_id = "get_version", path = "/api/v2/version", tag = "Version",
    responses((status = 200, body = VersionInfo)))]
pub async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        git_version: None,
    })
}

/// Whether the history database is reachable and schedulers are alive: Airflow's shape,
/// and every live scheduler with the age of its heartbeat. Anyone may ask; which hosts
/// and processes run the schedulers is told only to callers with a token (or on an open,
/// loopback-only server).
#[utoipa::path(get, operation_id = "get_health", path = "/api/v2/monitor/health", tag = "Monitor", security(()),
    responses((status = 200, body = HealthInfoResponse)))]
pub async fn health(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<HealthInfoResponse>, ApiError> {
    let Ok(jobs) = state.store.running_jobs(Some("scheduler")).await else {
        return Ok(Json(HealthInfoResponse::database_down()));
    };
    let now = Utc::now();
    let timeout =
        chrono::Duration::from_std(state.settings.heartbeat_timeout).map_err(ApiError::internal)?;
    let told = caller.role.is_some();
    let alive: Vec<SchedulerJob> = jobs
        .iter()
        .filter(|j| now - j.heartbeat_at < timeout)
        .map(|j| SchedulerJob {
            job_id: told.then(|| j.job_id.clone()),
            hostname: told.then(|| j.hostname.clone()),
            pid: told.then_some(j.pid),
            started_at: told.then_some(j.started_at),
            heartbeat_at: told.then_some(j.heartbeat_at),
            heartbeat_age_seconds: (now - j.heartbeat_at).as_seconds_f64(),
        })
        .collect();
    let latest = jobs.iter().map(|j| j.heartbeat_at).max();
    Ok(Json(HealthInfoResponse::new(true, latest, alive)))
}
