//! The run engine: works a DagRun to its end. It decides ready tasks by their trigger
//! rules, claims them in the store (several jobs may work on one run; each attempt is
//! claimed by exactly one), runs up to `max_active_tasks` at once, retries with backoff,
//! and records every state change in the store before acting on it.

mod attempt;
mod dag_runs;
mod events;
pub mod job;
pub mod left_runs;
mod lineage_events;
mod outputs;
pub mod recovery;
mod run_tasks;
pub mod supervisor;

pub use attempt::run_task;
pub use events::RunEvent;
pub use job::{Job, JobType};
pub use outputs::outputs_seen;

use crate::alerts::{AlertEvent, NewCallback, run_facts};
use crate::dag::Seen;
use crate::dag::trigger_rule::{Decision, UpstreamCounts};
use crate::dag::{Dag, TaskRow};
use crate::settings::Settings;
use crate::store::{
    Claimant, DagRunRow, Expansion, OwnedAttempt, QueueCap, RunState, Store, TaskState,
    instance_name,
};
use crate::template::RunVars;
use crate::versions::{self, DagVersions, Resolved, VersionError};
use anyhow::Result;
use attempt::{Attempt, AttemptEnd};
use chrono::Utc;
use run_tasks::{Key, RunTasks, TaskView};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a run that other jobs may share is re-read from the store.
const SHARED_POLL: Duration = Duration::from_millis(200);
/// How often a run this job executes alone is re-read (only retries are waited for).
const EXCLUSIVE_POLL: Duration = Duration::from_secs(1);
/// The longest wait between re-reads when they keep finding nothing new.
const MAX_POLL: Duration = Duration::from_secs(2);
/// The most attempts claimed in one transaction. A wide run is claimed in turns, so the
/// first attempts run while the store records the next claim instead of after it.
const MAX_CLAIM: usize = 64;

/// Works DagRuns against a store, as one job.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<Settings>,
    job: Arc<Job>,
    /// The DAG versions runs are worked with.
    versions: Arc<DagVersions>,
    events: Option<UnboundedSender<RunEvent>>,
    /// Fires when the run's DAG is paused: no new attempt starts here after it.
    hold: Option<CancellationToken>,
}

/// Whether this job executes a run alone (a foreground trigger or backfill) or shares it
/// with other schedulers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Stopping fails the run: the user asked for it to stop.
    Exclusive,
    /// Stopping leaves the run to other (or later) schedulers; interrupted attempts are
    /// retried by their policy.
    Shared,
}

