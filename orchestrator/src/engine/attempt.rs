//! One attempt of one task (already claimed in the store): render its config, run it
//! under its execution timeout, write its log, and record how it ended.

use super::{Job, RunEvent};
use crate::alerts::{AlertEvent, NewCallback, task_facts};
use crate::dag::Task;
use crate::settings::Settings;
use crate::store::instance_name;
use crate::store::{OwnedAttempt, Store, TaskState, TryEnd};
use crate::template::{AttemptVars, RunVars, render_config, render_when};
use anyhow::Result;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use updraft_core::{Reports, TaskContext, TaskError, TaskLog, TaskOutcome};

/// Everything one attempt needs, owned so it can run on its own tokio task.
pub(super) struct Attempt {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub job: Arc<Job>,
    pub events: Option<UnboundedSender<RunEvent>>,
    pub task: Task,
    /// Why the task must not run here (its DAG version names a file this host cannot
    /// provide as it was): the attempt fails with it, as a configuration error.
    pub refused: Option<String>,
    pub vars: Arc<RunVars>,
    /// Which instance of a mapped task this is (-1: not mapped), and its item.
    pub map_index: i32,
    pub item: Option<serde_json::Value>,
    pub try_number: u32,
    pub max_tries: u32,
    /// When this try's first check was, when the attempt checks again what it found not
    /// ready (a sensor).
    pub waiting_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Stops the task: on shutdown, or when the store gave the attempt to another job.
    pub cancel: CancellationToken,
    /// Fires on shutdown (and cancels `cancel`).
    pub shutdown: CancellationToken,
    /// Whether an attempt stopped by shutdown may be retried (a scheduler stopping)
    /// or not (a user stopping a foreground run).
    pub retry_on_shutdown: bool,
}

/// How an attempt left its task instance.
pub(super) struct AttemptEnd {
    pub task_id: String,
    pub map_index: i32,
    /// None when another job took the attempt over and this one recorded nothing.
    pub state: Option<TaskState>,
    pub next_try_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How many of a failing test's kept rows a message shows.
const SAMPLE_ROWS: usize = 5;

/// How much of the end of an attempt's log an alert carries.
const LOG_TAIL_BYTES: u64 = 4096;
const LOG_TAIL_LINES: usize = 20;

impl Attempt {
    /// Runs the attempt and records how it ended (unless another job took it over).
    pub async fn run(self) -> Result<AttemptEnd> {
        self.emit(RunEvent::TaskStarted {
            task_id: self.name(),
            try_number: self.try_number,
        });
        let started = Instant::now();
        // A waiting task's checks are one attempt to lineage: it started at the first.
        if self.waiting_since.is_none() {
            self.record_lineage_start().await;
        }
        let reports = Reports::default();
        let (result, uploaded) = self.logged(&reports).await;
        let mut end = self.end(&result, started.elapsed().as_secs_f64(), reports.take());
        let tested = self.test_callbacks(&end).await;
        end.callbacks.extend(tested);
        if end.ti_state != TaskState::UpForReschedule {
            end.callbacks.extend(self.lineage_end(&end).await);
        }
        let owned = self.job.finish(end.clone()).await?;
        // The object store has the whole log: the local copy was only its buffer.
        if let Some(buffer) = uploaded {
            let _ = tokio::fs::remove_file(buffer).await;
        }
        self.job.untrack(&OwnedAttempt {
            dag_id: end.dag_id.clone(),
            run_id: end.run_id.clone(),
            task_id: end.task_id.clone(),
            map_index: end.map_index,
        });
        if !owned {
            let reason = format!(
                "job {} no longer held this attempt when it ended (another job declared it dead)",
                self.job.id
            );
            self.store.end_lost_try(&self.job.id, &end, &reason).await?;
            tracing::warn!(
                "attempt {} of {}.{} in run {} ended here after another job had declared it dead; its result was not recorded",
                end.try_number,
                end.dag_id,
                self.name(),
                end.run_id
            );
            return Ok(AttemptEnd {
                task_id: self.task.task_id.clone(),
                map_index: self.map_index,
                state: None,
                next_try_at: None,
            });
        }
        self.emit(RunEvent::TaskFinished {
            task_id: self.name(),
            try_number: self.try_number,
            state: end.ti_state,
            seconds: end.duration,
            error: end.error.clone(),
        });
        Ok(AttemptEnd {
            task_id: self.task.task_id.clone(),
            map_index: self.map_index,
            state: Some(end.ti_state),
            next_try_at: end.next_try_at,
        })
    }

