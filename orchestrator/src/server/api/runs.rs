//! `/api/v2/dags/{dag_id}/dagRuns...`: list, trigger, read, mark and clear runs, and a
//! run's data-quality results.

use super::models::DagRunResponse;
use super::{Body, Params, collection, touched_instances, versions};
use crate::runs::{
    self, ClearRequest, MarkRequest, MarkState, RunListRequest, TaskPick, TriggerRequest,
};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{Bound, DagRunRow, RunColumn, RunState, RunType};

/// Airflow's wildcard DAG id in list endpoints: every DAG.
const ALL_DAGS: &str = "~";
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;

/// The time filters of a run listing: Airflow's `<column>_<bound>` parameters.
const TIME_FILTERS: [(&str, RunColumn); 3] = [
    ("logical_date", RunColumn::LogicalDate),
    ("start_date", RunColumn::StartedAt),
    ("end_date", RunColumn::EndedAt),
];

/// The bounds of a time filter, by suffix.
const BOUNDS: [(&str, Bound); 4] = [
    ("gte", Bound::AtOrAfter),
    ("gt", Bound::After),
    ("lte", Bound::AtOrBefore),
    ("lt", Bound::Before),
];

/// `GET /api/v2/dags/{dag_id}/dagRuns?state&run_type&logical_date_gte...&limit&offset&order_by`;
/// `~` as the DAG id lists the runs of every DAG, as Airflow.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let names: Vec<String> = TIME_FILTERS
        .iter()
        .flat_map(|(name, _)| BOUNDS.iter().map(move |(b, _)| format!("{name}_{b}")))
        .collect();
    let mut known = vec!["state", "run_type", "limit", "offset", "order_by"];
    known.extend(names.iter().map(String::as_str));
    let params = Params::parse(query.as_deref(), &known)?;
    let mut request = RunListRequest::newest(&dag_id, params.number("limit", 100)?);
    request.offset = params.number("offset", 0)?;
    if dag_id == ALL_DAGS {
        request.filter.dag_ids.clear();
    }
    request.filter.states = params
        .all("state")
        .into_iter()
        .map(runs::list::parse_state)
        .collect::<Result<_, _>>()?;
    request.filter.run_types = params
        .all("run_type")
        .into_iter()
        .map(|t| RunType::parse(t).map_err(|e| ApiError::bad_request(format!("run_type: {e}"))))
        .collect::<Result<_, _>>()?;
    for (name, column) in TIME_FILTERS {
        for (suffix, bound) in BOUNDS {
            let key = format!("{name}_{suffix}");
            if let Some(text) = params.one(&key) {
                // RFC 3339, or with the offset as Python writes it (`+0000`).
                let at = DateTime::parse_from_rfc3339(text)
                    .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
                    .map_err(|e| ApiError::bad_request(format!("{key}: `{text}`: {e}")))?;
                request
                    .filter
                    .times
                    .push((column, bound, at.with_timezone(&Utc)));
            }
        }
    }
    if let Some(order) = params.one("order_by") {
        request.order = runs::list::parse_order(order)?;
    }
    let page = runs::list(&state.store, &request).await?;
    if page.total_entries == 0
        && dag_id != ALL_DAGS
        && !state.store.dags().await?.iter().any(|d| d.dag_id == dag_id)
    {
        state.dag_named(&dag_id).await?;
    }
    let shown = versions::runs_with_versions(&state, &page.dag_runs).await?;
    Ok(Json(serde_json::json!({
        "dag_runs": shown,
        "total_entries": page.total_entries,
    })))
}

/// The body of `POST /api/v2/dags/~/dagRuns/list` (Airflow's `DAGRunsBatchBody`, the
/// filters Updraft keeps; another is a 400 that names it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsBatchBody {
    #[serde(default)]
    dag_ids: Vec<String>,
    #[serde(default)]
    states: Vec<RunState>,
    #[serde(default = "default_page_limit")]
    page_limit: i64,
    #[serde(default)]
    page_offset: i64,
    order_by: Option<String>,
    logical_date_gte: Option<DateTime<Utc>>,
    logical_date_gt: Option<DateTime<Utc>>,
    logical_date_lte: Option<DateTime<Utc>>,
    logical_date_lt: Option<DateTime<Utc>>,
    start_date_gte: Option<DateTime<Utc>>,
    start_date_gt: Option<DateTime<Utc>>,
    start_date_lte: Option<DateTime<Utc>>,
    start_date_lt: Option<DateTime<Utc>>,
    end_date_gte: Option<DateTime<Utc>>,
    end_date_gt: Option<DateTime<Utc>>,
    end_date_lte: Option<DateTime<Utc>>,
    end_date_lt: Option<DateTime<Utc>>,
}

/// Airflow's default page of a batch listing.
pub fn default_page_limit() -> i64 {
    100
}

