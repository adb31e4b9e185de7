//! `/api/v2/dags/{dag_id}/dagRuns/...`: trigger, read, mark and clear runs, and a run's
//! data-quality results (listing runs is `run_list`).

use super::models::{
    CallbackCollectionResponse, ClearDagRunResponse, ClearTaskInstanceCollectionResponse,
    ClearedTask, DagRunResponse, NewTaskResponse, TestResultCollectionResponse,
};
use super::{Body, DagPath, Params, RunPath, touched_instances, versions};
use crate::runs::{self, ClearRequest, MarkRequest, MarkState, TaskPick, TriggerRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::DagRunRow;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// One run as the API answers it (with the versions it was worked with).
pub async fn one_run(state: &AppState, run: DagRunRow) -> Result<Json<DagRunResponse>, ApiError> {
    let shown = versions::runs_with_versions(state, std::slice::from_ref(&run)).await?;
    shown
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a run without its answer"))
}

/// The longest note Airflow takes, in characters.
const MAX_NOTE_CHARS: usize = 1000;

/// Refuses a note longer than Airflow takes (rather than cutting it).
pub fn check_note(note: Option<&str>) -> Result<(), ApiError> {
    let chars = note.map_or(0, |n| n.chars().count());
    if chars > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(format!(
            "note: {chars} characters; a note holds at most {MAX_NOTE_CHARS}"
        )));
    }
    Ok(())
}

/// The body of a trigger (Airflow's `TriggerDAGRunPostBody`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    dag_run_id: Option<String>,
    logical_date: Option<DateTime<Utc>>,
    conf: Option<serde_json::Value>,
    note: Option<String>,
    /// Airflow lets a caller set these; Updraft computes them from the schedule.
    data_interval_start: Option<DateTime<Utc>>,
    data_interval_end: Option<DateTime<Utc>>,
    run_after: Option<DateTime<Utc>>,
    partition_key: Option<String>,
}

/// Triggers a manual run, queued for a scheduler.
#[utoipa::path(post, operation_id = "trigger_dag_run", path = "/api/v2/dags/{dag_id}/dagRuns", tag = "DagRun", params(DagPath),
    request_body = TriggerBody, responses((status = 200, body = DagRunResponse)))]
pub async fn trigger(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
    Body(body): Body<TriggerBody>,
) -> Result<Json<DagRunResponse>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    check_note(body.note.as_deref())?;
    let computed = [
        ("data_interval_start", body.data_interval_start.is_some()),
        ("data_interval_end", body.data_interval_end.is_some()),
        ("run_after", body.run_after.is_some()),
        ("partition_key", body.partition_key.is_some()),
    ];
    if let Some((field, _)) = computed.iter().find(|(_, given)| *given) {
        return Err(ApiError::bad_request(format!(
            "{field}: Updraft computes a run's data interval from its logical date and the \
             DAG's schedule; send logical_date only"
        )));
    }
    let request = TriggerRequest {
        conf: body.conf,
        run_id: body.dag_run_id,
        logical_date: body.logical_date,
        execute_here: false,
        note: body.note,
        triggered_by: None,
    };
    let triggered = runs::trigger(&state.store, &state.settings, &dag, request).await?;
    one_run(&state, triggered.run).await
}

/// One run.
#[utoipa::path(get, operation_id = "get_dag_run", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", tag = "DagRun",
    params(RunPath), responses((status = 200, body = DagRunResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
) -> Result<Json<DagRunResponse>, ApiError> {
    let run = state.run_named(&dag_id, &run_id).await?;
    one_run(&state, run).await
}

/// The body of `PATCH .../dagRuns/{dag_run_id}` (Airflow's `DAGRunPatchBody`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPatch {
    /// `success` or `failed`.
    state: Option<String>,
    /// What a person writes about the run (null removes it).
    note: Option<String>,
}

/// The query of a run's patch.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct RunPatchQuery {
    /// The fields to change, `state` and/or `note` (default: those the body holds).
    update_mask: Option<Vec<String>>,
}

/// Marks a run that is not running `success` or `failed`, and/or sets its note.
#[utoipa::path(patch, operation_id = "patch_dag_run", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", tag = "DagRun",
    params(RunPath, RunPatchQuery), request_body = RunPatch,
    responses((status = 200, body = DagRunResponse)))]
pub async fn mark(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
    RawQuery(query): RawQuery,
    Body(body): Body<RunPatch>,
) -> Result<Json<DagRunResponse>, ApiError> {
    let params = Params::of::<RunPatchQuery>(query.as_deref())?;
    let mask = params.all("update_mask");
    if let Some(other) = mask.iter().find(|m| !["state", "note"].contains(m)) {
        return Err(ApiError::bad_request(format!(
            "update_mask: `{other}` cannot be changed (only state and note)"
        )));
    }
    let masked = |field: &str| mask.is_empty() || mask.contains(&field);
    check_note(body.note.as_deref())?;
    let (dag, _) = state.dag_named(&dag_id).await?;
    let mut run = state.run_named(&dag_id, &run_id).await?;
    if masked("note") && (body.note.is_some() || mask.contains(&"note")) {
        state
            .store
            .set_run_note((&dag_id, &run_id), body.note.as_deref())
            .await?;
        run = state.run_named(&dag_id, &run_id).await?;
    }
    if let Some(new_state) = body.state.as_deref().filter(|_| masked("state")) {
        let request = MarkRequest {
            run_id,
            task_ids: None,
            downstream: false,
            map_index: None,
            state: parse_mark_state(new_state)?,
        };
        run = runs::mark(&state.store, &dag, request).await?.run;
    }
    one_run(&state, run).await
}

