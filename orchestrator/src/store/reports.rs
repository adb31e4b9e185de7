//! Where what an attempt reported (`updraft_core::Report`) becomes rows: each kind of
//! report has its table (`test_result`, `model_run`), written in the transaction that
//! records the attempt's end (`asset_event` too, through
//! [`super::asset_queue`]). A new kind of report is a variant of
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
                    .bind(end.map_index)
                    .execute(&mut *$tx)
                    .await?;
            }
            for report in &end.reports {
                let insert = match report {
                    Report::Test(_) => $crate::store::reports::INSERT_TEST,
                    Report::Model(_) => $crate::store::reports::INSERT_MODEL,
                    Report::Asset(r) => {
                        $crate::store::asset_queue::write_asset_event!(
                            $tx,
                            &$crate::store::asset_queue::NewAssetEvent::of_attempt(end, r)
                        )
                        .await?;
                        continue;
                    }
                };
                let query = sqlx::query(insert)
                    .bind(&end.dag_id)
                    .bind(&end.run_id)
                    .bind(&end.task_id)
                    .bind(end.try_number)
                    .bind(end.map_index);
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
                    Report::Asset(_) => continue,
                };
                query.execute(&mut *$tx).await?;
            }
            Ok(())
        }
    };
}
pub(super) use write_reports;

/// What an attempt reported before, replaced when it reports again.
pub(super) const CLEAR: [&str; 4] = [
    "DELETE FROM test_result WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
       AND map_index = $5",
    "DELETE FROM model_run WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
       AND map_index = $5",
    "DELETE FROM asset_dag_queue WHERE event_id IN (SELECT id FROM asset_event
       WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 AND map_index = $5)",
    "DELETE FROM asset_event WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
       AND map_index = $5",
];

/// A data test's verdict (`Report::Test`).
pub(super) const INSERT_TEST: &str = "INSERT INTO test_result (dag_id, run_id, task_id, try_number,
      map_index, test_id, test_name, model, column_name, test_type, severity, status, failures,
      message, compiled_sql, started_at, ended_at, execution_time, stored_failures)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// A model's build (`Report::Model`).
pub(super) const INSERT_MODEL: &str = "INSERT INTO model_run (dag_id, run_id, task_id, try_number,
      map_index, model, relation, materialized, status, row_count, message, started_at,
      ended_at, execution_time)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
