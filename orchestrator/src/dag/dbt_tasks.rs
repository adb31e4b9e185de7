//! `dbt` tasks with `expand: models`, replaced by one task per model, seed and snapshot
//! (`<task>.<node>`): each depends on the tasks of the nodes it reads — the first ones on
//! what the `dbt` task depended on — and what depended on the `dbt` task depends on the
//! last ones. Every other setting (retries, timeout, queue, callbacks) is the task's.

use super::Task;
use super::ids::{IdKind, check_id};
use indexmap::IndexMap;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The DAG's tasks with every expanded `dbt` task replaced; or where and why one could
/// not be (the path of the key, the message).
pub fn expand(
    tasks: IndexMap<String, Task>,
    dag_folder: &Path,
) -> Result<IndexMap<String, Task>, (String, String)> {
    let mut out = IndexMap::new();
    // An expanded task's id → its last tasks (those no other of its tasks depends on).
    let mut last: HashMap<String, Vec<String>> = HashMap::new();
    for (id, task) in tasks {
        if task.task_type != "dbt" || task.config.get("expand").is_none() {
            out.insert(id, task);
            continue;
        }
        let at = format!("tasks.{id}.with.expand");
        if task.map.is_some() {
            return Err((
                at,
                format!("task `{id}`: `expand` and `for_each` do not go together"),
            ));
        }
        let nodes = updraft_tasks::dbt::expand(&task.config, dag_folder)
            .map_err(|e| (at.clone(), format!("task `{id}`: {e}")))?;
        let read: BTreeSet<&str> = nodes
            .iter()
            .flat_map(|n| n.upstream.iter().map(String::as_str))
            .collect();
        let task_of = |node: &str| format!("{id}.{node}");
        for node in &nodes {
            let task_id = task_of(&node.name);
            check_id(IdKind::Task, &task_id).map_err(|e| (at.clone(), e))?;
            let first = node.upstream.is_empty();
            let is_last = !read.contains(node.name.as_str());
            let expanded = Task {
                task_id: task_id.clone(),
                config: node.config.clone(),
                upstream: if first {
                    task.upstream.clone()
                } else {
                    node.upstream.iter().map(|u| task_of(u)).collect()
                },
                downstream: Vec::new(),
                // Declared assets: read by the first tasks, written by the last.
                inlets: if first {
                    task.inlets.clone()
                } else {
                    Vec::new()
                },
                outlets: if is_last {
                    task.outlets.clone()
                } else {
                    Vec::new()
                },
                ..task.clone()
            };
            out.insert(task_id.clone(), expanded);
            if is_last {
                last.entry(id.clone()).or_default().push(task_id);
            }
        }
    }
    for task in out.values_mut() {
        let mut upstream = Vec::new();
        for up in &task.upstream {
            match last.get(up) {
                Some(ends) => upstream.extend(ends.iter().cloned()),
                None => upstream.push(up.clone()),
            }
        }
        upstream.dedup();
        task.upstream = upstream;
    }
    Ok(out)
}
