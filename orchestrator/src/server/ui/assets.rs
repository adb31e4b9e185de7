//! The assets pages: the lineage graph across DAGs (assets, tasks and the DAGs asset
//! events trigger, as server-rendered SVG in columns by how far data has flowed), every
//! asset with its last write, and one asset's events with the runs each triggered.

use super::graph::Boxes;
use super::{answer, page, run_path, url_escape};
use crate::lineage::{Lineage, Node};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::AssetSummary;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;

/// `GET /assets`.
pub async fn assets_page(State(state): State<Arc<AppState>>) -> Response {
    answer(&state, assets_body(&state).await)
}

async fn assets_body(state: &AppState) -> Result<Markup, ApiError> {
    let lineage = Lineage::from_edges(&state.store.lineage_edges().await?);
    let assets = state.store.assets().await?;
    let body = html! {
        h1 { "Assets" }
        p.muted { "Every table a task wrote or read, and every asset a DAG is scheduled on: recorded as tasks run, never declared." }
        h2 { "Lineage" }
        @if lineage.edges.is_empty() {
            p.muted { "No task has written or read a table yet." }
        } @else {
            div.scroll { (lineage_svg(&lineage, &assets)) }
            div.legend {
                span { svg width="14" height="12" { rect class="lineage-asset" width="14" height="12" rx="6" {} } " asset" }
                span { svg width="14" height="12" { rect class="lineage-task" width="14" height="12" rx="2" {} } " task" }
                span { svg width="14" height="12" { rect class="lineage-dag" width="14" height="12" rx="2" {} } " DAG its events trigger" }
            }
        }
        h2 { "All assets" }
        @if assets.is_empty() { p.muted { "None yet." } } @else {
            table.assets {
                thead { tr { th { "asset" } th { "last written (UTC)" } th { "version" } th { "written by" } th { "read by" } th { "triggers" } th { "freshness" } } }
                tbody {
                    @for a in &assets {
                        tr {
                            td { a href={"/assets/" (a.id)} { code { (a.uri) } } }
                            td.time { (a.last_written_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()) }
                            td { (a.version.map(|v| v.to_string()).unwrap_or_default()) }
                            td { (a.producers.join(", ")) }
                            td { (a.consumers.join(", ")) }
                            td { (a.scheduled_dags.join(", ")) }
                            td { @if let Some(f) = a.freshness { span class={"freshness-" (f.as_str())} { (f.as_str()) } } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(state, "Assets", None, body))
}

/// `GET /assets/{id}`: one asset's events, newest first, with the runs each triggered.
pub async fn asset_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    answer(&state, asset_body(&state, &id).await)
}

async fn asset_body(state: &AppState, id: &str) -> Result<Markup, ApiError> {
    let asset = match id.parse::<i64>() {
        Ok(id) => state.store.asset(id).await?,
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::not_found(format!("no asset with id `{id}`")))?;
    let events = state.store.asset_events(&asset.uri, 200).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let triggered = state.store.runs_triggered_by(&ids).await?;
    let body = html! {
        h1 { code { (asset.uri) } }
        p { a href="/assets" { "All assets and the lineage graph" } }
        h2 { "Events" }
        @if events.is_empty() { p.muted { "No events yet." } } @else {
            table.assets {
                thead { tr { th { "time (UTC)" } th { "" } th { "by" } th { "version" } th { "rows" } th { "partitions" } th { "triggered" } } }
                tbody {
                    @for e in &events {
                        tr {
                            td.time { (e.created_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (e.access) }
                            td {
                                @match (&e.dag_id, &e.run_id, &e.task_id) {
                                    (Some(d), Some(r), Some(t)) => {
                                        a href=(super::task_path(d, r, t)) { (d) "." (t) }
                                        " " span.muted { (r) }
                                    },
                                    _ => { span.muted { "outside (" (e.extra) ")" } },
                                }
                            }
                            td { (e.version.map(|v| v.to_string()).unwrap_or_default()) }
                            td { (e.row_count.map(|v| v.to_string()).unwrap_or_default()) }
                            td { (partitions(&e.partitions)) }
                            td {
                                @for (_, dag_id, run_id) in triggered.iter().filter(|(id, _, _)| *id == e.id) {
                                    a href=(run_path(dag_id, run_id)) { (dag_id) " " (run_id) } " "
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(state, &asset.uri, None, body))
}

/// A JSON list of partitions as text.
fn partitions(json: &str) -> String {
    serde_json::from_str::<Vec<String>>(json)
        .map(|list| list.join(", "))
        .unwrap_or_default()
}

/// Where each node's box goes: (column, row), columns by the longest path to the node.
fn layout(lineage: &Lineage) -> HashMap<&Node, (usize, usize)> {
    let order = lineage.in_flow_order();
    let mut depth: HashMap<&Node, usize> = HashMap::new();
    for node in &order {
        let Some(node) = lineage.nodes.iter().find(|n| *n == node) else {
            continue;
        };
        let d = lineage
            .edges
            .iter()
            .filter(|e| e.to == *node)
            .filter_map(|e| depth.get(&e.from))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(node, d);
    }
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut place = HashMap::new();
    for node in &order {
        let Some((node, column)) = depth.get_key_value(node) else {
            continue;
        };
        let row = rows.entry(*column).or_insert(0);
        place.insert(*node, (*column, *row));
        *row += 1;
    }
    place
}

/// The lineage as SVG: boxes for assets (linking to their page), tasks (to their DAG)
/// and triggered DAGs, curves where data flows.
fn lineage_svg(lineage: &Lineage, assets: &[AssetSummary]) -> Markup {
    let place = layout(lineage);
    let longest = lineage
        .nodes
        .iter()
        .map(|n| n.label().chars().count())
        .max()
        .unwrap_or(0);
    let boxes = Boxes::new(longest, place.values().copied());
    let (width, height) = boxes.size();
    let at = |node: &Node| place.get(node).copied().unwrap_or((0, 0));
    let href = |node: &Node| match node {
        Node::Asset { uri } => assets
            .iter()
            .find(|a| &a.uri == uri)
            .map(|a| format!("/assets/{}", a.id)),
        Node::Task { dag_id, .. } | Node::Dag { dag_id } => {
            Some(format!("/dags/{}", url_escape(dag_id)))
        }
    };
    html! {
        svg.lineage width=(width) height=(height) role="img" aria-label="lineage across DAGs" {
            @for e in &lineage.edges {
                path d=(boxes.edge(at(&e.from), at(&e.to))) fill="none" stroke="#7a8699"
                    stroke-dasharray=[matches!(e.to, Node::Dag { .. }).then_some("4 3")] {}
            }
            @for node in &lineage.nodes {
                @let shape = match node {
                    Node::Asset { .. } => ("lineage-asset", 14),
                    Node::Task { .. } => ("lineage-task", 4),
                    Node::Dag { .. } => ("lineage-dag", 4),
                };
                @let label = node.label();
                a href=[href(node)] {
                    (boxes.node(at(node), shape, &label, &label))
                }
            }
        }
    }
}
