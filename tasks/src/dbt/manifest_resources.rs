//! The manifest's entries for what property files describe and nothing builds —
//! semantic models, metrics, saved queries, exposures, groups — and for unit tests: each
//! as written, with dbt's identity fields (`unique_id`, `fqn`, `path`...) and the
//! shorthand dbt expands (`measure: revenue` is `{name: revenue}`), so that dbt's tools
//! (MetricFlow, docs sites, `dbt-artifacts-parser`) read them.

use super::project::{Project, PropertyEntry};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::LazyLock;

static REF: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r#"ref\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)"#)
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// The manifest's maps of these entries, by their manifest key (`semantic_models`...).
pub fn resources(project: &Project) -> BTreeMap<&'static str, Map<String, Value>> {
    let mut out: BTreeMap<&'static str, Map<String, Value>> = [
        "semantic_models",
        "metrics",
        "saved_queries",
        "exposures",
        "groups",
        "unit_tests",
    ]
    .into_iter()
    .map(|k| (k, Map::new()))
    .collect();
    for resource in &project.resources {
        let Some((key, id, entry)) = entry(project, resource) else {
            continue;
        };
        if let Some(map) = out.get_mut(key) {
            map.insert(id, entry);
        }
    }
    out
}

/// One entry: its manifest key, its unique id and its JSON.
fn entry(project: &Project, resource: &PropertyEntry) -> Option<(&'static str, String, Value)> {
    let name = resource.entry.get("name")?.as_str()?.to_string();
    let package = &project.file.name;
    let mut fqn = vec![package.clone()];
    fqn.extend(resource.folders.iter().cloned());
    let (key, id) = match resource.kind {
        "semantic_model" => (
            "semantic_models",
            format!("semantic_model.{package}.{name}"),
        ),
        "metric" => ("metrics", format!("metric.{package}.{name}")),
        "saved_query" => ("saved_queries", format!("saved_query.{package}.{name}")),
        "exposure" => ("exposures", format!("exposure.{package}.{name}")),
        "group" => ("groups", format!("group.{package}.{name}")),
        _ => {
            let model = resource.entry.get("model")?.as_str()?;
            fqn.push(model.to_string());
            ("unit_tests", format!("unit_test.{package}.{model}.{name}"))
        }
    };
    fqn.push(name.clone());
    let mut out = match &resource.entry {
        Value::Object(m) => m.clone(),
        _ => return None,
    };
    // As dbt gives it: under the resource path (`marts/orders.yml`).
    let file_name = resource.file.rsplit('/').next().unwrap_or_default();
    let mut under: Vec<&str> = resource.folders.iter().map(String::as_str).collect();
    under.push(file_name);
    let path = under.join("/");
    for (k, v) in [
        ("name", json!(name)),
        ("resource_type", json!(resource.kind)),
        ("package_name", json!(package)),
        ("path", json!(path)),
        ("original_file_path", json!(resource.file)),
        ("unique_id", json!(id)),
        ("fqn", json!(fqn)),
    ] {
        out.insert(k.into(), v);
    }
    match resource.kind {
        "metric" => {
            out.entry("description").or_insert(json!(""));
            out.entry("label").or_insert(json!(name));
            expand_filter(&mut out, "filter");
            if let Some(Value::Object(params)) = out.get_mut("type_params") {
                expand_type_params(params);
            }
        }
        "saved_query" => {
            if let Some(Value::Object(query)) = out.get_mut("query_params") {
                expand_filter(query, "where");
            }
            out.entry("exports").or_insert(json!([]));
        }
        "semantic_model" | "exposure" => {
            // An `expr` written as a number (`expr: 1`) is SQL text all the same.
            for key in ["entities", "dimensions", "measures"] {
                for item in out
                    .get_mut(key)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(expr) = item.get_mut("expr")
                        && !expr.is_string()
                        && !expr.is_null()
                    {
                        *expr = json!(expr.to_string());
                    }
                }
            }
            let reads: Vec<String> = match resource.kind {
                "semantic_model" => text(&out, "model").into_iter().collect(),
                _ => out
                    .get("depends_on")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect(),
            };
            let nodes: Vec<String> = reads
                .iter()
                .flat_map(|r| REF.captures_iter(r).map(|c| c[1].to_string()))
                .filter_map(|m| project.node(&m).map(|n| n.unique_id.clone()))
                .collect();
            out.insert("depends_on".into(), json!({"macros": [], "nodes": nodes}));
        }
        "unit_test" => {
            let with_format = |fixture: &mut Value| {
                if let Value::Object(f) = fixture {
                    f.entry("format").or_insert(json!("dict"));
                }
            };
            for fixture in out
                .get_mut("given")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                with_format(fixture);
            }
            if let Some(expect) = out.get_mut("expect") {
                with_format(expect);
            }
            let tested =
                text(&out, "model").and_then(|m| project.node(&m).map(|n| n.unique_id.clone()));
            out.insert(
                "depends_on".into(),
                json!({"macros": [], "nodes": tested.into_iter().collect::<Vec<_>>()}),
            );
        }
        _ => {}
    }
    if resource.kind == "group" {
        // A group has no fqn in dbt's manifest (and its schema forbids one).
        out.remove("fqn");
    }
    Some((key, id, Value::Object(out)))
}

/// The text at `key` of `map`.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A metric's `type_params` as dbt writes them: a measure or metric given by name
/// (`measure: revenue`, `metrics: [a, b]`) is `{name: ...}`.
fn expand_type_params(params: &mut Map<String, Value>) {
    for key in [
        "measure",
        "numerator",
        "denominator",
        "base_measure",
        "conversion_measure",
    ] {
        if let Some(Value::String(name)) = params.get(key) {
            let name = name.clone();
            params.insert(key.into(), json!({"name": name}));
        }
    }
    for key in ["metrics", "input_measures"] {
        if let Some(Value::Array(items)) = params.get_mut(key) {
            for item in items.iter_mut() {
                if let Value::String(name) = item {
                    *item = json!({"name": name.clone()});
                }
                if let Value::Object(input) = item {
                    expand_filter(input, "filter");
                    expand_window(input, "offset_window");
                }
            }
        }
    }
    for key in ["measure", "numerator", "denominator"] {
        if let Some(Value::Object(input)) = params.get_mut(key) {
            expand_filter(input, "filter");
        }
    }
    expand_window(params, "window");
    if let Some(Value::Object(conversion)) = params.get_mut("conversion_type_params") {
        expand_type_params(conversion);
    }
}

/// A filter (`where`, `filter`: one or a list) as dbt writes it.
fn expand_filter(query: &mut Map<String, Value>, key: &str) {
    let filters: Vec<Value> = match query.get(key) {
        Some(Value::String(one)) => vec![json!({"where_sql_template": one})],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(|w| json!({"where_sql_template": w}))
            .collect(),
        _ => return,
    };
    query.insert(key.into(), json!({"where_filters": filters}));
}

/// A window written `1 month` as dbt writes it: `{count: 1, granularity: month}`.
fn expand_window(params: &mut Map<String, Value>, key: &str) {
    let Some(Value::String(written)) = params.get(key) else {
        return;
    };
    let mut parts = written.split_whitespace();
    let (Some(count), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(count) = count.parse::<i64>() else {
        return;
    };
    let granularity = unit.trim_end_matches('s').to_lowercase();
    params.insert(
        key.into(),
        json!({"count": count, "granularity": granularity}),
    );
}
