//! Listing runs: `GET /api/v2/dags/{dag_id}/dagRuns` with Airflow's query filters, and its
//! batch form `POST /api/v2/dags/~/dagRuns/list` with Airflow's `DAGRunsBatchBody`.

use super::models::DagRunCollectionResponse;
use super::{Body, DagPath, Params, versions};
use crate::runs::{self, RunListRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{Bound, RunColumn, RunFilter, RunState, RunType, TextMatch};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Airflow's wildcard DAG id in list endpoints: every DAG.
const ALL_DAGS: &str = "~";

/// The time filters of a run listing: Airflow's `<column>_<bound>` names.
const TIME_FILTERS: [(&str, RunColumn); 5] = [
    ("run_after", RunColumn::RunAfter),
    ("updated_at", RunColumn::UpdatedAt),
    ("logical_date", RunColumn::LogicalDate),
    ("start_date", RunColumn::StartedAt),
    ("end_date", RunColumn::EndedAt),
];

/// The bounds of a time or duration filter, by suffix.
const BOUNDS: [(&str, Bound); 4] = [
    ("gte", Bound::AtOrAfter),
    ("gt", Bound::After),
    ("lte", Bound::AtOrBefore),
    ("lt", Bound::Before),
];

/// The query of a run listing (Airflow's names; a time filter is `<column>_<bound>`, the
/// bounds `gte`, `gt`, `lte`, `lt`). Another parameter is a 400 that lists these.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct RunListQuery {
    /// Only runs in these states (repeated, or comma-separated).
    state: Option<Vec<RunState>>,
    /// Only runs of these types.
    run_type: Option<Vec<RunType>>,
    /// Only runs worked with one of these DAG versions.
    dag_version: Option<Vec<i64>>,
    /// Only runs whose `conf`, as JSON text, contains this.
    conf_contains: Option<String>,
    /// Only runs whose id contains one of these (`|` between them), whatever the case;
    /// `%` and `_` are wildcards, `~` matches every run.
    run_id_pattern: Option<String>,
    /// Only runs whose id starts with this, exactly.
    run_id_prefix_pattern: Option<String>,
    /// Only runs of DAGs whose id contains one of these, as `run_id_pattern`.
    dag_id_pattern: Option<String>,
    /// Only runs of DAGs whose id starts with this, exactly.
    dag_id_prefix_pattern: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
    /// `logical_date` (the default, descending), `run_after`, `updated_at`,
    /// `dag_run_id`, `state`, `queued_at`, `start_date` or `end_date`; `-` first:
    /// descending.
    order_by: Option<String>,
    run_after_gte: Option<DateTime<Utc>>,
    run_after_gt: Option<DateTime<Utc>>,
    run_after_lte: Option<DateTime<Utc>>,
    run_after_lt: Option<DateTime<Utc>>,
    /// When the run last changed.
    updated_at_gte: Option<DateTime<Utc>>,
    updated_at_gt: Option<DateTime<Utc>>,
    updated_at_lte: Option<DateTime<Utc>>,
    updated_at_lt: Option<DateTime<Utc>>,
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
    /// Seconds from start to end (runs not ended are left out).
    duration_gte: Option<f64>,
    duration_gt: Option<f64>,
    duration_lte: Option<f64>,
    duration_lt: Option<f64>,
}

/// A page of a DAG's runs; `~` as the DAG id lists the runs of every DAG, as Airflow.
#[utoipa::path(get, operation_id = "get_dag_runs", path = "/api/v2/dags/{dag_id}/dagRuns", tag = "DagRun",
    params(DagPath, RunListQuery), responses((status = 200, body = DagRunCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
    RawQuery(query): RawQuery,
) -> Result<Json<DagRunCollectionResponse>, ApiError> {
    let params = Params::of::<RunListQuery>(query.as_deref())?;
    let mut request = RunListRequest::newest(&dag_id, params.number("limit", 100)?);
    request.offset = params.number("offset", 0)?;
    if dag_id == ALL_DAGS {
        request.filter.dag_ids.clear();
    }
    let filter = &mut request.filter;
    filter.states = params
        .all("state")
        .into_iter()
        .map(runs::list::parse_state)
        .collect::<Result<_, _>>()?;
    filter.run_types = params
        .all("run_type")
        .into_iter()
        .map(|t| RunType::parse(t).map_err(|e| ApiError::bad_request(format!("run_type: {e}"))))
        .collect::<Result<_, _>>()?;
    filter.dag_versions = params
        .all("dag_version")
        .into_iter()
        .map(|n| super::whole_number("dag_version", n))
        .collect::<Result<_, _>>()?;
    filter.conf_contains = params.one("conf_contains").map(str::to_string);
    filter.run_id_match = text_match(&params, "run_id");
    filter.dag_id_match = text_match(&params, "dag_id");
    for (name, column) in TIME_FILTERS {
        for (suffix, bound) in BOUNDS {
            let key = format!("{name}_{suffix}");
            if let Some(text) = params.one(&key) {
                filter.times.push((column, bound, parse_time(&key, text)?));
            }
        }
    }
    for (suffix, bound) in BOUNDS {
        let key = format!("duration_{suffix}");
        if let Some(text) = params.one(&key) {
            let seconds = text
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{key}: `{text}` is not a number of seconds"))
                })?;
            filter.durations.push((bound, seconds));
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
    Ok(Json(DagRunCollectionResponse::new(
        shown,
        page.total_entries,
    )))
}

/// `<column>_pattern` (contains one of `|`-separated texts; `~`: anything) or
/// `<column>_prefix_pattern` (starts with), the prefix winning when both are sent.
fn text_match(params: &Params, column: &str) -> Option<TextMatch> {
    if let Some(prefix) = params.one(&format!("{column}_prefix_pattern")) {
        return Some(TextMatch::StartsWith(prefix.to_string()));
    }
    let pattern = params.one(&format!("{column}_pattern"))?;
    if pattern == "~" || pattern.is_empty() {
        return None;
    }
    Some(TextMatch::Contains(
        pattern.split('|').map(str::to_string).collect(),
    ))
}

/// A time in a query: RFC 3339, or with the offset as Python writes it (`+0000`).
pub(super) fn parse_time(key: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| ApiError::bad_request(format!("{key}: `{text}`: {e}")))
}

