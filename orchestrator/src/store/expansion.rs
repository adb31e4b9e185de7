//! Fan-out (`for_each`): when a mapped task is about to run, its list becomes one
//! instance per item (map index 0, 1, …), scheduled, in one transaction that finds the
//! task still undecided — so two schedulers sharing a run expand it once. The
//! placeholder instance (-1) goes: deleted when it never ran, else `removed` (it ran
//! unmapped on an earlier version). Instances left over from a longer list of an earlier
//! expansion (a clear) become `removed`. An empty list skips the task; a list that cannot
//! be used fails it with a try that says why.

use super::BeginWrite;
use super::{Pool, Result, Store};
use crate::dag::TaskRow;
use chrono::Utc;

/// What a mapped task's list gave.
#[derive(Debug, Clone, Copy)]
pub enum Expansion<'a> {
    /// One instance per item (JSON texts, in order); none: the task is skipped.
    Items(&'a [String]),
    /// The list could not be used (not a list, too long): the task fails with this, and
    /// its `on_failure` messages are recorded with the failure.
    Failed(&'a str, &'a [crate::alerts::NewCallback]),
}

/// The task's undecided instances, locked on PostgreSQL (SQLite's writer lock is held).
const UNDECIDED: &str = "SELECT map_index, try_number FROM task_instance
    WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND state IS NULL";

/// A placeholder that never ran goes; one that ran (on an earlier version) stays as
/// `removed`, with its tries.
const DROP_PLACEHOLDER: &str = "DELETE FROM task_instance
    WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = -1
      AND state IS NULL AND try_number = 0";
const REMOVE_PLACEHOLDER: &str = "UPDATE task_instance SET state = 'removed', ended_at = $4
    WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = -1 AND state IS NULL";
const REMOVE_UNDECIDED_FROM: &str = "UPDATE task_instance SET state = 'removed', ended_at = $5
    WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND state IS NULL AND map_index >= $4";

/// The placeholder as the task's one instance, ended in `$5` (skipped or failed) at `$6`;
/// `$7` adds a try (a failure's).
const END_AS_ONE: &str = "INSERT INTO task_instance (dag_id, run_id, task_id, map_index,
      task_type, state, try_number, max_tries, queue, started_at, ended_at, dag_version)
    VALUES ($1, $2, $3, -1, $4, $5, $7, $8, $9, $6, $6,
      (SELECT dag_version FROM dag_run WHERE dag_id = $1 AND run_id = $2))
    ON CONFLICT (dag_id, run_id, task_id, map_index) DO UPDATE SET state = excluded.state,
      try_number = task_instance.try_number + $7, started_at = excluded.started_at,
      ended_at = excluded.ended_at, next_try_at = NULL
    RETURNING try_number";
const FAILED_TRY: &str = "INSERT INTO task_try (dag_id, run_id, task_id, map_index,
      try_number, state, started_at, ended_at, duration, error)
    VALUES ($1, $2, $3, -1, $4, 'failed', $5, $5, 0, $6)";

/// An instance per element of the JSON array `$8`, in order; an instance a clear left
/// undecided is scheduled again, its tries kept (PostgreSQL).
const PG_INSERT_INSTANCES: &str = "INSERT INTO task_instance (dag_id, run_id, task_id,
      map_index, map_item, task_type, state, try_number, max_tries, queue, dag_version)
    SELECT $1, $2, $3, (e.ord - 1)::int, e.value::text, $4, 'scheduled', 0, $5, $6, $7
    FROM json_array_elements($8::json) WITH ORDINALITY AS e(value, ord)
    ON CONFLICT (dag_id, run_id, task_id, map_index) DO UPDATE SET
      state = 'scheduled', map_item = excluded.map_item, ended_at = NULL
    WHERE task_instance.state IS NULL";

