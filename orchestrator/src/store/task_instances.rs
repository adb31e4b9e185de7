//! The `task_instance` and `task_try` tables as one run sees them: its instances and
//! attempts, clearing them to run again, ending what is unfinished.

use super::BeginWrite;
use super::rows::TASK_INSTANCE_SELECT;
use super::runs::push_in_owned;
use super::{Result, Store, StoreError, TaskInstanceRow, TaskState, TaskTryRow};
use chrono::Utc;

/// A task's instance as people name it: `task` or, for a mapped one, `task[3]`.
pub fn instance_name(task_id: &str, map_index: i32) -> String {
    if map_index < 0 {
        task_id.to_string()
    } else {
        format!("{task_id}[{map_index}]")
    }
}

/// Which task instances a listing holds: of one DAG or all, one run or all, one task or
/// all, in some states (`None` is the instances not yet decided).
#[derive(Debug, Clone, Default)]
pub struct TaskInstanceFilter {
    /// Each empty: any.
    pub dag_ids: Vec<String>,
    pub run_ids: Vec<String>,
    pub task_ids: Vec<String>,
    pub states: Vec<TaskState>,
    /// Only the instances of mapped tasks (map index 0 and up).
    pub mapped_only: bool,
}

impl TaskInstanceFilter {
    /// Adds ` WHERE ...` for the filter.
    fn push<DB: sqlx::Database>(&self, query: &mut sqlx::QueryBuilder<DB>)
    where
        &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    {
        query.push(" WHERE 1 = 1");
        push_in_owned(query, "dag_id", &self.dag_ids);
        push_in_owned(query, "run_id", &self.run_ids);
        push_in_owned(query, "task_id", &self.task_ids);
        if self.mapped_only {
            query.push(" AND map_index >= 0");
        }
        if self.states.is_empty() {
            return;
        }
        let stored: Vec<&'static str> = self.states.iter().filter_map(|s| s.stored()).collect();
        query.push(" AND (");
        if !stored.is_empty() {
            query.push("state IN (");
            let mut list = query.separated(", ");
            for state in stored.iter().copied() {
                list.push_bind(state);
            }
            list.push_unseparated(")");
        }
        if self.states.contains(&TaskState::None) {
            query.push(if stored.is_empty() { "" } else { " OR " });
            query.push("state IS NULL");
        }
        query.push(")");
    }
}

impl Store {
    /// A page of the task instances `filter` picks, by DAG, run and task, with how many
    /// match.
    pub async fn task_instance_page(
        &self,
        filter: &TaskInstanceFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TaskInstanceRow>, i64)> {
        with_pool!(self, p => {
            let mut count = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM task_instance");
            filter.push(&mut count);
            let total: i64 = count.build_query_scalar().fetch_one(p).await?;
            let mut page = sqlx::QueryBuilder::new(TASK_INSTANCE_SELECT);
            filter.push(&mut page);
            page.push(" ORDER BY dag_id, run_id, task_id, map_index LIMIT ").push_bind(limit);
            page.push(" OFFSET ").push_bind(offset);
            let rows = page.build_query_as().fetch_all(p).await?;
            Ok((rows, total))
        })
    }

