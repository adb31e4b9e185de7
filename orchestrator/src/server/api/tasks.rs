//! `.../dagRuns/{dag_run_id}/taskInstances...`: a run's task instances, marking them,
//! their attempts and an attempt's log (followed while it runs).

use super::models::{
    TaskInstanceCollectionResponse, TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse, TaskInstanceResponse, TaskInstancesLogResponse,
};
use super::runs::parse_mark_state;
use super::{
    AttemptPath, Body, MappedPath, Params, RunPath, TaskPath, touched_instances, whole_number,
};
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
use utoipa::{IntoParams, ToSchema};

/// The query of a task-instance listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct InstanceListQuery {
    /// Only instances in these states (`none`: not yet decided).
    state: Option<Vec<TaskState>>,
    /// Only this task.
    task_id: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
}

/// A run's task instances; `~` as the DAG or run id lists those of every DAG or run, as
/// Airflow.
#[utoipa::path(get, operation_id = "get_task_instances", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
    tag = "TaskInstance", params(RunPath, InstanceListQuery),
    responses((status = 200, body = TaskInstanceCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
    let params = Params::of::<InstanceListQuery>(query.as_deref())?;
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
        states: params.task_states()?,
        mapped_only: false,
    };
    instance_page(&state, &filter, (limit, offset)).await
}

/// The instances of a mapped task (`for_each`), in map order.
#[utoipa::path(get, operation_id = "get_mapped_task_instances", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/listMapped",
    tag = "TaskInstance", params(TaskPath, InstanceListQuery),
    responses((status = 200, body = TaskInstanceCollectionResponse)))]
pub async fn list_mapped(
    State(state): State<Arc<AppState>>,
    Path(TaskPath {
        dag_id,
        dag_run_id: run_id,
        task_id,
    }): Path<TaskPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
    let params = Params::of::<InstanceListQuery>(query.as_deref())?;
    let (limit, offset) = (params.number("limit", 100)?, params.number("offset", 0)?);
    state.run_named(&dag_id, &run_id).await?;
    let filter = TaskInstanceFilter {
        dag_ids: vec![dag_id],
        run_ids: vec![run_id],
        task_ids: vec![task_id],
        states: params.task_states()?,
        mapped_only: true,
    };
    instance_page(&state, &filter, (limit, offset)).await
}

/// One instance of a mapped task.
#[utoipa::path(get, operation_id = "get_mapped_task_instance", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
    tag = "TaskInstance", params(MappedPath), responses((status = 200, body = TaskInstanceResponse)))]
pub async fn get_mapped(
    State(state): State<Arc<AppState>>,
    Path(path): Path<MappedPath>,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let ids = (&*path.dag_id, &*path.dag_run_id, &*path.task_id);
    let (run, instance) = state.instance_at(ids, path.index()?).await?;
    one_instance(&state, &run, instance).await
}

/// The body of `POST /api/v2/dags/~/dagRuns/~/taskInstances/list` (Airflow's
/// `TaskInstancesBatchBody`, the filters Updraft keeps; another is a 400 that names it).
#[derive(Deserialize, ToSchema)]
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
    #[serde(default = "super::run_list::default_page_limit")]
    page_limit: i64,
    #[serde(default)]
    page_offset: i64,
}

/// Task instances of any DAGs and runs, filtered by the body (both path ids must be `~`,
/// as in Airflow).
#[utoipa::path(post, operation_id = "get_task_instances_batch", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/list",
    tag = "TaskInstance", params(RunPath), request_body = InstancesBatchBody,
    responses((status = 200, body = TaskInstanceCollectionResponse)))]
pub async fn list_batch(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
    Body(body): Body<InstancesBatchBody>,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
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
        mapped_only: false,
    };
    instance_page(&state, &filter, (body.page_limit, body.page_offset)).await
}

