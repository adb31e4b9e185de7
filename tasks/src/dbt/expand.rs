//! `expand: models`: a `dbt` task's project as tasks of the DAG — one per model, seed and
//! snapshot of its selection, each depending on the nodes it reads (through ephemeral
//! models, which are inlined and get no task), each building its one node (`node:`) with
//! the tests that run after it. The grid then shows each model, and a failed model
//! retries and is cleared on its own (what Airflow users run Astronomer Cosmos for).

use super::settings::Materialized;
use super::{Command, DbtConfig, request, selection};
use crate::TaskError;
use crate::parse_config;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// One task of an expanded project.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedNode {
    /// The node's name (the task is `<task id>.<name>`).
    pub name: String,
    /// The expanded nodes it reads, by name.
    pub upstream: Vec<String>,
    /// The task's `with:`: the project's, building this node only.
    pub config: Value,
}

/// The tasks a `dbt` task's `with:` (`expand: models`) stands for, in build order; none
/// when it has no `expand`.
pub fn expand(config: &Value, dag_folder: &Path) -> Result<Vec<ExpandedNode>, TaskError> {
    let cfg: DbtConfig = parse_config(config)?;
    if cfg.expand.is_none() {
        return Ok(Vec::new());
    }
    if cfg.project.contains("{{") {
        return Err(TaskError::Config(
            "`expand: models` reads the project when the DAG loads: `project` cannot be a template"
                .into(),
        ));
    }
    if cfg.command == Command::Test {
        return Err(TaskError::Config(
            "`expand: models` makes tasks of nodes; `command: test` builds none".into(),
        ));
    }
    let request = request(&cfg, dag_folder);
    let project = request.load(super::parse_kind(&cfg.conn), cfg.command.as_str())?;
    let selected = selection(&project, &request)?;
    let tasks: BTreeSet<&str> = project
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.name) && cfg.command.builds(n.kind))
        .filter(|n| n.settings.materialized != Materialized::Ephemeral)
        .map(|n| n.name.as_str())
        .collect();
    let mut out = Vec::new();
    for node in project
        .nodes
        .iter()
        .filter(|n| tasks.contains(n.name.as_str()))
    {
        let mut upstream = Vec::new();
        // What it reads, seen through ephemeral models to the nodes that are tasks.
        let mut pending: Vec<&str> = node.refs.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        while let Some(name) = pending.pop() {
            if !seen.insert(name) {
                continue;
            }
            if tasks.contains(name) {
                upstream.push(name.to_string());
            } else if let Some(read) = project.node(name)
                && read.settings.materialized == Materialized::Ephemeral
            {
                pending.extend(read.refs.iter().map(String::as_str));
            }
        }
        upstream.sort();
        upstream.dedup();
        let mut config = config.clone();
        if let Some(with) = config.as_object_mut() {
            for key in ["expand", "select", "exclude"] {
                with.remove(key);
            }
            with.insert("node".into(), Value::String(node.name.clone()));
        }
        out.push(ExpandedNode {
            name: node.name.clone(),
            upstream,
            config,
        });
    }
    if out.is_empty() {
        return Err(TaskError::Config(
            "`expand: models`: the selection has no model, seed or snapshot to make a task of"
                .into(),
        ));
    }
    Ok(out)
}