/// `POST /api/v2/dags/~/dagRuns/list`: runs of any DAGs, filtered by the body (the path's
/// DAG id must be `~`, as in Airflow).
pub async fn list_batch(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Body(body): Body<RunsBatchBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if dag_id != ALL_DAGS {
        return Err(ApiError::bad_request(
            "the batch listing takes its DAGs from dag_ids: use ~ as the path's DAG id",
        ));
    }
    let mut request = RunListRequest::newest(ALL_DAGS, body.page_limit);
    request.offset = body.page_offset;
    request.filter.dag_ids = body.dag_ids;
    request.filter.states = body.states;
    let bounds = [
        (
            RunColumn::LogicalDate,
            Bound::AtOrAfter,
            body.logical_date_gte,
        ),
        (RunColumn::LogicalDate, Bound::After, body.logical_date_gt),
        (
            RunColumn::LogicalDate,
            Bound::AtOrBefore,
            body.logical_date_lte,
        ),
        (RunColumn::LogicalDate, Bound::Before, body.logical_date_lt),
        (RunColumn::StartedAt, Bound::AtOrAfter, body.start_date_gte),
        (RunColumn::StartedAt, Bound::After, body.start_date_gt),
        (RunColumn::StartedAt, Bound::AtOrBefore, body.start_date_lte),
        (RunColumn::StartedAt, Bound::Before, body.start_date_lt),
        (RunColumn::EndedAt, Bound::AtOrAfter, body.end_date_gte),
        (RunColumn::EndedAt, Bound::After, body.end_date_gt),
        (RunColumn::EndedAt, Bound::AtOrBefore, body.end_date_lte),
        (RunColumn::EndedAt, Bound::Before, body.end_date_lt),
    ];
    request.filter.times = bounds
        .into_iter()
        .filter_map(|(column, bound, at)| Some((column, bound, at?)))
        .collect();
    if let Some(order) = &body.order_by {
        request.order = runs::list::parse_order(order)?;
    }
    let page = runs::list(&state.store, &request).await?;
    let shown = versions::runs_with_versions(&state, &page.dag_runs).await?;
    Ok(Json(serde_json::json!({
        "dag_runs": shown,
        "total_entries": page.total_entries,
    })))
}

/// One run as the API answers it (with the versions it was worked with).
async fn one_run(state: &AppState, run: DagRunRow) -> Result<Json<DagRunResponse>, ApiError> {
    let shown = versions::runs_with_versions(state, std::slice::from_ref(&run)).await?;
    shown
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a run without its answer"))
}

/// Refuses what Updraft cannot keep (a note) rather than dropping it.
fn no_note(note: Option<&str>) -> Result<(), ApiError> {
    match note {
        Some(_) => Err(ApiError::bad_request(
            "note: Updraft keeps no notes on runs yet; send the body without one",
        )),
        None => Ok(()),
    }
}

/// The body of a trigger (Airflow's names).
#[derive(Deserialize)]
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

/// `POST /api/v2/dags/{dag_id}/dagRuns`: a manual run, queued for a scheduler.
pub async fn trigger(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Body(body): Body<TriggerBody>,
) -> Result<Json<DagRunResponse>, ApiError> {
    let (dag, _) = state.dag_named(&dag_id).await?;
    no_note(body.note.as_deref())?;
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
    };
    let triggered = runs::trigger(&state.store, &state.settings, &dag, request).await?;
    one_run(&state, triggered.run).await
}

/// `GET /api/v2/dags/{dag_id}/dagRuns/{dag_run_id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<DagRunResponse>, ApiError> {
    let run = state.run_named(&dag_id, &run_id).await?;
    one_run(&state, run).await
}

/// The body of `PATCH .../dagRuns/{dag_run_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPatch {
    state: String,
    note: Option<String>,
}

/// `PATCH .../dagRuns/{dag_run_id}` `{"state": "success" | "failed"}`: marks the run.
pub async fn mark(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
    Body(body): Body<RunPatch>,
) -> Result<Json<DagRunResponse>, ApiError> {
    no_note(body.note.as_deref())?;
    let (dag, _) = state.dag_named(&dag_id).await?;
    let request = MarkRequest {
        run_id,
        task_ids: None,
        downstream: false,
        state: parse_mark_state(&body.state)?,
    };
    let marked = runs::mark(&state.store, &dag, request).await?;
    one_run(&state, marked.run).await
}

/// Reads `success` or `failed`.
pub fn parse_mark_state(name: &str) -> Result<MarkState, ApiError> {
    MarkState::parse(name).map_err(ApiError::bad_request)
}

/// The body of a clear (Airflow's names; as there, a dry run unless told otherwise).
#[derive(Deserialize)]
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

/// `POST .../dagRuns/{dag_run_id}/clear`: as Airflow, a dry run answers with the task
/// instances that would be cleared (with everything downstream of them), a clear with the
/// run, then queued for a scheduler. With `only_new`, the run moves to the DAG's newest
/// version and only the tasks it added run (a dry run lists them).
pub async fn clear(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
    Body(body): Body<ClearBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    no_note(body.note.as_deref())?;
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
        dry_run: body.dry_run,
        execute_here: false,
        latest_version: body.run_on_latest_version.unwrap_or(false),
        only_new: body.only_new,
    };
    let cleared = runs::clear(&state.store, &state.settings, &dag, request).await?;
    if body.dry_run && body.only_new {
        // The tasks the run would gain have no instances yet: Airflow's NewTaskResponse.
        let added: Vec<serde_json::Value> = cleared
            .task_ids
            .iter()
            .map(|id| serde_json::json!({"task_id": id, "task_display_name": id}))
            .collect();
        return Ok(Json(collection("task_instances", &added, added.len())));
    }
    if body.dry_run {
        return Ok(Json(
            touched_instances(&state, (&dag_id, &run_id), &cleared.task_ids).await?,
        ));
    }
    let run = state.run_named(&dag_id, &run_id).await?;
    let shown = one_run(&state, run).await?;
    serde_json::to_value(shown.0)
        .map(Json)
        .map_err(ApiError::internal)
}

/// `GET .../dagRuns/{dag_run_id}/testResults`: the data-quality results of the run.
pub async fn test_results(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.run_named(&dag_id, &run_id).await?;
    let results = state.store.test_results(&dag_id, &run_id).await?;
    Ok(Json(collection("test_results", &results, results.len())))
}
