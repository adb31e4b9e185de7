//! Task instance state changes that several jobs may race for. Each is a conditional
//! update on the state the caller saw, so whichever job commits first wins and the
//! others change nothing: an attempt is claimed, and recorded, by exactly one job.
//! On PostgreSQL the rows are picked with `FOR UPDATE SKIP LOCKED` (a row another job is
//! changing is left to it, so jobs never wait on or deadlock with each other) and, being
//! locked, updated by their `ctid`. The keys travel as arrays (task ids, map indexes).
//! No statement joins a run's rows with the ids: the planner's statistics lag behind a
//! new wide run (and always take running attempts for rare), and a join planned for "one
//! row" compared every row of the run with every id.
//! SQLite has one writer at a time and takes plain `IN` lists.

use super::BeginWrite;
use super::reports::write_reports;
use super::{Pool, Result, Store, TaskState};
use chrono::{DateTime, Utc};

row_struct! {
    /// An attempt this job won the right to run.
    #[derive(Debug, Clone)]
    pub struct ClaimedTry {
        pub task_id: String,
        pub map_index: i32,
        pub try_number: i64,
        /// When its try started: its first check, when `rechecked`.
        pub started_at: DateTime<Utc>,
        /// It checks again, in the same try, what a check found not ready (it was
        /// `up_for_reschedule`).
        pub rechecked: bool,
    }
}

/// What a claim takes: scheduled instances, and waiting ones whose next check is due
/// (`$5`: now). A check of a waiting instance goes on in its try: the try number and the
/// try's start (its first check) stay.
const CLAIMABLE: &str = "(state = 'scheduled' OR (state = 'up_for_reschedule'
    AND (next_try_at IS NULL OR next_try_at <= $5)))";
const CLAIM_SET: &str = "state = 'running',
    try_number = try_number + CASE WHEN state = 'up_for_reschedule' THEN 0 ELSE 1 END,
    started_at = CASE WHEN state = 'up_for_reschedule' THEN COALESCE(started_at, $5) ELSE $5 END,
    ended_at = NULL, duration = NULL, next_try_at = NULL";
/// A recheck's try row exists: it becomes running again, on this job and host.
const TRY_AGAIN: &str = "ON CONFLICT (dag_id, run_id, task_id, map_index, try_number) DO UPDATE SET
    state = 'running', hostname = excluded.hostname, log_path = excluded.log_path,
    job_id = excluded.job_id, ended_at = NULL, process_group = NULL, process_start = NULL";

/// Who claims attempts.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    pub job_id: &'a str,
    pub hostname: &'a str,
}

/// The rows of a run's task instances named in `$3` (task ids) and `$4` (their map
/// indexes), each looked up by its whole key: a wide run just created has no statistics
/// yet, and with `task_id = ANY($3)` the planner then walked the whole run for each
/// claimed task. Ends inside the lateral subquery: callers add its conditions, the lock
/// and `) t`.
const PICK: &str = "SELECT t.ctid FROM unnest($3::text[], $4::int[]) AS w(task_id, map_index)
    CROSS JOIN LATERAL (SELECT ti.ctid FROM task_instance ti
      WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.task_id = w.task_id
        AND ti.map_index = w.map_index";

/// The tasks of one queue a claim wants, for a queue whose running tasks are limited
/// (`[queues] max_active_tasks`).
#[derive(Debug, Clone)]
pub struct QueueCap<'a> {
    pub queue: &'a str,
    pub max: u32,
    /// In the order they should be claimed.
    pub tasks: Vec<(&'a str, i32)>,
}

/// Takes the queue's lock for the rest of the transaction, so that two claims never
/// count the same free room: an advisory lock on PostgreSQL; on SQLite the write lock of
/// the database (a write that changes nothing).
const PG_QUEUE_LOCK: &str = "SELECT pg_advisory_xact_lock(7221, hashtext($1))";
const SQLITE_QUEUE_LOCK: &str = "UPDATE task_instance SET queue = queue WHERE queue = $1 AND 0 = 1";

/// `$ids` without the tasks that would take a capped queue past its limit, counting the
/// running tasks of each queue under its lock in the transaction `$tx`. A macro so that
/// the statements are written once and compiled for each database.
macro_rules! within_queue_caps {
    ($tx:expr, $caps:expr, $ids:expr, $lock:expr) => {
        async {
            let mut ids: Vec<(&str, i32)> = $ids.to_vec();
            let mut caps: Vec<&QueueCap> = $caps.iter().collect();
            // One order for every claimant: no two wait on each other's locks.
            caps.sort_by_key(|c| c.queue);
            for cap in caps {
                sqlx::query($lock)
                    .bind(cap.queue)
                    .execute(&mut *$tx)
                    .await?;
                let running: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM task_instance WHERE queue = $1 AND state = 'running'",
                )
                .bind(cap.queue)
                .fetch_one(&mut *$tx)
                .await?;
                let room = usize::try_from(i64::from(cap.max) - running).unwrap_or(0);
                let over: Vec<(&str, i32)> = cap.tasks.iter().skip(room).copied().collect();
                ids.retain(|id| !over.contains(id));
            }
            Ok::<Vec<(&str, i32)>, sqlx::Error>(ids)
        }
    };
}

