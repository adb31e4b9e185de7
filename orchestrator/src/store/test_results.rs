//! The `test_result` table: one row per data test per attempt of a task that reports
//! tests, written with the attempt's end (`reports.rs`) and read by `updraft test
//! results`, the API and the UI.

use super::{Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use updraft_core::report::TestStatus;

row_struct! {
    /// A row of `test_result`.
    #[derive(Debug, Clone, Serialize)]
    pub struct TestResultRow {
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
        pub failures: Option<i64>,
        pub message: Option<String>,
        pub compiled_sql: Option<String>,
        pub started_at: DateTime<Utc>,
        pub ended_at: DateTime<Utc>,
        pub execution_time: f64,
        /// Where `store_failures` kept the failing rows.
        pub stored_failures: Option<String>,
    }
}

impl Store {
    /// The results of a run's latest attempt of each `data_test` task, by task and test.
    pub async fn test_results(&self, dag_id: &str, run_id: &str) -> Result<Vec<TestResultRow>> {
        let sql = "SELECT dag_id, run_id, task_id, try_number, test_id, test_name, model, column_name,
                          test_type, severity, status, failures, message, compiled_sql, started_at,
                          ended_at, execution_time, stored_failures
                   FROM test_result r
                   WHERE dag_id = $1 AND run_id = $2
                     AND try_number = (SELECT MAX(try_number) FROM test_result l
                                       WHERE l.dag_id = r.dag_id AND l.run_id = r.run_id AND l.task_id = r.task_id)
                   ORDER BY task_id, test_name";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).fetch_all(p).await?))
    }
}
