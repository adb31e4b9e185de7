//! `.../dagRuns/{dag_run_id}/taskInstances...`: a run's task instances, marking them,
//! their attempts and an attempt's log (followed while it runs).

use super::models::{TaskInstanceHistoryResponse, TaskInstanceResponse, TaskInstancesLogResponse};
use super::runs::parse_mark_state;
use super::{Body, Params, collection, touched_instances};
use crate::runs::{self, MarkRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{TaskInstanceFilter, TaskState};
use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

/// `GET .../dagRuns/{dag_run_id}/taskInstances?state&task_id&limit&offset`: a run's task
/// instances; `~` as the DAG or run id lists those of every DAG or run, as Airflow.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = Params::parse(query.as_deref(), &["state", "task_id", "limit", "offset"])?;
    let (limit, offset) = (params.number("limit", 100)?, params.number("offset", 0)?);
    let every = |id: &str| id == ALL;
    if !every(&dag_id) && !every(&run_id) {
        state.run_named(&dag_id, &run_id).await?;
    }
    let filter = TaskInstanceFilter {
        dag_ids: (!every(&dag_id))
            .then(|| dag_id.clone())
            .into_iter()
            .collect(),
        run_ids: (!every(&run_id))
            .then(|| run_id.clone())
            .into_iter()
            .collect(),
        task_ids: params
            .one("task_id")
            .map(str::to_string)
            .into_iter()
            .collect(),
        states: params
            .all("state")
            .into_iter()
            .map(|s| TaskState::parse(s).map_err(|e| ApiError::bad_request(format!("state: {e}"))))
            .collect::<Result<_, _>>()?,
    };
    instance_page(&state, &filter, (limit, offset)).await
}

/// The body of `POST /api/v2/dags/~/dagRuns/~/taskInstances/list` (Airflow's
/// `TaskInstancesBatchBody`, the filters Updraft keeps; another is a 400 that names it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancesBatchBody {
    #[serde(default)]
    dag_ids: Vec<String>,
    #[serde(default)]
    dag_run_ids: Vec<String>,
    #[serde(default)]
    task_ids: Vec<String>,
    #[serde(default)]
    state: Vec<TaskState>,
    #[serde(default = "super::runs::default_page_limit")]
    page_limit: i64,
    #[serde(default)]
    page_offset: i64,
}

/// `POST /api/v2/dags/~/dagRuns/~/taskInstances/list`: task instances of any DAGs and
/// runs, filtered by the body (both path ids must be `~`, as in Airflow).
pub async fn list_batch(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
    Body(body): Body<InstancesBatchBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if dag_id != ALL || run_id != ALL {
        return Err(ApiError::bad_request(
            "the batch listing takes its DAGs and runs from the body: use ~ for both path ids",
        ));
    }
    let filter = TaskInstanceFilter {
        dag_ids: body.dag_ids,
        run_ids: body.dag_run_ids,
        task_ids: body.task_ids,
        states: body.state,
    };
    instance_page(&state, &filter, (body.page_limit, body.page_offset)).await
}

/// A page of the task instances `filter` picks, as a list answer.
async fn instance_page(
    state: &AppState,
    filter: &TaskInstanceFilter,
    (limit, offset): (i64, i64),
) -> Result<Json<serde_json::Value>, ApiError> {
    if !(1..=runs::list::MAX_LIMIT).contains(&limit) || offset < 0 {
        return Err(ApiError::bad_request(format!(
            "the page size must be 1 to {} and the offset at least 0",
            runs::list::MAX_LIMIT
        )));
    }
    let (instances, total) = state
        .store
        .task_instance_page(filter, limit, offset)
        .await?;
    let shown = super::versions::instances_of_runs(state, &instances).await?;
    let total = usize::try_from(total).unwrap_or(0);
    Ok(Json(collection("task_instances", &shown, total)))
}

/// Airflow's wildcard DAG or run id in list endpoints: every one.
const ALL: &str = "~";

/// `GET .../taskInstances/{task_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let (run, instance) = state.instance_named((&dag_id, &run_id, &task_id)).await?;
    let shown =
        super::versions::instances_with_versions(&state, &run, std::slice::from_ref(&instance))
            .await?;
    shown
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a task instance without its answer"))
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

/// `GET .../taskInstances/{task_id}/tries`: every attempt, first to last (Airflow's
/// `TaskInstanceHistoryResponse`, with each attempt's error and metrics).
pub async fn tries(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, instance) = state.instance_named((&dag_id, &run_id, &task_id)).await?;
    let shown_as = state.display_name(&dag_id);
    let tries: Vec<TaskInstanceHistoryResponse> = state
        .store
        .tries(&dag_id, &run_id, Some(&task_id))
        .await?
        .iter()
        .map(|attempt| TaskInstanceHistoryResponse::new(attempt, &instance, &shown_as))
        .collect();
    Ok(Json(collection("task_instances", &tries, tries.len())))
}

/// `GET .../taskInstances/{task_id}/logs/{try_number}`: as Airflow, a page of the log as
/// structured lines with a `continuation_token` (`token` asks for the next page,
/// `full_content` starts from the beginning), or the log as text with `Accept:
/// text/plain` (a browser's `text/html` too). Text is streamed from the file in chunks
/// (never read whole); with `follow` (Updraft's), lines keep coming while the attempt runs
/// (until the server stops); with `download`, as a file to save.
pub async fn log(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id, try_number)): Path<(String, String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let try_number: i64 = try_number.parse().map_err(|_| {
        ApiError::bad_request(format!("try_number `{try_number}` is not a whole number"))
    })?;
    let params = Params::parse(
        query.as_deref(),
        &["follow", "download", "full_content", "map_index", "token"],
    )?;
    if params.number("map_index", -1)? != -1 {
        return Err(ApiError::not_found(
            "Updraft does not map tasks: the only map_index is -1",
        ));
    }
    let (follow, download) = (params.flag("follow")?, params.flag("download")?);
    let log = runs::attempt_log(
        &state.store,
        &state.settings,
        (&dag_id, &run_id, &task_id),
        Some(try_number),
    )
    .await?;
    if !(follow || download || wants_text(&headers)) {
        let from = match params.one("token") {
            Some(token) if !params.flag("full_content")? => token.parse().map_err(|_| {
                ApiError::bad_request(format!("token `{token}` is not a continuation token"))
            })?,
            _ => 0,
        };
        let page = runs::log_page(&log.path, from)
            .await
            .map_err(ApiError::internal)?;
        let answer = TaskInstancesLogResponse::new(&page.bytes, page.next);
        return Ok(Json(answer).into_response());
    }
    let follow = follow && log.attempt.state == TaskState::Running;
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
    let body = runs::log_chunks(
        state.store.clone(),
        &log.attempt,
        log.path,
        (0, follow),
        state.stopping.clone(),
    );
    response
        .body(HttpBody::from_stream(body))
        .map_err(ApiError::internal)
}

/// Whether the caller asked for the log as text: `text/plain` (Airflow's way) or a
/// browser's page (`text/html`) before any JSON.
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let position = |kind: &str| accept.find(kind);
    let text = position("text/plain").or(position("text/html"));
    match (text, position("application/json")) {
        (Some(t), Some(j)) => t < j,
        (Some(_), None) => true,
        _ => false,
    }
}
