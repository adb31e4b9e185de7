//! Where what an attempt reported (`updraft_core::Report`) becomes rows: each kind of
//! report has its table (`test_result`, `model_run`), written in the transaction that
//! records the attempt's end (`asset_event` too). A new kind of report is a variant of
//! `Report`, its table (a migration) and its arm here.

/// Writes the reports of one attempt (`$end`, a `TryEnd`) in the transaction `$tx`,
/// replacing any rows the same attempt wrote before. A macro so that the statements are
/// written once and compiled for each database.
macro_rules! write_reports {
    ($tx:expr, $end:expr) => {
        async {
            use updraft_core::Report;
            let end: &$crate::store::TryEnd = $end;
            if end.reports.is_empty() {
                return Ok::<(), sqlx::Error>(());
            }
            for clear in $crate::store::reports::CLEAR {
                sqlx::query(clear)
                    .bind(&end.dag_id)
                    .bind(&end.run_id)
                    .bind(&end.task_id)
                    .bind(end.try_number)
                    .execute(&mut *$tx)
                    .await?;
            }
            for report in &end.reports {
                let insert = match report {
                    Report::Test(_) => $crate::store::reports::INSERT_TEST,
                    Report::Model(_) => $crate::store::reports::INSERT_MODEL,
                    Report::Asset(_) => $crate::store::reports::INSERT_ASSET,
                };
                let query = sqlx::query(insert)
                    .bind(&end.dag_id)
                    .bind(&end.run_id)
                    .bind(&end.task_id)
                    .bind(end.try_number);
                let query = match report {
                    Report::Test(r) => query
                        .bind(&r.test_id)
                        .bind(&r.test_name)
                        .bind(&r.model)
                        .bind(&r.column_name)
                        .bind(&r.test_type)
                        .bind(&r.severity)
                        .bind(r.status.as_str())
                        .bind(r.failures)
                        .bind(&r.message)
                        .bind(&r.compiled_sql)
                        .bind(r.started_at)
                        .bind(r.ended_at)
                        .bind(r.execution_time)
                        .bind(&r.stored_failures),
                    Report::Model(r) => query
                        .bind(&r.model)
                        .bind(&r.relation)
                        .bind(r.materialized)
                        .bind(r.status.as_str())
                        .bind(r.row_count)
                        .bind(&r.message)
                        .bind(r.started_at)
                        .bind(r.ended_at)
                        .bind(r.execution_time),
                    Report::Asset(r) => query
                        .bind(&r.uri)
                        .bind(r.access.as_str())
                        .bind(r.version)
                        .bind(r.rows)
                        .bind(serde_json::to_string(&r.partitions).unwrap_or_default())
                        .bind(chrono::Utc::now()),
                };
                query.execute(&mut *$tx).await?;
            }
            Ok(())
        }
    };
}
pub(super) use write_reports;

/// What an attempt reported before, replaced when it reports again.
pub(super) const CLEAR: [&str; 3] = [
    "DELETE FROM test_result WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
    "DELETE FROM model_run WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
    "DELETE FROM asset_event WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4",
];

/// A data test's verdict (`Report::Test`).
pub(super) const INSERT_TEST: &str = "INSERT INTO test_result (dag_id, run_id, task_id, try_number,
      test_id, test_name, model, column_name, test_type, severity, status, failures, message,
      compiled_sql, started_at, ended_at, execution_time, stored_failures)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// A model's build (`Report::Model`).
pub(super) const INSERT_MODEL: &str = "INSERT INTO model_run (dag_id, run_id, task_id, try_number,
      model, relation, materialized, status, row_count, message, started_at, ended_at,
      execution_time)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// A table written or read (`Report::Asset`); the same table reported twice by one
/// attempt keeps the last report.
pub(super) const INSERT_ASSET: &str =
    "INSERT INTO asset_event (dag_id, run_id, task_id, try_number,
      uri, access, version, row_count, partitions, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (dag_id, run_id, task_id, try_number, uri, access) DO UPDATE SET
      version = excluded.version, row_count = excluded.row_count,
      partitions = excluded.partitions, created_at = excluded.created_at";