    /// Opens the attempt's log and runs the task with it; with logs in the object store,
    /// also the local buffer once all of it is uploaded (to delete when it has served).
    async fn logged(
        &self,
        reports: &Reports,
    ) -> (Result<TaskOutcome, TaskError>, Option<std::path::PathBuf>) {
        let (dag_id, run_id) = (&self.vars.dag_id, &self.vars.run_id);
        let try_number = i64::from(self.try_number);
        let ids = (dag_id.as_str(), run_id.as_str(), self.task.task_id.as_str());
        let log_path = self.settings.log_path(ids, self.map_index, try_number);
        let log_path = match log_path {
            Ok(path) => path,
            Err(e) => return (Err(TaskError::Config(e)), None),
        };
        // Creating a folder and a file blocks; off the async workers it does not hold up
        // the run loop and the other attempts' database work.
        let opened = {
            let path = log_path.clone();
            let cap = self.settings.log_max_bytes;
            tokio::task::spawn_blocking(move || TaskLog::open_capped(&path, cap))
                .await
                .map_err(std::io::Error::other)
                .and_then(|opened| opened)
        };
        let log = match opened {
            Ok(log) => log,
            Err(e) => {
                let why = format!("cannot open log file {}: {e}", log_path.display());
                return (Err(TaskError::Retryable(why)), None);
            }
        };
        let upload = self.settings.logs_url.as_ref().and_then(|root| {
            let url = crate::remote_logs::attempt_url(root, ids, self.map_index, try_number);
            // A check after the first adds to what the earlier ones uploaded.
            crate::remote_logs::Upload::start(&url, log_path.clone(), self.waiting_since.is_some())
                .map_err(|e| {
                    tracing::warn!("{dag_id}.{}: its log stays local: {e}", self.task.task_id)
                })
                .ok()
        });
        // The log is closed (its tail written) when the task is done with it.
        let result = self.execute(log, reports).await;
        let uploaded = match upload {
            Some(upload) => match upload.finish().await {
                Ok(()) => Some(log_path),
                Err(e) => {
                    tracing::warn!(
                        "{dag_id}.{}: the end of its log did not reach the object store: {e}",
                        self.task.task_id
                    );
                    None
                }
            },
            None => None,
        };
        (result, uploaded)
    }

