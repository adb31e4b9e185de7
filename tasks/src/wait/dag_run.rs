//! `for: dag_run`: another DAG's run — or one task of it — for a logical date (default
//! this run's) reached one of `states` (default `[success]`); one of `failed_states`
//! fails the task at once (Airflow's ExternalTaskSensor).

use super::Check;
use crate::trigger_dag::parse_date;
use crate::{TaskContext, TaskError, TaskOutcome};
use serde::Deserialize;
use updraft_core::dag_runs::RunAt;
use updraft_core::{RunState, TaskState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DagRunCondition {
    dag_id: String,
    task_id: Option<String>,
    /// ISO 8601; default: this run's logical date.
    logical_date: Option<String>,
    #[serde(default = "success")]
    states: Vec<String>,
    #[serde(default)]
    failed_states: Vec<String>,
}

fn success() -> Vec<String> {
    vec!["success".into()]
}

impl DagRunCondition {
    /// Checks that the states are states of what is watched (a run's, or a task's).
    pub(crate) fn validate(&self) -> Result<(), TaskError> {
        for state in self.states.iter().chain(&self.failed_states) {
            let known = match self.task_id {
                Some(_) => state.parse::<TaskState>().is_ok(),
                None => state.parse::<RunState>().is_ok(),
            };
            if !known {
                let of = if self.task_id.is_some() {
                    "task"
                } else {
                    "run"
                };
                return Err(TaskError::Config(format!(
                    "`{state}` is not a {of} state (a run is queued, running, success or failed; \
                     a task also up_for_retry, skipped, upstream_failed...)"
                )));
            }
        }
        if self.states.is_empty() {
            return Err(TaskError::Config("`states` is empty".into()));
        }
        Ok(())
    }

    pub(crate) async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        self.validate()?;
        let Some(dag_runs) = &ctx.dag_runs else {
            return Err(TaskError::Config(
                "`for: dag_run` reads the history: it runs only in a recorded run, not in `task test`".into(),
            ));
        };
        let at = match &self.logical_date {
            Some(text) => RunAt::LogicalDate(parse_date(text)?),
            None => RunAt::SameLogicalDate,
        };
        let what = match &self.task_id {
            Some(task) => format!("task `{task}` of `{}`", self.dag_id),
            None => format!("`{}`", self.dag_id),
        };
        let wanted = format!("the run of {what} to be {}", self.states.join(" or "));
        let seen = dag_runs
            .run(&self.dag_id, at, self.task_id.as_deref())
            .await?;
        let Some(run) = seen else {
            return Ok(Check::NotYet(format!("{wanted} (no run yet)"), None));
        };
        let state = match &self.task_id {
            Some(_) => run.task_state.map_or("none", TaskState::as_str),
            None => run.state.as_str(),
        };
        ctx.log
            .line(format!("run {} of {what}: {state}", run.run_id));
        if self.failed_states.iter().any(|s| s == state) {
            return Err(TaskError::Fatal(format!(
                "run {} of {what} is {state}, one of failed_states",
                run.run_id
            )));
        }
        if self.states.iter().any(|s| s == state) {
            return Ok(Check::Met(
                TaskOutcome::default()
                    .with_output("run_id", run.run_id)
                    .with_output("state", state),
            ));
        }
        Ok(Check::NotYet(
            format!("{wanted} (run {} is {state})", run.run_id),
            None,
        ))
    }
}
