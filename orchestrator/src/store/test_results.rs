//! The `test_result` table: one row per data test per attempt of a `data_test` task,
//! written when the attempt ends and read by `updraft test results`.

use super::{Result, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use updraft_tasks::data_test::TestResult;

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
        pub status: String,
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
    /// Records an attempt's test results, in one transaction (again for the same attempt:
    /// replaced).
    pub async fn record_test_results(
        &self,
        (dag_id, run_id, task_id): (&str, &str, &str),
        try_number: i64,
        results: &[TestResult],
    ) -> Result<()> {
        let clear = "DELETE FROM test_result WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4";
        let insert = "INSERT INTO test_result (dag_id, run_id, task_id, try_number, test_id, test_name,
                          model, column_name, test_type, severity, status, failures, message,
                          compiled_sql, started_at, ended_at, execution_time, stored_failures)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
        with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(clear).bind(dag_id).bind(run_id).bind(task_id).bind(try_number)
                .execute(&mut *tx).await?;
            for r in results {
                sqlx::query(insert)
                    .bind(dag_id).bind(run_id).bind(task_id).bind(try_number)
                    .bind(&r.test_id).bind(&r.test_name).bind(&r.model).bind(&r.column_name)
                    .bind(&r.test_type).bind(&r.severity).bind(r.status.as_str()).bind(r.failures)
                    .bind(&r.message).bind(&r.compiled_sql).bind(r.started_at).bind(r.ended_at)
                    .bind(r.execution_time).bind(&r.stored_failures)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }

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
