//! The run engine: executes one DagRun to the end. It decides ready tasks by their
//! trigger rules, runs up to `max_active_tasks` attempts at once, retries with backoff,
//! and records every state change in the store before acting on it.

mod attempt;
mod events;

pub use attempt::run_task;
pub use events::RunEvent;

use crate::dag::Dag;
use crate::dag::trigger_rule::{Decision, UpstreamCounts};
use crate::settings::Settings;
use crate::store::{DagRunRow, RunState, Store, TaskState};
use crate::template::RunVars;
use anyhow::Result;
use attempt::{Attempt, AttemptEnd};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs DagRuns against a store.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<Settings>,
    hostname: Arc<str>,
    events: Option<UnboundedSender<RunEvent>>,
}

/// What the engine knows of each task while a run executes.
struct TaskProgress {
    state: TaskState,
    try_number: u32,
    max_tries: u32,
    retry_at: Option<Instant>,
}

impl Engine {
    /// An engine writing to `store`; progress events go to `events` when given.
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        events: Option<UnboundedSender<RunEvent>>,
    ) -> Self {
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        Self {
            store,
            settings,
            hostname: hostname.into(),
            events,
        }
    }

    fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Executes a run until every task is finished (or `cancel` fires) and returns its final state.
    pub async fn execute(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        cancel: CancellationToken,
    ) -> Result<RunState> {
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        let mut tasks = self.load_progress(dag, run).await?;
        self.store
            .set_run_state(dag_id, run_id, RunState::Running)
            .await?;
        self.emit(RunEvent::RunStarted {
            total: dag.tasks.len(),
        });
        let vars = Arc::new(RunVars::new(
            dag,
            run_id,
            run.logical_date,
            (run.data_interval_start, run.data_interval_end),
            run.conf_json(),
            &self.settings.lake,
        ));
        let mut running: JoinSet<Result<AttemptEnd>> = JoinSet::new();
        loop {
            if cancel.is_cancelled() {
                break;
            }
            self.decide_ready(dag, run, &mut tasks).await?;
            self.promote_due_retries(run, &mut tasks).await?;
            for task_id in &dag.topo_order {
                if running.len() >= dag.max_active_tasks as usize {
                    break;
                }
                let progress = tasks.get_mut(task_id).expect("every task has progress");
                if progress.state != TaskState::Scheduled {
                    continue;
                }
                progress.state = TaskState::Running;
                progress.try_number += 1;
                let attempt = Attempt {
                    store: self.store.clone(),
                    settings: self.settings.clone(),
                    hostname: self.hostname.clone(),
                    events: self.events.clone(),
                    task: dag.tasks[task_id].clone(),
                    vars: vars.clone(),
                    try_number: progress.try_number,
                    max_tries: progress.max_tries,
                    shutdown: cancel.clone(),
                };
                running.spawn(attempt.run());
            }
            if running.is_empty() && !tasks.values().any(|t| t.retry_at.is_some()) {
                break;
            }
            let next_retry = tasks.values().filter_map(|t| t.retry_at).min();
            tokio::select! {
                Some(joined) = running.join_next() => {
                    let end = joined??;
                    let progress = tasks.get_mut(&end.task_id).expect("attempts are of known tasks");
                    progress.state = end.state;
                    if end.state == TaskState::UpForRetry {
                        let task = &dag.tasks[&end.task_id];
                        progress.retry_at = Some(Instant::now() + task.retry.delay_after(progress.try_number));
                    }
                }
                _ = sleep_until(next_retry) => {}
                _ = cancel.cancelled() => {}
            }
        }
        // On shutdown the attempts see their cancelled tokens, stop, and record themselves.
        while let Some(joined) = running.join_next().await {
            joined??;
        }
        let state = if cancel.is_cancelled() {
            self.store
                .fail_unfinished(
                    dag_id,
                    run_id,
                    "Updraft was stopped (SIGTERM or Ctrl-C) while the task ran",
                )
                .await?;
            RunState::Failed
        } else {
            run_outcome(dag, &tasks)
        };
        self.store.set_run_state(dag_id, run_id, state).await?;
        self.emit(RunEvent::RunFinished { state });
        Ok(state)
    }

    async fn load_progress(
        &self,
        dag: &Dag,
        run: &DagRunRow,
    ) -> Result<HashMap<String, TaskProgress>> {
        let rows = self.store.task_instances(&run.dag_id, &run.run_id).await?;
        let mut tasks = HashMap::new();
        for row in rows {
            let mut state = TaskState::parse(row.state.as_deref());
            // A run picked up again: whatever was mid-flight starts over as scheduled.
            if matches!(
                state,
                TaskState::Running | TaskState::Queued | TaskState::UpForRetry
            ) {
                state = TaskState::Scheduled;
            }
            tasks.insert(
                row.task_id,
                TaskProgress {
                    state,
                    try_number: row.try_number.max(0) as u32,
                    max_tries: row.max_tries.max(1) as u32,
                    retry_at: None,
                },
            );
        }
        if let Some(missing) = dag.tasks.keys().find(|id| !tasks.contains_key(*id)) {
            anyhow::bail!(
                "run {} has no task instance for `{missing}`: the DAG changed after the run was created",
                run.run_id
            );
        }
        Ok(tasks)
    }

    /// Applies trigger rules to undecided tasks whose upstreams allow a decision.
    async fn decide_ready(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        tasks: &mut HashMap<String, TaskProgress>,
    ) -> Result<()> {
        let mut decided: HashMap<TaskState, Vec<&str>> = HashMap::new();
        // Topological order lets a skip or upstream failure flow down in one pass.
        for task_id in &dag.topo_order {
            if tasks[task_id].state != TaskState::None {
                continue;
            }
            let task = &dag.tasks[task_id];
            let counts = upstream_counts(task.upstream.iter().map(|u| tasks[u].state));
            let new_state = match task.trigger_rule.decide(counts) {
                Decision::Wait => continue,
                Decision::Run => TaskState::Scheduled,
                Decision::Skip => TaskState::Skipped,
                Decision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            tasks.get_mut(task_id).expect("known task").state = new_state;
            decided.entry(new_state).or_default().push(task_id);
        }
        for (state, ids) in decided {
            self.store
                .set_task_states(&run.dag_id, &run.run_id, &ids, state)
                .await?;
            if state != TaskState::Scheduled {
                for id in ids {
                    self.emit(RunEvent::TaskDecided {
                        task_id: id.to_string(),
                        state,
                    });
                }
            }
        }
        Ok(())
    }

    /// Moves tasks whose retry delay has passed from `up_for_retry` to `scheduled`.
    async fn promote_due_retries(
        &self,
        run: &DagRunRow,
        tasks: &mut HashMap<String, TaskProgress>,
    ) -> Result<()> {
        let now = Instant::now();
        let due: Vec<&str> = tasks
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.as_str())
            .collect();
        self.store
            .set_task_states(&run.dag_id, &run.run_id, &due, TaskState::Scheduled)
            .await?;
        for t in tasks.values_mut() {
            if t.retry_at.is_some_and(|at| at <= now) {
                t.retry_at = None;
                t.state = TaskState::Scheduled;
            }
        }
        Ok(())
    }
}

fn upstream_counts(states: impl Iterator<Item = TaskState>) -> UpstreamCounts {
    let mut c = UpstreamCounts::default();
    for s in states {
        c.total += 1;
        match s {
            TaskState::Success => c.success += 1,
            TaskState::Skipped => c.skipped += 1,
            TaskState::Failed => c.failed += 1,
            TaskState::UpstreamFailed => c.upstream_failed += 1,
            _ => {}
        }
    }
    c
}

/// A run succeeds only if every leaf task succeeded or was skipped.
fn run_outcome(dag: &Dag, tasks: &HashMap<String, TaskProgress>) -> RunState {
    let leaves_ok = dag.leaves().all(|t| {
        matches!(
            tasks[&t.task_id].state,
            TaskState::Success | TaskState::Skipped
        )
    });
    if leaves_ok {
        RunState::Success
    } else {
        RunState::Failed
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
