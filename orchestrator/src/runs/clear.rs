//! Clearing tasks of a run so that they run again, with everything downstream of them
//! (as Airflow's clear): their tries go on numbering, and the run is worked again.

use super::RunsError;
use crate::dag::Dag;
use crate::engine::{Job, JobType};
use crate::settings::Settings;
use crate::store::{DagRunRow, Store, TaskInstanceRow, TaskState};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The tasks of a run to clear.
#[derive(Debug)]
pub struct ClearRequest {
    pub run_id: String,
    /// The tasks to start from (their downstream tasks are cleared with them).
    pub tasks: TaskPick,
    /// Only tasks that failed or whose upstream failed.
    pub only_failed: bool,
    /// Say what would be cleared, change nothing.
    pub dry_run: bool,
    /// Work the run again in this process (a `trigger` job), instead of leaving it to a
    /// scheduler.
    pub execute_here: bool,
}

/// Which tasks of a run a clear starts from.
#[derive(Debug)]
pub enum TaskPick {
    /// Every task.
    All,
    /// Tasks whose id matches (`task clear --task REGEX`).
    Matching(regex::Regex),
    /// These tasks (the API's `task_ids`); each must be a task of the DAG.
    Ids(Vec<String>),
}

impl TaskPick {
    fn picks(&self, task_id: &str) -> bool {
        match self {
            TaskPick::All => true,
            TaskPick::Matching(pattern) => pattern.is_match(task_id),
            TaskPick::Ids(ids) => ids.iter().any(|id| id == task_id),
        }
    }
}

/// What a clear did.
pub struct Cleared {
    pub run: DagRunRow,
    /// The tasks cleared (or that would be, on a dry run), downstream ones included.
    pub task_ids: Vec<String>,
    /// The job working the run again here.
    pub job: Option<Arc<Job>>,
}

/// Clears the tasks `request` picks in a run of `dag`.
pub async fn clear(
    store: &Store,
    settings: &Settings,
    dag: &Dag,
    request: ClearRequest,
) -> Result<Cleared, RunsError> {
    if let TaskPick::Ids(ids) = &request.tasks
        && let Some(unknown) = ids.iter().find(|id| dag.task(id).is_none())
    {
        return Err(RunsError::Invalid {
            field: "task_ids",
            message: format!("dag `{}` has no task `{unknown}`", dag.dag_id),
        });
    }
    let run = store
        .run(&dag.dag_id, &request.run_id)
        .await?
        .ok_or_else(|| {
            RunsError::NotFound(format!(
                "dag `{}` has no run `{}`",
                dag.dag_id, request.run_id
            ))
        })?;
    let instances = store.task_instances(&dag.dag_id, &request.run_id).await?;
    let task_ids = to_clear(dag, &instances, &request);
    if task_ids.is_empty() || request.dry_run {
        return Ok(Cleared {
            run,
            task_ids,
            job: None,
        });
    }
    let resets: Vec<(&str, i64)> = task_ids
        .iter()
        .map(|id| {
            let tries = dag
                .tasks
                .get(id)
                .map_or(1, |t| i64::from(t.retry.retries) + 1);
            (id.as_str(), tries)
        })
        .collect();
    let job = if request.execute_here {
        Some(
            Job::start(store.clone(), JobType::Trigger, settings)
                .await
                .map_err(RunsError::Failed)?,
        )
    } else {
        None
    };
    let job_id = job.as_ref().map(|j| j.id.as_str());
    if let Err(e) = store
        .clear_tasks(&dag.dag_id, &request.run_id, &resets, job_id)
        .await
    {
        if let Some(job) = job {
            job.stop().await;
        }
        return Err(e.into());
    }
    Ok(Cleared { run, task_ids, job })
}

/// The picked tasks and everything downstream of them, sorted.
fn to_clear(dag: &Dag, instances: &[TaskInstanceRow], request: &ClearRequest) -> Vec<String> {
    let picked = instances
        .iter()
        .filter(|ti| request.tasks.picks(&ti.task_id))
        .filter(|ti| {
            !request.only_failed
                || matches!(
                    TaskState::parse(ti.state.as_deref()),
                    TaskState::Failed | TaskState::UpstreamFailed
                )
        });
    let mut cleared = BTreeSet::new();
    for ti in picked {
        dag.with_downstream(&ti.task_id, &mut cleared);
    }
    cleared.into_iter().collect()
}
