//! The DAG list (with the last runs' states and import errors), a DAG's grid of runs ×
//! tasks a page at a time, and its run-duration chart.

use super::{answer, page, run_path, state_square, url_escape};
use crate::dag::Dag;
use crate::runs::{self, RunListRequest};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{DagRow, DagRunRow, TaskState};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Runs on one page of the grid.
const GRID_PAGE: i64 = 25;

/// How often a page with active runs reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 3;

/// A time as people read it: UTC, to the second.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
            .replace('T', " ")
    })
    .unwrap_or_default()
}

/// A run's duration in seconds, so far when it is still going.
pub fn run_seconds(run: &DagRunRow) -> Option<f64> {
    let start = run.started_at?;
    Some((run.ended_at.unwrap_or_else(Utc::now) - start).as_seconds_f64())
}

/// Whether any of these runs is still queued or running.
pub fn any_active(runs: &[DagRunRow]) -> bool {
    runs.iter().any(DagRunRow::is_active)
}

/// `GET /`: every DAG with its schedule, next run, paused switch and last 10 runs.
pub async fn dag_list(State(state): State<Arc<AppState>>) -> Response {
    answer(&state, dag_list_body(&state).await)
}

async fn dag_list_body(state: &AppState) -> Result<Markup, ApiError> {
    let dags = state.current_dags().await?;
    let errors: Vec<String> =
        state.with_dags(|files| files.errors().iter().map(|e| e.to_string()).collect());
    let mut recent: Vec<(Arc<Dag>, DagRow, Vec<DagRunRow>)> = Vec::new();
    let mut active = false;
    for (dag, row) in dags {
        let runs = state.store.runs(&dag.dag_id, None, 10).await?;
        active |= any_active(&runs);
        recent.push((dag, row, runs));
    }
    let body = html! {
        h1 { "DAGs" }
        @if !errors.is_empty() {
            div.banner role="alert" {
                strong { (errors.len()) " DAG file(s) do not load" }
                @for e in &errors { pre { (e) } }
            }
        }
        table {
            thead { tr { th { "DAG" } th { "Schedule" } th { "Next run" } th { "Paused" } th { "Last run" } th { "Last 10 runs (newest first)" } } }
            tbody {
                @for (dag, row, runs) in &recent {
                    tr {
                        td {
                            a href={"/dags/" (url_escape(&dag.dag_id))} { (super::dag_name(dag)) }
                            @if let Some(d) = &dag.description { br; span.muted { (d) } }
                        }
                        td { (row.schedule.as_deref().unwrap_or("manual")) }
                        td { (when(row.next_run_after)) }
                        td {
                            input type="checkbox" checked[row.is_paused]
                                aria-label={"pause " (dag.display_name())}
                                data-pause-url={"/api/v2/dags/" (url_escape(&dag.dag_id))};
                        }
                        td.last-run {
                            @match runs.first() {
                                Some(last) => { (state_square(last.state.as_str())) " " (last.state) br; span.muted { (when(last.ended_at.or(last.started_at).or(Some(last.queued_at)))) } }
                                None => span.muted { "never ran" },
                            }
                        }
                        td {
                            div.states {
                                @for run in runs {
                                    a href={"/dags/" (url_escape(&dag.dag_id)) "/runs/" (url_escape(&run.run_id))}
                                        title={(run.run_id) ": " (run.state)} {
                                        (state_square(run.state.as_str()))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if recent.is_empty() { p.muted { "No DAGs in the DAGs folder yet." } }
    };
    Ok(page(state, "DAGs", active.then_some(REFRESH_SECONDS), body))
}

/// The tabs of a DAG's pages, `current` marked.
pub fn dag_tabs(dag_id: &str, current: &str) -> Markup {
    let base = format!("/dags/{}", url_escape(dag_id));
    html! {
        nav.tabs aria-label="DAG views" {
            @for (name, href) in [("Grid", base.clone()), ("Graph", format!("{base}/graph")), ("Durations", format!("{base}/durations")), ("Versions", format!("{base}/versions"))] {
                @if name == current { a href=(href) aria-current="page" { (name) } } @else { a href=(href) { (name) } }
            }
        }
    }
}

/// The trigger form (with a conf editor) and the pause switch of a DAG.
fn dag_actions(dag: &Dag, row: &DagRow) -> Markup {
    let api = format!("/api/v2/dags/{}", url_escape(&dag.dag_id));
    html! {
        div.actions {
            form data-url={(api) "/dagRuns"} data-method="POST" aria-label="Trigger a run" {
                strong { "Trigger a run" } br;
                label { "conf (JSON object)" br;
                    textarea name="conf" data-json rows="3" { (serde_json::Value::Object(dag.params.clone())) }
                }
                br;
                label { "run id (optional) " input type="text" name="dag_run_id"; }
                " "
                button type="submit" { "Trigger" }
                div.error role="status" {}
            }
            label {
                input type="checkbox" checked[row.is_paused] data-pause-url=(api);
                " paused"
            }
        }
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    offset: Option<i64>,
}

/// `GET /dags/{dag_id}?offset=N`: the grid, 25 runs a page, newest first.
pub async fn grid(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    answer(
        &state,
        grid_body(&state, &dag_id, q.offset.unwrap_or(0).clamp(0, MAX_OFFSET)).await,
    )
}

/// The furthest offset asked for as it is; beyond, the last page is shown (and no sum of
/// offsets can overflow).
const MAX_OFFSET: i64 = 1 << 40;

async fn grid_body(state: &AppState, dag_id: &str, offset: i64) -> Result<Markup, ApiError> {
    let (dag, row) = state.dag_named(dag_id).await?;
    let mut request = RunListRequest::newest(dag_id, GRID_PAGE);
    request.offset = offset;
    let mut page_runs = runs::list(&state.store, &request).await?;
    if offset > 0 && offset >= page_runs.total_entries {
        // Past the oldest run: the last page instead of an empty one.
        request.offset = (page_runs.total_entries - 1).max(0) / GRID_PAGE * GRID_PAGE;
        page_runs = runs::list(&state.store, &request).await?;
    }
    let offset = request.offset;
    let ids: Vec<&str> = page_runs
        .dag_runs
        .iter()
        .map(|r| r.run_id.as_str())
        .collect();
    let instances = state.store.task_instances_of_runs(dag_id, &ids).await?;
    // A mapped task's cell shows the state that most needs seeing among its instances.
    let mut cells: HashMap<(&str, &str), TaskState> = HashMap::new();
    for ti in &instances {
        let cell = cells
            .entry((ti.run_id.as_str(), ti.task_id.as_str()))
            .or_insert(ti.state);
        if urgency(ti.state) > urgency(*cell) {
            *cell = ti.state;
        }
    }
    // Oldest on the left, as Airflow's grid, so a page reads as time going by.
    let runs: Vec<&DagRunRow> = page_runs.dag_runs.iter().rev().collect();
    let longest = runs
        .iter()
        .filter_map(|r| run_seconds(r))
        .fold(0.0_f64, f64::max);
    // The DAG's tasks, then those only older versions had (a removed task still shows
    // in the runs that had it).
    let mut rows: Vec<&str> = dag.topo_order.iter().map(String::as_str).collect();
    let mut gone: Vec<&str> = instances
        .iter()
        .map(|ti| ti.task_id.as_str())
        .filter(|id| dag.task(id).is_none())
        .collect();
    gone.sort_unstable();
    gone.dedup();
    rows.extend(gone);
    let touched = state.store.assets_touched_by_runs(dag_id, &ids).await?;
    let base = format!("/dags/{}", url_escape(dag_id));
    let total = page_runs.total_entries;
    let body = html! {
        h1 { (super::dag_name(&dag)) }
        (dag_tabs(dag_id, "Grid"))
        (dag_actions(&dag, &row))
        p.muted { (total) " runs; " ((offset + 1).min(total)) "–" (offset + ids.len() as i64) " shown (newest on the right)" }
        nav.pager aria-label="Pages of runs" {
            @if offset + GRID_PAGE < total { a href={(base) "?offset=" (offset + GRID_PAGE)} { "← older runs" } }
            @if offset > 0 { a href={(base) "?offset=" ((offset - GRID_PAGE).max(0))} { "newer runs →" } }
        }
        table.grid aria-label="Runs by task" {
            thead {
                tr {
                    th { "run duration" }
                    @for run in &runs {
                        th.run {
                            @let secs = run_seconds(run).unwrap_or(0.0);
                            @let height = if longest > 0.0 { (secs / longest * 60.0).max(2.0) } else { 2.0 };
                            a href=(run_path(dag_id, &run.run_id)) title={(run.run_id) ": " (run.state) ", " (format!("{secs:.1}")) " s"} {
                                div class={"bar s-" (run.state)} style={"height: " (format!("{height:.0}")) "px"} {}
                            }
                        }
                    }
                }
            }
            tbody {
                @for task_id in &rows {
                    tr {
                        td.task { (task_id) }
                        @for run in &runs {
                            @let st = cells.get(&(run.run_id.as_str(), *task_id)).copied().unwrap_or(TaskState::None).as_str();
                            td.cell {
                                a class={"sq s-" (st)}
                                    href={(run_path(dag_id, &run.run_id)) "/tasks/" (url_escape(task_id))}
                                    title={(task_id) " · " (run.run_id) " · " (st)}
                                    aria-label={(task_id) " in " (run.run_id) ": " (st)} {}
                            }
                        }
                    }
                }
            }
        }
        (legend())
        (tables_of(&touched))
    };
    let active = any_active(&page_runs.dag_runs);
    Ok(page(
        state,
        &dag.dag_id,
        active.then_some(REFRESH_SECONDS),
        body,
    ))
}

/// The tables the tasks of the runs shown wrote and read (as the history recorded them),
/// with the tasks and the latest version: bounded by the page, whatever the history.
fn tables_of(touched: &[crate::store::TouchedAsset]) -> Markup {
    let mut rows: Vec<(&str, &str, Vec<&str>, Option<i64>)> = Vec::new();
    for t in touched {
        let how = if t.access == "write" {
            "writes"
        } else {
            "reads"
        };
        match rows
            .iter_mut()
            .find(|(uri, h, _, _)| *uri == t.uri && *h == how)
        {
            Some(row) => {
                row.2.push(&t.task_id);
                row.3 = row.3.max(t.version);
            }
            None => rows.push((&t.uri, how, vec![&t.task_id], t.version)),
        }
    }
    html! {
        h2 { "Tables" }
        @if rows.is_empty() { p.muted { "No task of these runs has written or read a table." } } @else {
            table.assets {
                thead { tr { th { "table" } th { "" } th { "tasks" } th { "latest version" } } }
                tbody {
                    @for (uri, how, tasks, version) in &rows {
                        tr { td { code { (uri) } } td { (how) } td { (tasks.join(", ")) } td { (version.map(|v| v.to_string()).unwrap_or_default()) } }
                    }
                }
            }
        }
    }
}

/// What each colour means.
pub fn legend() -> Markup {
    html! {
        div.legend {
            @for s in TaskState::ALL.iter().map(|s| s.as_str()) {
                span { (state_square(s)) (s) }
            }
        }
    }
}

/// `GET /dags/{dag_id}/durations`: the last 100 runs' durations as bars.
pub async fn durations(State(state): State<Arc<AppState>>, Path(dag_id): Path<String>) -> Response {
    answer(&state, durations_body(&state, &dag_id).await)
}

async fn durations_body(state: &AppState, dag_id: &str) -> Result<Markup, ApiError> {
    let (dag, _) = state.dag_named(dag_id).await?;
    let runs = state.store.runs(dag_id, None, 100).await?;
    let points: Vec<(&DagRunRow, f64)> = runs
        .iter()
        .rev()
        .filter_map(|r| Some((r, run_seconds(r)?)))
        .collect();
    let longest = points
        .iter()
        .map(|(_, s)| *s)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let (width, height, bar) = (points.len().max(1) * 12 + 60, 220.0, 10);
    let body = html! {
        h1 { (super::dag_name(&dag)) }
        (dag_tabs(dag_id, "Durations"))
        p.muted { "Run durations of the last " (points.len()) " runs that started (seconds; colour: state)." }
        svg width=(width) height="250" role="img" aria-label="Run durations" {
            text x="0" y="12" { (format!("{longest:.1} s")) }
            line x1="50" y1="20" x2="50" y2="230" stroke="#999" {}
            @for (i, (run, secs)) in points.iter().enumerate() {
                @let h = secs / longest * height;
                a href=(run_path(dag_id, &run.run_id)) {
                    rect class={"s-" (run.state)} x=(55 + i * 12) y=(format!("{:.1}", 230.0 - h)) width=(bar) height=(format!("{h:.1}")) {
                        title { (run.run_id) ": " (format!("{secs:.1}")) " s, " (run.state) }
                    }
                }
            }
        }
    };
    Ok(page(state, dag.display_name(), None, body))
}

/// How much a state of one instance of a mapped task needs seeing in the grid, next to
/// its others' states: a failure before work going on, work going on before an end.
fn urgency(state: TaskState) -> u8 {
    match state {
        TaskState::Removed => 0,
        TaskState::Skipped => 1,
        TaskState::Success => 2,
        TaskState::None => 3,
        TaskState::Scheduled | TaskState::Queued => 4,
        TaskState::UpForReschedule => 5,
        TaskState::UpForRetry => 6,
        TaskState::Running => 7,
        TaskState::UpstreamFailed => 8,
        TaskState::Failed => 9,
    }
}
