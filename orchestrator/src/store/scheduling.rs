//! What schedulers ask of the store: pause flags, the last scheduled interval, which
//! runs to start and to work on, and run transitions that several schedulers may race
//! for (each a conditional update, so it happens once).

use super::BeginWrite;
use super::{DagRunRow, Result, RunState, Store, TaskState, rows};
use chrono::{DateTime, Utc};

/// A run that starts is pinned to its DAG's newest version unless it has one (a cleared
/// run keeps its own).
const PIN_NEWEST: &str = "dag_version = COALESCE(dag_version,
    (SELECT MAX(v.version_number) FROM dag_version v WHERE v.dag_id = $1))";

/// The instances of a run that has just started are planned on its version (those
/// planned before keep theirs).
const VERSION_INSTANCES: &str = "UPDATE task_instance SET dag_version =
    (SELECT r.dag_version FROM dag_run r WHERE r.dag_id = $1 AND r.run_id = $2)
    WHERE dag_id = $1 AND run_id = $2 AND dag_version IS NULL";

impl Store {
    /// Pauses or unpauses a DAG; false when the store has never seen it.
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<bool> {
        let sql = "UPDATE dag SET is_paused = $2 WHERE dag_id = $1";
        let done = with_pool!(self, p => sqlx::query(sql).bind(dag_id).bind(paused).execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// Whether a DAG is paused (false when unknown).
    pub async fn is_paused(&self, dag_id: &str) -> Result<bool> {
        let sql = "SELECT is_paused FROM dag WHERE dag_id = $1";
        let paused: Option<bool> =
            with_pool!(self, p => sqlx::query_scalar(sql).bind(dag_id).fetch_optional(p).await?);
        Ok(paused.unwrap_or(false))
    }

    /// Records when the DAG's next scheduled run is due (`None`: it has no more), for the
    /// dashboards to tell a late run from one not yet due.
    pub async fn set_next_run_after(
        &self,
        dag_id: &str,
        next_run_after: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let sql = "UPDATE dag SET next_run_after = $2
                   WHERE dag_id = $1 AND next_run_after IS DISTINCT FROM $2";
        with_pool!(self, p => sqlx::query(sql).bind(dag_id).bind(next_run_after).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The data interval of the DAG's latest scheduled run.
    pub async fn last_scheduled_interval(
        &self,
        dag_id: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        let sql = "SELECT data_interval_start, data_interval_end FROM dag_run
                   WHERE dag_id = $1 AND run_type = 'scheduled'
                   ORDER BY logical_date DESC LIMIT 1";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).fetch_optional(p).await?))
    }

    /// The logical dates of the DAG's runs at or after `from`.
    pub async fn logical_dates_since(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let sql = "SELECT logical_date FROM dag_run WHERE dag_id = $1 AND logical_date >= $2";
        Ok(
            with_pool!(self, p => sqlx::query_scalar(sql).bind(dag_id).bind(from).fetch_all(p).await?),
        )
    }

    /// How many of the DAG's runs are queued or running.
    pub async fn active_runs(&self, dag_id: &str) -> Result<i64> {
        let sql =
            "SELECT COUNT(*) FROM dag_run WHERE dag_id = $1 AND state IN ('queued', 'running')";
        Ok(with_pool!(self, p => sqlx::query_scalar(sql).bind(dag_id).fetch_one(p).await?))
    }

    /// Runs in a state, oldest logical date first; `shared_only` leaves out runs a live
    /// job executes by itself.
    pub async fn runs_in_state(
        &self,
        state: RunState,
        shared_only: bool,
    ) -> Result<Vec<DagRunRow>> {
        let sql = format!(
            "{} WHERE state = $1 AND (NOT $2 OR job_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM job j WHERE j.job_id = dag_run.job_id AND j.state = 'running'))
             ORDER BY logical_date",
            rows::DAG_RUN_SELECT
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str()).bind(shared_only).fetch_all(p).await?),
        )
    }

    /// Starts a queued run when fewer than `max_active_runs` of its DAG are running;
    /// false when it is not queued any more or the DAG is at its limit. The DAG's row is
    /// locked first, so schedulers racing for the last slot cannot both take it.
    pub async fn start_queued_run(
        &self,
        dag_id: &str,
        run_id: &str,
        max_active_runs: u32,
    ) -> Result<bool> {
        let lock = "UPDATE dag SET is_paused = is_paused WHERE dag_id = $1";
        let running = "SELECT COUNT(*) FROM dag_run WHERE dag_id = $1 AND state = 'running'";
        let start = format!(
            "UPDATE dag_run SET state = 'running', started_at = $3, ended_at = NULL, {PIN_NEWEST}
             WHERE dag_id = $1 AND run_id = $2 AND state = 'queued'"
        );
        let started = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(lock).bind(dag_id).execute(&mut *tx).await?;
            let count: i64 = sqlx::query_scalar(running).bind(dag_id).fetch_one(&mut *tx).await?;
            let started = count < i64::from(max_active_runs)
                && sqlx::query(sqlx::AssertSqlSafe(start.as_str())).bind(dag_id).bind(run_id).bind(Utc::now())
                    .execute(&mut *tx).await?.rows_affected() == 1;
            if started {
                sqlx::query(VERSION_INSTANCES).bind(dag_id).bind(run_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(started)
        }.await)?;
        Ok(started)
    }

    /// Makes `job_id` the run's only executor and moves it to `running`.
    pub async fn adopt_run(&self, dag_id: &str, run_id: &str, job_id: &str) -> Result<()> {
        let sql = format!(
            "UPDATE dag_run SET job_id = $3, state = 'running', started_at = $4, ended_at = NULL,
                    {PIN_NEWEST}
             WHERE dag_id = $1 AND run_id = $2"
        );
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(dag_id).bind(run_id).bind(job_id).bind(Utc::now())
                .execute(&mut *tx).await?;
            sqlx::query(VERSION_INSTANCES).bind(dag_id).bind(run_id).execute(&mut *tx).await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// Makes `job_id` the owner of a running run that no live job works on; false when
    /// a live job (a scheduler, another waiting process) has it.
    pub async fn adopt_left_run(&self, dag_id: &str, run_id: &str, job_id: &str) -> Result<bool> {
        let sql = "UPDATE dag_run SET job_id = $3
                   WHERE dag_id = $1 AND run_id = $2 AND state = 'running'
                     AND (job_id IS NULL OR NOT EXISTS
                          (SELECT 1 FROM job j WHERE j.job_id = dag_run.job_id AND j.state = 'running'))";
        let done = with_pool!(self, p => sqlx::query(sql).bind(dag_id).bind(run_id).bind(job_id)
            .execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// Ends a running run in `state` (success or failed), recording the alert messages
    /// its end causes with it; false when it was not running (another job ended it
    /// first, and recorded them).
    pub async fn finish_run(
        &self,
        dag_id: &str,
        run_id: &str,
        state: RunState,
        callbacks: &[crate::alerts::NewCallback],
    ) -> Result<bool> {
        let sql = "UPDATE dag_run SET state = $3, ended_at = $4, job_id = NULL
                   WHERE dag_id = $1 AND run_id = $2 AND state = 'running'";
        let done = with_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(sql).bind(dag_id).bind(run_id)
                .bind(state.as_str()).bind(Utc::now()).execute(&mut *tx).await?.rows_affected();
            if done == 1 {
                super::callbacks::write_callbacks!(tx, callbacks).await?;
            }
            tx.commit().await?;
            done
        });
        Ok(done == 1)
    }

    /// A DAG's runs whose logical date lies in `[from, to]`.
    pub async fn runs_between(
        &self,
        dag_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DagRunRow>> {
        let sql = format!(
            "{} WHERE dag_id = $1 AND logical_date >= $2 AND logical_date <= $3 ORDER BY logical_date",
            rows::DAG_RUN_SELECT
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dag_id).bind(from).bind(to).fetch_all(p).await?),
        )
    }

    /// The run's task instances that may still change state: (task_id, map_index, state,
    /// max_tries, next_try_at). Finished instances are left out, so re-reading a wide run
    /// gets cheaper as it progresses.
    pub async fn unfinished_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<(String, i32, TaskState, i64, Option<DateTime<Utc>>)>> {
        let sql = "SELECT task_id, map_index, state, max_tries, next_try_at FROM task_instance
                   WHERE dag_id = $1 AND run_id = $2
                     AND (state IS NULL OR state IN ('scheduled', 'queued', 'running', 'up_for_retry',
                                                    'up_for_reschedule'))";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).fetch_all(p).await?))
    }
}
