//! A DAG's graph as SVG: tasks in columns by their depth (the longest path from a task
//! with no upstream), edges from upstream to downstream, coloured by one run's states.

use super::dag_pages::{REFRESH_SECONDS, dag_tabs, legend};
use super::{answer, page, run_path, url_escape};
use crate::dag::Dag;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::TaskInstanceRow;
use crate::store::TaskState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

const BOX_H: usize = 30;
/// The width a label character takes (12 px monospace: 7.2 px) and the box's padding.
const CHAR_W: usize = 8;
const PAD_X: usize = 8;
/// The narrowest and widest box; a longer label is cut short with `…` (its box's hover
/// title has it whole).
const MIN_BOX_W: usize = 120;
const MAX_BOX_W: usize = 420;
const GAP_X: usize = 60;
const GAP_Y: usize = 16;

/// Boxes of one width laid out in columns and rows (a graph drawn left to right).
pub(super) struct Boxes {
    /// Every box's width: its longest label's, within bounds.
    width: usize,
    /// How many characters of a label fit.
    max_chars: usize,
    columns: usize,
    rows: usize,
}

impl Boxes {
    /// Boxes for labels at most `longest` characters long, at the `places` (column, row).
    pub fn new(longest: usize, places: impl Iterator<Item = (usize, usize)>) -> Self {
        let width = (longest * CHAR_W + 2 * PAD_X).clamp(MIN_BOX_W, MAX_BOX_W);
        let (mut columns, mut rows) = (1, 1);
        for (c, r) in places {
            columns = columns.max(c + 1);
            rows = rows.max(r + 1);
        }
        Boxes {
            width,
            max_chars: (width - 2 * PAD_X) / CHAR_W,
            columns,
            rows,
        }
    }

    /// The SVG's width and height.
    pub fn size(&self) -> (usize, usize) {
        (
            20 + self.columns * (self.width + GAP_X),
            20 + self.rows * (BOX_H + GAP_Y),
        )
    }

    /// The top left corner of the box at `(column, row)`.
    fn xy(&self, (column, row): (usize, usize)) -> (usize, usize) {
        (
            10 + column * (self.width + GAP_X),
            10 + row * (BOX_H + GAP_Y),
        )
    }

    /// The curve from the right side of the box at `from` to the left side of `to`.
    pub fn edge(&self, from: (usize, usize), to: (usize, usize)) -> String {
        let ((x1, y1), (x2, y2)) = (self.xy(from), self.xy(to));
        let (x1, y1, y2) = (x1 + self.width, y1 + BOX_H / 2, y2 + BOX_H / 2);
        format!(
            "M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}",
            x1 + GAP_X / 2,
            x2.saturating_sub(GAP_X / 2)
        )
    }

    /// The box at `(column, row)`: of `class`, with corners of radius `rx`, its label cut
    /// short to fit, and `title` on hover.
    pub fn node(
        &self,
        at: (usize, usize),
        (class, rx): (&str, u8),
        label: &str,
        title: &str,
    ) -> Markup {
        let (x, y) = self.xy(at);
        html! {
            rect class=(class) x=(x) y=(y) width=(self.width) height=(BOX_H) rx=(rx) stroke="#44505f" {
                title { (title) }
            }
            text x=(x + PAD_X) y=(y + 19) { (cut(label, self.max_chars)) }
        }
    }
}

/// Where each task's box goes: (column, row).
fn layout(dag: &Dag) -> HashMap<&str, (usize, usize)> {
    let mut depth: HashMap<&str, usize> = HashMap::new();
    for task_id in &dag.topo_order {
        let d = dag.tasks[task_id]
            .upstream
            .iter()
            .filter_map(|u| depth.get(u.as_str()))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(task_id.as_str(), d);
    }
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut place = HashMap::new();
    for task_id in &dag.topo_order {
        let column = depth[task_id.as_str()];
        let row = rows.entry(column).or_insert(0);
        place.insert(task_id.as_str(), (column, *row));
        *row += 1;
    }
    place
}

/// The SVG of `dag`, coloured by the states of a run's `instances` (empty: no run), each
/// box linking to the task in that run.
pub fn graph_svg(dag: &Dag, instances: &[TaskInstanceRow]) -> Markup {
    let states: HashMap<&str, TaskState> = instances
        .iter()
        .map(|ti| (ti.task_id.as_str(), ti.state))
        .collect();
    let run = instances.first().map(|ti| run_path(&ti.dag_id, &ti.run_id));
    let place = layout(dag);
    let longest = dag
        .topo_order
        .iter()
        .map(|id| id.chars().count())
        .max()
        .unwrap_or(0);
    let boxes = Boxes::new(longest, place.values().copied());
    let (width, height) = boxes.size();
    html! {
        svg width=(width) height=(height) role="img" aria-label={"graph of " (dag.dag_id)} {
            @for task in dag.tasks.values() {
                @for down in &task.downstream {
                    path d=(boxes.edge(place[task.task_id.as_str()], place[down.as_str()]))
                        fill="none" stroke="#7a8699" {}
                }
            }
            @for task_id in &dag.topo_order {
                @let st = states.get(task_id.as_str()).copied().unwrap_or(TaskState::None).as_str();
                @let task = &dag.tasks[task_id];
                @let href = run.as_ref().map(|r| format!("{r}/tasks/{}", url_escape(task_id)));
                @let title = format!("{task_id} ({}): {st}", task.task_type);
                a href=[href] {
                    (boxes.node(place[task_id.as_str()], (&format!("node s-{st}"), 4), task_id, &title))
                }
            }
        }
    }
}

/// A label as its box shows it: whole, or cut short to `max_chars` with `…`.
fn cut(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[derive(Deserialize)]
pub struct GraphQuery {
    run_id: Option<String>,
}

/// `GET /dags/{dag_id}/graph?run_id=R` (default: the newest run).
pub async fn graph_page(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Query(q): Query<GraphQuery>,
) -> Response {
    answer(&state, graph_body(&state, &dag_id, q.run_id).await)
}

async fn graph_body(
    state: &AppState,
    dag_id: &str,
    run_id: Option<String>,
) -> Result<Markup, ApiError> {
    let (current, _) = state.dag_named(dag_id).await?;
    let run = match run_id {
        Some(id) => Some(state.run_named(dag_id, &id).await?),
        None => state.store.runs(dag_id, None, 1).await?.into_iter().next(),
    };
    // A run is drawn with the tasks of its own version.
    let dag = match &run {
        Some(r) => state.run_dag(&current, r).await?,
        None => current,
    };
    let instances = match &run {
        Some(r) => state.store.task_instances(dag_id, &r.run_id).await?,
        None => Vec::new(),
    };
    let active = run.as_ref().is_some_and(|r| r.is_active());
    let body = html! {
        h1 { (super::dag_name(&dag)) }
        (dag_tabs(dag_id, "Graph"))
        @match &run {
            Some(r) => p { "States of run " a href=(run_path(dag_id, &r.run_id)) { (r.run_id) } " (" (r.state) ")"
                @if let Some(n) = r.dag_version { ", DAG version " (n) } },
            None => p.muted { "No runs yet." },
        }
        (graph_svg(&dag, &instances))
        (legend())
    };
    Ok(page(
        state,
        &dag.dag_id,
        active.then_some(REFRESH_SECONDS),
        body,
    ))
}
