//! `TestResultResponse` (Updraft's): one data-quality test of a run's latest attempt of a
//! `data_test` task, with dbt's verdict.

use crate::store::TestResultRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use updraft_core::report::TestStatus;
use utoipa::ToSchema;

/// A test's result.
#[derive(Serialize, ToSchema)]
pub struct TestResultResponse {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub try_number: i64,
    pub test_id: String,
    pub test_name: String,
    pub model: Option<String>,
    pub column_name: Option<String>,
    pub test_type: String,
    pub severity: String,
    pub status: TestStatus,
    /// Failing rows counted (null when the test could not run).
    pub failures: Option<i64>,
    pub message: Option<String>,
    pub compiled_sql: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Seconds.
    pub execution_time: f64,
    /// Where `store_failures` kept the failing rows.
    pub stored_failures: Option<String>,
}

impl From<TestResultRow> for TestResultResponse {
    fn from(row: TestResultRow) -> Self {
        Self {
            dag_id: row.dag_id,
            run_id: row.run_id,
            task_id: row.task_id,
            try_number: row.try_number,
            test_id: row.test_id,
            test_name: row.test_name,
            model: row.model,
            column_name: row.column_name,
            test_type: row.test_type,
            severity: row.severity,
            status: row.status,
            failures: row.failures,
            message: row.message,
            compiled_sql: row.compiled_sql,
            started_at: row.started_at,
            ended_at: row.ended_at,
            execution_time: row.execution_time,
            stored_failures: row.stored_failures,
        }
    }
}
