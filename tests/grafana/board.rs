//! The shipped Grafana files as Grafana 11 reads them: the provisioning YAML (datasources
//! and the dashboard provider) and each dashboard's JSON, with the structural rules a
//! dashboard must follow to load and to show its panels.

use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

/// The repository's `grafana/` folder.
pub fn grafana_dir() -> PathBuf {
    crate::support::repo_path("grafana")
}

/// Every dashboard file, `(file name, JSON)`, by name.
pub fn dashboards() -> Vec<(String, Value)> {
    let dir = grafana_dir().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("grafana/dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

/// A provisioning YAML file under `grafana/provisioning/`.
pub fn provisioning(rel: &str) -> serde_yaml_ng::Value {
    let path = grafana_dir().join("provisioning").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `uid`s of the provisioned datasources.
pub fn datasource_uids() -> BTreeSet<String> {
    provisioning("datasources/updraft.yaml")["datasources"]
        .as_sequence()
        .expect("datasources: a list")
        .iter()
        .map(|d| d["uid"].as_str().expect("datasource uid").to_string())
        .collect()
}

/// Every query of a dashboard: `(where, datasource uid, SQL)`, template variables first
/// in their order, then each panel's targets.
pub fn queries(board: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for v in board["templating"]["list"].as_array().into_iter().flatten() {
        out.push(Query {
            what: format!("variable `{}`", v["name"].as_str().unwrap_or("?")),
            uid: v["datasource"]["uid"].as_str().unwrap_or("").to_string(),
            sql: v["query"].as_str().unwrap_or("").to_string(),
            panel: None,
            variable: v["name"].as_str().map(str::to_string),
            selected: selected(&v["current"]["value"]),
        });
    }
    for p in panels(board) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                what: format!(
                    "panel {} `{}` target {}",
                    p["id"],
                    p["title"].as_str().unwrap_or("?"),
                    t["refId"].as_str().unwrap_or("?")
                ),
                uid: t["datasource"]["uid"].as_str().unwrap_or("").to_string(),
                sql: t["rawSql"].as_str().unwrap_or("").to_string(),
                panel: Some(p.clone()),
                variable: None,
                selected: None,
            });
        }
    }
    out
}

/// One SQL query a dashboard sends.
pub struct Query {
    pub what: String,
    pub uid: String,
    pub sql: String,
    /// The panel it feeds (None for a template variable).
    pub panel: Option<Value>,
    /// The variable it lists the values of.
    pub variable: Option<String>,
    /// The variable's values selected by default; None when "All" is.
    pub selected: Option<Vec<String>>,
}

/// A variable's `current.value` (a value or a list); None for "All".
fn selected(value: &Value) -> Option<Vec<String>> {
    let values: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::String(v) => vec![v.clone()],
        _ => return None,
    };
    (!values.iter().any(|v| v == "$__all")).then_some(values)
}

fn panels(board: &Value) -> Vec<&Value> {
    board["panels"].as_array().into_iter().flatten().collect()
}

/// What is wrong with a dashboard's structure (empty when nothing).
pub fn problems(name: &str, board: &Value, uids: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut bad = |m: String| out.push(format!("{name}: {m}"));
    for key in ["uid", "title"] {
        if board[key].as_str().is_none_or(str::is_empty) {
            bad(format!("no `{key}`"));
        }
    }
    // Grafana 11.0 writes schemaVersion 39, 11.6 writes 41.
    if !board["schemaVersion"]
        .as_u64()
        .is_some_and(|v| (39..=41).contains(&v))
    {
        bad(format!(
            "schemaVersion {} is not Grafana 11's",
            board["schemaVersion"]
        ));
    }
    if !matches!(board["refresh"].as_str(), Some("10s" | "30s" | "1m")) {
        bad(format!(
            "refresh {} is not between 10s and 1m",
            board["refresh"]
        ));
    }
    let mut ids = HashSet::new();
    for p in panels(board) {
        let title = p["title"].as_str().unwrap_or("?");
        match p["id"].as_u64() {
            Some(id) if ids.insert(id) => {}
            _ => bad(format!(
                "panel `{title}`: id {} missing or repeated",
                p["id"]
            )),
        }
        let g = &p["gridPos"];
        let dims: Vec<Option<u64>> = ["h", "w", "x", "y"].iter().map(|k| g[k].as_u64()).collect();
        match dims[..] {
            [Some(h), Some(w), Some(x), Some(_)] if h > 0 && w > 0 && x + w <= 24 => {}
            _ => bad(format!(
                "panel `{title}`: gridPos {g} is not a place on the 24-column grid"
            )),
        }
        let targets = p["targets"].as_array().map_or(&[][..], Vec::as_slice);
        if targets.is_empty() {
            bad(format!("panel `{title}`: no targets"));
        }
        for uid in std::iter::once(&p["datasource"]).chain(targets.iter().map(|t| &t["datasource"]))
        {
            if !uid["uid"].as_str().is_some_and(|u| uids.contains(u)) {
                bad(format!(
                    "panel `{title}`: datasource {uid} is not provisioned"
                ));
            }
        }
        for t in targets {
            if t["rawSql"].as_str().is_none_or(|s| s.trim().is_empty()) || t["rawQuery"] != true {
                bad(format!("panel `{title}`: a target without rawSql"));
            }
            let want = if p["type"] == "timeseries" {
                "time_series"
            } else {
                "table"
            };
            if t["format"] != want {
                bad(format!(
                    "panel `{title}`: format {} for a {} panel",
                    t["format"], p["type"]
                ));
            }
        }
    }
    for v in board["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query"
            || !v["datasource"]["uid"]
                .as_str()
                .is_some_and(|u| uids.contains(u))
        {
            bad(format!(
                "variable {}: not a query on a provisioned datasource",
                v["name"]
            ));
        }
    }
    out
}
