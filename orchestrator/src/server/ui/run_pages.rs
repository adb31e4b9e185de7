//! A run (its tasks, graph, data-quality results; clear and mark) and a task instance
//! (every try with its error and metrics, and a try's log, followed while it runs).

use super::dag_pages::{REFRESH_SECONDS, dag_tabs, run_seconds, when};
use super::graph::graph_svg;
use super::{answer, page, run_api_path, run_path, state_square, url_escape};
use crate::runs;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{CallbackRow, TaskState};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /dags/{dag_id}/runs/{run_id}`
pub async fn run_page(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id)): Path<(String, String)>,
) -> Response {
    answer(&state, run_body(&state, &dag_id, &run_id).await)
}

/// A button that sends `body` to the API.
fn api_button(url: &str, method: &str, body: &[(&str, &str)], label: &str) -> Markup {
    html! {
        form data-url=(url) data-method=(method) {
            @for (name, json) in body { input type="hidden" name=(name) value=(json) data-json; }
            button type="submit" { (label) }
            div.error role="status" {}
        }
    }
}

async fn run_body(state: &AppState, dag_id: &str, run_id: &str) -> Result<Markup, ApiError> {
    let (current, _) = state.dag_named(dag_id).await?;
    let run = state.run_named(dag_id, run_id).await?;
    let dag = state.run_dag(&current, &run).await?;
    let instances = state.store.task_instances(dag_id, run_id).await?;
    let results = state.store.test_results(dag_id, run_id).await?;
    let alerts = state.store.run_callbacks(dag_id, run_id).await?;
    let unserved: Vec<String> = state
        .store
        .tasks_waiting_for_queue()
        .await?
        .into_iter()
        .map(|(queue, _)| queue)
        .collect();
    let api = run_api_path(dag_id, run_id);
    let base = run_path(dag_id, run_id);
    // A mapped task is one row, with its instances counted by state.
    let mapped_rows = mapped_summaries(&instances);
    // The `trigger_dag` task that created this run, if one did.
    let parent: Option<(String, String, String)> = state
        .store
        .run_triggered_by(dag_id, run_id)
        .await?
        .flatten()
        .and_then(|by| serde_json::from_str::<serde_json::Value>(&by).ok())
        .and_then(|by| {
            let field = |k: &str| by[k].as_str().map(str::to_string);
            Some((field("dag_id")?, field("run_id")?, field("task_id")?))
        });
    let body = html! {
        h1 { (super::dag_name(&dag)) " · " (run.run_id) }
        (dag_tabs(dag_id, ""))
        @if let Some((p_dag, p_run, p_task)) = &parent {
            p { "Triggered by task "
                a href={(run_path(p_dag, p_run)) "/tasks/" (url_escape(p_task))} { (p_task) }
                " of run " a href=(run_path(p_dag, p_run)) { (p_run) } " of " (p_dag) }
        }
        p { (state_square(run.state.as_str())) " " strong { (run.state) } " · " (run.run_type) " · logical date " (when(Some(run.logical_date)))
            " · interval " (when(Some(run.data_interval_start))) " – " (when(Some(run.data_interval_end)))
            @if let Some(s) = run_seconds(&run) { " · " (format!("{s:.1}")) " s" }
            " · " @match run.dag_version {
                Some(n) => { a href={"/dags/" (url_escape(dag_id)) "/versions#v" (n)} { "DAG version " (n) } },
                None => span.muted { "DAG version: set when it starts" },
            } }
        div.actions {
            (api_button(&format!("{api}/clear"), "POST", &[("dry_run", "false"), ("only_failed", "true")], "Clear failed tasks"))
            (api_button(&format!("{api}/clear"), "POST", &[("dry_run", "false")], "Clear all tasks"))
            (api_button(&format!("{api}/clear"), "POST", &[("dry_run", "false"), ("run_on_latest_version", "true")], "Clear all on the latest DAG version"))
            (api_button(&api, "PATCH", &[("state", "\"success\"")], "Mark run success"))
            (api_button(&api, "PATCH", &[("state", "\"failed\"")], "Mark run failed"))
        }
        h2 { "Tasks" }
        table {
            thead { tr { th { "task" } th { "type" } th { "queue" } th { "state" } th { "try" } th { "duration" } th { "ended" } } }
            tbody {
                @for (task_id, mapped) in &mapped_rows {
                    tr {
                        td { a href={(base) "/tasks/" (url_escape(task_id))} { (task_id) } }
                        td { (mapped.task_type) }
                        td { (mapped.queue) }
                        td { "mapped · " (mapped.count) " instances: " (mapped.states) }
                        td {}
                        td {}
                        td { (when(mapped.ended_at)) }
                    }
                }
                @for ti in instances.iter().filter(|ti| ti.map_index < 0) {
                    @let st = ti.state.as_str();
                    @let waiting = ti.state == crate::store::TaskState::Scheduled && unserved.contains(&ti.queue);
                    tr {
                        td { a href={(base) "/tasks/" (url_escape(&ti.task_id))} { (ti.task_id) } }
                        td { (ti.task_type) }
                        td { (ti.queue) }
                        td {
                            (state_square(st)) " " (st)
                            @if waiting { " " span.waiting { "waiting: no live scheduler serves queue " (ti.queue) } }
                        }
                        td { (ti.try_number) " / " (ti.max_tries) }
                        td { @if let Some(d) = ti.duration { (format!("{d:.2}")) " s" } }
                        td { (when(ti.ended_at)) }
                    }
                }
            }
        }
        h2 { "Graph" }
        (graph_svg(&dag, &instances))
        h2 { "Data-quality results" }
        @if results.is_empty() { p.muted { "No data tests ran in this run." } } @else {
            table {
                thead { tr { th { "test" } th { "task" } th { "status" } th { "failures" } th { "message" } } }
                tbody {
                    @for r in &results {
                        tr { td { (r.test_name) } td { (r.task_id) } td { (r.status) } td { (r.failures.map(|f| f.to_string()).unwrap_or_default()) } td { (r.message.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
        h2 { "Alerts" }
        (alerts_table(&alerts, "No alerts for this run."))
        h2 { "conf" }
        pre { (serde_json::to_string_pretty(&run.conf_shown()).unwrap_or_default()) }
    };
    let active = run.is_active();
    Ok(page(
        state,
        &format!("{dag_id} {run_id}"),
        active.then_some(REFRESH_SECONDS),
        body,
    ))
}

/// A mapped task as one row of a run's tasks.
struct MappedSummary {
    task_type: String,
    queue: String,
    count: usize,
    /// `2 success, 1 running`.
    states: String,
    /// When the last instance ended, once all have.
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The mapped tasks among `instances` (those with map indexes 0 and up), by task id.
fn mapped_summaries(
    instances: &[crate::store::TaskInstanceRow],
) -> std::collections::BTreeMap<String, MappedSummary> {
    let mut by_task: std::collections::BTreeMap<String, Vec<&crate::store::TaskInstanceRow>> =
        std::collections::BTreeMap::new();
    for ti in instances.iter().filter(|ti| ti.map_index >= 0) {
        by_task.entry(ti.task_id.clone()).or_default().push(ti);
    }
    by_task
        .into_iter()
        .map(|(task_id, list)| {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for ti in &list {
                *counts.entry(ti.state.as_str()).or_default() += 1;
            }
            let states = counts
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ");
            let ended_at = list
                .iter()
                .map(|ti| ti.ended_at)
                .collect::<Option<Vec<_>>>()
                .and_then(|ends| ends.into_iter().max());
            let first = list[0];
            let summary = MappedSummary {
                task_type: first.task_type.clone(),
                queue: first.queue.clone(),
                count: list.len(),
                states,
                ended_at,
            };
            (task_id, summary)
        })
        .collect()
}

/// A run's (or a task's) alert messages: what, to whom, and what came of it.
fn alerts_table(alerts: &[CallbackRow], none: &str) -> Markup {
    html! {
        @if alerts.is_empty() { p.muted { (none) } } @else {
            table.alerts {
                thead { tr { th { "event" } th { "task" } th { "action" } th { "to" } th { "state" } th { "tries" } th { "answer" } th { "at" } } }
                tbody {
                    @for a in alerts {
                        tr {
                            td { (a.event) }
                            td { (a.task_id) @if a.try_number > 0 && !a.task_id.is_empty() { " (try " (a.try_number) ")" } }
                            td { (a.action_kind) }
                            td { (a.target) }
                            td { (a.state) }
                            td { (a.attempts) }
                            td { (a.answer.as_deref().unwrap_or("")) }
                            td { (when(a.sent_at.or(Some(a.created_at)))) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct TryQuery {
    #[serde(rename = "try")]
    try_number: Option<i64>,
    /// Which instance of a mapped task.
    map_index: Option<i32>,
}

/// `GET /dags/{dag_id}/runs/{run_id}/tasks/{task_id}?try=N`
pub async fn task_page(
    State(state): State<Arc<AppState>>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
    Query(q): Query<TryQuery>,
) -> Response {
    answer(
        &state,
        task_body(
            &state,
            (&dag_id, &run_id, &task_id),
            q.map_index,
            q.try_number,
        )
        .await,
    )
}

async fn task_body(
    state: &AppState,
    (dag_id, run_id, task_id): (&str, &str, &str),
    map_index: Option<i32>,
    try_number: Option<i64>,
) -> Result<Markup, ApiError> {
    let (run, instance) = match map_index {
        Some(index) => state.instance_at((dag_id, run_id, task_id), index).await?,
        None => {
            let instances = state.store.task_instances(dag_id, run_id).await?;
            let mapped: Vec<_> = instances
                .into_iter()
                .filter(|ti| ti.task_id == task_id && ti.map_index >= 0)
                .collect();
            if !mapped.is_empty() {
                let run = state.run_named(dag_id, run_id).await?;
                return Ok(mapped_task_body(state, &run, task_id, &mapped));
            }
            state.instance_named((dag_id, run_id, task_id)).await?
        }
    };
    let index = instance.map_index;
    let name = crate::store::instance_name(task_id, index);
    let tries: Vec<crate::store::TaskTryRow> = state
        .store
        .tries(dag_id, run_id, Some(task_id))
        .await?
        .into_iter()
        .filter(|t| t.map_index == index)
        .collect();
    let alerts: Vec<CallbackRow> = state
        .store
        .run_callbacks(dag_id, run_id)
        .await?
        .into_iter()
        .filter(|a| a.task_id == task_id && a.map_index == index)
        .collect();
    let shown = match try_number {
        Some(n) => tries.iter().find(|t| t.try_number == n),
        None => tries.last(),
    };
    let run_api = run_api_path(dag_id, run_id);
    let api = format!("{run_api}/taskInstances/{}", url_escape(task_id));
    let page_url = format!("{}/tasks/{}", run_path(dag_id, run_id), url_escape(task_id));
    // An instance of a mapped task is named in every link's query.
    let instance_query = if index >= 0 {
        format!("map_index={index}&")
    } else {
        String::new()
    };
    let log = match shown {
        Some(t) if t.state == TaskState::Running => Log::Follow(format!(
            "{api}/logs/{}?{instance_query}follow=true",
            t.try_number
        )),
        Some(t) => {
            let source = runs::log_source(&state.settings, t)?;
            let tail = runs::log_tail(&source, PAGE_LOG_BYTES)
                .await
                .map_err(|e| ApiError::internal(format!("cannot read the log: {e}")))?;
            let url = format!("{api}/logs/{}", t.try_number);
            let url = match index {
                i if i >= 0 => format!("{url}?map_index={i}"),
                _ => url,
            };
            Log::Tail(tail, url)
        }
        None => Log::Empty,
    };
    // The runs it created (`trigger_dag`).
    let by = crate::store::triggered_by(dag_id, run_id, task_id);
    let triggered = state.store.runs_created_by(&by).await?;
    // What the instance hands on (its latest attempt's outputs and metrics).
    let outputs = state
        .store
        .outputs_of(dag_id, run_id, (task_id, instance.map_index))
        .await?
        .unwrap_or_default();
    let task_ids = serde_json::json!([task_id]).to_string();
    let st = instance.state.as_str();
    let body = html! {
        h1 { (name) }
        p { "in run " a href=(run_path(dag_id, run_id)) { (run_id) } " of " a href={"/dags/" (url_escape(dag_id))} { (dag_id) } }
        @if index >= 0 {
            p { "Instance " (index) " of mapped task " a href={(run_path(dag_id, run_id)) "/tasks/" (url_escape(task_id))} { (task_id) }
                @if let Some(item) = &instance.map_item { " · item " code { (item) } } }
        }
        p { (state_square(st)) " " strong { (st) } " · " (instance.task_type) " · try " (instance.try_number) " of " (instance.max_tries) }
        @if let Some((t, what)) = tries.last().and_then(|t| Some((t, t.waiting_for.as_deref()?))) {
            @if instance.state == TaskState::UpForReschedule {
                p.waiting { "Waiting for " (what) " since " (when(Some(t.started_at))) " · next check " (when(instance.next_try_at)) }
            } @else {
                p.muted { "Waited for " (what) }
            }
        }
        div.actions {
            (api_button(&format!("{run_api}/clear"), "POST", &[("dry_run", "false"), ("task_ids", &task_ids)], "Clear (with downstream)"))
            @for new_state in ["success", "failed"] {
                form data-url=(api) data-method="PATCH" {
                    input type="hidden" name="new_state" value=(new_state);
                    label { input type="checkbox" name="include_downstream"; " with downstream " }
                    button type="submit" { "Mark " (new_state) }
                    div.error role="status" {}
                }
            }
        }
        h2 { "Tries" }
        @if tries.is_empty() { p.muted { "Not run yet." } } @else {
            table {
                thead { tr { th { "try" } th { "state" } th { "started" } th { "duration" } th { "host" } th { "error" } th { "metrics" } } }
                tbody {
                    @for t in &tries {
                        tr {
                            td { a href={(page_url) "?" (instance_query) "try=" (t.try_number)} { (t.try_number) } }
                            td { (state_square(t.state.as_str())) " " (t.state) }
                            td { (when(Some(t.started_at))) }
                            td { @if let Some(d) = t.duration { (format!("{d:.2}")) " s" } }
                            td { (t.hostname.as_deref().unwrap_or("")) }
                            td.error { (t.error.as_deref().unwrap_or("")) }
                            td { code { (t.metrics) } }
                        }
                    }
                }
            }
        }
        @for (child_dag, child_run) in &triggered {
            p { "Triggered run " a href=(run_path(child_dag, child_run)) { (child_run) } " of " (child_dag) }
        }
        h2 { "Outputs" }
        @if outputs.is_empty() { p.muted { "None: nothing handed on to later tasks." } } @else {
            table {
                thead { tr { th { "key" } th { "value" } } }
                tbody {
                    @for (key, value) in &outputs {
                        tr { td { code { (key) } } td { code { (value) } } }
                    }
                }
            }
        }
        @if let Some(t) = shown {
            h2 { "Log of try " (t.try_number) }
            @match &log {
                Log::Follow(url) => pre.log id="log" data-follow=(url) aria-live="polite" { "…" },
                Log::Tail(tail, url) => {
                    @if tail.truncated {
                        p.muted {
                            "The last " (mib(tail.text.len() as u64)) " of " (mib(tail.total_bytes)) ": "
                            a href=(url) { "show all" } " · "
                            a href={(url) (query_sep(url)) "download=true"} { "download" }
                        }
                    } @else if tail.total_bytes > 0 {
                        p.muted { a href={(url) (query_sep(url)) "download=true"} { "download" } }
                    }
                    pre.log id="log" { (tail.text) }
                }
                Log::Empty => pre.log id="log" {},
            }
        }
        h2 { "Alerts" }
        (alerts_table(&alerts, "No alerts for this task in this run."))
    };
    // A followed log updates itself; the page reloads only to show a new state.
    let active = !matches!(log, Log::Follow(_)) && run.is_active();
    Ok(page(
        state,
        &format!("{name} · {run_id}"),
        active.then_some(REFRESH_SECONDS),
        body,
    ))
}

/// A mapped task's page: its instances, each with its item, state and last try.
fn mapped_task_body(
    state: &AppState,
    run: &crate::store::DagRunRow,
    task_id: &str,
    instances: &[crate::store::TaskInstanceRow],
) -> Markup {
    let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
    let page_url = format!("{}/tasks/{}", run_path(dag_id, run_id), url_escape(task_id));
    let summary = mapped_summaries(instances);
    let counts = summary
        .get(task_id)
        .map_or(String::new(), |s| s.states.clone());
    let task_ids = serde_json::json!([task_id]).to_string();
    let run_api = run_api_path(dag_id, run_id);
    let body = html! {
        h1 { (task_id) }
        p { "in run " a href=(run_path(dag_id, run_id)) { (run_id) } " of " a href={"/dags/" (url_escape(dag_id))} { (dag_id) } }
        p { "Mapped over " (instances.len()) " items: " (counts) }
        div.actions {
            (api_button(&format!("{run_api}/clear"), "POST", &[("dry_run", "false"), ("task_ids", &task_ids)], "Clear all instances (with downstream)"))
        }
        h2 { "Instances" }
        table {
            thead { tr { th { "map index" } th { "item" } th { "state" } th { "try" } th { "duration" } th { "ended" } } }
            tbody {
                @for ti in instances {
                    tr {
                        td { a href={(page_url) "?map_index=" (ti.map_index)} { (ti.map_index) } }
                        td { code { (ti.map_item.as_deref().unwrap_or("")) } }
                        td { (state_square(ti.state.as_str())) " " (ti.state) }
                        td { (ti.try_number) " / " (ti.max_tries) }
                        td { @if let Some(d) = ti.duration { (format!("{d:.2}")) " s" } }
                        td { (when(ti.ended_at)) }
                    }
                }
            }
        }
    };
    page(
        state,
        &format!("{task_id} · {run_id}"),
        run.is_active().then_some(REFRESH_SECONDS),
        body,
    )
}

/// How a try's log is shown: its end (with the API URL of the whole log), or followed
/// from the API while it runs.
enum Log {
    Tail(runs::LogTail, String),
    Follow(String),
    Empty,
}

/// The most of a log a task page embeds: its end; the whole log streams from the API.
const PAGE_LOG_BYTES: u64 = 1024 * 1024;

/// What joins one more parameter to `url`: `?`, or `&` after a query.
fn query_sep(url: &str) -> &'static str {
    if url.contains('?') { "&" } else { "?" }
}

/// A size in MiB, for people.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
