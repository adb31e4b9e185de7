//! One attempt of one task: record its start, render its config, run it under its
//! execution timeout, write its log, and record how it ended.

use super::RunEvent;
use crate::dag::Task;
use crate::settings::Settings;
use crate::store::{Store, TaskKey, TaskState, TryEnd};
use crate::template::{RunVars, render_config};
use anyhow::Result;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use updraft_tasks::{TaskContext, TaskError, TaskLog, TaskOutcome};

/// Everything one attempt needs, owned so it can run on its own tokio task.
pub(super) struct Attempt {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub hostname: Arc<str>,
    pub events: Option<UnboundedSender<RunEvent>>,
    pub task: Task,
    pub vars: Arc<RunVars>,
    pub try_number: u32,
    pub max_tries: u32,
    /// Fires on shutdown; the attempt stops its task from a child of it.
    pub shutdown: CancellationToken,
}

/// How an attempt left its task instance.
pub(super) struct AttemptEnd {
    pub task_id: String,
    pub state: TaskState,
}

impl Attempt {
    pub async fn run(self) -> Result<AttemptEnd> {
        let key = TaskKey {
            dag_id: &self.vars.dag_id,
            run_id: &self.vars.run_id,
            task_id: &self.task.task_id,
        };
        let try_number = i64::from(self.try_number);
        let log_path = self
            .settings
            .log_path(key.dag_id, key.run_id, key.task_id, try_number);
        self.store
            .start_try(
                key,
                try_number,
                &self.hostname,
                &log_path.display().to_string(),
            )
            .await?;
        self.emit(RunEvent::TaskStarted {
            task_id: self.task.task_id.clone(),
            try_number: self.try_number,
        });
        let started = Instant::now();
        let result = match TaskLog::open(&log_path) {
            Ok(log) => self.execute(log).await,
            Err(e) => Err(TaskError::Retryable(format!(
                "cannot open log file {}: {e}",
                log_path.display()
            ))),
        };
        let seconds = started.elapsed().as_secs_f64();
        let (state, error, metrics) = match &result {
            Ok(outcome) if outcome.skipped => (TaskState::Skipped, None, outcome.metrics.clone()),
            Ok(outcome) => (TaskState::Success, None, outcome.metrics.clone()),
            Err(e) => {
                let state = if e.is_retryable() && self.try_number < self.max_tries {
                    TaskState::UpForRetry
                } else {
                    TaskState::Failed
                };
                (state, Some(e.to_string()), Default::default())
            }
        };
        let try_state = if state == TaskState::UpForRetry {
            TaskState::Failed
        } else {
            state
        };
        let metrics = serde_json::Value::Object(metrics);
        self.store
            .finish_try(
                key,
                try_number,
                &TryEnd {
                    ti_state: state,
                    try_state,
                    ended_at: chrono::Utc::now(),
                    duration: seconds,
                    error: error.as_deref(),
                    metrics: &metrics,
                },
            )
            .await?;
        self.emit(RunEvent::TaskFinished {
            task_id: self.task.task_id.clone(),
            try_number: self.try_number,
            state,
            seconds,
            error,
        });
        Ok(AttemptEnd {
            task_id: self.task.task_id.clone(),
            state,
        })
    }

    /// Renders and runs the task, logging the attempt's beginning and end.
    async fn execute(&self, log: TaskLog) -> Result<TaskOutcome, TaskError> {
        let task = &self.task;
        log.line(format!(
            "attempt {} of {} of task `{}` ({}) in run `{}` on {}",
            self.try_number,
            self.max_tries,
            task.task_id,
            task.task_type,
            self.vars.run_id,
            self.hostname
        ));
        let result = self.render_and_run(&log).await;
        match &result {
            Ok(o) if o.skipped => log.line("task skipped"),
            Ok(_) => log.line("task succeeded"),
            Err(e) if e.is_retryable() && self.try_number < self.max_tries => {
                log.line(format!("attempt failed, will retry: {e}"))
            }
            Err(e) => log.line(format!("task failed: {e}")),
        }
        result
    }

    async fn render_and_run(&self, log: &TaskLog) -> Result<TaskOutcome, TaskError> {
        let result = run_task(
            &self.task,
            &self.vars,
            self.try_number,
            &self.settings.connections,
            log,
            &self.shutdown.child_token(),
        )
        .await;
        self.unless_shutdown(result)
    }

    /// A task stopped by shutdown is not retried, whatever error it returned.
    fn unless_shutdown(
        &self,
        result: Result<TaskOutcome, TaskError>,
    ) -> Result<TaskOutcome, TaskError> {
        match result {
            Err(_) if self.shutdown.is_cancelled() => Err(TaskError::Cancelled(
                "Updraft was stopped (SIGTERM or Ctrl-C) while the task ran".into(),
            )),
            other => other,
        }
    }

    fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}

/// Renders a task's config and runs it once under its execution timeout. Shared by the
/// engine and `updraft task test`, which records nothing.
pub async fn run_task(
    task: &Task,
    vars: &RunVars,
    try_number: u32,
    connections: &Arc<updraft_tasks::Connections>,
    log: &TaskLog,
    cancel: &CancellationToken,
) -> Result<TaskOutcome, TaskError> {
    let config =
        render_config(&task.config, vars, &task.task_id, try_number).map_err(TaskError::Config)?;
    let ctx = TaskContext {
        dag_id: vars.dag_id.clone(),
        run_id: vars.run_id.clone(),
        task_id: task.task_id.clone(),
        dag_folder: vars.dag_folder.clone(),
        try_number,
        data_interval_start: vars.data_interval_start,
        data_interval_end: vars.data_interval_end,
        connections: connections.clone(),
        log: log.clone(),
        cancel: cancel.clone(),
    };
    let work = updraft_tasks::run(&task.task_type, &config, &ctx);
    tokio::pin!(work);
    let Some(limit) = task.execution_timeout else {
        return work.await;
    };
    tokio::select! {
        result = &mut work => result,
        _ = tokio::time::sleep(limit) => {
            let limit = humantime::format_duration(limit);
            log.line(format!("execution_timeout of {limit} exceeded: stopping the task"));
            cancel.cancel();
            let _ = work.await;
            Err(TaskError::Retryable(format!("execution_timeout of {limit} exceeded")))
        }
    }
}
