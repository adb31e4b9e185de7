//! A node's configs as dbt merges them: the project file's tree (the whole tree, then the
//! project's level, then each folder's, the node's own key last), then `config:` in a
//! property file, then `config()` in the node's file — later layers win, except `tags`
//! (added up), hooks (appended) and `meta`/`docs`/`persist_docs` (merged by key).

use serde_json::{Map, Value};

/// One layer of configs, keys as dbt names them once read (no `+`, `pre_hook`).
pub type Layer = Map<String, Value>;

/// Config names that a key of the project file's tree is without a `+` (any other key
/// without `+` is a folder or a node).
const CONFIG_NAMES: &[&str] = &[
    "enabled",
    "materialized",
    "schema",
    "alias",
    "database",
    "tags",
    "pre_hook",
    "post_hook",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "persist_docs",
    "docs",
    "meta",
    "column_types",
    "quote_columns",
    "delimiter",
    "strategy",
    "updated_at",
    "check_cols",
    "invalidate_hard_deletes",
    "hard_deletes",
    "target_schema",
    "target_database",
    "snapshot_meta_column_names",
    "dbt_valid_to_current",
    "severity",
    "store_failures",
    "store_failures_as",
    "where",
    "limit",
    "fail_calc",
    "warn_if",
    "error_if",
    "grants",
    "contract",
    "access",
    "group",
    "quoting",
    "sql_header",
    "indexes",
    "unlogged",
    "event_time",
    "batch_size",
    "lookback",
    "begin",
    "concurrent_batches",
    "incremental_predicates",
    "merge_update_columns",
    "merge_exclude_columns",
    "bind",
    "packages",
    "transient",
    "copy_grants",
    "labels",
];

/// Config keys Updraft acts on or carries; any other is warned about, as dbt does.
pub fn is_known(key: &str) -> bool {
    CONFIG_NAMES.contains(&key)
}

/// `+materialized` → `materialized`, `pre-hook` → `pre_hook`.
pub fn key_name(key: &str) -> String {
    key.trim_start_matches('+').replace('-', "_")
}

/// The configs written at one level of a project-file tree.
fn configs_at(level: &Value) -> Layer {
    let mut out = Layer::new();
    if let Value::Object(map) = level {
        for (key, value) in map {
            let name = key_name(key);
            if key.starts_with('+') || is_known(&name) {
                out.insert(name, value.clone());
            }
        }
    }
    out
}

/// The layers of a project-file tree that apply to a node at `path` (the project's
/// name, its folders, its name), outermost first.
pub fn tree_layers(tree: &Value, path: &[String]) -> Vec<Layer> {
    let mut layers = vec![configs_at(tree)];
    let mut level = tree;
    for part in path {
        match level.get(part) {
            Some(next @ Value::Object(_)) => {
                layers.push(configs_at(next));
                level = next;
            }
            _ => break,
        }
    }
    layers
}

/// Adds `layer` over `base` with dbt's rules for each key.
pub fn merge(base: &mut Layer, layer: &Layer) {
    for (key, value) in layer {
        match key.as_str() {
            "tags" => {
                let mut tags = strings(base.get("tags"));
                for t in strings(Some(value)) {
                    if !tags.contains(&t) {
                        tags.push(t);
                    }
                }
                base.insert(key.clone(), Value::from(tags));
            }
            "pre_hook" | "post_hook" => {
                let mut hooks = as_list(base.get(key.as_str()));
                hooks.extend(as_list(Some(value)));
                base.insert(key.clone(), Value::Array(hooks));
            }
            "meta" | "docs" | "persist_docs" | "grants" => match (base.get_mut(key), value) {
                (Some(Value::Object(old)), Value::Object(new)) => {
                    for (k, v) in new {
                        old.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    base.insert(key.clone(), value.clone());
                }
            },
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A string or a list of strings, as a list.
pub fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deeper_levels_win_tags_add_up_and_hooks_append() {
        let tree = json!({
            "+tags": ["all"],
            "shop": {
                "materialized": "view",
                "+post-hook": "grant select on {{ this }} to reporter",
                "staging": {"+materialized": "table", "+tags": "stg", "+schema": "stg",
                            "orders": {"+alias": "stg_orders"}},
                "marts": {"+materialized": "incremental"}
            }
        });
        let path: Vec<String> = ["shop", "staging", "orders"].map(String::from).to_vec();
        let mut merged = Layer::new();
        for layer in tree_layers(&tree, &path) {
            merge(&mut merged, &layer);
        }
        let file: Layer = json!({"tags": ["daily"], "post_hook": ["analyze {{ this }}"],
                                 "materialized": "ephemeral"})
        .as_object()
        .unwrap()
        .clone();
        merge(&mut merged, &file);
        assert_eq!(merged["materialized"], "ephemeral");
        assert_eq!(merged["schema"], "stg");
        assert_eq!(merged["alias"], "stg_orders");
        assert_eq!(merged["tags"], json!(["all", "stg", "daily"]));
        assert_eq!(
            merged["post_hook"],
            json!([
                "grant select on {{ this }} to reporter",
                "analyze {{ this }}"
            ])
        );
        // A folder that is not a config name is not taken for one.
        assert!(!merged.contains_key("marts"));
    }
}
