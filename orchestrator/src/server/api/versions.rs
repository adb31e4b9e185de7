//! `/api/v2/dags/{dag_id}/dagVersions...` in Airflow 3's `DagVersionResponse` shape, and
//! runs and task instances with the versions they were worked with (`dag_versions` on a
//! run, `dag_version` on a task instance).

use super::models::{
    DagRunResponse, DagVersionCollectionResponse, DagVersionResponse, TaskInstanceResponse,
};
use super::{DagPath, Params, VersionPath, whole_number};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{DagRunRow, DagVersionRow, TaskInstanceRow};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::IntoParams;

/// The query of a DAG's versions.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct VersionsQuery {
    /// Page size (default 100).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
    /// `version_number` (the default) or `created_at`; `-` first: descending.
    order_by: Option<String>,
}

/// The DAG's recorded versions.
#[utoipa::path(get, operation_id = "get_dag_versions", path = "/api/v2/dags/{dag_id}/dagVersions", tag = "DagVersion",
    params(DagPath, VersionsQuery), responses((status = 200, body = DagVersionCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagVersionCollectionResponse>, ApiError> {
    let params = Params::of::<VersionsQuery>(query.as_deref())?;
    let (limit, offset) = params.page()?;
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
    let shown_as = state.display_name(&dag_id);
    let page: Vec<DagVersionResponse> = versions
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|v| DagVersionResponse::new(v, &shown_as))
        .collect();
    let total = i64::try_from(versions.len()).unwrap_or(i64::MAX);
    Ok(Json(DagVersionCollectionResponse::new(page, total)))
}

/// One recorded version of a DAG.
#[utoipa::path(get, operation_id = "get_dag_version", path = "/api/v2/dags/{dag_id}/dagVersions/{version_number}", tag = "DagVersion",
    params(VersionPath), responses((status = 200, body = DagVersionResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(VersionPath {
        dag_id,
        version_number,
    }): Path<VersionPath>,
) -> Result<Json<DagVersionResponse>, ApiError> {
    let number = whole_number("version_number", &version_number)?;
    let version = state
        .store
        .dag_version(&dag_id, number)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("DAG `{dag_id}` has no version {number}")))?;
    Ok(Json(DagVersionResponse::new(
        &version,
        &state.display_name(&dag_id),
    )))
}

/// Runs as Airflow answers them, each with `dag_versions`: the versions it and its task
/// instances were worked with, oldest first.
pub async fn runs_with_versions(
    state: &AppState,
    runs: &[DagRunRow],
) -> Result<Vec<DagRunResponse>, ApiError> {
    // A page of `~` holds runs of several DAGs: their versions are read DAG by DAG.
    let mut dag_ids: Vec<&str> = runs.iter().map(|r| r.dag_id.as_str()).collect();
    dag_ids.sort_unstable();
    dag_ids.dedup();
    let mut versions = Vec::new();
    let mut used = Vec::new();
    let mut shown_as = HashMap::new();
    for dag_id in dag_ids {
        shown_as.insert(dag_id, state.display_name(dag_id));
        versions.extend(state.store.dag_versions(dag_id).await?);
        let ids: Vec<&str> = runs
            .iter()
            .filter(|r| r.dag_id == dag_id)
            .map(|r| r.run_id.as_str())
            .collect();
        let of_dag = state.store.versions_of_runs(dag_id, &ids).await?;
        used.extend(
            of_dag
                .into_iter()
                .map(|(run, n)| (dag_id.to_string(), run, n)),
        );
    }
    Ok(runs
        .iter()
        .map(|run| {
            let numbers: Vec<i64> = used
                .iter()
                .filter(|(dag, id, _)| *dag == run.dag_id && *id == run.run_id)
                .map(|(_, _, n)| *n)
                .chain(run.dag_version)
                .collect();
            let name = shown_as
                .get(run.dag_id.as_str())
                .map_or(run.dag_id.as_str(), String::as_str);
            let shown: Vec<DagVersionResponse> = versions
                .iter()
                .filter(|v| v.dag_id == run.dag_id && numbers.contains(&v.version_number))
                .map(|v| DagVersionResponse::new(v, name))
                .collect();
            DagRunResponse::new(run, name, shown)
        })
        .collect())
}

/// Task instances of any runs as Airflow answers them, each with its run's dates and the
/// version it was planned on (each DAG's versions read once).
pub async fn instances_of_runs(
    state: &AppState,
    instances: &[TaskInstanceRow],
) -> Result<Vec<TaskInstanceResponse>, ApiError> {
    let mut shown = Vec::with_capacity(instances.len());
    let mut versions_of: HashMap<&str, (Vec<DagVersionRow>, String)> = HashMap::new();
    let mut start = 0;
    // The page is ordered by DAG and run: each run's instances are together.
    while let Some(first) = instances.get(start) {
        let end = instances[start..]
            .iter()
            .position(|ti| ti.dag_id != first.dag_id || ti.run_id != first.run_id)
            .map_or(instances.len(), |n| start + n);
        let run = state.run_named(&first.dag_id, &first.run_id).await?;
        if !versions_of.contains_key(first.dag_id.as_str()) {
            let versions = state.store.dag_versions(&first.dag_id).await?;
            let name = state.display_name(&first.dag_id);
            versions_of.insert(&first.dag_id, (versions, name));
        }
        if let Some((versions, name)) = versions_of.get(first.dag_id.as_str()) {
            shown.extend(shown_instances(
                &run,
                &instances[start..end],
                versions,
                name,
            ));
        }
        start = end;
    }
    Ok(shown)
}

/// A run's task instances as Airflow answers them, each with `dag_version` (null before
/// its run started).
pub async fn instances_with_versions(
    state: &AppState,
    run: &DagRunRow,
    instances: &[TaskInstanceRow],
) -> Result<Vec<TaskInstanceResponse>, ApiError> {
    let versions = state.store.dag_versions(&run.dag_id).await?;
    let shown_as = state.display_name(&run.dag_id);
    Ok(shown_instances(run, instances, &versions, &shown_as))
}

/// `instances` of `run`, of a DAG with `versions` that people see as `shown_as`.
fn shown_instances(
    run: &DagRunRow,
    instances: &[TaskInstanceRow],
    versions: &[DagVersionRow],
    shown_as: &str,
) -> Vec<TaskInstanceResponse> {
    instances
        .iter()
        .map(|ti| {
            let version = versions
                .iter()
                .find(|v| Some(v.version_number) == ti.dag_version)
                .map(|v| DagVersionResponse::new(v, shown_as));
            TaskInstanceResponse::new(ti, run, shown_as, version)
        })
        .collect()
}
