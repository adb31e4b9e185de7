//! The `model_run` table: one row per model per attempt of a `sql_models` task, written
//! when the attempt ends.

use super::{Result, Store};
use updraft_tasks::sql_models::ModelResult;

impl Store {
    /// Records an attempt's model builds, in one transaction (again for the same attempt:
    /// replaced).
    pub async fn record_model_runs(
        &self,
        (dag_id, run_id, task_id): (&str, &str, &str),
        try_number: i64,
        results: &[ModelResult],
    ) -> Result<()> {
        let clear = "DELETE FROM model_run WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4";
        let insert = "INSERT INTO model_run (dag_id, run_id, task_id, try_number, model, relation,
                          materialized, status, row_count, message, started_at, ended_at, execution_time)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
        with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(clear).bind(dag_id).bind(run_id).bind(task_id).bind(try_number)
                .execute(&mut *tx).await?;
            for r in results {
                sqlx::query(insert)
                    .bind(dag_id).bind(run_id).bind(task_id).bind(try_number)
                    .bind(&r.model).bind(&r.relation).bind(r.materialized).bind(r.status.as_str())
                    .bind(r.row_count).bind(&r.message).bind(r.started_at).bind(r.ended_at)
                    .bind(r.execution_time)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }
}
