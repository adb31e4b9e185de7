//! Lineage across DAGs, from what tasks were recorded writing and reading and which DAGs
//! are scheduled on which assets: nobody declares it. A graph of assets, tasks and DAGs,
//! whole or narrowed to what lies upstream and downstream of one asset.

use crate::store::{EdgeKind, LineageEdge};
use std::collections::{BTreeSet, VecDeque};

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Node {
    /// A table or stream, by URI.
    Asset { uri: String },
    /// A task of a DAG.
    Task { dag_id: String, task_id: String },
    /// A DAG, as what an asset's events trigger.
    Dag { dag_id: String },
}

impl Node {
    /// How it reads in text: the URI, `dag.task`, or `dag (DAG)`.
    pub fn label(&self) -> String {
        match self {
            Node::Asset { uri } => uri.clone(),
            Node::Task { dag_id, task_id } => format!("{dag_id}.{task_id}"),
            Node::Dag { dag_id } => format!("{dag_id} (DAG)"),
        }
    }
}

/// An edge: data flows `from` → `to` (a task writes an asset, an asset is read by a
/// task, an asset's events trigger a DAG).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Edge {
    pub from: Node,
    pub to: Node,
    pub kind: EdgeKind,
}

/// The lineage graph.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Lineage {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Lineage {
    /// The graph of `edges` as the store lists them.
    pub fn from_edges(edges: &[LineageEdge]) -> Self {
        let mut flows: BTreeSet<Edge> = BTreeSet::new();
        for e in edges {
            let asset = Node::Asset { uri: e.uri.clone() };
            let (from, to) = match (&e.kind, &e.task_id) {
                (EdgeKind::Writes, Some(task_id)) => (task(&e.dag_id, task_id), asset),
                (EdgeKind::Reads, Some(task_id)) => (asset, task(&e.dag_id, task_id)),
                (EdgeKind::Schedules, _) => (
                    asset,
                    Node::Dag {
                        dag_id: e.dag_id.clone(),
                    },
                ),
                _ => continue,
            };
            flows.insert(Edge {
                from,
                to,
                kind: e.kind,
            });
        }
        let edges: Vec<Edge> = flows.into_iter().collect();
        let nodes: BTreeSet<Node> = edges
            .iter()
            .flat_map(|e| [e.from.clone(), e.to.clone()])
            .collect();
        Lineage {
            nodes: nodes.into_iter().collect(),
            edges,
        }
    }

    /// Only what lies upstream and downstream of asset `uri`, with everything the tasks
    /// on the way read and write and the DAGs their assets trigger (None: `uri` is in no
    /// edge).
    pub fn around(&self, uri: &str) -> Option<Self> {
        let start = Node::Asset {
            uri: uri.to_string(),
        };
        if !self.nodes.contains(&start) {
            return None;
        }
        let mut keep: BTreeSet<Node> = BTreeSet::new();
        for downstream in [true, false] {
            let mut queue = VecDeque::from([start.clone()]);
            let mut seen = BTreeSet::from([start.clone()]);
            while let Some(node) = queue.pop_front() {
                for e in &self.edges {
                    let (here, next) = if downstream {
                        (&e.from, &e.to)
                    } else {
                        (&e.to, &e.from)
                    };
                    if *here == node && seen.insert(next.clone()) {
                        queue.push_back(next.clone());
                    }
                }
            }
            keep.extend(seen);
        }
        let tasks: BTreeSet<&Node> = keep
            .iter()
            .filter(|n| matches!(n, Node::Task { .. }))
            .collect();
        let edges: Vec<Edge> = self
            .edges
            .iter()
            .filter(|e| {
                let on_the_way = keep.contains(&e.from) && keep.contains(&e.to);
                let of_a_task = tasks.contains(&e.from) || tasks.contains(&e.to);
                let triggered = e.kind == EdgeKind::Schedules && keep.contains(&e.from);
                on_the_way || of_a_task || triggered
            })
            .cloned()
            .collect();
        let keep: BTreeSet<Node> = edges
            .iter()
            .flat_map(|e| [e.from.clone(), e.to.clone()])
            .collect();
        Some(Lineage {
            nodes: self
                .nodes
                .iter()
                .filter(|n| keep.contains(n))
                .cloned()
                .collect(),
            edges,
        })
    }

    /// One line per task and per scheduled DAG, in the order data flows:
    /// `inputs -> dag.task -> outputs`, `asset => dag (DAG)`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for node in self.in_flow_order() {
            match &node {
                Node::Task { .. } => {
                    let ins: Vec<String> = self
                        .edges
                        .iter()
                        .filter(|e| e.to == node)
                        .map(|e| e.from.label())
                        .collect();
                    let outs: Vec<String> = self
                        .edges
                        .iter()
                        .filter(|e| e.from == node)
                        .map(|e| e.to.label())
                        .collect();
                    let side = |list: &[String]| {
                        if list.is_empty() {
                            "(nothing)".to_string()
                        } else {
                            list.join(", ")
                        }
                    };
                    lines.push(format!(
                        "{} -> {} -> {}",
                        side(&ins),
                        node.label(),
                        side(&outs)
                    ));
                }
                Node::Dag { .. } => {
                    for e in self.edges.iter().filter(|e| e.to == node) {
                        lines.push(format!("{} => {} (triggers)", e.from.label(), node.label()));
                    }
                }
                Node::Asset { .. } => {}
            }
        }
        lines
    }

    /// The nodes, each after everything upstream of it (nodes on a cycle in the order
    /// found).
    pub fn in_flow_order(&self) -> Vec<Node> {
        let mut order = Vec::new();
        let mut placed: BTreeSet<&Node> = BTreeSet::new();
        while placed.len() < self.nodes.len() {
            let ready: Vec<&Node> = self
                .nodes
                .iter()
                .filter(|n| !placed.contains(n))
                .filter(|n| {
                    self.edges
                        .iter()
                        .filter(|e| &e.to == *n)
                        .all(|e| placed.contains(&e.from))
                })
                .collect();
            let next = if ready.is_empty() {
                // A cycle (a task that reads and writes one table): take the first left.
                self.nodes
                    .iter()
                    .filter(|n| !placed.contains(n))
                    .take(1)
                    .collect()
            } else {
                ready
            };
            for node in next {
                placed.insert(node);
                order.push(node.clone());
            }
        }
        order
    }
}

