//! Marking by hand, as Airflow's "mark success / mark failed": a whole run, or task
//! instances (with everything downstream of them when asked). A run that is executing
//! is not marked: its attempts would race the hand.

use super::RunsError;
use crate::dag::Dag;
use crate::store::{DagRunRow, Marked, RunState, Store, TaskState};
use std::collections::BTreeSet;

/// The state a mark sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    Success,
    Failed,
}

impl MarkState {
    /// Reads `success` or `failed`; anything else is refused, saying so.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "success" => Ok(MarkState::Success),
            "failed" => Ok(MarkState::Failed),
            _ => Err(format!("state `{name}`: use success or failed")),
        }
    }
}

/// What to mark.
#[derive(Debug)]
pub struct MarkRequest {
    pub run_id: String,
    /// These task instances; None: the run itself.
    pub task_ids: Option<Vec<String>>,
    /// With every task downstream of them.
    pub downstream: bool,
    /// Only this instance of the named tasks that are mapped (downstream tasks whole).
    pub map_index: Option<i32>,
    pub state: MarkState,
}

/// What a mark did: the run as it is now and the task instances marked.
pub struct MarkedRun {
    pub run: DagRunRow,
    pub task_ids: Vec<String>,
}

/// Marks what `request` names in a run of `dag`.
pub async fn mark(store: &Store, dag: &Dag, request: MarkRequest) -> Result<MarkedRun, RunsError> {
    let not_found = || {
        RunsError::NotFound(format!(
            "dag `{}` has no run `{}`",
            dag.dag_id, request.run_id
        ))
    };
    store
        .run(&dag.dag_id, &request.run_id)
        .await?
        .ok_or_else(not_found)?;
    let (marked, task_ids) = match &request.task_ids {
        None => {
            let state = match request.state {
                MarkState::Success => RunState::Success,
                MarkState::Failed => RunState::Failed,
            };
            let marked = store.mark_run(&dag.dag_id, &request.run_id, state).await?;
            (marked, Vec::new())
        }
        Some(picked) => {
            let task_ids = with_downstream(dag, picked, request.downstream)?;
            let state = match request.state {
                MarkState::Success => TaskState::Success,
                MarkState::Failed => TaskState::Failed,
            };
            // The instance named applies to the tasks named, not to those downstream.
            let ids: Vec<(&str, Option<i32>)> = task_ids
                .iter()
                .map(|id| {
                    let named = picked.iter().any(|p| p == id);
                    (id.as_str(), request.map_index.filter(|_| named))
                })
                .collect();
            let marked = store
                .mark_tasks(&dag.dag_id, &request.run_id, &ids, state)
                .await?;
            (marked, task_ids)
        }
    };
    if marked == Marked::RunIsRunning {
        return Err(RunsError::Conflict(format!(
            "run `{}` of dag `{}` is running; mark it once it has finished",
            request.run_id, dag.dag_id
        )));
    }
    let run = store
        .run(&dag.dag_id, &request.run_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(MarkedRun { run, task_ids })
}

/// The named tasks (each must exist), with their downstream tasks when asked, sorted.
fn with_downstream(
    dag: &Dag,
    picked: &[String],
    downstream: bool,
) -> Result<Vec<String>, RunsError> {
    if picked.is_empty() {
        return Err(RunsError::Invalid {
            field: "task_ids",
            message: "name at least one task".into(),
        });
    }
    let mut ids = BTreeSet::new();
    for task_id in picked {
        if dag.task(task_id).is_none() {
            return Err(RunsError::NotFound(format!(
                "dag `{}` has no task `{task_id}`",
                dag.dag_id
            )));
        }
        if downstream {
            dag.with_downstream(task_id, &mut ids);
        } else {
            ids.insert(task_id.clone());
        }
    }
    Ok(ids.into_iter().collect())
}
