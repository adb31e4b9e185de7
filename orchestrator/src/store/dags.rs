//! The `dag` table: the DAGs read from the folder, their pause flags (and the assets
//! each is scheduled on).

use super::{DagRow, Result, Store};
use chrono::Utc;

impl Store {
    /// Records (or refreshes) a DAG read from the DAGs folder; `is_paused` is kept (a new
    /// DAG starts paused when the store was opened `pausing_new_dags`).
    pub async fn sync_dag(&self, dag: &crate::dag::Dag) -> Result<()> {
        let sql = "INSERT INTO dag (dag_id, is_paused, schedule, timezone, fileloc, description, last_parsed_at)
                   VALUES ($1, $7, $2, $3, $4, $5, $6)
                   ON CONFLICT (dag_id) DO UPDATE SET schedule = excluded.schedule,
                     timezone = excluded.timezone, fileloc = excluded.fileloc,
                     description = excluded.description, last_parsed_at = excluded.last_parsed_at";
        with_pool!(self, p => sqlx::query(sql)
            .bind(&dag.dag_id)
            .bind(dag.schedule_summary())
            .bind(dag.timezone.name())
            .bind(dag.fileloc.display().to_string())
            .bind(&dag.description)
            .bind(Utc::now())
            .bind(self.paused_at_creation)
            .execute(p).await.map(|_| ()))?;
        let uris = dag
            .assets
            .as_ref()
            .map(|a| a.uris.as_slice())
            .unwrap_or_default();
        self.set_dag_schedule_assets(&dag.dag_id, uris).await?;
        self.set_freshness(&dag.dag_id, &dag.freshness).await
    }

    /// Drops what `dag_id` is scheduled on and its freshness rules (its file is gone).
    pub async fn forget_dag_assets(&self, dag_id: &str) -> Result<()> {
        self.set_dag_schedule_assets(dag_id, &[]).await?;
        self.set_freshness(dag_id, &[]).await
    }

    /// The ids of the paused DAGs.
    pub async fn paused_dags(&self) -> Result<Vec<String>> {
        let sql = "SELECT dag_id FROM dag WHERE is_paused";
        Ok(with_pool!(self, p => sqlx::query_scalar(sql).fetch_all(p).await?))
    }

    /// The stored DAG rows, by id.
    pub async fn dags(&self) -> Result<Vec<DagRow>> {
        let sql = "SELECT dag_id, is_paused, schedule, timezone, fileloc, description, last_parsed_at, next_run_after FROM dag ORDER BY dag_id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }
}
