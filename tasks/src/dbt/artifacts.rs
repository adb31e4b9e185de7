//! dbt's artifacts of an invocation, in dbt's shapes, so that dbt's own tooling
//! (dbt-artifacts-parser, docs sites, Elementary, Recce) reads them: `manifest.json`
//! (schema v12: models, seeds, snapshots and tests with their configs, `depends_on`,
//! `refs`, the macros each calls; sources; every macro; the parent and child maps) and `run_results.json` (schema v6: every
//! node built and test run, with its status, time and message).

use super::project::{Node, Project};
use super::run::{Check, Summary};
use crate::data_test::Relation as TestRelation;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const DBT_VERSION: &str = "1.11.0";

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn checksum(text: &str) -> Value {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    json!({"name": "sha256", "checksum": hex})
}

fn source_id(project: &str, source: &str, table: &str) -> String {
    format!("source.{project}.{source}.{table}")
}

/// One node of the manifest; `macros` are all the project's, to find its calls.
fn node_entry(project: &Project, node: &Node, macros: &BTreeSet<(String, String)>) -> Value {
    let name = &project.file.name;
    let macros_called = super::manifest_macros::calls(project, &node.template, name, macros);
    let mut depends: Vec<String> = node
        .refs
        .iter()
        .filter_map(|r| project.node(r).map(|n| n.unique_id.clone()))
        .collect();
    depends.extend(node.sources.iter().map(|(s, t)| source_id(name, s, t)));
    let raw = if node.template.is_empty() {
        std::fs::read_to_string(&node.file).unwrap_or_default()
    } else {
        node.template.clone()
    };
    let mut config = Map::new();
    config.insert("enabled".into(), Value::Bool(true));
    config.insert(
        "materialized".into(),
        Value::from(node.settings.materialized.as_str()),
    );
    config.insert("tags".into(), Value::from(node.settings.tags.clone()));
    for (k, v) in &node.config {
        config.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut entry = json!({
        "database": null,
        "schema": node.relation.schema,
        "name": node.name,
        "resource_type": node.kind.as_str(),
        "package_name": name,
        "path": node.path,
        "original_file_path": node.path,
        "unique_id": node.unique_id,
        "fqn": node.fqn,
        "alias": node.relation.identifier,
        "checksum": checksum(&raw),
        "config": config,
        "tags": node.settings.tags,
        "description": node.description,
        "columns": {},
        "meta": node.config.get("meta").cloned().unwrap_or_else(|| json!({})),
        "relation_name": (node.relation.kind != Some("cte")).then(|| node.relation.sql()),
        "raw_code": raw,
        "language": "sql",
        "refs": node.refs.iter().map(|r| json!({"name": r, "package": null, "version": null})).collect::<Vec<_>>(),
        "sources": node.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
        "depends_on": {"macros": macros_called, "nodes": depends},
    });
    // A seed reads nothing: dbt's seed node has none of these.
    if node.kind == super::project::NodeKind::Seed
        && let Value::Object(map) = &mut entry
    {
        for key in ["language", "refs", "sources"] {
            map.remove(key);
        }
        map.insert("depends_on".into(), json!({"macros": []}));
    }
    entry
}

/// One test of the manifest.
fn test_entry(project: &Project, check: &Check) -> Value {
    let name = &project.file.name;
    let test = &check.case;
    let attached = match &test.relation {
        TestRelation::Model(m) => project.node(m).map(|n| n.unique_id.clone()),
        TestRelation::Source { .. } => None,
    };
    let depends: Vec<String> = match &test.relation {
        TestRelation::Model(_) => attached.clone().into_iter().collect(),
        TestRelation::Source { source, table } => vec![source_id(name, source, table)],
    };
    let unique_id = format!("test.{name}.{}", test.name);
    json!({
        "database": null,
        "schema": format!("{}_dbt_test__audit", project.invocation.target.schema),
        "name": test.name,
        "resource_type": "test",
        "package_name": name,
        "path": format!("{}.sql", test.name),
        "original_file_path": "models/schema.yml",
        "unique_id": unique_id,
        "fqn": [name, test.name],
        "alias": test.name,
        "checksum": {"name": "none", "checksum": ""},
        "config": {"enabled": true, "severity": test.config.severity.as_str(), "materialized": "test"},
        "tags": [],
        "description": "",
        "columns": {},
        "raw_code": "",
        "language": "sql",
        "column_name": test.column,
        "attached_node": attached,
        "test_metadata": (check.rows.is_none()).then(|| json!({
            "name": test.written,
            "kwargs": Value::Object(test.args.clone()),
            "namespace": null,
        })),
        "depends_on": {"macros": [], "nodes": depends},
    })
}

/// The manifest's `docs`: the project's `{% docs %}` blocks.
fn docs(project: &Project) -> Map<String, Value> {
    let name = &project.file.name;
    project
        .docs
        .iter()
        .map(|(doc, block)| {
            let unique_id = format!("doc.{name}.{doc}");
            let entry = json!({
                "name": doc,
                "resource_type": "doc",
                "package_name": name,
                "path": block.path,
                "original_file_path": block.path,
                "unique_id": unique_id,
                "block_contents": block.text,
            });
            (unique_id, entry)
        })
        .collect()
}

/// The manifest of `project` with its tests.
pub fn manifest(project: &Project, tests: &[Check]) -> Value {
    let name = &project.file.name;
    let mut nodes = Map::new();
    let known = super::manifest_macros::known(project);
    for node in &project.nodes {
        nodes.insert(node.unique_id.clone(), node_entry(project, node, &known));
    }
    for check in tests {
        let entry = test_entry(project, check);
        if let Some(id) = entry["unique_id"].as_str() {
            nodes.insert(id.to_string(), entry.clone());
        }
    }
    let mut sources = Map::new();
    for ((source, table), relation) in &project.invocation.sources {
        let id = source_id(name, source, table);
        sources.insert(
            id.clone(),
            json!({
                "database": null,
                "schema": relation.schema,
                "name": table,
                "resource_type": "source",
                "package_name": name,
                "path": "models/sources.yml",
                "original_file_path": "models/sources.yml",
                "unique_id": id,
                "fqn": [name, source, table],
                "source_name": source,
                "source_description": "",
                "loader": "",
                "identifier": relation.identifier,
                "relation_name": relation.sql(),
            }),
        );
    }
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in sources.keys() {
        parents.entry(id.clone()).or_default();
        children.entry(id.clone()).or_default();
    }
    for (id, entry) in &nodes {
        parents.entry(id.clone()).or_default();
        children.entry(id.clone()).or_default();
        for up in entry["depends_on"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(up) = up.as_str() {
                parents.entry(id.clone()).or_default().push(up.to_string());
                children.entry(up.to_string()).or_default().push(id.clone());
            }
        }
    }
    let mut described = super::manifest_resources::resources(project);
    let mut take = |key: &str| Value::Object(described.remove(key).unwrap_or_default());
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": DBT_VERSION,
            "generated_at": iso(Utc::now()),
            "invocation_id": project.invocation.invocation_id,
            "env": {},
            "project_name": name,
            "adapter_type": project.invocation.target.kind,
        },
        "nodes": nodes,
        "sources": sources,
        "macros": super::manifest_macros::macros(project),
        "docs": docs(project),
        "exposures": take("exposures"),
        "metrics": take("metrics"),
        "groups": take("groups"),
        "selectors": {},
        "disabled": {},
        "parent_map": parents,
        "child_map": children,
        "group_map": {},
        "saved_queries": take("saved_queries"),
        "semantic_models": take("semantic_models"),
        "unit_tests": take("unit_tests"),
    })
}

