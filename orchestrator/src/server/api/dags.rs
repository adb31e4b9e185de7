//! `/api/v2/dags`: the DAGs of the folder with their stored rows, and pausing.

use super::models::{
    DagCollectionResponse, DagDetailsResponse, DagResponse, DagSourceResponse,
    DagStatsCollectionResponse, DagStatsResponse, DagVersionResponse, TaskCollectionResponse,
    TaskResponse,
};
use super::{Body, DagPath, Params, whole_number};
use crate::server::AppState;
use crate::server::error::ApiError;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The query of a page.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct PageQuery {
    /// Page size (default 100).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
}

/// The DAGs of the DAGs folder, a page at a time.
#[utoipa::path(get, operation_id = "get_dags", path = "/api/v2/dags", tag = "DAG", params(PageQuery),
    responses((status = 200, body = DagCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagCollectionResponse>, ApiError> {
    let params = Params::of::<PageQuery>(query.as_deref())?;
    let (limit, offset) = params.page()?;
    let all = state.current_dags().await?;
    let page: Vec<DagResponse> = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(dag, row)| DagResponse::new(dag, row, &state.settings.dags_folder))
        .collect();
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    Ok(Json(DagCollectionResponse::new(page, total)))
}

/// One DAG.
#[utoipa::path(get, operation_id = "get_dag", path = "/api/v2/dags/{dag_id}", tag = "DAG", params(DagPath),
    responses((status = 200, body = DagResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
) -> Result<Json<DagResponse>, ApiError> {
    let (dag, row) = state.dag_named(&dag_id).await?;
    Ok(Json(DagResponse::new(
        &dag,
        &row,
        &state.settings.dags_folder,
    )))
}

/// The body of `PATCH /api/v2/dags/{dag_id}` (Airflow's `DAGPatchBody`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    is_paused: bool,
}

/// The query of a DAG's patch.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct PatchQuery {
    /// The fields to change: only `is_paused` can be.
    update_mask: Option<Vec<String>>,
}

/// Reads `update_mask` (Airflow's): only `is_paused` can be changed.
fn check_mask(query: Option<&str>) -> Result<(), ApiError> {
    let params = Params::of::<PatchQuery>(query)?;
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

/// Pauses or unpauses a DAG.
#[utoipa::path(patch, operation_id = "patch_dag", path = "/api/v2/dags/{dag_id}", tag = "DAG", params(DagPath, PatchQuery),
    request_body = DagPatch, responses((status = 200, body = DagResponse)))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
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

/// One DAG with the rest of its definition.
#[utoipa::path(get, operation_id = "get_dag_details", path = "/api/v2/dags/{dag_id}/details", tag = "DAG", params(DagPath),
    responses((status = 200, body = DagDetailsResponse)))]
pub async fn details(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
) -> Result<Json<DagDetailsResponse>, ApiError> {
    let (dag, row) = state.dag_named(&dag_id).await?;
    let latest = state.store.newest_version_row(&dag_id).await?;
    let latest = latest
        .as_ref()
        .map(|v| DagVersionResponse::new(v, dag.display_name()));
    let folder = &state.settings.dags_folder;
    Ok(Json(DagDetailsResponse::new(&dag, &row, folder, latest)))
}

/// The DAG's tasks as the folder defines them, in the order they run.
#[utoipa::path(get, operation_id = "get_tasks", path = "/api/v2/dags/{dag_id}/tasks", tag = "Task", params(DagPath),
    responses((status = 200, body = TaskCollectionResponse)))]
pub async fn tasks(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
) -> Result<Json<TaskCollectionResponse>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    let tasks: Vec<TaskResponse> = dag
        .topo_order
        .iter()
        .filter_map(|id| dag.task(id))
        .map(TaskResponse::from)
        .collect();
    Ok(Json(TaskCollectionResponse::all(tasks)))
}

/// The query of a DAG's source.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct SourceQuery {
    /// A recorded version (default: the file as the folder holds it now).
    version_number: Option<i64>,
}

/// The DAG file as a recorded version holds it, or (without a number) as the folder
/// holds it now.
#[utoipa::path(get, operation_id = "get_dag_source", path = "/api/v2/dagSources/{dag_id}", tag = "DagSource",
    params(DagPath, SourceQuery), responses((status = 200, body = DagSourceResponse)))]
pub async fn source(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagSourceResponse>, ApiError> {
    let params = Params::of::<SourceQuery>(query.as_deref())?;
    let (content, version_number) = match params.one("version_number") {
        Some(n) => {
            let number = whole_number("version_number", n)?;
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

/// The query of the run counts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct StatsQuery {
    /// Only these DAGs (repeated, or comma-separated).
    dag_ids: Option<Vec<String>>,
}

/// How many runs of each DAG are in each state.
#[utoipa::path(get, operation_id = "get_dag_stats", path = "/api/v2/dagStats", tag = "DagStats", params(StatsQuery),
    responses((status = 200, body = DagStatsCollectionResponse)))]
pub async fn stats(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagStatsCollectionResponse>, ApiError> {
    let params = Params::of::<StatsQuery>(query.as_deref())?;
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
    Ok(Json(DagStatsCollectionResponse::all(dags)))
}
