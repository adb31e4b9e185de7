//! Reading the Delta tables a test's run wrote, with the library's own query path.

use std::collections::BTreeMap;
use std::path::Path;

/// Runs one SQL query over Delta tables (name → location) and returns the rows as JSON.
pub async fn query_delta(tables: &[(&str, &Path)], sql: &str) -> Vec<serde_json::Value> {
    let tables: Vec<(&str, &str)> = tables
        .iter()
        .map(|(n, p)| (*n, p.to_str().expect("utf-8 path")))
        .collect();
    query_delta_at(&tables, sql, &[]).await
}

/// Like `query_delta`, for table URLs (`s3://...`) opened with these storage options.
pub async fn query_delta_at(
    tables: &[(&str, &str)],
    sql: &str,
    options: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    let tables: Vec<(String, String)> = tables
        .iter()
        .map(|(n, l)| (n.to_string(), l.to_string()))
        .collect();
    let options: BTreeMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match updraft_tasks::query_tables(&tables, &options, sql).await {
        Ok(result) => result.rows,
        Err(e) => panic!("query {sql}: {e}"),
    }
}
