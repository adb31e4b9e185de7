//! `/api/v2/dags/{dag_id}/dagVersions...` in Airflow 3's `DagVersionResponse` shape, and
//! the versions a run and its task instances were worked with (`dag_versions` on a run,
//! `dag_version` on a task instance).

use super::{Params, collection};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{DagRunRow, DagVersionRow, TaskInstanceRow};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Airflow's name for a DAGs folder as a bundle.
const BUNDLE_NAME: &str = "dags-folder";

/// One version, as Airflow's API answers it.
#[derive(Serialize)]
pub struct DagVersionResponse {
    /// A UUID, the same for the same DAG and number on every server.
    id: String,
    version_number: i64,
    dag_id: String,
    bundle_name: &'static str,
    /// The version's content hash (what identifies it, as a commit does a Git bundle).
    bundle_version: String,
    bundle_url: Option<String>,
    created_at: DateTime<Utc>,
    dag_display_name: String,
}

impl From<&DagVersionRow> for DagVersionResponse {
    fn from(row: &DagVersionRow) -> Self {
        Self {
            id: version_uuid(&row.dag_id, row.version_number),
            version_number: row.version_number,
            dag_id: row.dag_id.clone(),
            bundle_name: BUNDLE_NAME,
            bundle_version: row.content_hash.clone(),
            bundle_url: None,
            created_at: row.created_at,
            dag_display_name: row.dag_id.clone(),
        }
    }
}

/// A UUID (version 8: made from a hash) naming version `number` of `dag_id`.
fn version_uuid(dag_id: &str, number: i64) -> String {
    let hex = crate::dag::source::sha256(format!("{dag_id}\0{number}").as_bytes());
    let (a, b, c, d, e) = (
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32],
    );
    format!("{a}-{b}-8{c}-a{d}-{e}")
}

/// `GET /api/v2/dags/{dag_id}/dagVersions?limit&offset&order_by`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(query.as_deref(), &["limit", "offset", "order_by"])?;
    let (limit, offset) = (params.number("limit", 100)?, params.number("offset", 0)?);
    if limit < 1 || offset < 0 {
        return Err(ApiError::bad_request(
            "limit must be at least 1 and offset at least 0",
        ));
    }
    let mut versions = state.store.dag_versions(&dag_id).await?;
    if versions.is_empty() {
        // A DAG unknown both to the folder and to the history is a 404.
        state.dag_named(&dag_id).await?;
    }
    match params.one("order_by").unwrap_or("version_number") {
        "version_number" | "id" => {}
        "-version_number" | "-id" => versions.reverse(),
        "created_at" => versions.sort_by_key(|v| v.created_at),
        "-created_at" => versions.sort_by_key(|v| std::cmp::Reverse(v.created_at)),
        other => {
            return Err(ApiError::bad_request(format!(
                "order_by `{other}`: use version_number or created_at (`-` first: descending)"
            )));
        }
    }
    let page: Vec<DagVersionResponse> = versions
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(DagVersionResponse::from)
        .collect();
    Ok(Json(collection("dag_versions", &page, versions.len())))
}

/// `GET /api/v2/dags/{dag_id}/dagVersions/{version_number}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((dag_id, number)): Path<(String, String)>,
) -> Result<Json<DagVersionResponse>, ApiError> {
    let number: i64 = number.parse().map_err(|_| {
        ApiError::bad_request(format!("version_number `{number}` is not a whole number"))
    })?;
    let version = state
        .store
        .dag_version(&dag_id, number)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no version {number}")))?;
    Ok(Json(DagVersionResponse::from(&version)))
}

/// Runs as JSON, each with `dag_versions`: the versions it and its task instances were
/// worked with, oldest first.
pub async fn runs_with_versions(
    state: &AppState,
    runs: &[DagRunRow],
) -> Result<Vec<Value>, ApiError> {
    let Some(dag_id) = runs.first().map(|r| r.dag_id.clone()) else {
        return Ok(Vec::new());
    };
    let versions = state.store.dag_versions(&dag_id).await?;
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let used = state.store.versions_of_runs(&dag_id, &ids).await?;
    runs.iter()
        .map(|run| {
            let mut value = serde_json::to_value(run).map_err(ApiError::internal)?;
            let numbers: Vec<i64> = used
                .iter()
                .filter(|(id, _)| *id == run.run_id)
                .map(|(_, n)| *n)
                .chain(run.dag_version)
                .collect();
            let shown: Vec<DagVersionResponse> = versions
                .iter()
                .filter(|v| numbers.contains(&v.version_number))
                .map(DagVersionResponse::from)
                .collect();
            value["dag_versions"] = serde_json::to_value(shown).map_err(ApiError::internal)?;
            Ok(value)
        })
        .collect()
}

/// Task instances as JSON, each with `dag_version` (null before its run started).
pub async fn instances_with_versions(
    state: &AppState,
    instances: &[TaskInstanceRow],
) -> Result<Vec<Value>, ApiError> {
    let versions = match instances.first() {
        Some(ti) => state.store.dag_versions(&ti.dag_id).await?,
        None => Vec::new(),
    };
    instances
        .iter()
        .map(|ti| {
            let mut value = serde_json::to_value(ti).map_err(ApiError::internal)?;
            let version = versions
                .iter()
                .find(|v| Some(v.version_number) == ti.dag_version)
                .map(DagVersionResponse::from);
            value["dag_version"] = serde_json::to_value(version).map_err(ApiError::internal)?;
            Ok(value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_are_uuids_and_stable() {
        let id = version_uuid("etl", 3);
        assert_eq!(id, version_uuid("etl", 3));
        assert_ne!(id, version_uuid("etl", 4));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