    /// How the attempt ended, as the store records it: a retryable failure with tries
    /// left is `up_for_retry` (the attempt itself failed), with its next try's time.
    fn end(
        &self,
        result: &Result<TaskOutcome, TaskError>,
        seconds: f64,
        reports: Vec<updraft_core::Report>,
    ) -> TryEnd {
        let outputs = match result {
            Ok(outcome) if !outcome.outputs.is_empty() => {
                // The history is read by anyone with Grafana: no secret goes in.
                let mut outputs = serde_json::Value::Object(outcome.outputs.clone());
                updraft_core::secrets::mask_json(&mut outputs);
                Some(outputs.to_string())
            }
            _ => None,
        };
        let (state, error, metrics) = match result {
            Ok(outcome) if outcome.recheck.is_some() => {
                (TaskState::UpForReschedule, None, outcome.metrics.clone())
            }
            Ok(outcome) if outcome.skipped => (TaskState::Skipped, None, outcome.metrics.clone()),
            Ok(outcome) => (TaskState::Success, None, outcome.metrics.clone()),
            Err(e) => {
                let state = if e.is_retryable() && self.try_number < self.max_tries {
                    TaskState::UpForRetry
                } else {
                    TaskState::Failed
                };
                // The history tables are read by anyone with Grafana: no secret goes in.
                let error = updraft_core::secrets::mask(&e.to_string()).into_owned();
                (state, Some(error), Default::default())
            }
        };
        let try_state = if state == TaskState::UpForRetry {
            TaskState::Failed
        } else {
            state
        };
        let ended_at = chrono::Utc::now();
        let recheck = result.as_ref().ok().and_then(|o| o.recheck.clone());
        let next_try_at = match &recheck {
            Some(recheck) => Some(recheck.at),
            None => (state == TaskState::UpForRetry).then(|| {
                let delay = self.task.retry.delay_after(self.try_number);
                ended_at + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX)
            }),
        };
        // A task that waited took from its first check to now.
        let seconds = match self.waiting_since {
            Some(since) => (ended_at - since).as_seconds_f64().max(seconds),
            None => seconds,
        };
        let callbacks = self.callbacks(state, error.as_deref());
        // Declared first: what the type recorded of the same table (its version) wins.
        let reports = if state == TaskState::Success {
            let mut all = self.declared_assets();
            all.extend(reports);
            all
        } else {
            reports
        };
        TryEnd {
            dag_id: self.vars.dag_id.clone(),
            run_id: self.vars.run_id.clone(),
            task_id: self.task.task_id.clone(),
            map_index: self.map_index,
            try_number: i64::from(self.try_number),
            ti_state: state,
            try_state,
            ended_at,
            duration: seconds,
            error,
            metrics: serde_json::Value::Object(metrics),
            outputs,
            next_try_at,
            waiting_for: recheck.map(|r| r.waiting_for),
            // What the attempt found and built, failed or not: losing it would hide it.
            reports,
            callbacks,
        }
    }

    /// The asset events a successful attempt's `outlets:` and `inlets:` declare.
    fn declared_assets(&self) -> Vec<updraft_core::Report> {
        use updraft_core::report::{AssetAccess, AssetEvent, Report};
        let event = |uri: &String, access| {
            Report::Asset(AssetEvent {
                uri: uri.clone(),
                access,
                version: None,
                rows: None,
                partitions: Vec::new(),
            })
        };
        let outlets = self
            .task
            .outlets
            .iter()
            .map(|u| event(u, AssetAccess::Write));
        let inlets = self.task.inlets.iter().map(|u| event(u, AssetAccess::Read));
        outlets.chain(inlets).collect()
    }