impl Store {
    /// Expands mapped task `task` of a run as `expansion` says, if it is still undecided;
    /// false when another job decided it first (nothing changed).
    pub async fn expand_task(
        &self,
        (dag_id, run_id): (&str, &str),
        task: &TaskRow<'_>,
        expansion: Expansion<'_>,
    ) -> Result<bool> {
        let lock = match self.pool {
            Pool::Postgres(_) => " FOR UPDATE",
            Pool::Sqlite(_) => "",
        };
        let undecided = format!("{UNDECIDED}{lock}");
        let postgres = matches!(self.pool, Pool::Postgres(_));
        let now = Utc::now();
        Ok(with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let rows: Vec<(i32, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(undecided.as_str()))
                .bind(dag_id).bind(run_id).bind(task.task_id)
                .fetch_all(&mut *tx).await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok::<bool, sqlx::Error>(false);
            }
            let items = match expansion {
                Expansion::Items(items) => items,
                Expansion::Failed(..) => &[],
            };
            let count = i32::try_from(items.len()).unwrap_or(i32::MAX);
            sqlx::query(REMOVE_UNDECIDED_FROM).bind(dag_id).bind(run_id).bind(task.task_id)
                .bind(count.max(0)).bind(now).execute(&mut *tx).await?;
            if let Expansion::Failed(why, callbacks) = expansion {
                let try_number: i64 = sqlx::query_scalar(END_AS_ONE).bind(dag_id).bind(run_id)
                    .bind(task.task_id).bind(task.task_type).bind("failed").bind(now)
                    .bind(1i64).bind(task.max_tries).bind(task.queue)
                    .fetch_one(&mut *tx).await?;
                sqlx::query(FAILED_TRY).bind(dag_id).bind(run_id).bind(task.task_id)
                    .bind(try_number).bind(now).bind(why).execute(&mut *tx).await?;
                super::callbacks::write_callbacks!(tx, callbacks).await?;
            } else if items.is_empty() {
                sqlx::query(END_AS_ONE).bind(dag_id).bind(run_id).bind(task.task_id)
                    .bind(task.task_type).bind("skipped").bind(now).bind(0i64)
                    .bind(task.max_tries).bind(task.queue).fetch_one(&mut *tx).await?;
            } else {
                sqlx::query(DROP_PLACEHOLDER).bind(dag_id).bind(run_id).bind(task.task_id)
                    .execute(&mut *tx).await?;
                sqlx::query(REMOVE_PLACEHOLDER).bind(dag_id).bind(run_id).bind(task.task_id)
                    .bind(now).execute(&mut *tx).await?;
                let version: Option<i64> = sqlx::query_scalar(
                    "SELECT dag_version FROM dag_run WHERE dag_id = $1 AND run_id = $2",
                )
                .bind(dag_id).bind(run_id).fetch_one(&mut *tx).await?;
                if postgres {
                    // One statement over the list as JSON: 10,000 instances at once.
                    sqlx::query(PG_INSERT_INSTANCES)
                        .bind(dag_id).bind(run_id).bind(task.task_id).bind(task.task_type)
                        .bind(task.max_tries).bind(task.queue).bind(version)
                        .bind(format!("[{}]", items.join(",")))
                        .execute(&mut *tx).await?;
                    tx.commit().await?;
                    return Ok(true);
                }
                let indexed: Vec<(i32, &String)> = (0..count).zip(items.iter()).collect();
                // Multi-row inserts: 10,000 instances in a few round trips.
                for chunk in indexed.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO task_instance (dag_id, run_id, task_id, map_index, map_item,
                           task_type, state, try_number, max_tries, queue, dag_version) ",
                    );
                    insert.push_values(chunk, |mut row, (index, item)| {
                        row.push_bind(dag_id)
                            .push_bind(run_id)
                            .push_bind(task.task_id)
                            .push_bind(*index)
                            .push_bind(item.as_str())
                            .push_bind(task.task_type)
                            .push_bind("scheduled")
                            .push_bind(0i64)
                            .push_bind(task.max_tries)
                            .push_bind(task.queue)
                            .push_bind(version);
                    });
                    // An instance a clear left undecided is scheduled again, its tries kept.
                    insert.push(
                        " ON CONFLICT (dag_id, run_id, task_id, map_index) DO UPDATE SET
                           state = 'scheduled', map_item = excluded.map_item, ended_at = NULL
                         WHERE task_instance.state IS NULL",
                    );
                    insert.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(true)
        }.await?))
    }
}
