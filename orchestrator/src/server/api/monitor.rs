//! `/api/v2/monitor/health` (is the history store reachable, are schedulers alive) and
//! `/api/v2/importErrors` (DAG files that do not load, with where).

use super::collection;
use crate::server::error::ApiError;
use crate::server::{AppState, Caller};
use axum::Json;
use axum::extract::{Extension, State};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// A DAG file that does not load.
#[derive(Serialize)]
struct ImportError {
    filename: String,
    line: usize,
    column: usize,
    message: String,
}

/// `GET /api/v2/importErrors`
pub async fn import_errors(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let errors: Vec<ImportError> = state.with_dags(|files| {
        files
            .errors()
            .iter()
            .map(|e| ImportError {
                filename: e.file.display().to_string(),
                line: e.pos.line,
                column: e.pos.col,
                message: updraft_core::secrets::mask(&e.message).into_owned(),
            })
            .collect()
    });
    Json(collection("import_errors", &errors, errors.len()))
}

/// `GET /api/v2/monitor/health`: Airflow's shape, and every live scheduler with the age
/// of its heartbeat. Anyone may ask; which hosts and processes run the schedulers is told
/// only to callers with a token (or on an open, loopback-only server).
pub async fn health(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let jobs = state.store.running_jobs(Some("scheduler")).await;
    let Ok(jobs) = jobs else {
        return Ok(Json(json!({
            "metadatabase": {"status": "unhealthy"},
            "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": null},
            "schedulers": [],
        })));
    };
    let now = Utc::now();
    let timeout =
        chrono::Duration::from_std(state.settings.heartbeat_timeout).map_err(ApiError::internal)?;
    let alive: Vec<serde_json::Value> = jobs
        .iter()
        .filter(|j| now - j.heartbeat_at < timeout)
        .map(|j| {
            let age = (now - j.heartbeat_at).as_seconds_f64();
            if caller.role.is_some() {
                json!({
                    "job_id": j.job_id,
                    "hostname": j.hostname,
                    "pid": j.pid,
                    "started_at": j.started_at,
                    "heartbeat_at": j.heartbeat_at,
                    "heartbeat_age_seconds": age,
                })
            } else {
                json!({ "heartbeat_age_seconds": age })
            }
        })
        .collect();
    let latest = jobs.iter().map(|j| j.heartbeat_at).max();
    Ok(Json(json!({
        "metadatabase": {"status": "healthy"},
        "scheduler": {
            "status": if alive.is_empty() { "unhealthy" } else { "healthy" },
            "latest_scheduler_heartbeat": latest,
        },
        "schedulers": alive,
    })))
}
