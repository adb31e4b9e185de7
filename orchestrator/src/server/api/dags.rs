//! `/api/v2/dags`: the DAGs of the folder with their stored rows, and pausing.

use super::{Body, Params, collection};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::DagRow;
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
    let page: Vec<&DagRow> = all
        .iter()
        .map(|(_, row)| row)
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(collection("dags", &page, all.len())))
}

/// `GET /api/v2/dags/{dag_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
) -> Result<Json<DagRow>, ApiError> {
    Ok(Json(state.dag_named(&dag_id).await?.1))
}

/// The body of `PATCH /api/v2/dags/{dag_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagPatch {
    is_paused: bool,
}

/// `PATCH /api/v2/dags/{dag_id}` `{"is_paused": true}`
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Body(body): Body<DagPatch>,
) -> Result<Json<DagRow>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    crate::runs::set_paused(&state.store, &dag, body.is_paused).await?;
    Ok(Json(state.dag_named(&dag_id).await?.1))
}
