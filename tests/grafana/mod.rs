//! The shipped Grafana dashboards (`grafana/`): well-formed for Grafana 11, provisioned
//! on datasources that exist, and every panel's SQL — macros and variables expanded as
//! Grafana does for the last 24 hours — runs on a real PostgreSQL history made by the
//! engine and returns rows of the shape its panel draws.

pub(crate) mod bench;
mod board;
mod expand;
mod growth;
mod history;

use board::Query;
use chrono::{Duration, Utc};
use expand::{Range, Variables};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column, Connection, PgConnection, Row, TypeInfo};

#[test]
fn dashboards_are_well_formed_for_grafana_11() {
    let uids = board::datasource_uids();
    let boards = board::dashboards();
    assert_eq!(
        boards.len(),
        4,
        "runs, data quality, lakehouse, user events"
    );
    let mut problems: Vec<String> = boards
        .iter()
        .flat_map(|(name, b)| board::problems(name, b, &uids))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (name, b) in &boards {
        if !seen.insert(b["uid"].as_str().unwrap_or("").to_string()) {
            problems.push(format!("{name}: uid {} is used twice", b["uid"]));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let titles: Vec<&str> = boards
        .iter()
        .filter_map(|(_, b)| b["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "Lakehouse — tweets",
            "Updraft — data quality",
            "Updraft — runs",
            "User events"
        ]
    );
}

#[test]
fn provisioning_is_what_grafana_11_reads() {
    let sources = board::provisioning("datasources/updraft.yaml");
    assert_eq!(sources["apiVersion"].as_u64(), Some(1));
    let list = sources["datasources"].as_sequence().expect("datasources");
    let uids: Vec<&str> = list.iter().filter_map(|d| d["uid"].as_str()).collect();
    assert_eq!(uids, ["updraft-history", "updraft-warehouse"]);
    for d in list {
        assert_eq!(d["type"].as_str(), Some("grafana-postgresql-datasource"));
        for value in [
            &d["url"],
            &d["user"],
            &d["jsonData"]["database"],
            &d["secureJsonData"]["password"],
        ] {
            assert!(value.as_str().is_some_and(|v| !v.is_empty()), "{d:?}");
        }
        assert!(
            d.get("password").is_none(),
            "a password outside secureJsonData"
        );
    }
    let providers = board::provisioning("dashboards/updraft.yaml");
    assert_eq!(providers["apiVersion"].as_u64(), Some(1));
    let list = providers["providers"].as_sequence().expect("providers");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["type"].as_str(), Some("file"));
    assert!(
        list[0]["options"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with('/'))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_on_a_real_history_and_returns_its_shape() {
    let now = Utc::now();
    let history = history::make(now).await;
    let range = Range {
        from: now - Duration::hours(24),
        to: Utc::now(),
    };
    let mut history_db = PgConnection::connect(&history.updraft.database_url)
        .await
        .expect("history");
    let mut warehouse_db = PgConnection::connect(&history.warehouse_url)
        .await
        .expect("warehouse");
    let mut failures = Vec::new();
    let mut panels = 0;
    for (name, b) in board::dashboards() {
        let mut variables = Variables::new();
        for q in board::queries(&b) {
            let db = match q.uid.as_str() {
                "updraft-history" => &mut history_db,
                "updraft-warehouse" => &mut warehouse_db,
                other => panic!("{name}: {}: datasource {other} is not provisioned", q.what),
            };
            match run(db, &q, &variables, range).await {
                Err(e) => failures.push(format!("{name}: {}: {e}", q.what)),
                Ok(rows) => {
                    if let Some(var) = &q.variable {
                        let options = first_column(&rows);
                        let chosen = q.selected.clone().unwrap_or_else(|| options.clone());
                        if chosen.is_empty() || !chosen.iter().all(|c| options.contains(c)) {
                            failures.push(format!(
                                "{name}: {}: {chosen:?} not among {options:?}",
                                q.what
                            ));
                        }
                        variables.insert(var.clone(), chosen);
                    }
                    if let Some(panel) = &q.panel {
                        panels += 1;
                        if let Err(e) = check_shape(panel, &rows) {
                            failures.push(format!("{name}: {}: {e}\n{}", q.what, q.sql));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(panels, 35, "every panel of the four dashboards was run");
    history.finish().await;
}

/// Runs one query as Grafana would send it; the rows come back as text (PostgreSQL's
/// simple protocol), with their column types.
async fn run(
    db: &mut PgConnection,
    q: &Query,
    variables: &Variables,
    range: Range,
) -> Result<Vec<PgRow>, String> {
    let sql = expand::interpolate(&q.sql, variables)?;
    let sql = expand::expand_macros(&sql, range)?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .fetch_all(db)
        .await
        .map_err(|e| e.to_string())
}

/// A variable's options: its query's first column.
fn first_column(rows: &[PgRow]) -> Vec<String> {
    rows.iter().filter_map(|r| cell(r, 0)).collect()
}

fn cell(row: &PgRow, i: usize) -> Option<String> {
    row.try_get_unchecked::<Option<String>, _>(i).ok().flatten()
}

fn numeric(type_name: &str) -> bool {
    matches!(
        type_name,
        "INT2" | "INT4" | "INT8" | "FLOAT4" | "FLOAT8" | "NUMERIC"
    )
}

/// Whether the rows are what the panel draws: some rows; a time series has a `time`
/// column first (a timestamp, or epoch seconds), ascending, then numbers (text columns
/// name the series); a stat or bar gauge has a number.
fn check_shape(panel: &Value, rows: &[PgRow]) -> Result<(), String> {
    let Some(first) = rows.first() else {
        return Err("no rows for a history that should fill it".into());
    };
    let columns: Vec<(String, String)> = first
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
        .collect();
    let has_number = |from: usize| columns[from..].iter().any(|(_, t)| numeric(t));
    match panel["type"].as_str() {
        Some("timeseries") => {
            let (name, kind) = &columns[0];
            if name != "time" || !(numeric(kind) || kind.starts_with("TIMESTAMP")) {
                return Err(format!("first column {name} {kind}, not a time"));
            }
            if !has_number(1) {
                return Err(format!("no value column in {columns:?}"));
            }
            let times: Vec<String> = rows
                .iter()
                .map(|r| cell(r, 0).unwrap_or_default())
                .collect();
            let parsed: Vec<f64> = times
                .iter()
                .map(|t| seconds(t, kind))
                .collect::<Result<_, _>>()?;
            if parsed.windows(2).any(|w| w[0] > w[1]) {
                return Err("rows are not ordered by time".into());
            }
        }
        Some("stat" | "bargauge" | "gauge") if !has_number(0) => {
            return Err(format!("no number in {columns:?}"));
        }
        Some("stat" | "bargauge" | "gauge" | "table") => {}
        other => return Err(format!("panel type {other:?} is not checked here")),
    }
    Ok(())
}

/// A time column's text as epoch seconds.
fn seconds(text: &str, kind: &str) -> Result<f64, String> {
    if numeric(kind) {
        return text.parse().map_err(|e| format!("time `{text}`: {e}"));
    }
    chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_micros() as f64 / 1e6)
        })
        .map_err(|e| format!("time `{text}`: {e}"))
}
