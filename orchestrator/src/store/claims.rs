//! Task instance state changes that several jobs may race for. Each is a conditional
//! update on the state the caller saw, so whichever job commits first wins and the
//! others change nothing: an attempt is claimed, and recorded, by exactly one job.
//! On PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED`: a row another job is
//! changing is left to it, so jobs never wait on (or deadlock with) each other.

use super::{Pool, Result, Store, TaskKey, TaskState};
use chrono::{DateTime, Utc};

/// An attempt this job won the right to run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedTry {
    pub task_id: String,
    pub try_number: i64,
}

/// Who claims attempts.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    pub job_id: &'a str,
    pub hostname: &'a str,
}

/// How an attempt ended, to record.
pub struct TryEnd<'a> {
    pub ti_state: TaskState,
    pub try_state: TaskState,
    pub ended_at: DateTime<Utc>,
    pub duration: f64,
    pub error: Option<&'a str>,
    pub metrics: &'a serde_json::Value,
    /// When an `up_for_retry` instance may run again.
    pub next_try_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Appends the ids of the given instances that are in state `condition`: the ids
    /// themselves on SQLite (one writer at a time), a `SELECT … FOR UPDATE SKIP LOCKED` of
    /// them on PostgreSQL.
    fn pick_rows<DB: sqlx::Database>(
        &self,
        query: &mut sqlx::QueryBuilder<DB>,
        dag_id: &str,
        run_id: &str,
        condition: &str,
        task_ids: &[&str],
    ) where
        for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        let skip_locked = matches!(self.pool, Pool::Postgres(_));
        if skip_locked {
            query
                .push("SELECT task_id FROM task_instance WHERE dag_id = ")
                .push_bind(dag_id)
                .push(" AND run_id = ")
                .push_bind(run_id)
                .push(" AND ")
                .push(condition)
                .push(" AND task_id IN (");
        }
        let mut ids = query.separated(", ");
        for id in task_ids {
            ids.push_bind(*id);
        }
        if skip_locked {
            query.push(") FOR UPDATE SKIP LOCKED");
        }
    }

    /// Moves instances from state `from` to `to` (scheduled, skipped, upstream_failed);
    /// finished states get an end time. Instances no longer in `from` are left alone.
    pub async fn move_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        task_ids: &[&str],
        from: TaskState,
        to: TaskState,
    ) -> Result<()> {
        if task_ids.is_empty() {
            return Ok(());
        }
        let ended = to.is_finished().then(Utc::now);
        let from_sql = match from {
            TaskState::None => "state IS NULL".to_string(),
            other => format!("state = '{}'", other.as_str()),
        };
        with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            for chunk in task_ids.chunks(500) {
                let mut update = sqlx::QueryBuilder::new("UPDATE task_instance SET state = ");
                update.push_bind(to.as_str())
                    .push(", ended_at = ").push_bind(ended)
                    .push(", next_try_at = NULL WHERE dag_id = ").push_bind(dag_id)
                    .push(" AND run_id = ").push_bind(run_id)
                    .push(" AND ").push(&from_sql)
                    .push(" AND task_id IN (");
                self.pick_rows(&mut update, dag_id, run_id, &from_sql, chunk);
                update.push(")");
                update.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// Claims the given `scheduled` instances for a job: each one this job wins goes to
    /// `running` with its next try number, and gets its `task_try` row, in one
    /// transaction. Instances another job claimed first are not returned.
    pub async fn claim_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        task_ids: &[&str],
        by: Claimant<'_>,
        log_path: impl Fn(&str, i64) -> String,
    ) -> Result<Vec<ClaimedTry>> {
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let claimed = with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            let mut update = sqlx::QueryBuilder::new(
                "UPDATE task_instance SET state = 'running', try_number = try_number + 1, job_id = ",
            );
            update.push_bind(by.job_id)
                .push(", heartbeat_at = ").push_bind(now)
                .push(", started_at = ").push_bind(now)
                .push(", hostname = ").push_bind(by.hostname)
                .push(", ended_at = NULL, duration = NULL, next_try_at = NULL WHERE dag_id = ")
                .push_bind(dag_id)
                .push(" AND run_id = ").push_bind(run_id)
                .push(" AND state = 'scheduled' AND task_id IN (");
            self.pick_rows(&mut update, dag_id, run_id, "state = 'scheduled'", task_ids);
            update.push(") RETURNING task_id, try_number");
            let claimed: Vec<ClaimedTry> = update.build_query_as().fetch_all(&mut *tx).await?;
            for chunk in claimed.chunks(500) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO task_try (dag_id, run_id, task_id, try_number, state, started_at, hostname, log_path, job_id) ",
                );
                insert.push_values(chunk, |mut row, c| {
                    row.push_bind(dag_id)
                        .push_bind(run_id)
                        .push_bind(&c.task_id)
                        .push_bind(c.try_number)
                        .push_bind("running")
                        .push_bind(now)
                        .push_bind(by.hostname)
                        .push_bind(log_path(&c.task_id, c.try_number))
                        .push_bind(by.job_id);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(claimed)
        }.await)?;
        Ok(claimed)
    }

    /// Records the end of an attempt this job runs, on its `task_try` row and its task
    /// instance. False when the job no longer owns the attempt (it was declared dead and
    /// the attempt failed by another job): then nothing is written.
    pub async fn finish_try(
        &self,
        key: TaskKey<'_>,
        try_number: i64,
        job_id: &str,
        end: &TryEnd<'_>,
    ) -> Result<bool> {
        let ti_sql = "UPDATE task_instance SET state = $5, ended_at = $6, duration = $7,
                        next_try_at = $8, job_id = NULL
                      WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
                        AND state = 'running' AND job_id = $9";
        let try_sql =
            "UPDATE task_try SET state = $5, ended_at = $6, duration = $7, error = $8, metrics = $9
                       WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4";
        let owned = with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            let owned = sqlx::query(ti_sql).bind(key.dag_id).bind(key.run_id).bind(key.task_id)
                .bind(try_number).bind(end.ti_state.as_str()).bind(end.ended_at).bind(end.duration)
                .bind(end.next_try_at).bind(job_id)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if owned {
                sqlx::query(try_sql).bind(key.dag_id).bind(key.run_id).bind(key.task_id).bind(try_number)
                    .bind(end.try_state.as_str()).bind(end.ended_at).bind(end.duration).bind(end.error)
                    .bind(end.metrics.to_string()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(owned)
        }.await)?;
        Ok(owned)
    }
}