/// Reads `success` or `failed`.
pub fn parse_mark_state(name: &str) -> Result<MarkState, ApiError> {
    MarkState::parse(name).map_err(ApiError::bad_request)
}

/// The body of a clear (Airflow's `DAGRunClearBody`; as there, a dry run unless told
/// otherwise).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearBody {
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default)]
    only_failed: bool,
    task_ids: Option<Vec<String>>,
    /// Re-plan the run on the DAG's newest version (Airflow 3.3's field).
    #[serde(default)]
    run_on_latest_version: Option<bool>,
    /// Only run the tasks the newest version added, clearing none (Airflow 3.3's field).
    #[serde(default)]
    only_new: bool,
    note: Option<String>,
}

fn yes() -> bool {
    true
}

/// Clears task instances (and what is downstream of them) so that they run again: as
/// Airflow, a dry run answers with the task instances that would be cleared, a clear with
/// the run, then queued for a scheduler. With `only_new`, the run moves to the DAG's
/// newest version and only the tasks it added run (a dry run lists them).
#[utoipa::path(post, operation_id = "clear_dag_run", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear", tag = "DagRun",
    params(RunPath), request_body = ClearBody, responses((status = 200, body = ClearDagRunResponse)))]
pub async fn clear(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
    Body(body): Body<ClearBody>,
) -> Result<Json<ClearDagRunResponse>, ApiError> {
    check_note(body.note.as_deref())?;
    let (dag, _) = state.dag_named(&dag_id).await?;
    if body.only_new && body.task_ids.is_some() {
        return Err(ApiError::bad_request(
            "only_new: it runs the tasks the newest version added; send no task_ids",
        ));
    }
    let request = ClearRequest {
        run_id: run_id.clone(),
        tasks: body.task_ids.map_or(TaskPick::All, TaskPick::Ids),
        only_failed: body.only_failed,
        map_index: None,
        dry_run: body.dry_run,
        execute_here: false,
        latest_version: body.run_on_latest_version.unwrap_or(false),
        only_new: body.only_new,
    };
    let cleared = runs::clear(&state.store, &state.settings, &dag, request).await?;
    if body.dry_run && body.only_new {
        // The tasks the run would gain have no instances yet: Airflow's NewTaskResponse.
        let added: Vec<ClearedTask> = cleared
            .task_ids
            .iter()
            .map(|id| {
                ClearedTask::New(NewTaskResponse {
                    task_id: id.clone(),
                    task_display_name: id.clone(),
                })
            })
            .collect();
        let page = ClearTaskInstanceCollectionResponse::all(added);
        return Ok(Json(ClearDagRunResponse::DryRun(page)));
    }
    if body.dry_run {
        let touched = touched_instances(&state, (&dag_id, &run_id), &cleared.task_ids).await?;
        let items = touched
            .task_instances
            .into_iter()
            .map(|ti| ClearedTask::Instance(Box::new(ti)))
            .collect();
        let page = ClearTaskInstanceCollectionResponse::new(items, touched.total_entries);
        return Ok(Json(ClearDagRunResponse::DryRun(page)));
    }
    if body.note.is_some() {
        state
            .store
            .set_run_note((&dag_id, &run_id), body.note.as_deref())
            .await?;
    }
    let run = state.run_named(&dag_id, &run_id).await?;
    let shown = one_run(&state, run).await?;
    Ok(Json(ClearDagRunResponse::Cleared(Box::new(shown.0))))
}

/// The data-quality test results of a run (Updraft's).
#[utoipa::path(get, operation_id = "get_test_results", path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/testResults",
    tag = "DagRun", params(RunPath),
    responses((status = 200, body = TestResultCollectionResponse)))]
pub async fn test_results(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
) -> Result<Json<TestResultCollectionResponse>, ApiError> {
    state.run_named(&dag_id, &run_id).await?;
    let results = state.store.test_results(&dag_id, &run_id).await?;
    let shown = results.into_iter().map(Into::into).collect();
    Ok(Json(TestResultCollectionResponse::all(shown)))
}

/// The alert messages of a run (Updraft's): every action of every event, whether it was
/// sent, and what its receiver answered.
#[utoipa::path(get, operation_id = "get_callbacks",
    path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/callbacks",
    tag = "DagRun", params(RunPath),
    responses((status = 200, body = CallbackCollectionResponse)))]
pub async fn callbacks(
    State(state): State<Arc<AppState>>,
    Path(RunPath {
        dag_id,
        dag_run_id: run_id,
    }): Path<RunPath>,
) -> Result<Json<CallbackCollectionResponse>, ApiError> {
    state.run_named(&dag_id, &run_id).await?;
    let rows = state.store.run_callbacks(&dag_id, &run_id).await?;
    let shown = rows.into_iter().map(Into::into).collect();
    Ok(Json(CallbackCollectionResponse::all(shown)))
}