    /// The alert messages the data tests `end` reports cause (`on_test_failure` when
    /// any failed or errored, else `on_test_warn` when any warned), with each test's
    /// verdict and a few of the failing rows it kept.
    async fn test_callbacks(&self, end: &TryEnd) -> Vec<NewCallback> {
        use updraft_core::report::{Report, TestStatus};
        let tests: Vec<_> = end
            .reports
            .iter()
            .filter_map(|r| match r {
                Report::Test(t) => Some(t),
                Report::Model(_) | Report::Asset(_) => None,
            })
            .collect();
        let failed = |t: &&&updraft_core::report::TestResult| {
            matches!(t.status, TestStatus::Fail | TestStatus::Error)
        };
        let on = &self.task.callbacks;
        let (event, actions, picked): (_, _, Vec<_>) = if tests.iter().any(|t| failed(&t)) {
            (
                AlertEvent::TestFailure,
                &on.on_test_failure,
                tests.iter().filter(failed).collect(),
            )
        } else if tests.iter().any(|t| t.status == TestStatus::Warn) {
            let warned = tests
                .iter()
                .filter(|t| t.status == TestStatus::Warn)
                .collect();
            (AlertEvent::TestWarn, &on.on_test_warn, warned)
        } else {
            return Vec::new();
        };
        if actions.is_empty() {
            return Vec::new();
        }
        let mut shown = Vec::new();
        for t in &picked {
            let sample = match &t.stored_failures {
                Some(at) => updraft_tasks::stored_failing_rows(at, &self.settings.connections)
                    .await
                    .map(|found| found.rows.into_iter().take(SAMPLE_ROWS).collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            shown.push(serde_json::json!({
                "test_name": t.test_name,
                "status": t.status.as_str(),
                "failures": t.failures,
                "message": t.message,
                "sample_rows": sample,
            }));
        }
        let summary: Vec<String> = picked
            .iter()
            .map(|t| match t.failures {
                Some(n) => format!("{} {} ({n} rows)", t.test_name, t.status),
                None => format!("{} {}", t.test_name, t.status),
            })
            .collect();
        let key = (
            end.dag_id.as_str(),
            end.run_id.as_str(),
            end.task_id.as_str(),
        );
        let base = self.settings.base_url.as_ref().map(url::Url::as_str);
        let verdict = if event == AlertEvent::TestFailure {
            "failed"
        } else {
            "warned"
        };
        let headline = format!(
            "{}.{}: {} of {} data tests {verdict}",
            end.dag_id,
            end.task_id,
            picked.len(),
            tests.len()
        );
        let mut facts = task_facts(
            key,
            end.try_number,
            end.ti_state.as_str(),
            Some(&summary.join("\n")),
            base,
        );
        if let serde_json::Value::Object(map) = &mut facts {
            map.insert("tests".into(), serde_json::Value::Array(shown));
            map.insert("summary".into(), headline.into());
        }
        NewCallback::of_instance(
            NewCallback::for_actions(key, end.try_number, event, actions, &facts),
            end.map_index,
        )
    }

    /// The alert messages an end in `state` causes, by the task's callbacks.
    fn callbacks(&self, state: TaskState, error: Option<&str>) -> Vec<NewCallback> {
        let Some((event, actions, shown_state)) = self.task.callbacks.for_end(state) else {
            return Vec::new();
        };
        let key = (
            self.vars.dag_id.as_str(),
            self.vars.run_id.as_str(),
            self.task.task_id.as_str(),
        );
        let base = self.settings.base_url.as_ref().map(url::Url::as_str);
        let try_number = i64::from(self.try_number);
        let mut facts = task_facts(key, try_number, shown_state, error, base);
        if let (serde_json::Value::Object(map), Some(tail)) = (&mut facts, self.log_tail()) {
            map.insert("log_tail".into(), tail.into());
        }
        NewCallback::of_instance(
            NewCallback::for_actions(key, try_number, event, actions, &facts),
            self.map_index,
        )
    }

    /// The last lines of the attempt's log (at most 4 KiB), masked, for alert messages.
    fn log_tail(&self) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self
            .settings
            .log_path(
                (&self.vars.dag_id, &self.vars.run_id, &self.task.task_id),
                self.map_index,
                i64::from(self.try_number),
            )
            .ok()?;
        let mut file = std::fs::File::open(path).ok()?;
        let length = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)))
            .ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        // The first line may be cut: the rest are whole.
        let whole = if length > LOG_TAIL_BYTES {
            &lines[1.min(lines.len())..]
        } else {
            &lines[..]
        };
        let last = &whole[whole.len().saturating_sub(LOG_TAIL_LINES)..];
        Some(updraft_core::secrets::mask(&last.join("\n")).into_owned())
    }

    /// Renders and runs the task, logging the attempt's beginning and end.
    async fn execute(&self, log: TaskLog, reports: &Reports) -> Result<TaskOutcome, TaskError> {
        let task = &self.task;
        if self.waiting_since.is_none() {
            log.line(format!(
                "attempt {} of {} of task `{}` ({}) in run `{}` on {}",
                self.try_number,
                self.max_tries,
                self.name(),
                task.task_type,
                self.vars.run_id,
                self.job.hostname
            ));
        }
        let result = match &self.refused {
            Some(reason) => Err(TaskError::Config(reason.clone())),
            None => self.render_and_run(&log, reports).await,
        };
        match &result {
            Ok(TaskOutcome {
                recheck: Some(recheck),
                ..
            }) => log.line(format!("{} (on {})", recheck.log_line(), self.job.hostname)),
            Ok(o) if o.skipped => log.line("task skipped"),
            Ok(_) => log.line("task succeeded"),
            Err(e) if e.is_retryable() && self.try_number < self.max_tries => {
                log.line(format!("attempt failed, will retry: {e}"))
            }
            Err(e) => log.line(format!("task failed: {e}")),
        }
        result
    }

    /// Other DAGs' runs, as this attempt may create them (`trigger_dag`).
    fn dag_runs(&self) -> Arc<dyn updraft_core::dag_runs::DagRuns> {
        Arc::new(super::dag_runs::TriggeredRuns {
            store: self.store.clone(),
            settings: self.settings.clone(),
            parent: (
                self.vars.dag_id.clone(),
                self.vars.run_id.clone(),
                self.task.task_id.clone(),
            ),
            logical_date: self.vars.logical_date,
        })
    }

    async fn render_and_run(
        &self,
        log: &TaskLog,
        reports: &Reports,
    ) -> Result<TaskOutcome, TaskError> {
        let outputs = if self.task.reads_outputs.is_empty() {
            serde_json::Value::Null
        } else {
            let (dag_id, run_id) = (&self.vars.dag_id, &self.vars.run_id);
            let found = self
                .store
                .task_outputs(dag_id, run_id, &self.task.reads_outputs)
                .await
                .map_err(|e| TaskError::Retryable(format!("reading upstream outputs: {e}")))?;
            super::outputs_seen(&self.task.reads_outputs, found)
        };
        let attempt = AttemptVars {
            task_id: &self.task.task_id,
            try_number: self.try_number,
            map: self.item.as_ref().map(|item| (self.map_index, item)),
        };
        let result = run_task(
            &self.task,
            &self.vars,
            (attempt, self.waiting_since),
            &outputs,
            &self.settings.connections,
            log,
            // A child, so an execution timeout stopping the task is not taken for `cancel`.
            &self.cancel.child_token(),
            reports,
            &self.processes(),
            Some(&self.dag_runs()),
        )
        .await;
        self.unless_stopped(result)
    }

    /// How this attempt starts commands: supervised, and each process group recorded on
    /// its `task_try` row, so that recovery on this host can kill what a crash left.
    fn processes(&self) -> updraft_core::Processes {
        let (store, job_id) = (self.store.clone(), self.job.id.clone());
        let key = (
            self.vars.dag_id.clone(),
            self.vars.run_id.clone(),
            self.task.task_id.clone(),
            self.map_index,
        );
        let try_number = i64::from(self.try_number);
        let on_start = move |pid: u32| -> futures::future::BoxFuture<'static, ()> {
            let (store, job_id, key) = (store.clone(), job_id.clone(), key.clone());
            let start = super::supervisor::process_start(pid);
            Box::pin(async move {
                let key = (key.0.as_str(), key.1.as_str(), key.2.as_str(), key.3);
                if let Err(e) = store
                    .record_attempt_process(key, try_number, &job_id, (pid, start.as_deref()))
                    .await
                {
                    tracing::warn!("cannot record the process group of an attempt: {e}");
                }
            })
        };
        updraft_core::Processes {
            on_start: Some(Arc::new(on_start)),
            ..super::supervisor::supervised()
        }
    }

    /// A task stopped from outside failed because of that, whatever error it returned.
    fn unless_stopped(
        &self,
        result: Result<TaskOutcome, TaskError>,
    ) -> Result<TaskOutcome, TaskError> {
        match result {
            Err(_) if self.shutdown.is_cancelled() && self.retry_on_shutdown => {
                Err(TaskError::Retryable(
                    "the scheduler was stopped (SIGTERM) while the task ran".into(),
                ))
            }
            Err(_) if self.shutdown.is_cancelled() => Err(TaskError::Cancelled(
                "Updraft was stopped (SIGTERM or Ctrl-C) while the task ran".into(),
            )),
            Err(_) if self.cancel.is_cancelled() => Err(TaskError::Retryable(
                "stopped: another job declared this attempt dead".into(),
            )),
            other => other,
        }
    }

    fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// The instance as people name it: `task`, or `task[3]` when mapped.
    fn name(&self) -> String {
        instance_name(&self.task.task_id, self.map_index)
    }
}

