//! Clearing tasks of a run so that they run again, with everything downstream of them
//! (as Airflow's clear): their tries go on numbering, and the run is worked again — with
//! the DAG version it had, or re-planned on the newest (new tasks get instances, tasks
//! gone become `removed`, changed ones run with their new definition).

use super::RunsError;
use crate::dag::Dag;
use crate::dag::Seen;
use crate::engine::{Job, JobType};
use crate::settings::Settings;
use crate::store::{DagRunRow, Store, TaskInstanceRow, TaskState};
use crate::versions::{self, DagVersions, VersionError};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The tasks of a run to clear.
#[derive(Debug)]
pub struct ClearRequest {
    pub run_id: String,
    /// The tasks to start from (their downstream tasks are cleared with them).
    pub tasks: TaskPick,
    /// Only tasks that failed or whose upstream failed (of a mapped task: only its
    /// instances that did).
    pub only_failed: bool,
    /// Only this instance of the picked tasks that are mapped (their downstream tasks
    /// are cleared whole).
    pub map_index: Option<i32>,
    /// Say what would be cleared, change nothing.
    pub dry_run: bool,
    /// Work the run again in this process (a `trigger` job), instead of leaving it to a
    /// scheduler.
    pub execute_here: bool,
    /// Re-plan the run on the DAG's newest version (Airflow's `run_on_latest_version`)
    /// instead of keeping the version it ran with.
    pub latest_version: bool,
    /// Only run the tasks the newest version added, clearing none that ran (Airflow's
    /// `only_new`; implies `latest_version`).
    pub only_new: bool,
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
    /// The DAG version the run is worked with from now on.
    pub dag: Arc<Dag>,
    /// The tasks cleared (or that would be, on a dry run), downstream ones included; an
    /// instance of a mapped task cleared alone as `task[3]`.
    pub task_ids: Vec<String>,
    /// The job working the run again here.
    pub job: Option<Arc<Job>>,
}

