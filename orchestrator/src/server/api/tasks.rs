//! `.../dagRuns/{dag_run_id}/taskInstances...`: a run's task instances, marking them,
//! their attempts and an attempt's log (followed while it runs).

use super::runs::parse_mark_state;
use super::{Body, Params, collection, touched_instances};
use crate::runs::{self, MarkRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::TaskState;
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

/// How much of a log is read and sent at a time.
const LOG_CHUNK: usize = 256 * 1024;

/// `GET .../dagRuns/{dag_run_id}/taskInstances`
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.run_named(&dag_id, &run_id).await?;
    let instances = state.store.task_instances(&dag_id, &run_id).await?;
    let shown = super::versions::instances_with_versions(&state, &instances).await?;
    Ok(Json(collection("task_instances", &shown, shown.len())))
}

/// `GET .../taskInstances/{task_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let instance = state.instance_named((&dag_id, &run_id, &task_id)).await?.1;
    let mut shown =
        super::versions::instances_with_versions(&state, std::slice::from_ref(&instance)).await?;
    Ok(Json(shown.pop().unwrap_or_default()))
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

/// `GET .../taskInstances/{task_id}/logs/{try_number}?follow=true&download=true`: the
/// attempt's log as text, streamed from its file in chunks (never read whole); with
/// `follow`, lines keep coming while the attempt runs (until the server stops); with
/// `download`, as a file to save.
pub async fn log(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let try_number: i64 = try_number.parse().map_err(|_| {
        ApiError::bad_request(format!("try_number `{try_number}` is not a whole number"))
    })?;
    let params = Params::parse(query.as_deref(), &["follow", "download"])?;
    let (follow, download) = (params.flag("follow")?, params.flag("download")?);
    let log = runs::attempt_log(
        &state.store,
        &state.settings,
        (&dag_id, &run_id, &task_id),
        Some(try_number),
    )
    .await?;
    let follow = follow && log.attempt.task_state() == TaskState::Running;
    let mut response =
        Response::builder().header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if download {
        let name = format!("{dag_id}.{run_id}.{task_id}.{try_number}.log").replace(
            |c: char| !c.is_ascii_alphanumeric() && !"._-".contains(c),
            "_",
        );
        response = response.header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        );
    }
    let attempt = Watched {
        state: state.clone(),
        ids: (dag_id, run_id, task_id),
        try_number,
    };
    response
        .body(HttpBody::from_stream(log_stream(attempt, log.path, follow)))
        .map_err(ApiError::internal)
}

/// An attempt whose log is being sent.
struct Watched {
    state: Arc<AppState>,
    ids: (String, String, String),
    try_number: i64,
}

impl Watched {
    /// Whether the attempt is still running (an unreadable store: as if it ended).
    async fn running(&self) -> bool {
        let (dag_id, run_id, task_id) = &self.ids;
        self.state
            .store
            .tries(dag_id, run_id, Some(task_id))
            .await
            .map(|tries| {
                tries.iter().any(|t| {
                    t.try_number == self.try_number && t.task_state() == TaskState::Running
                })
            })
            .unwrap_or(false)
    }
}

/// The log's bytes a chunk at a time; when `follow`ing, also those written later, until
/// the attempt has ended and all is sent, or the server stops.
fn log_stream(
    attempt: Watched,
    path: std::path::PathBuf,
    follow: bool,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> {
    let attempt = Arc::new(attempt);
    futures::stream::unfold((0u64, !follow), move |(sent, mut ended)| {
        let (attempt, path) = (attempt.clone(), path.clone());
        async move {
            loop {
                match read_chunk(&path, sent).await {
                    Ok(bytes) if !bytes.is_empty() => {
                        let next = sent + bytes.len() as u64;
                        return Some((Ok(bytes), (next, ended)));
                    }
                    Err(e) => return Some((Err(e), (sent, true))),
                    Ok(_) if ended => return None,
                    Ok(_) => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                    _ = attempt.state.stopping.cancelled() => return None,
                }
                // Once the end is seen the file is read once more: the last lines land
                // before it.
                ended = !attempt.running().await;
            }
        }
    })
}

/// Up to [`LOG_CHUNK`] bytes of the file from `offset` (nothing when it does not exist
/// yet: an attempt that failed before starting has no log).
async fn read_chunk(path: &std::path::Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::with_capacity(LOG_CHUNK);
    file.take(LOG_CHUNK as u64).read_to_end(&mut bytes).await?;
    Ok(bytes)
}
