//! What an attempt reports besides its metrics: records of kinds the orchestrator keeps
//! in history tables of their own (a data test's verdict, a model's build, a table
//! written or read). A task pushes
//! them into its context's [`Reports`] as it goes — a failing attempt's reports count
//! too — and the engine records them with the attempt's end, in one transaction.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// One record an attempt reports.
#[derive(Debug, Clone)]
pub enum Report {
    /// A data test's verdict (the `test_result` table).
    Test(TestResult),
    /// A model's build (the `model_run` table).
    Model(ModelResult),
    /// A table the attempt wrote or read (the `asset_event` table).
    Asset(AssetEvent),
}

/// The kinds of [`Report`], for a task type to say which it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Test,
    Model,
    Asset,
}

crate::stored_name! {
    /// Whether an attempt wrote or read an asset.
    pub enum AssetAccess ("asset access") {
        Write = "write",
        Read = "read",
        /// A new version with the same data (compaction, vacuum): recorded, but it
        /// triggers nothing and is not lineage.
        Rewrite = "rewrite",
    }
}

/// A table an attempt wrote (committed to) or read, as the `asset_event` table keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetEvent {
    /// The asset's URI, the same from every DAG and host: [`delta_asset_uri`],
    /// [`warehouse_asset_uri`].
    pub uri: String,
    pub access: AssetAccess,
    /// The Delta table's version committed (a write) or read.
    pub version: Option<i64>,
    /// Rows written (or read).
    pub rows: Option<i64>,
    /// The partitions touched, as `column=value`.
    pub partitions: Vec<String>,
}

/// The URI of the Delta table at `location`: `delta://lake/<path under the lake root>`
/// for a table under `lake` (so that every host, whatever its mount, names it the same),
/// else `delta://` and the location as written.
pub fn delta_asset_uri(lake: &str, location: &str) -> String {
    let trim = |s: &str| s.trim_end_matches('/').to_string();
    let strip = |s: &str| trim(s.strip_prefix("file://").unwrap_or(s));
    let (root, table) = (strip(lake), strip(location));
    match table
        .strip_prefix(&root)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) if !root.is_empty() => format!("delta://lake/{rest}"),
        _ => format!("delta://{}", table.trim_start_matches('/')),
    }
}

/// The URI of table `relation` (`schema.table`) of the connection `conn`.
pub fn warehouse_asset_uri(conn: &str, relation: &str) -> String {
    format!("warehouse://{}/{relation}", conn.to_lowercase())
}

/// Where an attempt's reports go, for whoever runs the attempt to record.
#[derive(Clone, Debug, Default)]
pub struct Reports(Arc<Mutex<Vec<Report>>>);

impl Reports {
    /// Adds one report.
    pub fn push(&self, report: Report) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(report);
    }

    /// Takes the reports made so far.
    pub fn take(&self) -> Vec<Report> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

crate::stored_name! {
    /// What a data test ended as (dbt's spelling).
    pub enum TestStatus ("test status") {
        Pass = "pass",
        Warn = "warn",
        Fail = "fail",
        /// The test's query itself failed.
        Error = "error",
        Skipped = "skipped",
    }
}

/// One data test's outcome, as `test_result` stores it.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// `test.<dag_id>.<test_name>`.
    pub test_id: String,
    pub test_name: String,
    pub model: String,
    pub column_name: Option<String>,
    pub test_type: String,
    pub severity: String,
    pub status: TestStatus,
    pub failures: Option<i64>,
    pub message: Option<String>,
    pub compiled_sql: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub execution_time: f64,
    /// Where the failing rows were kept (`store_failures`), for `updraft test failures`.
    pub stored_failures: Option<String>,
}

crate::stored_name! {
    /// How a model's build ended.
    pub enum ModelStatus ("model status") {
        Success = "success",
        Error = "error",
        /// Not built because a model it reads was not.
        Skipped = "skipped",
    }
}

/// One model built (or not) by one attempt, as `model_run` stores it.
#[derive(Debug, Clone)]
pub struct ModelResult {
    pub model: String,
    /// Where it was built (`marts.dim_author`).
    pub relation: String,
    pub materialized: &'static str,
    pub status: ModelStatus,
    /// Rows of a table after the build (None for a view, or when not built).
    pub row_count: Option<i64>,
    /// The database's message, or why it was skipped.
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub execution_time: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_under_the_lake_is_named_by_its_path_in_it() {
        let uri = |lake, at| delta_asset_uri(lake, at);
        assert_eq!(
            uri("/data/lake", "/data/lake/silver/tweets"),
            "delta://lake/silver/tweets"
        );
        assert_eq!(
            uri("/mnt/x/lake/", "file:///mnt/x/lake/silver/tweets/"),
            "delta://lake/silver/tweets"
        );
        assert_eq!(
            uri("s3://b/lake", "s3://b/lake/gold/t"),
            "delta://lake/gold/t"
        );
        assert_eq!(uri("/data/lake", "/elsewhere/t"), "delta://elsewhere/t");
        assert_eq!(
            uri("/data/lake", "/data/lakehouse/t"),
            "delta://data/lakehouse/t"
        );
        assert_eq!(warehouse_asset_uri("WH", "gold.t"), "warehouse://wh/gold.t");
    }
}