/// Clears the tasks `request` picks in a run of `current` (the DAG as its folder holds
/// it), on the run's version or the newest.
pub async fn clear(
    store: &Store,
    settings: &Settings,
    current: &Arc<Dag>,
    request: ClearRequest,
) -> Result<Cleared, RunsError> {
    let dag_id = current.dag_id.as_str();
    let run = store.run(dag_id, &request.run_id).await?.ok_or_else(|| {
        RunsError::NotFound(format!("dag `{dag_id}` has no run `{}`", request.run_id))
    })?;
    let versions = DagVersions::new(&settings.home);
    versions::record(store, current, Seen::First).await?;
    let (newest, dag) = if request.latest_version || request.only_new {
        let (number, dag) = newest_dag(store, &versions, current).await?;
        (Some(number), dag)
    } else {
        (None, run_dag(store, &versions, current, &run).await?)
    };
    if let TaskPick::Ids(ids) = &request.tasks
        && let Some(unknown) = ids.iter().find(|id| dag.task(id).is_none())
    {
        return Err(RunsError::Invalid {
            field: "task_ids",
            message: format!("dag `{dag_id}` has no task `{unknown}`"),
        });
    }
    let mut instances = store.task_instances(dag_id, &request.run_id).await?;
    let planned: BTreeSet<String> = instances.iter().map(|i| i.task_id.clone()).collect();
    if let Some(number) = newest
        && !request.dry_run
    {
        replan(store, (&dag, number), &run, &instances).await?;
        instances = store.task_instances(dag_id, &request.run_id).await?;
    }
    let picked: Vec<(String, Option<i32>)> = if request.only_new {
        dag.topo_order
            .iter()
            .filter(|id| !planned.contains(*id))
            .map(|id| (id.clone(), None))
            .collect()
    } else {
        to_clear(&dag, &instances, &request)
    };
    let task_ids: Vec<String> = picked
        .iter()
        .map(|(id, index)| crate::store::instance_name(id, index.unwrap_or(-1)))
        .collect();
    // As the run is now (a re-plan moved it to another version).
    let run = store.run(dag_id, &request.run_id).await?.unwrap_or(run);
    if task_ids.is_empty() || request.dry_run {
        return Ok(Cleared {
            run,
            dag,
            task_ids,
            job: None,
        });
    }
    let resets: Vec<(&str, Option<i32>, i64)> = picked
        .iter()
        .map(|(id, index)| {
            let tries = dag
                .tasks
                .get(id)
                .map_or(1, |t| i64::from(t.retry.retries) + 1);
            (id.as_str(), *index, tries)
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
        .clear_tasks(dag_id, &request.run_id, &resets, job_id)
        .await
    {
        if let Some(job) = job {
            job.stop().await;
        }
        return Err(e.into());
    }
    Ok(Cleared {
        run,
        dag,
        task_ids,
        job,
    })
}

/// The DAG version a run is worked with (the folder's DAG for a run not started yet).
pub(super) async fn run_dag(
    store: &Store,
    versions: &DagVersions,
    current: &Arc<Dag>,
    run: &DagRunRow,
) -> Result<Arc<Dag>, RunsError> {
    match run.dag_version {
        Some(number) => Ok(versions
            .resolve(store, &run.dag_id, number, Some(current))
            .await
            .map_err(version_error)?
            .dag
            .clone()),
        None => Ok(current.clone()),
    }
}

/// The DAG's newest version and its number (the folder's recorded first, if it is new).
pub(super) async fn newest_dag(
    store: &Store,
    versions: &DagVersions,
    current: &Arc<Dag>,
) -> Result<(i64, Arc<Dag>), RunsError> {
    versions::record(store, current, Seen::First).await?;
    let newest = store
        .newest_version(&current.dag_id)
        .await?
        .ok_or_else(|| RunsError::NotFound(format!("dag `{}` has no version", current.dag_id)))?;
    let resolved = versions
        .resolve(store, &current.dag_id, newest, Some(current))
        .await
        .map_err(version_error)?;
    Ok((newest, resolved.dag.clone()))
}

/// Moves a run onto `dag`, version `number` (the newest): instances for its new tasks, `removed`
/// for those of tasks it no longer has, each kept one in the queue the version gives it. A
/// running instance is left to its job (the clear of it is refused).
pub(super) async fn replan(
    store: &Store,
    (dag, number): (&Dag, i64),
    run: &DagRunRow,
    instances: &[TaskInstanceRow],
) -> Result<(), RunsError> {
    let known: BTreeSet<&str> = instances.iter().map(|i| i.task_id.as_str()).collect();
    let added: Vec<crate::dag::TaskRow> = dag
        .task_rows()
        .into_iter()
        .filter(|t| !known.contains(t.task_id))
        .collect();
    let gone: Vec<&str> = instances
        .iter()
        .filter(|i| dag.task(&i.task_id).is_none())
        .map(|i| i.task_id.as_str())
        .collect();
    let requeued: Vec<(&str, &str)> = instances
        .iter()
        .filter_map(|i| {
            let task = dag.task(&i.task_id)?;
            (task.queue != i.queue).then_some((i.task_id.as_str(), task.queue.as_str()))
        })
        .collect();
    store.repin_run(&run.dag_id, &run.run_id, number).await?;
    store
        .plan_instances(
            (&run.dag_id, &run.run_id),
            Some(number),
            (&added, &requeued),
            (&gone, true),
        )
        .await?;
    Ok(())
}

fn version_error(e: VersionError) -> RunsError {
    match e {
        VersionError::Store(e) => e.into(),
        other => RunsError::Failed(other.into()),
    }
}

/// The picked tasks and everything downstream of them, sorted: each a whole task, or one
/// instance of a mapped task (when the request names an index, or only the failed ones).
fn to_clear(
    dag: &Dag,
    instances: &[TaskInstanceRow],
    request: &ClearRequest,
) -> Vec<(String, Option<i32>)> {
    let picked: Vec<&TaskInstanceRow> = instances
        .iter()
        .filter(|ti| dag.task(&ti.task_id).is_some())
        .filter(|ti| request.tasks.picks(&ti.task_id))
        .filter(|ti| request.map_index.is_none_or(|m| ti.map_index == m))
        .filter(|ti| {
            !request.only_failed
                || matches!(ti.state, TaskState::Failed | TaskState::UpstreamFailed)
        })
        .collect();
    let mut whole = BTreeSet::new();
    let mut alone = BTreeSet::new();
    for ti in &picked {
        let one_instance =
            ti.map_index >= 0 && (request.map_index.is_some() || request.only_failed);
        if one_instance {
            alone.insert((ti.task_id.clone(), ti.map_index));
            if let Some(task) = dag.task(&ti.task_id) {
                for down in &task.downstream {
                    dag.with_downstream(down, &mut whole);
                }
            }
        } else {
            dag.with_downstream(&ti.task_id, &mut whole);
        }
    }
    let alone: Vec<(String, Option<i32>)> = alone
        .into_iter()
        .filter(|(id, _)| !whole.contains(id))
        .map(|(id, m)| (id, Some(m)))
        .collect();
    whole
        .into_iter()
        .map(|id| (id, None))
        .chain(alone)
        .collect()
}