fn task(dag_id: &str, task_id: &str) -> Node {
    Node::Task {
        dag_id: dag_id.to_string(),
        task_id: task_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(uri: &str, kind: EdgeKind, dag_id: &str, task_id: Option<&str>) -> LineageEdge {
        LineageEdge {
            uri: uri.into(),
            kind,
            dag_id: dag_id.into(),
            task_id: task_id.map(str::to_string),
        }
    }

    #[test]
    fn flows_across_dags_and_narrows_to_one_asset() {
        let edges = [
            edge(
                "file://lake/landing",
                EdgeKind::Reads,
                "silver",
                Some("land"),
            ),
            edge(
                "delta://lake/bronze",
                EdgeKind::Writes,
                "silver",
                Some("land"),
            ),
            edge(
                "delta://lake/bronze",
                EdgeKind::Reads,
                "silver",
                Some("clean"),
            ),
            edge(
                "delta://lake/silver",
                EdgeKind::Writes,
                "silver",
                Some("clean"),
            ),
            edge("delta://lake/silver", EdgeKind::Schedules, "gold", None),
            edge("delta://lake/silver", EdgeKind::Reads, "gold", Some("agg")),
            edge("delta://lake/gold", EdgeKind::Writes, "gold", Some("agg")),
            edge("delta://lake/other", EdgeKind::Writes, "misc", Some("x")),
        ];
        let all = Lineage::from_edges(&edges);
        assert_eq!(
            all.lines(),
            [
                "(nothing) -> misc.x -> delta://lake/other",
                "file://lake/landing -> silver.land -> delta://lake/bronze",
                "delta://lake/bronze -> silver.clean -> delta://lake/silver",
                "delta://lake/silver -> gold.agg -> delta://lake/gold",
                "delta://lake/silver => gold (DAG) (triggers)",
            ]
        );
        let around = all.around("delta://lake/gold").unwrap();
        assert!(!around.nodes.contains(&Node::Asset {
            uri: "delta://lake/other".into()
        }));
        assert!(
            around.nodes.contains(&Node::Dag {
                dag_id: "gold".into()
            }),
            "the DAG silver triggers"
        );
        assert!(around.nodes.contains(&Node::Asset {
            uri: "delta://lake/gold".into()
        }));
        assert!(around.nodes.contains(&Node::Asset {
            uri: "file://lake/landing".into()
        }));
        assert!(all.around("delta://lake/nowhere").is_none());
    }
}