/// A page of the task instances `filter` picks, as a list answer.
async fn instance_page(
    state: &AppState,
    filter: &TaskInstanceFilter,
    (limit, offset): (i64, i64),
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
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
    Ok(Json(TaskInstanceCollectionResponse::new(shown, total)))
}

/// Airflow's wildcard DAG or run id in list endpoints: every one.
const ALL: &str = "~";

/// One task instance.
#[utoipa::path(get, operation_id = "get_task_instance", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    tag = "TaskInstance", params(TaskPath), responses((status = 200, body = TaskInstanceResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(TaskPath {
        dag_id,
        dag_run_id: run_id,
        task_id,
    }): Path<TaskPath>,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let (run, instance) = state.instance_named((&dag_id, &run_id, &task_id)).await?;
    one_instance(&state, &run, instance).await
}

/// `instance` of `run` as Airflow answers for one task instance.
async fn one_instance(
    state: &AppState,
    run: &crate::store::DagRunRow,
    instance: crate::store::TaskInstanceRow,
) -> Result<Json<TaskInstanceResponse>, ApiError> {
    let shown =
        super::versions::instances_with_versions(state, run, std::slice::from_ref(&instance))
            .await?;
    shown
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a task instance without its answer"))
}

/// The body of `PATCH .../taskInstances/{task_id}` (Airflow's `PatchTaskInstanceBody`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancePatch {
    /// `success` or `failed`.
    new_state: Option<String>,
    /// What a person writes about the instance.
    note: Option<String>,
    /// Mark every task downstream of it too.
    #[serde(default)]
    include_downstream: bool,
    /// Airflow's other reaches of a mark, which Updraft does not take: false only.
    #[serde(default)]
    include_upstream: bool,
    #[serde(default)]
    include_future: bool,
    #[serde(default)]
    include_past: bool,
}

/// Marks a task instance (and optionally what is downstream of it) `success` or
/// `failed`, and/or sets its note; answers with the instances changed.
#[utoipa::path(patch, operation_id = "patch_task_instance", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    tag = "TaskInstance", params(TaskPath), request_body = InstancePatch,
    responses((status = 200, body = TaskInstanceCollectionResponse)))]
pub async fn mark(
    State(state): State<Arc<AppState>>,
    Path(TaskPath {
        dag_id,
        dag_run_id: run_id,
        task_id,
    }): Path<TaskPath>,
    Body(body): Body<InstancePatch>,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
    mark_instance(&state, (&dag_id, &run_id, &task_id), -1, body).await
}

/// Marks an instance of a mapped task (and optionally every task downstream of it)
/// `success` or `failed`, and/or sets its note.
#[utoipa::path(patch, operation_id = "patch_task_instance_by_map_index", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
    tag = "TaskInstance", params(MappedPath), request_body = InstancePatch,
    responses((status = 200, body = TaskInstanceCollectionResponse)))]
pub async fn mark_mapped(
    State(state): State<Arc<AppState>>,
    Path(path): Path<MappedPath>,
    Body(body): Body<InstancePatch>,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
    let ids = (&*path.dag_id, &*path.dag_run_id, &*path.task_id);
    mark_instance(&state, ids, path.index()?, body).await
}

/// A mark and/or note of instance `map_index` of a task (-1: not mapped).
async fn mark_instance(
    state: &AppState,
    (dag_id, run_id, task_id): (&str, &str, &str),
    map_index: i32,
    body: InstancePatch,
) -> Result<Json<TaskInstanceCollectionResponse>, ApiError> {
    let reaches = [
        ("include_upstream", body.include_upstream),
        ("include_future", body.include_future),
        ("include_past", body.include_past),
    ];
    if let Some((name, _)) = reaches.iter().find(|(_, on)| *on) {
        return Err(ApiError::bad_request(format!(
            "{name}: Updraft marks a task alone or with what is downstream of it \
             (include_downstream)"
        )));
    }
    super::runs::check_note(body.note.as_deref())?;
    let (dag, _) = state.dag_named(dag_id).await?;
    state
        .instance_at((dag_id, run_id, task_id), map_index)
        .await?;
    if body.note.is_some() {
        state
            .store
            .set_instance_note((dag_id, run_id, task_id, map_index), body.note.as_deref())
            .await?;
    }
    let mut touched = vec![task_id.to_string()];
    if let Some(new_state) = &body.new_state {
        let request = MarkRequest {
            run_id: run_id.to_string(),
            task_ids: Some(vec![task_id.to_string()]),
            downstream: body.include_downstream,
            map_index: (map_index >= 0).then_some(map_index),
            state: parse_mark_state(new_state)?,
        };
        touched = runs::mark(&state.store, &dag, request).await?.task_ids;
    }
    Ok(Json(
        touched_instances(state, (dag_id, run_id), &touched).await?,
    ))
}