/// The body of `POST /api/v2/dags/~/dagRuns/list` (Airflow's `DAGRunsBatchBody`; another
/// field is a 400 that names it).
#[derive(Deserialize, ToSchema)]
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
    /// Only runs whose `conf`, as JSON text, contains this.
    conf_contains: Option<String>,
    run_after_gte: Option<DateTime<Utc>>,
    run_after_gt: Option<DateTime<Utc>>,
    run_after_lte: Option<DateTime<Utc>>,
    run_after_lt: Option<DateTime<Utc>>,
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
    duration_gte: Option<f64>,
    duration_gt: Option<f64>,
    duration_lte: Option<f64>,
    duration_lt: Option<f64>,
}

impl RunsBatchBody {
    /// The runs the body picks.
    fn filter(self) -> RunFilter {
        use Bound::{After, AtOrAfter, AtOrBefore, Before};
        use RunColumn::{EndedAt, LogicalDate, RunAfter, StartedAt};
        let times = [
            (RunAfter, AtOrAfter, self.run_after_gte),
            (RunAfter, After, self.run_after_gt),
            (RunAfter, AtOrBefore, self.run_after_lte),
            (RunAfter, Before, self.run_after_lt),
            (LogicalDate, AtOrAfter, self.logical_date_gte),
            (LogicalDate, After, self.logical_date_gt),
            (LogicalDate, AtOrBefore, self.logical_date_lte),
            (LogicalDate, Before, self.logical_date_lt),
            (StartedAt, AtOrAfter, self.start_date_gte),
            (StartedAt, After, self.start_date_gt),
            (StartedAt, AtOrBefore, self.start_date_lte),
            (StartedAt, Before, self.start_date_lt),
            (EndedAt, AtOrAfter, self.end_date_gte),
            (EndedAt, After, self.end_date_gt),
            (EndedAt, AtOrBefore, self.end_date_lte),
            (EndedAt, Before, self.end_date_lt),
        ];
        let durations = [
            (AtOrAfter, self.duration_gte),
            (After, self.duration_gt),
            (AtOrBefore, self.duration_lte),
            (Before, self.duration_lt),
        ];
        RunFilter {
            dag_ids: self.dag_ids,
            states: self.states,
            times: times
                .into_iter()
                .filter_map(|(column, bound, at)| Some((column, bound, at?)))
                .collect(),
            durations: durations
                .into_iter()
                .filter_map(|(bound, seconds)| Some((bound, seconds?)))
                .collect(),
            conf_contains: self.conf_contains,
            ..RunFilter::default()
        }
    }
}

/// Airflow's default page of a batch listing.
pub fn default_page_limit() -> i64 {
    100
}

/// Runs of any DAGs, filtered by the body (the path's DAG id must be `~`, as in Airflow).
#[utoipa::path(post, operation_id = "get_list_dag_runs_batch", path = "/api/v2/dags/{dag_id}/dagRuns/list", tag = "DagRun",
    params(DagPath), request_body = RunsBatchBody,
    responses((status = 200, body = DagRunCollectionResponse)))]
pub async fn list_batch(
    State(state): State<Arc<AppState>>,
    Path(DagPath { dag_id }): Path<DagPath>,
    Body(body): Body<RunsBatchBody>,
) -> Result<Json<DagRunCollectionResponse>, ApiError> {
    if dag_id != ALL_DAGS {
        return Err(ApiError::bad_request(
            "the batch listing takes its DAGs from dag_ids: use ~ as the path's DAG id",
        ));
    }
    let mut request = RunListRequest::newest(ALL_DAGS, body.page_limit);
    request.offset = body.page_offset;
    if let Some(order) = &body.order_by {
        request.order = runs::list::parse_order(order)?;
    }
    request.filter = body.filter();
    let page = runs::list(&state.store, &request).await?;
    let shown = versions::runs_with_versions(&state, &page.dag_runs).await?;
    Ok(Json(DagRunCollectionResponse::new(
        shown,
        page.total_entries,
    )))
}
