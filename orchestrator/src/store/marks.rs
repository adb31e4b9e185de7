//! Setting states by hand (Airflow's "mark success / mark failed"), each in one
//! transaction that first takes the run away from schedulers: a run that is executing
//! is left alone, so a hand never races an attempt.

use super::BeginWrite;
use super::{Result, RunState, Store, TaskState};
use chrono::Utc;

/// Whether a mark took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    Done,
    /// The run is executing (state `running`); nothing changed.
    RunIsRunning,
}

/// States still to come: the instance has not finished.
const UNFINISHED: &str =
    "(state IS NULL OR state IN ('scheduled', 'queued', 'up_for_retry', 'up_for_reschedule'))";

impl Store {
    /// Ends a run that is not executing as `state` (`success` or `failed`): its unfinished
    /// task instances become `success`, or `skipped` when the run is failed (as Airflow).
    pub async fn mark_run(&self, dag_id: &str, run_id: &str, state: RunState) -> Result<Marked> {
        let tasks_to = match state {
            RunState::Failed => TaskState::Skipped,
            _ => TaskState::Success,
        };
        let take = "UPDATE dag_run SET state = $4, ended_at = $3, job_id = NULL
                    WHERE dag_id = $1 AND run_id = $2 AND state <> 'running'";
        let unfinished = format!(
            "UPDATE task_instance SET state = $4, ended_at = $3, next_try_at = NULL
             WHERE dag_id = $1 AND run_id = $2 AND ($5 IS NULL OR task_id = $5)
               AND ($6 IS NULL OR map_index = $6) AND {UNFINISHED}"
        );
        self.take_run_and_mark(
            (dag_id, run_id),
            (take, state.as_str()),
            &unfinished,
            tasks_to,
            &[(None, None)],
        )
        .await
    }

    /// Sets task instances of a run that is not executing to `state` (each entry a task,
    /// and one of its instances or all of them); a finished run goes back to `queued`, so
    /// that a scheduler works out its state again (and runs what the marks let run), as
    /// Airflow re-evaluates a run after a mark.
    pub async fn mark_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        tasks: &[(&str, Option<i32>)],
        state: TaskState,
    ) -> Result<Marked> {
        let take = "UPDATE dag_run SET state = $4, queued_at = $3, started_at = NULL,
                      ended_at = NULL, job_id = NULL
                    WHERE dag_id = $1 AND run_id = $2 AND state <> 'running'";
        let mark =
            "UPDATE task_instance SET state = $4, ended_at = $3, next_try_at = NULL, job_id = NULL
                    WHERE dag_id = $1 AND run_id = $2 AND task_id = $5
                      AND ($6 IS NULL OR map_index = $6)";
        let ids: Vec<(Option<&str>, Option<i32>)> = tasks
            .iter()
            .map(|(id, index)| (Some(*id), *index))
            .collect();
        self.take_run_and_mark(
            (dag_id, run_id),
            (take, RunState::Queued.as_str()),
            mark,
            state,
            &ids,
        )
        .await
    }

    /// In one transaction: `take` moves the run to `run_state` unless it is running
    /// (binds: dag, run, now, state); then `mark` runs once per entry of `task_ids`
    /// (binds: dag, run, now, `task_state`, task id, map index).
    async fn take_run_and_mark(
        &self,
        (dag_id, run_id): (&str, &str),
        (take, run_state): (&str, &str),
        mark: &str,
        task_state: TaskState,
        task_ids: &[(Option<&str>, Option<i32>)],
    ) -> Result<Marked> {
        let now = Utc::now();
        let done = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let taken = sqlx::query(sqlx::AssertSqlSafe(take)).bind(dag_id).bind(run_id).bind(now).bind(run_state)
                .execute(&mut *tx).await?.rows_affected();
            if taken == 0 {
                return Ok::<_, sqlx::Error>(false);
            }
            for (task_id, map_index) in task_ids {
                sqlx::query(sqlx::AssertSqlSafe(mark)).bind(dag_id).bind(run_id).bind(now)
                    .bind(task_state.as_str()).bind(*task_id).bind(*map_index)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await)?;
        Ok(if done {
            Marked::Done
        } else {
            Marked::RunIsRunning
        })
    }
}