/// How an attempt ended, to record.
#[derive(Debug, Clone)]
pub struct TryEnd {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    pub map_index: i32,
    pub try_number: i64,
    pub ti_state: TaskState,
    pub try_state: TaskState,
    pub ended_at: DateTime<Utc>,
    pub duration: f64,
    pub error: Option<String>,
    pub metrics: serde_json::Value,
    /// What the attempt hands to later tasks (a JSON object), when anything.
    pub outputs: Option<String>,
    /// When an `up_for_retry` instance may run again, or an `up_for_reschedule` one is
    /// checked again.
    pub next_try_at: Option<DateTime<Utc>>,
    /// What a waiting task waits for, as its check said (kept on the try).
    pub waiting_for: Option<String>,
    /// What the attempt reported, written with its end.
    pub reports: Vec<updraft_core::Report>,
    /// The alert messages its end causes, recorded with it.
    pub callbacks: Vec<crate::alerts::NewCallback>,
}

impl TryEnd {
    /// When the try and its instance ended, and how long the try took: none while the
    /// task waits for its next check.
    fn ended(&self) -> (Option<DateTime<Utc>>, Option<f64>) {
        if self.ti_state == TaskState::UpForReschedule {
            (None, None)
        } else {
            (Some(self.ended_at), Some(self.duration))
        }
    }

    /// Its task instance's key.
    fn key(&self) -> InstanceRow {
        (
            self.dag_id.clone(),
            self.run_id.clone(),
            self.task_id.clone(),
            self.map_index,
        )
    }
}

/// A task instance's whole key: DAG, run, task and map index.
type InstanceRow = (String, String, String, i32);

/// The task ids and map indexes of `keys`, as two arrays to bind.
fn key_arrays<'a>(keys: &[(&'a str, i32)]) -> (Vec<&'a str>, Vec<i32>) {
    keys.iter().copied().unzip()
}

