//! What the engine knows of a run's tasks, kept with the indexes that let each step of
//! its loop touch only what changed: the tasks whose upstreams changed (to decide), the
//! scheduled ones (to claim, in topological order), those waiting to retry or to be
//! checked again (sensors), and how many are unfinished. A chain of 5,000 tasks then
//! costs per task what a chain of 100 does.

use crate::dag::Dag;
use crate::store::TaskState;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

/// One task of the run as the engine sees it.
pub(super) struct TaskView {
    pub state: TaskState,
    pub max_tries: u32,
    pub next_try_at: Option<DateTime<Utc>>,
    /// An attempt of it runs in this process.
    pub local: bool,
}

/// The run's tasks and their indexes.
pub(super) struct RunTasks {
    views: HashMap<String, TaskView>,
    /// Position in the DAG's topological order (tasks of the run's version only).
    order: HashMap<String, usize>,
    /// Undecided tasks whose upstreams changed, by topological position.
    candidates: BTreeSet<usize>,
    /// Scheduled tasks, by topological position.
    scheduled: BTreeSet<usize>,
    /// Tasks waiting for a retry.
    retrying: BTreeSet<String>,
    /// Waiting tasks (sensors) between two checks.
    rechecking: BTreeSet<String>,
    /// The tasks waiting for a retry or a check, by when it is due (none: at once), so
    /// that finding the next due costs the same with 1,000 sensors as with one.
    due: BTreeSet<(DateTime<Utc>, String)>,
    /// Each task's key in `due`.
    due_keys: HashMap<String, DateTime<Utc>>,
    running: usize,
    unfinished: usize,
}

impl RunTasks {
    /// The run's tasks as loaded; every undecided task of `dag` is a candidate.
    pub fn new(dag: &Dag, views: HashMap<String, TaskView>) -> Self {
        let order: HashMap<String, usize> = dag
            .topo_order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut tasks = Self {
            views: HashMap::with_capacity(views.len()),
            order,
            candidates: BTreeSet::new(),
            scheduled: BTreeSet::new(),
            retrying: BTreeSet::new(),
            rechecking: BTreeSet::new(),
            due: BTreeSet::new(),
            due_keys: HashMap::new(),
            running: 0,
            unfinished: 0,
        };
        for (id, view) in views {
            tasks.count(&id, view.state, 1);
            if view.state == TaskState::None
                && let Some(i) = tasks.order.get(&id)
            {
                tasks.candidates.insert(*i);
            }
            tasks.views.insert(id.clone(), view);
            tasks.index_due(&id);
        }
        tasks
    }

    /// Puts a task in `due` by its state and `next_try_at`, or takes it out.
    fn index_due(&mut self, task_id: &str) {
        let wanted = self.views.get(task_id).and_then(|v| {
            matches!(v.state, TaskState::UpForRetry | TaskState::UpForReschedule)
                .then(|| v.next_try_at.unwrap_or(DateTime::<Utc>::MIN_UTC))
        });
        let current = self.due_keys.get(task_id).copied();
        if wanted == current {
            return;
        }
        if let Some(old) = current {
            self.due.remove(&(old, task_id.to_string()));
            self.due_keys.remove(task_id);
        }
        if let Some(at) = wanted {
            self.due.insert((at, task_id.to_string()));
            self.due_keys.insert(task_id.to_string(), at);
        }
    }

    /// The view of a task.
    pub fn get(&self, task_id: &str) -> Option<&TaskView> {
        self.views.get(task_id)
    }

    /// The state of a task (an unknown one counts as undecided).
    pub fn state(&self, task_id: &str) -> TaskState {
        self.views.get(task_id).map_or(TaskState::None, |v| v.state)
    }

