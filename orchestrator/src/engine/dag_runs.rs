//! The history's side of updraft_core::dag_runs: an attempt creates a run of another DAG
//! (`trigger_dag`), recording itself as the run's `triggered_by`, so that a retry of the
//! same task — on this scheduler or another, after a crash — finds that run instead of
//! creating a second; and it looks at runs (`wait`, the `dag_run` and `delta` sensors).

use crate::dag::DagFolder;
use crate::runs::{self, ClearRequest, RunsError, TaskPick, TriggerRequest};
use crate::settings::Settings;
use crate::store::Store;
use chrono::{DateTime, SubsecRound, Utc};
use futures::future::BoxFuture;
use std::sync::Arc;
use updraft_core::TaskError;
use updraft_core::dag_runs::{DagRuns, RunAt, RunCreated, RunRequest, RunSeen};

/// Runs created and looked at by one task instance of one run.
pub(super) struct TriggeredRuns {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The task asking: `(dag_id, run_id, task_id)`.
    pub parent: (String, String, String),
    /// Its run's logical date, the default of the run it creates.
    pub logical_date: DateTime<Utc>,
}

impl DagRuns for TriggeredRuns {
    fn trigger(&self, request: RunRequest) -> BoxFuture<'_, Result<RunCreated, TaskError>> {
        Box::pin(self.create(request))
    }

    fn run<'a>(
        &'a self,
        dag_id: &'a str,
        at: RunAt,
        task_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<RunSeen>, TaskError>> {
        Box::pin(async move {
            let key = match &at {
                RunAt::Id(run_id) => (Some(run_id.as_str()), None),
                RunAt::LogicalDate(date) => (None, Some(date.trunc_subsecs(6))),
                RunAt::SameLogicalDate => (None, Some(self.logical_date.trunc_subsecs(6))),
            };
            let seen = self
                .store
                .run_seen(dag_id, key, task_id)
                .await
                .map_err(|e| TaskError::Retryable(e.to_string()))?;
            Ok(seen.map(|(run_id, state, task_state)| RunSeen {
                run_id,
                state,
                task_state,
            }))
        })
    }

    fn previous_outputs(&self) -> BoxFuture<'_, Result<Option<serde_json::Value>, TaskError>> {
        Box::pin(async move {
            let (dag_id, _, task_id) = &self.parent;
            let found = self
                .store
                .previous_outputs(dag_id, task_id, self.logical_date)
                .await
                .map_err(|e| TaskError::Retryable(e.to_string()))?;
            Ok(found.map(serde_json::Value::Object))
        })
    }
}

impl TriggeredRuns {
    async fn create(&self, request: RunRequest) -> Result<RunCreated, TaskError> {
        let logical = request
            .logical_date
            .unwrap_or(self.logical_date)
            .trunc_subsecs(6);
        let run_id = request
            .run_id
            .clone()
            .unwrap_or_else(|| runs::manual_run_id(logical));
        let dag_id = &request.dag_id;
        let created = |created, reset| RunCreated {
            dag_id: dag_id.clone(),
            run_id: run_id.clone(),
            logical_date: logical,
            created,
            reset,
        };
        let (parent_dag, parent_run, parent_task) = &self.parent;
        let by = crate::store::triggered_by(parent_dag, parent_run, parent_task);
        let store_error = |e: crate::store::StoreError| TaskError::Retryable(e.to_string());
        let existing = self
            .store
            .run_triggered_by(dag_id, &run_id)
            .await
            .map_err(store_error)?;
        if let Some(creator) = existing {
            let ours = request.again || creator.is_some_and(|b| b == by);
            if request.reset && !request.again {
                self.clear(dag_id, &run_id).await?;
                return Ok(created(false, true));
            }
            if ours {
                return Ok(created(false, false));
            }
            return Err(TaskError::Fatal(format!(
                "run `{run_id}` of `{dag_id}` exists and this task did not create it: give \
                 `reset: true` to clear it and run it again, or another `run_id`"
            )));
        }
        let dag = self.dag(dag_id)?;
        let trigger = TriggerRequest {
            conf: Some(request.conf),
            run_id: Some(run_id.clone()),
            logical_date: Some(logical),
            execute_here: false,
            note: None,
            triggered_by: Some(by),
        };
        runs::trigger(&self.store, &self.settings, &dag, trigger)
            .await
            .map_err(task_error)?;
        Ok(created(true, false))
    }

    /// The DAG `dag_id` as the folder holds it now.
    fn dag(&self, dag_id: &str) -> Result<crate::dag::Dag, TaskError> {
        let folder = DagFolder::load(&self.settings.dags_folder).map_err(|e| {
            TaskError::Retryable(format!(
                "cannot read {}: {e}",
                self.settings.dags_folder.display()
            ))
        })?;
        folder
            .dags
            .into_iter()
            .find(|d| d.dag_id == dag_id)
            .ok_or_else(|| {
                TaskError::Fatal(format!(
                    "no valid DAG `{dag_id}` in {}",
                    self.settings.dags_folder.display()
                ))
            })
    }

    /// Clears every task of an existing run, for a scheduler to run it again.
    async fn clear(&self, dag_id: &str, run_id: &str) -> Result<(), TaskError> {
        let dag = Arc::new(self.dag(dag_id)?);
        let request = ClearRequest {
            run_id: run_id.to_string(),
            tasks: TaskPick::All,
            only_failed: false,
            map_index: None,
            dry_run: false,
            execute_here: false,
            latest_version: false,
            only_new: false,
        };
        runs::clear(&self.store, &self.settings, &dag, request)
            .await
            .map(|_| ())
            .map_err(task_error)
    }
}

/// A failure of the history is worth a retry; a refused request is not.
fn task_error(e: RunsError) -> TaskError {
    match e {
        RunsError::Store(e) => TaskError::Retryable(e.to_string()),
        RunsError::Failed(e) => TaskError::Retryable(format!("{e:#}")),
        refused => TaskError::Fatal(refused.to_string()),
    }
}