impl Store {
    /// Moves instances (task id, map index) from state `from` to `to` (scheduled,
    /// skipped, upstream_failed); finished states get an end time. Instances no longer in
    /// `from` are left alone.
    pub async fn move_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        keys: &[(&str, i32)],
        from: TaskState,
        to: TaskState,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let ended = to.is_finished().then(Utc::now);
        let from_sql = match from {
            TaskState::None => "state IS NULL".to_string(),
            other => format!("state = '{}'", other.as_str()),
        };
        match &self.pool {
            Pool::Postgres(p) => {
                let sql = format!(
                    "WITH picked AS ({PICK} AND {from_sql} FOR UPDATE SKIP LOCKED) t)
                     UPDATE task_instance SET state = $5, ended_at = $6, next_try_at = NULL
                     WHERE ctid = ANY(ARRAY(SELECT ctid FROM picked))"
                );
                let (ids, indexes) = key_arrays(keys);
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(dag_id)
                    .bind(run_id)
                    .bind(ids)
                    .bind(indexes)
                    .bind(to.as_str())
                    .bind(ended)
                    .execute(p)
                    .await?;
            }
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                for chunk in keys.chunks(400) {
                    let mut update = sqlx::QueryBuilder::new("UPDATE task_instance SET state = ");
                    update
                        .push_bind(to.as_str())
                        .push(", ended_at = ")
                        .push_bind(ended)
                        .push(", next_try_at = NULL WHERE dag_id = ")
                        .push_bind(dag_id)
                        .push(" AND run_id = ")
                        .push_bind(run_id)
                        .push(" AND ")
                        .push(&from_sql)
                        .push(" AND (task_id, map_index) IN (VALUES ");
                    let mut ids = update.separated(", ");
                    for (id, index) in chunk {
                        ids.push("(")
                            .push_bind_unseparated(*id)
                            .push_unseparated(", ")
                            .push_bind_unseparated(*index)
                            .push_unseparated(")");
                    }
                    update.push(")");
                    update.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Claims the given `scheduled` instances for a job: each one this job wins goes to
    /// `running` with its next try number, and gets its `task_try` row, in one
    /// transaction. Instances another job claimed first, or that would take a queue of
    /// `caps` past its limit, are not returned.
    pub async fn claim_tasks(
        &self,
        (dag_id, run_id): (&str, &str),
        keys: &[(&str, i32)],
        caps: &[QueueCap<'_>],
        by: Claimant<'_>,
        log_path: impl Fn(&str, i32, i64) -> String,
    ) -> Result<Vec<ClaimedTry>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        match &self.pool {
            Pool::Postgres(p) => {
                // `$5` is now in CLAIMABLE and CLAIM_SET.
                let claim = format!(
                    "WITH picked AS ({PICK} AND {CLAIMABLE} FOR UPDATE SKIP LOCKED) t)
                             UPDATE task_instance SET {CLAIM_SET},
                               job_id = $6, heartbeat_at = $5, hostname = $7
                             WHERE ctid = ANY(ARRAY(SELECT ctid FROM picked))
                             RETURNING task_id, map_index, try_number, started_at,
                               started_at <> $5 AS rechecked"
                );
                let record = format!(
                    "INSERT INTO task_try (dag_id, run_id, task_id, map_index, try_number, state,
                                           started_at, hostname, log_path, job_id)
                     SELECT $1, $2, task_id, map_index, try_number, 'running', $5, $6, log_path, $7
                     FROM UNNEST($3::text[], $4::bigint[], $8::text[], $9::int[])
                       AS c(task_id, try_number, log_path, map_index)
                     {TRY_AGAIN}"
                );
                let mut tx = p.begin_write().await?;
                let keys = within_queue_caps!(tx, caps, keys, PG_QUEUE_LOCK).await?;
                let (ids, indexes) = key_arrays(&keys);
                let claimed: Vec<ClaimedTry> = sqlx::query_as(sqlx::AssertSqlSafe(claim))
                    .bind(dag_id)
                    .bind(run_id)
                    .bind(&ids)
                    .bind(&indexes)
                    .bind(now)
                    .bind(by.job_id)
                    .bind(by.hostname)
                    .fetch_all(&mut *tx)
                    .await?;
                let ids: Vec<&str> = claimed.iter().map(|c| c.task_id.as_str()).collect();
                let indexes: Vec<i32> = claimed.iter().map(|c| c.map_index).collect();
                let tries: Vec<i64> = claimed.iter().map(|c| c.try_number).collect();
                let logs: Vec<String> = claimed
                    .iter()
                    .map(|c| log_path(&c.task_id, c.map_index, c.try_number))
                    .collect();
                sqlx::query(sqlx::AssertSqlSafe(record))
                    .bind(dag_id)
                    .bind(run_id)
                    .bind(&ids)
                    .bind(&tries)
                    .bind(now)
                    .bind(by.hostname)
                    .bind(by.job_id)
                    .bind(&logs)
                    .bind(&indexes)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(claimed)
            }
            Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                let keys = within_queue_caps!(tx, caps, keys, SQLITE_QUEUE_LOCK).await?;
                let mut claimed: Vec<ClaimedTry> = Vec::new();
                for chunk in keys.chunks(400) {
                    // Numbered binds throughout: SQLite would number `?` after `$5`.
                    let pairs: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(${}, ${})", 6 + 2 * i, 7 + 2 * i))
                        .collect();
                    let update = format!(
                        "UPDATE task_instance SET {CLAIM_SET}, job_id = $3, heartbeat_at = $5,
                           hostname = $4
                         WHERE dag_id = $1 AND run_id = $2 AND {CLAIMABLE}
                           AND (task_id, map_index) IN (VALUES {})
                         RETURNING task_id, map_index, try_number, started_at,
                           started_at <> $5 AS rechecked",
                        pairs.join(", ")
                    );
                    let mut update = sqlx::query_as(sqlx::AssertSqlSafe(update))
                        .bind(dag_id)
                        .bind(run_id)
                        .bind(by.job_id)
                        .bind(by.hostname)
                        .bind(now);
                    for (id, index) in chunk {
                        update = update.bind(*id).bind(*index);
                    }
                    let won: Vec<ClaimedTry> = update.fetch_all(&mut *tx).await?;
                    if won.is_empty() {
                        continue;
                    }
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO task_try (dag_id, run_id, task_id, map_index, try_number, state, started_at, hostname, log_path, job_id) ",
                    );
                    insert.push_values(&won, |mut row, c| {
                        row.push_bind(dag_id)
                            .push_bind(run_id)
                            .push_bind(&c.task_id)
                            .push_bind(c.map_index)
                            .push_bind(c.try_number)
                            .push_bind("running")
                            .push_bind(now)
                            .push_bind(by.hostname)
                            .push_bind(log_path(&c.task_id, c.map_index, c.try_number))
                            .push_bind(by.job_id);
                    });
                    insert.push(" ");
                    insert.push(TRY_AGAIN);
                    insert.build().execute(&mut *tx).await?;
                    claimed.extend(won);
                }
                tx.commit().await?;
                Ok(claimed)
            }
        }
    }

    /// Records the process group an attempt started (and when its leader started), on
    /// the attempt's row while this job runs it.
    pub async fn record_attempt_process(
        &self,
        (dag_id, run_id, task_id, map_index): (&str, &str, &str, i32),
        try_number: i64,
        job_id: &str,
        (pgid, start): (u32, Option<&str>),
    ) -> Result<()> {
        let sql = "UPDATE task_try SET process_group = $5, process_start = $6
                   WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
                     AND job_id = $7 AND state = 'running' AND map_index = $8";
        with_pool!(self, p => sqlx::query(sql)
            .bind(dag_id)
            .bind(run_id)
            .bind(task_id)
            .bind(try_number)
            .bind(i64::from(pgid))
            .bind(start)
            .bind(job_id)
            .bind(map_index)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Ends the row of an attempt this job ran but no longer owned when it ended (another
    /// job declared this one dead and moved the task on), unless that job already ended
    /// it: no `task_try` stays `running` once no job runs it.
    pub async fn end_lost_try(&self, job_id: &str, end: &TryEnd, reason: &str) -> Result<()> {
        let sql = "UPDATE task_try SET state = 'failed', ended_at = $5, duration = $6, error = $7
                   WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
                     AND state = 'running' AND job_id = $8 AND map_index = $9";
        with_pool!(self, p => sqlx::query(sql)
            .bind(&end.dag_id)
            .bind(&end.run_id)
            .bind(&end.task_id)
            .bind(end.try_number)
            .bind(end.ended_at)
            .bind(end.duration)
            .bind(reason)
            .bind(job_id)
            .bind(end.map_index)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records the ends of attempts this job runs, on their `task_try` rows and task
    /// instances, in one transaction. For each end: false when the job no longer owns the
    /// attempt (another job declared it dead and failed it); then nothing of it is written.
    pub async fn finish_tries(&self, job_id: &str, ends: &[&TryEnd]) -> Result<Vec<bool>> {
        if ends.is_empty() {
            return Ok(Vec::new());
        }
        let owned = match &self.pool {
            Pool::Postgres(p) => finish_tries_postgres(p, job_id, ends).await?,
            Pool::Sqlite(p) => finish_tries_sqlite(p, job_id, ends).await?,
        };
        let owned: std::collections::HashSet<InstanceRow> = owned.into_iter().collect();
        Ok(ends.iter().map(|e| owned.contains(&e.key())).collect())
    }
}

/// [`Store::finish_tries`] on PostgreSQL: one statement for every end, and the reports of
/// the owned ones, in one transaction.
async fn finish_tries_postgres(
    p: &sqlx::PgPool,
    job_id: &str,
    ends: &[&TryEnd],
) -> std::result::Result<Vec<InstanceRow>, sqlx::Error> {
    // Each end is matched to its row by primary key. `e` is materialized and
    // carries the expected state and job, so that every condition on
    // `task_instance` is a join condition: given a condition of its own, the
    // planner took this job's running attempts for one row and compared each of
    // them with each end. Matching by key (not ctid) keeps an end whose row a
    // heartbeat updates meanwhile.
    let sql = "WITH e AS MATERIALIZED (
                 SELECT *, 'running'::text AS expected_state, $12::text AS expected_job
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[],
                   $5::text[], $6::text[], $7::timestamptz[], $8::float8[], $9::text[],
                   $10::text[], $11::timestamptz[], $13::text[], $14::text[], $15::int[])
                 AS e(dag_id, run_id, task_id, try_number, ti_state, try_state, ended_at,
                      duration, error, metrics, next_try_at, outputs, waiting_for, map_index)),
               owned AS (
                 UPDATE task_instance t SET state = e.ti_state, ended_at = e.ended_at,
                   duration = e.duration, next_try_at = e.next_try_at, job_id = NULL
                 FROM e
                 WHERE t.dag_id = e.dag_id AND t.run_id = e.run_id AND t.task_id = e.task_id
                   AND t.map_index = e.map_index
                   AND t.try_number = e.try_number AND t.state = e.expected_state
                   AND t.job_id = e.expected_job
                 RETURNING t.dag_id, t.run_id, t.task_id, t.map_index, t.try_number, e.try_state,
                   e.ended_at, e.duration, e.error, e.metrics, e.outputs, e.waiting_for)
               UPDATE task_try tt SET state = o.try_state, ended_at = o.ended_at,
                 duration = o.duration, error = o.error, metrics = o.metrics,
                 outputs = o.outputs, waiting_for = COALESCE(o.waiting_for, tt.waiting_for)
               FROM owned o
               WHERE tt.dag_id = o.dag_id AND tt.run_id = o.run_id AND tt.task_id = o.task_id
                 AND tt.map_index = o.map_index AND tt.try_number = o.try_number
               RETURNING tt.dag_id, tt.run_id, tt.task_id, tt.map_index";
    let col = |f: fn(&TryEnd) -> String| ends.iter().map(|e| f(e)).collect::<Vec<_>>();
    let mut tx = p.begin_write().await?;
    let owned: Vec<InstanceRow> = sqlx::query_as(sql)
        .bind(col(|e| e.dag_id.clone()))
        .bind(col(|e| e.run_id.clone()))
        .bind(col(|e| e.task_id.clone()))
        .bind(ends.iter().map(|e| e.try_number).collect::<Vec<_>>())
        .bind(col(|e| e.ti_state.as_str().to_string()))
        .bind(col(|e| e.try_state.as_str().to_string()))
        .bind(ends.iter().map(|e| e.ended().0).collect::<Vec<_>>())
        .bind(ends.iter().map(|e| e.ended().1).collect::<Vec<_>>())
        .bind(ends.iter().map(|e| e.error.clone()).collect::<Vec<_>>())
        .bind(col(|e| e.metrics.to_string()))
        .bind(ends.iter().map(|e| e.next_try_at).collect::<Vec<_>>())
        .bind(job_id)
        .bind(ends.iter().map(|e| e.outputs.clone()).collect::<Vec<_>>())
        .bind(
            ends.iter()
                .map(|e| e.waiting_for.clone())
                .collect::<Vec<_>>(),
        )
        .bind(ends.iter().map(|e| e.map_index).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
    for e in ends.iter().filter(|e| owned.contains(&e.key())) {
        write_reports!(tx, e).await?;
        super::callbacks::write_callbacks!(tx, &e.callbacks).await?;
    }
    tx.commit().await?;
    Ok(owned)
}

/// [`Store::finish_tries`] on SQLite: row by row, in one transaction.
async fn finish_tries_sqlite(
    p: &sqlx::SqlitePool,
    job_id: &str,
    ends: &[&TryEnd],
) -> std::result::Result<Vec<InstanceRow>, sqlx::Error> {
    let ti_sql = "UPDATE task_instance SET state = $5, ended_at = $6, duration = $7,
                    next_try_at = $8, job_id = NULL
                  WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
                    AND state = 'running' AND job_id = $9 AND map_index = $10";
    let try_sql = "UPDATE task_try SET state = $5, ended_at = $6, duration = $7, error = $8,
                     metrics = $9, outputs = $10, waiting_for = COALESCE($11, waiting_for)
                   WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND try_number = $4
                     AND map_index = $12";
    let mut tx = p.begin_write().await?;
    let mut owned = Vec::new();
    for e in ends {
        let done = sqlx::query(ti_sql)
            .bind(&e.dag_id)
            .bind(&e.run_id)
            .bind(&e.task_id)
            .bind(e.try_number)
            .bind(e.ti_state.as_str())
            .bind(e.ended().0)
            .bind(e.ended().1)
            .bind(e.next_try_at)
            .bind(job_id)
            .bind(e.map_index)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 1 {
            sqlx::query(try_sql)
                .bind(&e.dag_id)
                .bind(&e.run_id)
                .bind(&e.task_id)
                .bind(e.try_number)
                .bind(e.try_state.as_str())
                .bind(e.ended().0)
                .bind(e.ended().1)
                .bind(&e.error)
                .bind(e.metrics.to_string())
                .bind(&e.outputs)
                .bind(&e.waiting_for)
                .bind(e.map_index)
                .execute(&mut *tx)
                .await?;
            write_reports!(tx, e).await?;
            super::callbacks::write_callbacks!(tx, &e.callbacks).await?;
            owned.push(e.key());
        }
    }
    tx.commit().await?;
    Ok(owned)
}
