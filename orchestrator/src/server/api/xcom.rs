//! `.../taskInstances/{task_id}/xcomEntries[/{xcom_key}]`: a task instance's outputs as
//! Airflow's XCom entries, so Airflow's clients read what a task handed on.

use super::models::xcom::{RETURN_VALUE, XComCollectionResponse, XComResponse, XComValueResponse};
use super::{Params, TaskPath};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{DagRunRow, TaskInstanceRow};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::IntoParams;

/// The query of an XCom listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct XComListQuery {
    /// Only this key.
    xcom_key: Option<String>,
    /// The instance of a mapped task (default -1: a task that is not mapped).
    map_index: Option<i64>,
    /// Page size (default 100).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
}

/// The query of one XCom entry.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct XComEntryQuery {
    /// The instance of a mapped task (default -1: a task that is not mapped).
    map_index: Option<i64>,
    /// Accepted for Airflow's clients; values are JSON either way.
    deserialize: Option<bool>,
    /// The value as JSON text instead of JSON.
    stringify: Option<bool>,
}

/// The path of one entry.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct XComPath {
    /// The DAG's id.
    pub dag_id: String,
    /// The run's id.
    pub dag_run_id: String,
    /// The task's id.
    pub task_id: String,
    /// The output's name, or `return_value` for all of them.
    pub xcom_key: String,
}

/// A task instance named in the path, what people call its DAG, and each of its outputs
/// by key (metrics included), `return_value` first.
struct Entries {
    run: DagRunRow,
    instance: TaskInstanceRow,
    display_name: String,
    all: Vec<(String, Value)>,
}

impl Entries {
    async fn of(
        state: &AppState,
        (dag_id, run_id, task_id): (&str, &str, &str),
        map_index: i32,
    ) -> Result<Self, ApiError> {
        let (run, instance) = state
            .instance_at((dag_id, run_id, task_id), map_index)
            .await?;
        let outputs: Map<String, Value> = state
            .store
            .outputs_of(dag_id, run_id, (task_id, instance.map_index))
            .await?
            .unwrap_or_default();
        let mut all = vec![(RETURN_VALUE.to_string(), Value::Object(outputs.clone()))];
        all.extend(outputs);
        Ok(Self {
            run,
            instance,
            display_name: state.display_name(dag_id),
            all,
        })
    }

    /// Entry `key` without its value.
    fn entry(&self, key: &str) -> XComResponse {
        XComResponse::new(key, &self.instance, &self.run, &self.display_name)
    }
}

/// A task instance's outputs as XCom entries.
#[utoipa::path(get, operation_id = "get_xcom_entries",
    path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    tag = "XCom", params(TaskPath, XComListQuery),
    responses((status = 200, body = XComCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(path): Path<TaskPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<XComCollectionResponse>, ApiError> {
    let params = Params::of::<XComListQuery>(query.as_deref())?;
    let (limit, offset) = params.page()?;
    let map_index = params.map_index()?;
    let ids = (&*path.dag_id, &*path.dag_run_id, &*path.task_id);
    let entries = Entries::of(&state, ids, map_index).await?;
    let matching: Vec<XComResponse> = entries
        .all
        .iter()
        .filter(|(key, _)| params.one("xcom_key").is_none_or(|k| k == key))
        .map(|(key, _)| entries.entry(key))
        .collect();
    let total_entries = i64::try_from(matching.len()).unwrap_or(i64::MAX);
    let xcom_entries = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Json(XComCollectionResponse {
        xcom_entries,
        total_entries,
    }))
}

/// One output of a task instance as an XCom entry; `return_value`: all of them.
#[utoipa::path(get, operation_id = "get_xcom_entry",
    path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    tag = "XCom", params(XComPath, XComEntryQuery),
    responses((status = 200, body = XComValueResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(path): Path<XComPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<XComValueResponse>, ApiError> {
    let params = Params::of::<XComEntryQuery>(query.as_deref())?;
    let stringify = params.flag("stringify")?;
    params.flag("deserialize")?;
    let map_index = params.map_index()?;
    let ids = (&*path.dag_id, &*path.dag_run_id, &*path.task_id);
    let entries = Entries::of(&state, ids, map_index).await?;
    let found = entries.all.iter().find(|(key, _)| *key == path.xcom_key);
    let Some((key, value)) = found else {
        return Err(ApiError::not_found(format!(
            "task `{}` of run `{}` has no output `{}`",
            path.task_id, path.dag_run_id, path.xcom_key
        )));
    };
    let value = if stringify {
        Value::String(value.to_string())
    } else {
        value.clone()
    };
    Ok(Json(XComValueResponse {
        entry: entries.entry(key),
        value,
    }))
}
