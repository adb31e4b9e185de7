//! `/api/v2/dags`: the DAGs of the folder with their stored rows, and pausing.

use super::models::{
    DagDetailsResponse, DagResponse, DagSourceResponse, DagStatsResponse, DagVersionResponse,
    TaskResponse,
};
use super::{Body, Params, collection};
use crate::server::AppState;
use crate::server::error::ApiError;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/v2/dags?limit&offset`
pub async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params::parse(query.as_deref(), &["limit", "offset"])?;
    let limit = params.number("limit", 100)?;
    let offset = params.number("offset", 0)?;
    if limit < 1 || offset < 0 {
        return Err(ApiError::bad_request(
            "limit must be at least 1 and offset at least 0",
        ));
    }
    let all = state.current_dags().await?;
    let page: Vec<DagResponse> = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(dag, row)| DagResponse::new(dag, row, &state.settings.dags_folder))
        .collect();
    Ok(Json(collection("dags", &page, all.len())))
}

/// `GET /api/v2/dags/{dag_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
) -> Result<Json<DagResponse>, ApiError> {
    let (dag, row) = state.dag_named(&dag_id).await?;
    Ok(Json(DagResponse::new(
        &dag,
        &row,
        &state.settings.dags_folder,
    )))
}

/// The body of `PATCH /api/v2/dags/{dag_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    is_paused: bool,
}

/// Reads `update_mask` (Airflow's): only `is_paused` can be changed.
fn check_mask(query: Option<&str>) -> Result<(), ApiError> {
    let params = Params::parse(query, &["update_mask"])?;
    match params
        .all("update_mask")
        .iter()
        .find(|m| **m != "is_paused")
    {
        Some(other) => Err(ApiError::bad_request(format!(
            "update_mask: `{other}` cannot be changed (only is_paused)"
        ))),
        None => Ok(()),
    }
}

/// `PATCH /api/v2/dags/{dag_id}` `{"is_paused": true}`
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    RawQuery(query): RawQuery,
    Body(body): Body<DagPatch>,
) -> Result<Json<DagResponse>, ApiError> {
    check_mask(query.as_deref())?;
    let (dag, _) = state.dag_named(&dag_id).await?;
    crate::runs::set_paused(&state.store, &dag, body.is_paused).await?;
    let (dag, row) = state.dag_named(&dag_id).await?;
    Ok(Json(DagResponse::new(
        &dag,
        &row,
        &state.settings.dags_folder,
    )))
}

/// `GET /api/v2/dags/{dag_id}/details`
pub async fn details(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
) -> Result<Json<DagDetailsResponse>, ApiError> {
    let (dag, row) = state.dag_named(&dag_id).await?;
    let latest = state.store.newest_version_row(&dag_id).await?;
    let latest = latest
        .as_ref()
        .map(|v| DagVersionResponse::new(v, dag.display_name()));
    let folder = &state.settings.dags_folder;
    Ok(Json(DagDetailsResponse::new(&dag, &row, folder, latest)))
}

/// `GET /api/v2/dags/{dag_id}/tasks`: the tasks as the folder defines them, in the order
/// they run.
pub async fn tasks(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    let tasks: Vec<TaskResponse> = dag
        .topo_order
        .iter()
        .filter_map(|id| dag.task(id))
        .map(TaskResponse::from)
        .collect();
    Ok(Json(collection("tasks", &tasks, tasks.len())))
}

/// `GET /api/v2/dagSources/{dag_id}?version_number`: the DAG file as a recorded version
/// holds it, or (without a number) as the folder holds it now.
pub async fn source(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagSourceResponse>, ApiError> {
    let params = Params::parse(query.as_deref(), &["version_number"])?;
    let (content, version_number) = match params.one("version_number") {
        Some(n) => {
            let number: i64 = n.parse().map_err(|_| {
                ApiError::bad_request(format!("version_number `{n}` is not a whole number"))
            })?;
            let version = state
                .store
                .dag_version(&dag_id, number)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found(format!("DAG `{dag_id}` has no version {number}"))
                })?;
            (version.dag_text, Some(number))
        }
        None => {
            let (dag, _) = state.dag_named(&dag_id).await?;
            let text = tokio::fs::read_to_string(&dag.fileloc)
                .await
                .map_err(ApiError::internal)?;
            (text, state.store.newest_version(&dag_id).await?)
        }
    };
    Ok(Json(DagSourceResponse {
        content: Some(content),
        dag_display_name: state.display_name(&dag_id),
        dag_id,
        version_number,
    }))
}

/// `GET /api/v2/dagStats?dag_ids=a,b`: how many runs of each DAG are in each state.
pub async fn stats(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params::parse(query.as_deref(), &["dag_ids"])?;
    let wanted = params.all("dag_ids");
    let counts = state.store.run_counts().await?;
    let dags: Vec<DagStatsResponse> = state
        .current_dags()
        .await?
        .iter()
        .map(|(dag, _)| dag)
        .filter(|dag| wanted.is_empty() || wanted.contains(&dag.dag_id.as_str()))
        .map(|dag| {
            let of_dag: Vec<_> = counts
                .iter()
                .filter(|(dag_id, _, _)| *dag_id == dag.dag_id)
                .map(|(_, state, n)| (*state, *n))
                .collect();
            DagStatsResponse::new(&dag.dag_id, dag.display_name(), &of_dag)
        })
        .collect();
    Ok(Json(collection("dags", &dags, dags.len())))
}