    /// The task instances of a run, in task-id order.
    pub async fn task_instances(&self, dag_id: &str, run_id: &str) -> Result<Vec<TaskInstanceRow>> {
        let sql = format!(
            "{TASK_INSTANCE_SELECT} WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id, map_index"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(dag_id).bind(run_id).fetch_all(p).await?),
        )
    }

    /// The task instances of several runs of a DAG (a page of the grid), in one query.
    pub async fn task_instances_of_runs(
        &self,
        dag_id: &str,
        run_ids: &[&str],
    ) -> Result<Vec<TaskInstanceRow>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(TASK_INSTANCE_SELECT);
            query.push(" WHERE dag_id = ").push_bind(dag_id).push(" AND run_id IN (");
            let mut list = query.separated(", ");
            for run_id in run_ids {
                list.push_bind(*run_id);
            }
            list.push_unseparated(")");
            Ok(query.build_query_as().fetch_all(p).await?)
        })
    }

    /// Attempts of a run (of one task when given), in task then try order.
    pub async fn tries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<TaskTryRow>> {
        let sql =
            "SELECT dag_id, run_id, task_id, map_index, try_number, state, started_at, ended_at,
                          duration, hostname, error, log_path, metrics, job_id, waiting_for
                   FROM task_try WHERE dag_id = $1 AND run_id = $2 AND ($3 IS NULL OR task_id = $3)
                   ORDER BY task_id, map_index, try_number";
        Ok(
            with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).bind(task_id).fetch_all(p).await?),
        )
    }

    /// Resets task instances so the run executes them again (`task clear`): each gets
    /// `retries + 1` more tries, continuing its try numbers; the run goes back to queued,
    /// owned by `owner` when given (so no scheduler picks it up first). Each entry is a
    /// task, one of its instances (a map index) or all of them, and its tries.
    pub async fn clear_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        tasks: &[(&str, Option<i32>, i64)],
        owner: Option<&str>,
    ) -> Result<()> {
        // A running attempt is never cleared under its job: it would run on, and its try
        // would stay `running` after a new try took its place. The condition is in the
        // update itself, so an attempt that starts meanwhile is not cleared either.
        let ti_sql =
            "UPDATE task_instance SET state = NULL, max_tries = try_number + $4, started_at = NULL,
                        next_try_at = NULL, job_id = NULL,
                        ended_at = NULL, duration = NULL,
                        dag_version = (SELECT r.dag_version FROM dag_run r
                                       WHERE r.dag_id = $1 AND r.run_id = $2)
                      WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                        AND ($5 IS NULL OR map_index = $5)
                        AND (state IS NULL OR state <> 'running')";
        // A waiting task's try ends here: the cleared task starts a new one.
        let waiting_sql = "UPDATE task_try SET state = 'failed', ended_at = $4,
                             error = 'cleared while it waited for its condition'
                           WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                             AND ($5 IS NULL OR map_index = $5) AND state = 'up_for_reschedule'";
        // Read once, in the transaction: a clear reaching any running instance is refused.
        let running_sql = "SELECT task_id, map_index FROM task_instance
                           WHERE dag_id = $1 AND run_id = $2 AND state = 'running'";
        let run_sql = "UPDATE dag_run SET state = 'queued', queued_at = $3, started_at = NULL, ended_at = NULL,
                         job_id = $4
                       WHERE dag_id = $1 AND run_id = $2";
        let running: Option<String> = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let running: Vec<(String, i32)> = sqlx::query_as(running_sql).bind(dag_id).bind(run_id)
                .fetch_all(&mut *tx).await?;
            let reached = tasks.iter().find(|(task_id, map_index, _)| {
                running.iter().any(|(id, m)| id == task_id && map_index.is_none_or(|i| i == *m))
            });
            if let Some((task_id, _, _)) = reached {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(Some(task_id.to_string()));
            }
            for (task_id, map_index, tries) in tasks {
                let done = sqlx::query(ti_sql).bind(dag_id).bind(run_id).bind(*task_id).bind(*tries)
                    .bind(*map_index).execute(&mut *tx).await?.rows_affected();
                if done > 0 {
                    sqlx::query(waiting_sql).bind(dag_id).bind(run_id).bind(*task_id).bind(Utc::now())
                        .bind(*map_index).execute(&mut *tx).await?;
                }
            }
            sqlx::query(run_sql).bind(dag_id).bind(run_id).bind(Utc::now()).bind(owner).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(None)
        }.await)?;
        match running {
            Some(task_id) => Err(StoreError::TaskRunning {
                run_id: run_id.to_string(),
                task_id,
            }),
            None => Ok(()),
        }
    }

    /// The process group the latest attempt of a task started, once it is recorded.
    pub async fn attempt_process(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index): (&str, i32),
    ) -> Result<Option<i64>> {
        let sql =
            "SELECT process_group FROM task_try WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                     AND map_index = $4
                   ORDER BY try_number DESC LIMIT 1";
        let found: Option<Option<i64>> = with_pool!(self, p => sqlx::query_scalar(sql)
            .bind(dag_id).bind(run_id).bind(task_id).bind(map_index).fetch_optional(p).await?);
        Ok(found.flatten())
    }

    /// Ends everything of a run that is not finished, as Airflow does when a run is failed
    /// by hand: running attempts fail with `reason`, tasks that never ran are skipped.
    pub async fn fail_unfinished(&self, dag_id: &str, run_id: &str, reason: &str) -> Result<()> {
        let now = Utc::now();
        let tries = "UPDATE task_try SET state = 'failed', ended_at = $3, error = $4
                     WHERE dag_id = $1 AND run_id = $2 AND state IN ('running', 'up_for_reschedule')";
        let running = "UPDATE task_instance SET state = 'failed', ended_at = $3
                       WHERE dag_id = $1 AND run_id = $2 AND state = 'running'";
        let waiting = "UPDATE task_instance SET state = 'skipped', ended_at = $3
                       WHERE dag_id = $1 AND run_id = $2
                         AND (state IS NULL OR state IN ('scheduled', 'queued', 'up_for_retry',
                                                         'up_for_reschedule'))";
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(tries).bind(dag_id).bind(run_id).bind(now).bind(reason).execute(&mut *tx).await?;
            sqlx::query(running).bind(dag_id).bind(run_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(waiting).bind(dag_id).bind(run_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }
}