/// Renders a task's config and runs it once under its execution timeout. Shared by the
/// engine and `updraft task test`, which records nothing.
#[allow(clippy::too_many_arguments)]
pub async fn run_task(
    task: &Task,
    vars: &RunVars,
    (attempt, waiting_since): (AttemptVars<'_>, Option<chrono::DateTime<chrono::Utc>>),
    outputs: &serde_json::Value,
    connections: &Arc<updraft_core::Connections>,
    log: &TaskLog,
    cancel: &CancellationToken,
    reports: &Reports,
    processes: &updraft_core::Processes,
    dag_runs: Option<&Arc<dyn updraft_core::dag_runs::DagRuns>>,
) -> Result<TaskOutcome, TaskError> {
    if let Some(when) = &task.when
        && !render_when(when, vars, attempt, outputs).map_err(TaskError::Config)?
    {
        log.line(format!("`when: {when}` is false: nothing to do"));
        return Ok(TaskOutcome::nothing_to_do());
    }
    let config = render_config(&task.config, vars, attempt, outputs).map_err(TaskError::Config)?;
    let try_number = attempt.try_number;
    let ctx = TaskContext {
        dag_id: vars.dag_id.clone(),
        run_id: vars.run_id.clone(),
        task_id: task.task_id.clone(),
        lake: vars.lake.clone(),
        dag_folder: vars.dag_folder.clone(),
        try_number,
        waiting_since,
        data_interval_start: vars.data_interval_start,
        data_interval_end: vars.data_interval_end,
        connections: connections.clone(),
        log: log.clone(),
        cancel: cancel.clone(),
        reports: reports.clone(),
        processes: processes.clone(),
        dag_runs: dag_runs.cloned(),
    };
    let work = updraft_tasks::run(&task.task_type, &config, &ctx);
    tokio::pin!(work);
    let Some(limit) = task.execution_timeout else {
        return work.await.and_then(outputs_fit);
    };
    tokio::select! {
        result = &mut work => result.and_then(outputs_fit),
        _ = tokio::time::sleep(limit) => {
            let limit = humantime::format_duration(limit);
            log.line(format!("execution_timeout of {limit} exceeded: stopping the task"));
            cancel.cancel();
            let _ = work.await;
            Err(TaskError::Retryable(format!("execution_timeout of {limit} exceeded")))
        }
    }
}

/// The outcome, unless its outputs are larger than an attempt may hand on.
fn outputs_fit(outcome: TaskOutcome) -> Result<TaskOutcome, TaskError> {
    let bytes = serde_json::Value::Object(outcome.outputs.clone())
        .to_string()
        .len();
    if bytes > updraft_core::MAX_OUTPUT_BYTES {
        return Err(TaskError::Fatal(format!(
            "the outputs are {:.1} KiB, more than the {} KiB an attempt may hand on: outputs \
             are for small values (counts, names, short lists); put data in the lake or a \
             table and pass its name",
            bytes as f64 / 1024.0,
            updraft_core::MAX_OUTPUT_BYTES / 1024
        )));
    }
    Ok(outcome)
}