impl Engine {
    /// An engine working as `job` with the DAG versions of `versions`; progress events
    /// go to `events` when given.
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        job: Arc<Job>,
        versions: Arc<DagVersions>,
        events: Option<UnboundedSender<RunEvent>>,
    ) -> Self {
        Self {
            store,
            settings,
            job,
            versions,
            events,
            hold: None,
        }
    }

    /// The same engine, holding its runs once `hold` fires (the DAG was paused, as in
    /// Airflow): running attempts finish, no new one starts, and `execute` returns
    /// `Running` once none runs here, leaving the run for when the DAG is unpaused.
    pub fn held_by(mut self, hold: CancellationToken) -> Self {
        self.hold = Some(hold);
        self
    }

    fn held(&self) -> bool {
        self.hold
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    fn emit(&self, event: RunEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Works a running run with the DAG version it started with (pinned now to the
    /// newest when it has none) until every task is finished (or `cancel` fires), and
    /// returns its state then. `current` is the DAG as the DAGs folder holds it, used when
    /// it is that version.
    pub async fn execute(
        &self,
        current: Option<&Arc<Dag>>,
        run: &DagRunRow,
        mode: RunMode,
        cancel: CancellationToken,
    ) -> Result<RunState> {
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        let resolved = match self.version_of(current, run).await {
            Ok(resolved) => resolved,
            Err(VersionError::Store(e)) => return Err(e.into()),
            Err(e) => {
                // Without its DAG the run would wait forever: it fails, saying why.
                let reason = e.to_string();
                tracing::error!("{dag_id} {run_id}: {reason}");
                self.store.fail_unfinished(dag_id, run_id, &reason).await?;
                let callbacks = self.run_callbacks(current.map(|d| &**d), run, RunState::Failed);
                self.store
                    .finish_run(dag_id, run_id, RunState::Failed, &callbacks)
                    .await?;
                self.emit(RunEvent::RunFinished {
                    state: RunState::Failed,
                });
                return Ok(RunState::Failed);
            }
        };
        let dag = &*resolved.dag;
        let mut tasks = RunTasks::new(dag, self.load(dag, run, resolved.number).await?);
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
        let base_poll = match mode {
            RunMode::Exclusive => EXCLUSIVE_POLL,
            RunMode::Shared => SHARED_POLL,
        };
        // Re-reading a wide run costs; while nothing changes elsewhere, look less often.
        let mut poll = base_poll;
        let mut running: JoinSet<Result<AttemptEnd>> = JoinSet::new();
        let mut refreshed = Instant::now();
        loop {
            if cancel.is_cancelled() {
                break;
            }
            if refreshed.elapsed() >= poll {
                let changed = self.refresh(dag, run, &mut tasks).await?;
                refreshed = Instant::now();
                poll = if changed {
                    base_poll
                } else {
                    (poll * 2).min(MAX_POLL)
                };
            }
            self.decide_ready(dag, run, &vars, &mut tasks).await?;
            self.promote_due_retries(dag, run, &mut tasks).await?;
            let held = self.held();
            let more = !held
                && self
                    .claim_and_start(&resolved, &vars, mode, &cancel, &mut tasks, &mut running)
                    .await?;
            if running.is_empty() && tasks.all_finished() {
                break;
            }
            if held && running.is_empty() {
                tracing::info!(
                    "{dag_id} {run_id}: the DAG is paused; its next tasks start when it is unpaused"
                );
                return Ok(RunState::Running);
            }
            let wake = if more {
                Instant::now()
            } else {
                next_wake(&tasks, refreshed + poll)
            };
            tokio::select! {
                Some(joined) = running.join_next() => {
                    self.settle(dag, joined??, &mut tasks, &mut refreshed, poll);
                    // Under load many attempts end together; settle them all before deciding.
                    while let Some(joined) = running.try_join_next() {
                        self.settle(dag, joined??, &mut tasks, &mut refreshed, poll);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
                _ = cancel.cancelled() => {}
            }
        }
        // On shutdown the attempts see their cancelled tokens, stop, and record themselves.
        while let Some(joined) = running.join_next().await {
            joined??;
        }
        if cancel.is_cancelled() {
            if mode == RunMode::Shared {
                return Ok(RunState::Running);
            }
            self.store
                .fail_unfinished(
                    dag_id,
                    run_id,
                    "Updraft was stopped (SIGTERM or Ctrl-C) while the task ran",
                )
                .await?;
            let callbacks = self.run_callbacks(Some(dag), run, RunState::Failed);
            self.store
                .finish_run(dag_id, run_id, RunState::Failed, &callbacks)
                .await?;
            self.emit(RunEvent::RunFinished {
                state: RunState::Failed,
            });
            return Ok(RunState::Failed);
        }
        let state = run_outcome(dag, &tasks);
        let callbacks = self.run_callbacks(Some(dag), run, state);
        self.store
            .finish_run(dag_id, run_id, state, &callbacks)
            .await?;
        self.emit(RunEvent::RunFinished { state });
        Ok(state)
    }

    /// The alert messages `run` ending in `state` causes, by `dag`'s callbacks.
    fn run_callbacks(
        &self,
        dag: Option<&Dag>,
        run: &DagRunRow,
        state: RunState,
    ) -> Vec<NewCallback> {
        let Some(dag) = dag else {
            return Vec::new();
        };
        let (event, actions) = match state {
            RunState::Success => (AlertEvent::RunSuccess, &dag.callbacks.on_success),
            _ => (AlertEvent::RunFailure, &dag.callbacks.on_failure),
        };
        let key = (run.dag_id.as_str(), run.run_id.as_str());
        let base = self.settings.base_url.as_ref().map(url::Url::as_str);
        let facts = run_facts(key, state.as_str(), base);
        NewCallback::for_actions((key.0, key.1, ""), 0, event, actions, &facts)
    }

    /// Records what a local attempt left; an attempt taken over by another job makes the
    /// next loop re-read the store.
    fn settle(
        &self,
        dag: &Dag,
        end: AttemptEnd,
        tasks: &mut RunTasks,
        refreshed: &mut Instant,
        poll: Duration,
    ) {
        let key = (end.task_id, end.map_index);
        tasks.update(&key, Some(false), None);
        match end.state {
            Some(state) => {
                tasks.update(&key, None, Some(end.next_try_at));
                tasks.set(dag, &key, state);
            }
            None => *refreshed = refreshed.checked_sub(poll).unwrap_or(*refreshed),
        }
    }

    /// The version `run` is worked with: its pinned one, or the newest, pinned now (the
    /// folder's DAG recorded first when the DAG has no version yet).
    async fn version_of(
        &self,
        current: Option<&Arc<Dag>>,
        run: &DagRunRow,
    ) -> Result<Arc<Resolved>, VersionError> {
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        // Read from the store, not from the row the caller has: a clear may have moved the
        // run to another version since.
        let mut number = self.store.pin_run(dag_id, run_id).await?;
        if number.is_none()
            && let Some(dag) = current
        {
            versions::record(&self.store, dag, Seen::First).await?;
            number = self.store.pin_run(dag_id, run_id).await?;
        }
        let number = number.ok_or_else(|| VersionError::Missing {
            dag_id: dag_id.to_string(),
            number: 1,
        })?;
        self.versions
            .resolve(&self.store, dag_id, number, current)
            .await
    }

    /// What the store knows of the run's task instances when this job starts on it, after
    /// planning them on `version`: a task the run has no instance of gets one, and the
    /// unfinished instances of tasks the version does not have become `removed`.
    async fn load(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        version: i64,
    ) -> Result<HashMap<Key, TaskView>> {
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        let mut rows = self.store.task_instances(dag_id, run_id).await?;
        let known: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.task_id.as_str()).collect();
        let added: Vec<TaskRow> = dag
            .task_rows()
            .into_iter()
            .filter(|t| !known.contains(t.task_id))
            .collect();
        let gone: Vec<&str> = rows
            .iter()
            .filter(|r| !dag.tasks.contains_key(&r.task_id))
            .filter(|r| !r.state.is_finished())
            .map(|r| r.task_id.as_str())
            .collect();
        if !added.is_empty() || !gone.is_empty() || rows.iter().any(|r| r.dag_version.is_none()) {
            if !added.is_empty() || !gone.is_empty() {
                let ids = |list: Vec<&str>| list.join(", ");
                tracing::info!(
                    "{dag_id} {run_id}: planned on DAG version {version}: new tasks [{}], removed [{}]",
                    ids(added.iter().map(|a| a.task_id).collect()),
                    ids(gone.clone())
                );
            }
            self.store
                .plan_instances(
                    (dag_id, run_id),
                    Some(version),
                    (&added, &[]),
                    (&gone, false),
                )
                .await?;
            rows = self.store.task_instances(dag_id, run_id).await?;
        }
        Ok(rows.into_iter().map(view_of).collect())
    }

    /// Re-reads what other jobs may have changed: the instances not finished yet (a
    /// finished state is final within a run). Tasks running here keep what this job knows.
    /// Returns whether anything changed.
    async fn refresh(&self, dag: &Dag, run: &DagRunRow, tasks: &mut RunTasks) -> Result<bool> {
        let rows = self
            .store
            .unfinished_tasks(&run.dag_id, &run.run_id)
            .await?;
        let mut unfinished = std::collections::HashSet::with_capacity(rows.len());
        let (mut changed, mut unknown) = (false, false);
        for (task_id, map_index, state, max_tries, next_try_at) in rows {
            let key = (task_id, map_index);
            match tasks.get(&key) {
                Some(view) if !view.local => {
                    changed |= view.state != state || view.next_try_at != next_try_at;
                    tasks.set_max_tries(&key, max_tries.max(1) as u32);
                    tasks.update(&key, None, Some(next_try_at));
                    tasks.set(dag, &key, state);
                }
                Some(_) => {}
                // Made elsewhere (another job expanded a mapped task): read in full below.
                None => unknown = true,
            }
            unfinished.insert(key);
        }
        // What this job still thought unfinished, and the store no longer does, has ended
        // elsewhere (or gone: an expanded task's placeholder): read the rows in full.
        let ended = tasks
            .iter()
            .any(|(key, t)| !t.local && !t.state.is_finished() && !unfinished.contains(key));
        if ended || unknown {
            changed = true;
            let rows = self.store.task_instances(&run.dag_id, &run.run_id).await?;
            let mut present = std::collections::HashSet::with_capacity(rows.len());
            for row in rows {
                let (key, view) = view_of(row);
                present.insert(key.clone());
                match tasks.get(&key) {
                    Some(v) if v.local => {}
                    Some(_) => tasks.set(dag, &key, view.state),
                    None => tasks.insert(key, view),
                }
            }
            let gone: Vec<Key> = tasks
                .iter()
                .filter(|(key, v)| !v.local && !present.contains(*key))
                .map(|(key, _)| key.clone())
                .collect();
            for key in gone {
                tasks.remove(&key);
            }
        }
        Ok(changed)
    }

    /// Applies trigger rules to undecided tasks whose upstreams changed and allow a
    /// decision.
    async fn decide_ready(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        vars: &RunVars,
        tasks: &mut RunTasks,
    ) -> Result<()> {
        if !tasks.has_candidates() {
            return Ok(());
        }
        let mut decided: HashMap<TaskState, Vec<(&str, i32)>> = HashMap::new();
        let mut to_expand = Vec::new();
        // Topological order lets a skip or upstream failure flow down in one pass.
        while let Some(i) = tasks.next_candidate() {
            let Some(task_id) = dag.topo_order.get(i) else {
                continue;
            };
            let undecided: Vec<i32> = tasks
                .instances_of(task_id)
                .filter(|m| {
                    tasks
                        .get(&(task_id.clone(), *m))
                        .is_some_and(|v| v.state == TaskState::None)
                })
                .collect();
            if undecided.is_empty() {
                continue;
            }
            let task = &dag.tasks[task_id];
            let counts = upstream_counts(task.upstream.iter().flat_map(|u| tasks.states_of(u)));
            let new_state = match task.trigger_rule.decide(counts) {
                Decision::Wait => continue,
                Decision::Run => TaskState::Scheduled,
                Decision::Skip => TaskState::Skipped,
                Decision::UpstreamFailed => TaskState::UpstreamFailed,
            };
            // A mapped task runs over its list as it is now, unless only some of its
            // instances were cleared: those run again with their items.
            let all_undecided = tasks
                .states_of(task_id)
                .iter()
                .all(|s| *s == TaskState::None);
            if new_state == TaskState::Scheduled && task.map.is_some() && all_undecided {
                to_expand.push(task_id.as_str());
                continue;
            }
            for map_index in undecided {
                tasks.set(dag, &(task_id.clone(), map_index), new_state);
                decided
                    .entry(new_state)
                    .or_default()
                    .push((task_id.as_str(), map_index));
            }
        }
        for (state, keys) in decided {
            self.store
                .move_tasks(&run.dag_id, &run.run_id, &keys, TaskState::None, state)
                .await?;
            if state != TaskState::Scheduled {
                for (id, map_index) in keys {
                    self.emit(RunEvent::TaskDecided {
                        task_id: instance_name(id, map_index),
                        state,
                    });
                }
            }
        }
        for task_id in to_expand {
            self.expand(dag, run, vars, tasks, task_id).await?;
        }
        Ok(())
    }

    /// Expands mapped task `task_id` over its list (rendered now, with the outputs of
    /// the tasks it reads), and takes the instances the store then has.
    async fn expand(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        vars: &RunVars,
        tasks: &mut RunTasks,
        task_id: &str,
    ) -> Result<()> {
        let task = &dag.tasks[task_id];
        let Some(map) = &task.map else {
            return Ok(());
        };
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        let started = std::time::Instant::now();
        let found = self
            .store
            .task_outputs(dag_id, run_id, &task.reads_outputs)
            .await?;
        let outputs = outputs_seen(&task.reads_outputs, found);
        let listed = crate::template::render_items(&map.items, vars, task_id, &outputs);
        let listed: std::result::Result<Vec<String>, String> = match listed {
            Ok(items) if items.len() > map.max_items as usize => Err(format!(
                "for_each gave {} items, more than max_items ({}): no instance ran; \
                 raise max_items or list less",
                items.len(),
                map.max_items
            )),
            Ok(items) => Ok(items.iter().map(|i| i.to_string()).collect()),
            Err(e) => Err(e),
        };
        let alerts = match &listed {
            Err(why) => self.expansion_alerts(run, task, why).await?,
            Ok(_) => Vec::new(),
        };
        let expansion = match &listed {
            Ok(texts) => Expansion::Items(texts),
            Err(why) => Expansion::Failed(why, &alerts),
        };
        if !self
            .store
            .expand_task((dag_id, run_id), &task.row(), expansion)
            .await?
        {
            return Ok(()); // another job decided it: the next refresh tells
        }
        match expansion {
            Expansion::Items(items) if !items.is_empty() => {
                tracing::info!(
                    "{dag_id} {run_id}: {task_id} mapped over {} items ({} ms)",
                    items.len(),
                    started.elapsed().as_millis()
                );
                self.emit(RunEvent::TaskExpanded {
                    task_id: task_id.to_string(),
                    count: items.len(),
                });
            }
            Expansion::Items(_) => self.emit(RunEvent::TaskDecided {
                task_id: task_id.to_string(),
                state: TaskState::Skipped,
            }),
            Expansion::Failed(why, _) => {
                tracing::warn!("{dag_id} {run_id}: {task_id} failed: {why}");
                self.emit(RunEvent::TaskFinished {
                    task_id: task_id.to_string(),
                    try_number: 1,
                    state: TaskState::Failed,
                    seconds: 0.0,
                    error: Some(why.to_string()),
                });
            }
        }
        let rows = self.store.task_instances(dag_id, run_id).await?;
        let old: Vec<Key> = tasks
            .instances_of(task_id)
            .map(|m| (task_id.to_string(), m))
            .collect();
        for key in old {
            tasks.remove(&key);
        }
        for row in rows.into_iter().filter(|r| r.task_id == task_id) {
            let (key, view) = view_of(row);
            let state = view.state;
            tasks.insert(
                key.clone(),
                TaskView {
                    state: TaskState::None,
                    ..view
                },
            );
            // Through `set`, so that a skip or failure makes the downstream decide.
            tasks.set(dag, &key, state);
        }
        Ok(())
    }

    /// The `on_failure` messages of mapped task `task` failing to expand with `why`, for
    /// the try that records it.
    async fn expansion_alerts(
        &self,
        run: &DagRunRow,
        task: &crate::dag::Task,
        why: &str,
    ) -> Result<Vec<NewCallback>> {
        let Some((event, actions, shown)) = task.callbacks.for_end(TaskState::Failed) else {
            return Ok(Vec::new());
        };
        let (dag_id, run_id) = (run.dag_id.as_str(), run.run_id.as_str());
        let tried = self
            .store
            .task_instances(dag_id, run_id)
            .await?
            .into_iter()
            .find(|ti| ti.task_id == task.task_id && ti.map_index < 0)
            .map_or(0, |ti| ti.try_number);
        let key = (dag_id, run_id, task.task_id.as_str());
        let base = self.settings.base_url.as_ref().map(url::Url::as_str);
        let facts = crate::alerts::task_facts(key, tried + 1, shown, Some(why), base);
        Ok(NewCallback::for_actions(
            key,
            tried + 1,
            event,
            actions,
            &facts,
        ))
    }

    /// Moves tasks whose retry is due from `up_for_retry` to `scheduled`.
    async fn promote_due_retries(
        &self,
        dag: &Dag,
        run: &DagRunRow,
        tasks: &mut RunTasks,
    ) -> Result<()> {
        let now = Utc::now();
        let due: Vec<Key> = tasks
            .retrying()
            .filter(|(_, at)| at.is_none_or(|at| at <= now))
            .map(|(key, _)| key.clone())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let keys: Vec<(&str, i32)> = due.iter().map(|(id, m)| (id.as_str(), *m)).collect();
        self.store
            .move_tasks(
                &run.dag_id,
                &run.run_id,
                &keys,
                TaskState::UpForRetry,
                TaskState::Scheduled,
            )
            .await?;
        for key in &due {
            tasks.update(key, None, Some(None));
            tasks.set(dag, key, TaskState::Scheduled);
        }
        Ok(())
    }

    /// Claims scheduled tasks up to `max_active_tasks` (at most `MAX_CLAIM` at a time) and
    /// starts the attempts this job won; true when there may be more to claim at once.
    async fn claim_and_start(
        &self,
        resolved: &Resolved,
        vars: &Arc<RunVars>,
        mode: RunMode,
        cancel: &CancellationToken,
        tasks: &mut RunTasks,
        running: &mut JoinSet<Result<AttemptEnd>>,
    ) -> Result<bool> {
        if !tasks.any_scheduled() {
            return Ok(false);
        }
        let dag = &*resolved.dag;
        let room = (dag.max_active_tasks as usize)
            .saturating_sub(tasks.running())
            .min(self.job.free_slots());
        // A run shared by schedulers gets each task run by one serving its queue; a run
        // this process works alone (a foreground trigger) runs every task here.
        let served = |(task_id, _): &(&str, i32)| {
            mode == RunMode::Exclusive
                || dag
                    .task(task_id)
                    .is_some_and(|t| self.settings.queues.contains(&t.queue))
        };
        // Checks of waiting tasks first: they are short, and a sensor's interval is a
        // promise.
        let now = Utc::now();
        let scheduled = tasks
            .scheduled()
            .filter_map(|(i, m)| dag.topo_order.get(i).map(|id| (id.as_str(), m)));
        // The ids as the DAG holds them: `tasks` changes below.
        let due = tasks
            .due_rechecks(now)
            .filter_map(|(id, m)| dag.task(id).map(|t| (t.task_id.as_str(), *m)));
        // A mapped task's instances run at most `max_active` at once.
        let mut starting: HashMap<&str, usize> = HashMap::new();
        let mut within_max_active = |(task_id, _): &(&str, i32)| {
            let Some(task) = dag.task(task_id) else {
                return true;
            };
            let Some(map) = &task.map else {
                return true;
            };
            let limit = map.max_active.unwrap_or(dag.max_active_tasks) as usize;
            let n = starting.entry(task.task_id.as_str()).or_default();
            if tasks.running_of(&task.task_id) + *n >= limit {
                return false;
            }
            *n += 1;
            true
        };
        let wanted: Vec<(&str, i32)> = due
            .chain(scheduled)
            .filter(served)
            .filter(|key| within_max_active(key))
            .take(room.min(MAX_CLAIM))
            .collect();
        if wanted.is_empty() {
            return Ok(false);
        }
        let more = wanted.len() == MAX_CLAIM && room > MAX_CLAIM;
        let caps = queue_caps(dag, &wanted, &self.settings.queue_limits);
        let claimed = self
            .store
            .claim_tasks(
                (&vars.dag_id, &vars.run_id),
                &wanted,
                &caps,
                Claimant {
                    job_id: &self.job.id,
                    hostname: &self.job.hostname,
                },
                |task_id, map_index, try_number| {
                    let ids = (vars.dag_id.as_str(), vars.run_id.as_str(), task_id);
                    // Logs in the object store are read from there, on any host.
                    if let Some(root) = &self.settings.logs_url {
                        return crate::remote_logs::attempt_url(root, ids, map_index, try_number);
                    }
                    // A refused path fails the attempt when it opens its log.
                    self.settings
                        .log_path(ids, map_index, try_number)
                        .map(|path| path.display().to_string())
                        .unwrap_or_default()
                },
            )
            .await?;
        // Whatever was not won is running elsewhere (or finished); the next refresh tells.
        for (id, map_index) in &wanted {
            tasks.set(dag, &(id.to_string(), *map_index), TaskState::Running);
        }
        for c in claimed {
            let key = (c.task_id.clone(), c.map_index);
            tasks.update(&key, Some(true), None);
            let (max_tries, item) = tasks
                .get(&key)
                .map_or((1, None), |v| (v.max_tries, v.item.clone()));
            let attempt_cancel = cancel.child_token();
            self.job.track(
                OwnedAttempt {
                    dag_id: vars.dag_id.clone(),
                    run_id: vars.run_id.clone(),
                    task_id: c.task_id.clone(),
                    map_index: c.map_index,
                },
                attempt_cancel.clone(),
            );
            let task = dag.tasks[&c.task_id].clone();
            let attempt = Attempt {
                store: self.store.clone(),
                settings: self.settings.clone(),
                job: self.job.clone(),
                events: self.events.clone(),
                refused: resolved.refusal(&task),
                task,
                vars: vars.clone(),
                map_index: c.map_index,
                item: item.and_then(|text| serde_json::from_str(&text).ok()),
                try_number: u32::try_from(c.try_number).unwrap_or(u32::MAX),
                max_tries,
                waiting_since: c.rechecked.then_some(c.started_at),
                cancel: attempt_cancel,
                shutdown: cancel.clone(),
                retry_on_shutdown: mode == RunMode::Shared,
            };
            running.spawn(attempt.run());
        }
        Ok(more)
    }
}

/// The tasks of `wanted` in each queue that `limits` caps, in claim order.
fn queue_caps<'a>(
    dag: &'a Dag,
    wanted: &[(&'a str, i32)],
    limits: &'a std::collections::BTreeMap<String, u32>,
) -> Vec<QueueCap<'a>> {
    limits
        .iter()
        .filter_map(|(queue, max)| {
            let tasks: Vec<(&str, i32)> = wanted
                .iter()
                .copied()
                .filter(|(id, _)| dag.task(id).is_some_and(|t| &t.queue == queue))
                .collect();
            (!tasks.is_empty()).then_some(QueueCap {
                queue,
                max: *max,
                tasks,
            })
        })
        .collect()
}

/// The grid the loop wakes on for retries and checks: the checks of many sensors due
/// within one step are claimed and recorded together, a few transactions a second
/// instead of one per check.
const DUE_STEP_MS: i64 = 250;

/// When the loop must look again: at the next poll or the earliest retry or check
/// (rounded up to the next [`DUE_STEP_MS`]).
fn next_wake(tasks: &RunTasks, poll_at: Instant) -> Instant {
    let now = Utc::now();
    // What is due already and still waits could not be claimed (no room, another
    // queue): an attempt ending or the next poll wakes the loop for it.
    let retry = tasks.next_due(now).map(|at| {
        let subsec = i64::from(at.timestamp_subsec_millis());
        let late = (DUE_STEP_MS - subsec % DUE_STEP_MS) % DUE_STEP_MS;
        let at = at + chrono::TimeDelta::milliseconds(late);
        let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
        Instant::now() + wait
    });
    match retry {
        Some(at) => at.min(poll_at),
        None => poll_at,
    }
}

/// What the engine knows of an instance from its row.
fn view_of(row: crate::store::TaskInstanceRow) -> (Key, TaskView) {
    (
        (row.task_id, row.map_index),
        TaskView {
            state: row.state,
            max_tries: row.max_tries.max(1) as u32,
            next_try_at: row.next_try_at,
            local: false,
            item: row.map_item,
        },
    )
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

/// A run succeeds only if every instance of every leaf task succeeded or was skipped.
fn run_outcome(dag: &Dag, tasks: &RunTasks) -> RunState {
    let leaves_ok = dag.leaves().all(|t| {
        tasks
            .states_of(&t.task_id)
            .iter()
            .all(|s| matches!(s, TaskState::Success | TaskState::Skipped))
    });
    if leaves_ok {
        RunState::Success
    } else {
        RunState::Failed
    }
}
