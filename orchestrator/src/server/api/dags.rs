//! `/api/v2/dags`: the DAGs of the folder with their stored rows, and pausing.

use super::models::DagResponse;
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
