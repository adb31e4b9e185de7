//! `/api/v2/dags`: the DAGs of the folder with their stored rows, and pausing.

use super::{Body, Params, collection};
use crate::dag::Dag;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::DagRow;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use std::sync::Arc;

/// The DAGs of the folder (loaded now), in id order, each with its stored row (recorded
/// here when the store has not seen it yet).
async fn current_dags(state: &AppState) -> Result<Vec<(Arc<Dag>, DagRow)>, ApiError> {
    let mut dags: Vec<Arc<Dag>> = state.with_dags(|files| files.all().cloned().collect());
    dags.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
    let mut rows = state.store.dags().await?;
    if dags
        .iter()
        .any(|d| !rows.iter().any(|r| r.dag_id == d.dag_id))
    {
        for dag in &dags {
            state.store.sync_dag(dag).await?;
        }
        rows = state.store.dags().await?;
    }
    Ok(dags
        .into_iter()
        .filter_map(|dag| {
            let row = rows.iter().find(|r| r.dag_id == dag.dag_id)?.clone();
            Some((dag, row))
        })
        .collect())
}

/// The folder's DAG `dag_id` with its row, or 404.
pub async fn dag_named(state: &AppState, dag_id: &str) -> Result<(Arc<Dag>, DagRow), ApiError> {
    current_dags(state)
        .await?
        .into_iter()
        .find(|(dag, _)| dag.dag_id == dag_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no DAG `{dag_id}` in the DAGs folder (a file that does not load is in /api/v2/importErrors)"
            ))
        })
}

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
    let all = current_dags(&state).await?;
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
    Ok(Json(dag_named(&state, &dag_id).await?.1))
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
    let (dag, _) = dag_named(&state, &dag_id).await?;
    crate::runs::set_paused(&state.store, &dag, body.is_paused).await?;
    Ok(Json(dag_named(&state, &dag_id).await?.1))
}
