//! Jobs: the processes that execute runs (schedulers, foreground triggers, backfills).
//! Each heartbeats its row and the attempts it runs; a job whose heartbeat goes stale
//! is dead, and its attempts are failed so the retry policy takes over.

use super::BeginWrite;
use super::{Pool, Result, Store, rows::JobRow};
use chrono::{DateTime, Utc};

row_struct! {
    /// A running attempt whose job stopped heartbeating.
    #[derive(Debug, Clone)]
    pub struct StaleAttempt {
        pub dag_id: String,
        pub run_id: String,
        pub task_id: String,
        pub map_index: i32,
        pub try_number: i64,
        pub max_tries: i64,
        pub job_id: Option<String>,
        pub heartbeat_at: Option<DateTime<Utc>>,
        /// The host the attempt ran on, the process group it started and when that
        /// group's leader started (to tell it from a process that reused the pid).
        pub try_host: Option<String>,
        pub process_group: Option<i64>,
        pub process_start: Option<String>,
        /// Its log file.
        pub log_path: Option<String>,
    }
}

row_struct! {
    /// Identifies an attempt this job still owns.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct OwnedAttempt {
        pub dag_id: String,
        pub run_id: String,
        pub task_id: String,
        pub map_index: i32,
    }
}

impl Store {
    /// Records a new job in state `running` (a scheduler with the queues it serves,
    /// comma-separated).
    pub async fn register_job(
        &self,
        job_id: &str,
        job_type: &str,
        hostname: &str,
        pid: u32,
        queues: Option<&str>,
    ) -> Result<()> {
        let now = Utc::now();
        let sql = "INSERT INTO job (job_id, job_type, hostname, pid, state, started_at,
                     heartbeat_at, queues)
                   VALUES ($1, $2, $3, $4, 'running', $5, $5, $6)";
        with_pool!(self, p => sqlx::query(sql).bind(job_id).bind(job_type).bind(hostname)
            .bind(i64::from(pid)).bind(now).bind(queues).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Stamps the job's heartbeat and that of its running attempts; returns the attempts
    /// the store still says it runs (another job may have declared them dead). A job that
    /// was itself declared dead while alive is brought back to `running`.
    pub async fn heartbeat(&self, job_id: &str) -> Result<Vec<OwnedAttempt>> {
        let now = Utc::now();
        let job = "UPDATE job SET heartbeat_at = $2, state = 'running', ended_at = NULL WHERE job_id = $1";
        let attempts = "UPDATE task_instance SET heartbeat_at = $2
                        WHERE job_id = $1 AND state = 'running'
                        RETURNING dag_id, run_id, task_id, map_index";
        let owned = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(job).bind(job_id).bind(now).execute(&mut *tx).await?;
            let owned: Vec<OwnedAttempt> = sqlx::query_as(attempts).bind(job_id).bind(now)
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(owned)
        }.await)?;
        Ok(owned)
    }

    /// Marks the job stopped (a clean exit).
    pub async fn stop_job(&self, job_id: &str) -> Result<()> {
        let sql = "UPDATE job SET state = 'stopped', ended_at = $2 WHERE job_id = $1";
        with_pool!(self, p => sqlx::query(sql).bind(job_id).bind(Utc::now()).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Jobs the store believes are running, oldest first.
    pub async fn running_jobs(&self, job_type: Option<&str>) -> Result<Vec<JobRow>> {
        let sql =
            "SELECT job_id, job_type, hostname, pid, state, started_at, heartbeat_at, ended_at
                   FROM job WHERE state = 'running' AND ($1 IS NULL OR job_type = $1)
                   ORDER BY started_at";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(job_type).fetch_all(p).await?))
    }

    /// Declares a job dead; false when it was not running any more (someone else did).
    pub async fn mark_job_dead(&self, job_id: &str) -> Result<bool> {
        let sql =
            "UPDATE job SET state = 'dead', ended_at = $2 WHERE job_id = $1 AND state = 'running'";
        let done = with_pool!(self, p => sqlx::query(sql).bind(job_id).bind(Utc::now()).execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// Running attempts whose heartbeat is older than `cutoff` or whose job is not
    /// running (of one run when given).
    pub async fn stale_attempts(
        &self,
        cutoff: DateTime<Utc>,
        run: Option<(&str, &str)>,
    ) -> Result<Vec<StaleAttempt>> {
        let sql = "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number,
                          ti.max_tries, ti.job_id,
                          ti.heartbeat_at, tt.hostname AS try_host, tt.process_group,
                          tt.process_start, tt.log_path
                   FROM task_instance ti
                   LEFT JOIN task_try tt ON tt.dag_id = ti.dag_id AND tt.run_id = ti.run_id
                     AND tt.task_id = ti.task_id AND tt.map_index = ti.map_index
                     AND tt.try_number = ti.try_number
                   WHERE ti.state = 'running'
                     AND ($2 IS NULL OR (ti.dag_id = $2 AND ti.run_id = $3))
                     AND (ti.heartbeat_at IS NULL OR ti.heartbeat_at < $1 OR ti.job_id IS NULL
                          OR NOT EXISTS (SELECT 1 FROM job j WHERE j.job_id = ti.job_id AND j.state = 'running'))";
        let (dag_id, run_id) = run.unzip();
        Ok(
            with_pool!(self, p => sqlx::query_as(sql).bind(cutoff).bind(dag_id).bind(run_id).fetch_all(p).await?),
        )
    }

    /// Fails a stale attempt with `reason`; the instance goes to `up_for_retry` (due at
    /// `retry_at`) while tries remain, else `failed`. False when the attempt had already
    /// ended or been taken over.
    pub async fn fail_stale_attempt(
        &self,
        stale: &StaleAttempt,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
        callbacks: &[crate::alerts::NewCallback],
    ) -> Result<bool> {
        let now = Utc::now();
        let state = if retry_at.is_some() {
            "up_for_retry"
        } else {
            "failed"
        };
        let ti = "UPDATE task_instance SET state = $5, ended_at = $6, next_try_at = $7, job_id = NULL
                  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 AND state = 'running'
                    AND map_index = $8";
        let attempt = "UPDATE task_try SET state = 'failed', ended_at = $5, error = $6
                       WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 AND state = 'running'
                         AND map_index = $7";
        let done = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(ti).bind(&stale.dag_id).bind(&stale.run_id).bind(&stale.task_id)
                .bind(stale.try_number).bind(state).bind(now).bind(retry_at).bind(stale.map_index)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                sqlx::query(attempt).bind(&stale.dag_id).bind(&stale.run_id).bind(&stale.task_id)
                    .bind(stale.try_number).bind(now).bind(reason).bind(stale.map_index)
                    .execute(&mut *tx).await?;
                super::callbacks::write_callbacks!(tx, callbacks).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        }.await)?;
        Ok(done)
    }

    /// Puts a stale check of a waiting task (a sensor) back to waiting, due at once, in
    /// the same try: a check is safe to do again, and its timeout keeps counting from the
    /// try's first check. False when the attempt had already ended or been taken over.
    pub async fn recheck_stale_attempt(&self, stale: &StaleAttempt) -> Result<bool> {
        let now = Utc::now();
        let ti = "UPDATE task_instance SET state = 'up_for_reschedule', next_try_at = $5, job_id = NULL
                  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 AND state = 'running'
                    AND map_index = $6";
        let attempt = "UPDATE task_try SET state = 'up_for_reschedule', job_id = NULL
                       WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4 AND state = 'running'
                         AND map_index = $5";
        let done = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(ti).bind(&stale.dag_id).bind(&stale.run_id).bind(&stale.task_id)
                .bind(stale.try_number).bind(now).bind(stale.map_index)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if done {
                sqlx::query(attempt).bind(&stale.dag_id).bind(&stale.run_id).bind(&stale.task_id)
                    .bind(stale.try_number).bind(stale.map_index).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        }.await)?;
        Ok(done)
    }

    /// Whether several jobs may share this database (PostgreSQL) or only one (SQLite).
    pub fn allows_several_schedulers(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }
}

impl Store {
    /// The task instances ready to run (of runs the schedulers share) whose queue no live
    /// scheduler serves, counted by queue.
    pub async fn tasks_waiting_for_queue(&self) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT ti.queue, COUNT(*) FROM task_instance ti
                   JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
                     AND r.job_id IS NULL
                   WHERE ti.state = 'scheduled'
                     AND NOT EXISTS (SELECT 1 FROM job j
                       WHERE j.state = 'running' AND j.job_type = 'scheduler'
                         AND ',' || j.queues || ',' LIKE '%,' || ti.queue || ',%')
                   GROUP BY ti.queue ORDER BY ti.queue";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }
}