/// The query of an instance's attempts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct TriesQuery {
    /// The instance of a mapped task (default -1: a task that is not mapped).
    map_index: Option<i64>,
}

/// Every attempt of a task instance, first to last, with each attempt's error and
/// metrics.
#[utoipa::path(get, operation_id = "get_task_instance_tries", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
    tag = "TaskInstance", params(TaskPath, TriesQuery),
    responses((status = 200, body = TaskInstanceHistoryCollectionResponse)))]
pub async fn tries(
    State(state): State<Arc<AppState>>,
    Path(TaskPath {
        dag_id,
        dag_run_id: run_id,
        task_id,
    }): Path<TaskPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<TaskInstanceHistoryCollectionResponse>, ApiError> {
    let params = Params::of::<TriesQuery>(query.as_deref())?;
    let map_index = params.map_index()?;
    let (_, instance) = state
        .instance_at((&dag_id, &run_id, &task_id), map_index)
        .await?;
    let shown_as = state.display_name(&dag_id);
    let tries: Vec<TaskInstanceHistoryResponse> = state
        .store
        .tries(&dag_id, &run_id, Some(&task_id))
        .await?
        .iter()
        .filter(|attempt| attempt.map_index == instance.map_index)
        .map(|attempt| TaskInstanceHistoryResponse::new(attempt, &instance, &shown_as))
        .collect();
    Ok(Json(TaskInstanceHistoryCollectionResponse::all(tries)))
}

/// The query of a log.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct LogQuery {
    /// The `continuation_token` of the previous page.
    token: Option<String>,
    /// From the beginning, whatever the token.
    full_content: Option<bool>,
    /// Which instance of a mapped task (default -1: a task that is not mapped).
    map_index: Option<i64>,
    /// Keep sending lines while the attempt runs (text; Updraft's).
    follow: Option<bool>,
    /// As a file to save (`Content-Disposition: attachment`; Updraft's).
    download: Option<bool>,
}

/// An attempt's log: as Airflow, a page of structured lines with a `continuation_token`,
/// or the log as text with `Accept: text/plain` (a browser's `text/html` too). Text is
/// streamed from the file in chunks (never read whole); with `follow`, lines keep coming
/// while the attempt runs (until the server stops); with `download`, as a file to save.
#[utoipa::path(get,
    operation_id = "get_log",
    path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
    tag = "TaskInstance", params(AttemptPath, LogQuery),
    responses((status = 200, content(
        (TaskInstancesLogResponse = "application/json"),
        (String = "text/plain"),
    ))))]
pub async fn log(
    State(state): State<Arc<AppState>>,
    Path(AttemptPath {
        dag_id,
        dag_run_id: run_id,
        task_id,
        try_number,
    }): Path<AttemptPath>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let try_number = whole_number("try_number", &try_number)?;
    let params = Params::of::<LogQuery>(query.as_deref())?;
    let map_index = params.map_index()?;
    let (follow, download) = (params.flag("follow")?, params.flag("download")?);
    let log = runs::attempt_log(
        &state.store,
        &state.settings,
        (&dag_id, &run_id, &task_id, map_index),
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
        let page = runs::log_page(&log.source, from)
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
        log.source,
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