/// The run results of an invocation that started at `started`.
pub fn run_results(
    project: &Project,
    summary: &Summary,
    started: DateTime<Utc>,
    command: &str,
) -> Value {
    let now = Utc::now();
    let timing = |from: DateTime<Utc>, to: DateTime<Utc>| {
        json!([
            {"name": "compile", "started_at": iso(from), "completed_at": iso(from)},
            {"name": "execute", "started_at": iso(from), "completed_at": iso(to)},
        ])
    };
    let mut results: Vec<Value> = summary
        .models
        .iter()
        .map(|m| {
            let node = project.node(&m.model);
            json!({
                "status": m.status.as_str(),
                "timing": timing(m.started_at, m.ended_at),
                "thread_id": "Thread-1",
                "execution_time": m.execution_time,
                "adapter_response": {"rows_affected": m.row_count},
                "message": m.message,
                "failures": null,
                "unique_id": node.map(|n| n.unique_id.clone()),
                "compiled": true,
                "compiled_code": null,
                "relation_name": node.map(|n| n.relation.sql()),
                "batch_results": null,
            })
        })
        .collect();
    results.extend(
        summary
            .tests
            .iter()
            .map(crate::data_test::run_results::entry),
    );
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": DBT_VERSION,
            "generated_at": iso(now),
            "invocation_id": project.invocation.invocation_id,
            "invocation_started_at": iso(started),
            "env": {},
        },
        "results": results,
        "elapsed_time": (now - started).num_microseconds().unwrap_or(0) as f64 / 1e6,
        "args": {"command": command, "which": command, "invocation_command": format!("updraft dbt {command}")},
    })
}

/// Writes `value` as JSON at `path`, through a temporary file.
pub fn write(path: &Path, value: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(partial, path)
}
