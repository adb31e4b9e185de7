//! `.../dagRuns/{dag_run_id}/taskInstances...`: a run's task instances, marking them,
//! their attempts and an attempt's log (followed while it runs).

use super::runs::parse_mark_state;
use super::{Body, Params, collection, touched_instances};
use crate::runs::{self, MarkRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{TaskInstanceRow, TaskState};
use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How often a followed log is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// `GET .../dagRuns/{dag_run_id}/taskInstances`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.run_named(&dag_id, &run_id).await?;
    let instances = state.store.task_instances(&dag_id, &run_id).await?;
    Ok(Json(collection(
        "task_instances",
        &instances,
        instances.len(),
    )))
}

/// `GET .../taskInstances/{task_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskInstanceRow>, ApiError> {
    Ok(Json(
        state.instance_named((&dag_id, &run_id, &task_id)).await?.1,
    ))
}

/// The body of `PATCH .../taskInstances/{task_id}` (Airflow's names).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancePatch {
    new_state: String,
    #[serde(default)]
    include_downstream: bool,
}

/// `PATCH .../taskInstances/{task_id}` `{"new_state": "success", "include_downstream": false}`:
/// marks the task (and what is downstream of it); answers with the instances marked.
pub async fn mark(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Body(body): Body<InstancePatch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    let request = MarkRequest {
        run_id: run_id.clone(),
        task_ids: Some(vec![task_id]),
        downstream: body.include_downstream,
        state: parse_mark_state(&body.new_state)?,
    };
    let marked = runs::mark(&state.store, &dag, request).await?;
    Ok(Json(
        touched_instances(&state, (&dag_id, &run_id), &marked.task_ids).await?,
    ))
}

/// `GET .../taskInstances/{task_id}/tries`: every attempt, first to last.
pub async fn tries(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.instance_named((&dag_id, &run_id, &task_id)).await?;
    let tries = state.store.tries(&dag_id, &run_id, Some(&task_id)).await?;
    Ok(Json(collection("task_instances", &tries, tries.len())))
}

/// `GET .../taskInstances/{task_id}/logs/{try_number}?follow=true`: the attempt's log as
/// text; with `follow`, lines keep coming while the attempt runs.
pub async fn log(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let try_number: i64 = try_number.parse().map_err(|_| {
        ApiError::bad_request(format!("try_number `{try_number}` is not a whole number"))
    })?;
    let follow = Params::parse(query.as_deref(), &["follow"])?.flag("follow")?;
    let log = runs::attempt_log(
        &state.store,
        &state.settings,
        (&dag_id, &run_id, &task_id),
        Some(try_number),
    )
    .await?;
    let running = log.attempt.task_state() == TaskState::Running;
    let body = if follow && running {
        let state = state.clone();
        let ids = (dag_id, run_id, task_id);
        HttpBody::from_stream(follow_log(state, ids, try_number, log.path))
    } else {
        // An attempt that never wrote a line (it failed before starting) has no file.
        let text = match tokio::fs::read(&log.path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ApiError::internal(format!("cannot read the log: {e}"))),
        };
        HttpBody::from(text)
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .map_err(ApiError::internal)
}

/// The log's bytes as they are written, until the attempt has ended and all is sent.
fn follow_log(
    state: Arc<AppState>,
    (dag_id, run_id, task_id): (String, String, String),
    try_number: i64,
    path: std::path::PathBuf,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    futures::stream::unfold((0u64, false), move |(sent, mut ended)| {
        let (state, path) = (state.clone(), path.clone());
        let (dag_id, run_id, task_id) = (dag_id.clone(), run_id.clone(), task_id.clone());
        async move {
            loop {
                match read_from(&path, sent).await {
                    Ok(bytes) if !bytes.is_empty() => {
                        let next = sent + bytes.len() as u64;
                        return Some((Ok(bytes), (next, ended)));
                    }
                    Err(e) => return Some((Err(e), (sent, true))),
                    Ok(_) if ended => return None,
                    Ok(_) => {}
                }
                tokio::time::sleep(FOLLOW_EVERY).await;
                // Once the end is seen the file is read once more: the last lines land
                // before it.
                ended = !state
                    .store
                    .tries(&dag_id, &run_id, Some(&task_id))
                    .await
                    .map(|tries| {
                        tries.iter().any(|t| {
                            t.try_number == try_number && t.task_state() == TaskState::Running
                        })
                    })
                    .unwrap_or(false);
            }
        }
    })
}

/// What the file holds past `offset` (nothing when it does not exist yet).
async fn read_from(path: &std::path::Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    Ok(bytes)
}