    /// Moves a task to `state`, keeping the indexes; a change makes its downstream tasks
    /// candidates for a decision.
    pub fn set(&mut self, dag: &Dag, task_id: &str, state: TaskState) {
        let Some(old) = self.views.get(task_id).map(|v| v.state) else {
            return;
        };
        if old == state {
            return;
        }
        self.count(task_id, old, -1);
        self.count(task_id, state, 1);
        if let Some(view) = self.views.get_mut(task_id) {
            view.state = state;
        }
        self.index_due(task_id);
        if state == TaskState::None
            && let Some(i) = self.order.get(task_id)
        {
            self.candidates.insert(*i);
        }
        if let Some(task) = dag.task(task_id) {
            for down in &task.downstream {
                if let Some(i) = self.order.get(down) {
                    self.candidates.insert(*i);
                }
            }
        }
    }

    /// Sets whether an attempt of the task runs here, and when its retry is due.
    pub fn update(
        &mut self,
        task_id: &str,
        local: Option<bool>,
        next_try_at: Option<Option<DateTime<Utc>>>,
    ) {
        if let Some(view) = self.views.get_mut(task_id) {
            if let Some(local) = local {
                view.local = local;
            }
            if let Some(at) = next_try_at {
                view.next_try_at = at;
            }
        }
        self.index_due(task_id);
    }

    /// Sets a task's `max_tries` (a clear elsewhere may have raised it).
    pub fn set_max_tries(&mut self, task_id: &str, max_tries: u32) {
        if let Some(view) = self.views.get_mut(task_id) {
            view.max_tries = max_tries;
        }
    }

    fn count(&mut self, task_id: &str, state: TaskState, delta: isize) {
        let add = |n: &mut usize| {
            *n = n.saturating_add_signed(delta);
        };
        if !state.is_finished() {
            add(&mut self.unfinished);
        }
        match state {
            TaskState::Running => add(&mut self.running),
            TaskState::Scheduled => {
                if let Some(i) = self.order.get(task_id).copied() {
                    if delta > 0 {
                        self.scheduled.insert(i);
                    } else {
                        self.scheduled.remove(&i);
                    }
                }
            }
            TaskState::UpForRetry | TaskState::UpForReschedule => {
                let set = if state == TaskState::UpForRetry {
                    &mut self.retrying
                } else {
                    &mut self.rechecking
                };
                if delta > 0 {
                    set.insert(task_id.to_string());
                } else {
                    set.remove(task_id);
                }
            }
            _ => {}
        }
    }

    /// Takes the next candidate for a decision, first in topological order (so a skip or
    /// an upstream failure flows down in one pass).
    pub fn next_candidate(&mut self) -> Option<usize> {
        self.candidates.pop_first()
    }

    /// Whether any task may be decided.
    pub fn has_candidates(&self) -> bool {
        !self.candidates.is_empty()
    }

    /// Up to `n` scheduled tasks, first in topological order.
    pub fn scheduled(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        self.scheduled.iter().copied().take(n)
    }

    /// Whether any task is scheduled or may be due for a check.
    pub fn any_scheduled(&self) -> bool {
        !self.scheduled.is_empty() || !self.rechecking.is_empty()
    }

    /// How many tasks are running (here or elsewhere).
    pub fn running(&self) -> usize {
        self.running
    }

    /// Whether every task has finished.
    pub fn all_finished(&self) -> bool {
        self.unfinished == 0
    }

    /// The tasks waiting for a retry, with when it is due.
    pub fn retrying(&self) -> impl Iterator<Item = (&str, Option<DateTime<Utc>>)> {
        self.retrying
            .iter()
            .map(|id| (id.as_str(), self.views.get(id).and_then(|v| v.next_try_at)))
    }

    /// The waiting tasks whose next check is due at `now`.
    pub fn due_rechecks(&self, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
        self.due
            .iter()
            .take_while(move |(at, _)| *at <= now)
            .map(|(_, id)| id.as_str())
            .filter(|id| self.rechecking.contains(*id))
    }

    /// The earliest time after `now` a task waiting for a retry or a check is due.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = (Bound::Excluded((now, String::new())), Bound::Unbounded);
        self.due
            .range::<(DateTime<Utc>, String), _>(after)
            .map(|(at, _)| *at)
            .find(|at| *at > now)
    }

    /// Every task and its view.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TaskView)> {
        self.views.iter()
    }
}
