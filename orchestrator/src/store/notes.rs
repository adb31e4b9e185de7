//! Notes: what a person wrote about a run or a task instance (Airflow's `note`).

use super::{Result, Store};

impl Store {
    /// Sets (or, with None, removes) the note of a run; false when there is no such run.
    pub async fn set_run_note(
        &self,
        (dag_id, run_id): (&str, &str),
        note: Option<&str>,
    ) -> Result<bool> {
        let sql = "UPDATE dag_run SET note = $1 WHERE dag_id = $2 AND run_id = $3";
        let done = with_pool!(self, p => sqlx::query(sql).bind(note).bind(dag_id).bind(run_id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }

    /// Sets (or, with None, removes) the note of a task instance; false when there is no
    /// such instance.
    pub async fn set_instance_note(
        &self,
        (dag_id, run_id, task_id, map_index): (&str, &str, &str, i32),
        note: Option<&str>,
    ) -> Result<bool> {
        let sql = "UPDATE task_instance SET note = $1
                   WHERE dag_id = $2 AND run_id = $3 AND task_id = $4 AND map_index = $5";
        let done = with_pool!(self, p => sqlx::query(sql).bind(note).bind(dag_id).bind(run_id).bind(task_id)
            .bind(map_index).execute(p).await?.rows_affected());
        Ok(done > 0)
    }
}
