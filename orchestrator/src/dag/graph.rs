//! The task graph: dependency edges in petgraph, cycle detection that names the cycle,
//! and a topological order.

use indexmap::IndexMap;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;

/// The graph of a DAG's tasks and a topological order of their ids.
#[derive(Debug)]
pub struct TaskGraph {
    pub graph: DiGraph<String, ()>,
    pub order: Vec<String>,
}

/// Builds the graph from each task's upstream list (all ids known to exist).
/// On a cycle, returns its task ids in order, first id repeated at the end.
pub fn build(upstreams: &IndexMap<String, Vec<String>>) -> Result<TaskGraph, Vec<String>> {
    let mut graph = DiGraph::new();
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    for id in upstreams.keys() {
        index.insert(id, graph.add_node(id.clone()));
    }
    for (id, ups) in upstreams {
        for up in ups {
            graph.update_edge(index[up.as_str()], index[id.as_str()], ());
        }
    }
    match toposort(&graph, None) {
        Ok(order) => Ok(TaskGraph {
            order: order.into_iter().map(|n| graph[n].clone()).collect(),
            graph,
        }),
        Err(cycle) => Err(find_cycle(&graph, cycle.node_id())),
    }
}

/// A path from `start` back to itself (toposort reports a node that lies on a cycle).
fn find_cycle(graph: &DiGraph<String, ()>, start: NodeIndex) -> Vec<String> {
    // Depth-first search keeping the current path; the first edge back to `start` closes it.
    let mut path = vec![start];
    let mut iters = vec![graph.neighbors(start).collect::<Vec<_>>()];
    let mut visited = std::collections::HashSet::new();
    while let Some(next) = iters.last_mut().and_then(|it| it.pop()) {
        if next == start {
            let mut names: Vec<String> = path.iter().map(|n| graph[*n].clone()).collect();
            names.push(graph[start].clone());
            return names;
        }
        if visited.insert(next) {
            path.push(next);
            iters.push(graph.neighbors(next).collect());
        }
        while iters.last().is_some_and(|it| it.is_empty()) {
            iters.pop();
            path.pop();
        }
    }
    vec![graph[start].clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups(pairs: &[(&str, &[&str])]) -> IndexMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(id, u)| (id.to_string(), u.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn orders_and_names_cycles() {
        let g = build(&ups(&[("c", &["b"]), ("a", &[]), ("b", &["a"])])).unwrap();
        assert_eq!(g.order, vec!["a", "b", "c"]);
        let cycle = build(&ups(&[
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &[]),
        ]))
        .unwrap_err();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
    }
}
