//! What the engine knows of a run's task instances, kept with the indexes that let each
//! step of its loop touch only what changed: the tasks whose upstreams changed (to
//! decide), the scheduled instances (to claim, in topological order), those waiting to
//! retry or to be checked again (sensors), and how many are unfinished. A chain of 5,000
//! tasks then costs per task what a chain of 100 does. A task that is not mapped has one
//! instance (map index -1); a mapped one has one per item once it is expanded.

use crate::dag::Dag;
use crate::store::TaskState;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

/// A task instance of the run: its task and map index.
pub(super) type Key = (String, i32);

/// One task instance of the run as the engine sees it.
pub(super) struct TaskView {
    pub state: TaskState,
    pub max_tries: u32,
    pub next_try_at: Option<DateTime<Utc>>,
    /// An attempt of it runs in this process.
    pub local: bool,
    /// A mapped instance's item (JSON).
    pub item: Option<String>,
}

/// The run's task instances and their indexes.
pub(super) struct RunTasks {
    views: HashMap<Key, TaskView>,
    /// Each task's instances (map indexes, in order).
    instances: HashMap<String, BTreeSet<i32>>,
    /// Position in the DAG's topological order (tasks of the run's version only).
    order: HashMap<String, usize>,
    /// Tasks with undecided instances whose upstreams changed, by topological position.
    candidates: BTreeSet<usize>,
    /// Scheduled instances, by topological position and map index.
    scheduled: BTreeSet<(usize, i32)>,
    /// Instances waiting for a retry.
    retrying: BTreeSet<Key>,
    /// Waiting instances (sensors) between two checks.
    rechecking: BTreeSet<Key>,
    /// The instances waiting for a retry or a check, by when it is due (none: at once),
    /// so that finding the next due costs the same with 1,000 sensors as with one.
    due: BTreeSet<(DateTime<Utc>, Key)>,
    /// Each instance's key in `due`.
    due_keys: HashMap<Key, DateTime<Utc>>,
    /// Running instances by task (for a mapped task's `max_active`).
    running_by_task: HashMap<String, usize>,
    running: usize,
    unfinished: usize,
}

impl RunTasks {
    /// The run's instances as loaded; every task of `dag` with an undecided instance is a
    /// candidate.
    pub fn new(dag: &Dag, views: HashMap<Key, TaskView>) -> Self {
        let order: HashMap<String, usize> = dag
            .topo_order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut tasks = Self {
            views: HashMap::with_capacity(views.len()),
            instances: HashMap::new(),
            order,
            candidates: BTreeSet::new(),
            scheduled: BTreeSet::new(),
            retrying: BTreeSet::new(),
            rechecking: BTreeSet::new(),
            due: BTreeSet::new(),
            due_keys: HashMap::new(),
            running_by_task: HashMap::new(),
            running: 0,
            unfinished: 0,
        };
        for (key, view) in views {
            tasks.insert(key, view);
        }
        tasks
    }

    /// Adds an instance (one the run did not have, or that an expansion made).
    pub fn insert(&mut self, key: Key, view: TaskView) {
        let state = view.state;
        if let Some(old) = self.views.remove(&key) {
            self.count(&key, old.state, -1);
        }
        self.count(&key, state, 1);
        if state == TaskState::None
            && let Some(i) = self.order.get(&key.0)
        {
            self.candidates.insert(*i);
        }
        self.instances
            .entry(key.0.clone())
            .or_default()
            .insert(key.1);
        self.views.insert(key.clone(), view);
        self.index_due(&key);
    }

    /// Takes an instance out (an expansion replaced a mapped task's placeholder).
    pub fn remove(&mut self, key: &Key) {
        if let Some(old) = self.views.remove(key) {
            self.count(key, old.state, -1);
        }
        if let Some(set) = self.instances.get_mut(&key.0) {
            set.remove(&key.1);
        }
        self.index_due(key);
    }

    /// Puts an instance in `due` by its state and `next_try_at`, or takes it out.
    fn index_due(&mut self, key: &Key) {
        let wanted = self.views.get(key).and_then(|v| {
            matches!(v.state, TaskState::UpForRetry | TaskState::UpForReschedule)
                .then(|| v.next_try_at.unwrap_or(DateTime::<Utc>::MIN_UTC))
        });
        let current = self.due_keys.get(key).copied();
        if wanted == current {
            return;
        }
        if let Some(old) = current {
            self.due.remove(&(old, key.clone()));
            self.due_keys.remove(key);
        }
        if let Some(at) = wanted {
            self.due.insert((at, key.clone()));
            self.due_keys.insert(key.clone(), at);
        }
    }

    /// The view of an instance.
    pub fn get(&self, key: &Key) -> Option<&TaskView> {
        self.views.get(key)
    }

    /// The map indexes of a task's instances, in order.
    pub fn instances_of(&self, task_id: &str) -> impl Iterator<Item = i32> + '_ {
        self.instances
            .get(task_id)
            .into_iter()
            .flat_map(|set| set.iter().copied())
    }

    /// The states of a task's instances that count (not `removed`); an unknown task has
    /// one undecided instance.
    pub fn states_of(&self, task_id: &str) -> Vec<TaskState> {
        let states: Vec<TaskState> = self
            .instances_of(task_id)
            .filter_map(|i| self.views.get(&(task_id.to_string(), i)))
            .map(|v| v.state)
            .filter(|s| *s != TaskState::Removed)
            .collect();
        if states.is_empty() && !self.instances.contains_key(task_id) {
            return vec![TaskState::None];
        }
        states
    }

    /// Moves an instance to `state`, keeping the indexes; a change makes its task's
    /// downstream tasks candidates for a decision.
    pub fn set(&mut self, dag: &Dag, key: &Key, state: TaskState) {
        let Some(old) = self.views.get(key).map(|v| v.state) else {
            return;
        };
        if old == state {
            return;
        }
        self.count(key, old, -1);
        self.count(key, state, 1);
        if let Some(view) = self.views.get_mut(key) {
            view.state = state;
        }
        self.index_due(key);
        if state == TaskState::None
            && let Some(i) = self.order.get(&key.0)
        {
            self.candidates.insert(*i);
        }
        if let Some(task) = dag.task(&key.0) {
            for down in &task.downstream {
                if let Some(i) = self.order.get(down) {
                    self.candidates.insert(*i);
                }
            }
        }
    }

    /// Sets whether an attempt of the instance runs here, and when its retry is due.
    pub fn update(
        &mut self,
        key: &Key,
        local: Option<bool>,
        next_try_at: Option<Option<DateTime<Utc>>>,
    ) {
        if let Some(view) = self.views.get_mut(key) {
            if let Some(local) = local {
                view.local = local;
            }
            if let Some(at) = next_try_at {
                view.next_try_at = at;
            }
        }
        self.index_due(key);
    }

    /// Sets an instance's `max_tries` (a clear elsewhere may have raised it).
    pub fn set_max_tries(&mut self, key: &Key, max_tries: u32) {
        if let Some(view) = self.views.get_mut(key) {
            view.max_tries = max_tries;
        }
    }

    fn count(&mut self, key: &Key, state: TaskState, delta: isize) {
        let add = |n: &mut usize| {
            *n = n.saturating_add_signed(delta);
        };
        if !state.is_finished() {
            add(&mut self.unfinished);
        }
        match state {
            TaskState::Running => {
                add(&mut self.running);
                add(self.running_by_task.entry(key.0.clone()).or_default());
            }
            TaskState::Scheduled => {
                if let Some(i) = self.order.get(&key.0).copied() {
                    if delta > 0 {
                        self.scheduled.insert((i, key.1));
                    } else {
                        self.scheduled.remove(&(i, key.1));
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
                    set.insert(key.clone());
                } else {
                    set.remove(key);
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

    /// The scheduled instances (topological position, map index), first in topological
    /// order.
    pub fn scheduled(&self) -> impl Iterator<Item = (usize, i32)> + '_ {
        self.scheduled.iter().copied()
    }

    /// Whether any instance is scheduled or may be due for a check.
    pub fn any_scheduled(&self) -> bool {
        !self.scheduled.is_empty() || !self.rechecking.is_empty()
    }

    /// How many instances are running (here or elsewhere).
    pub fn running(&self) -> usize {
        self.running
    }

    /// How many instances of a task are running.
    pub fn running_of(&self, task_id: &str) -> usize {
        self.running_by_task.get(task_id).copied().unwrap_or(0)
    }

    /// Whether every instance has finished.
    pub fn all_finished(&self) -> bool {
        self.unfinished == 0
    }

    /// The instances waiting for a retry, with when it is due.
    pub fn retrying(&self) -> impl Iterator<Item = (&Key, Option<DateTime<Utc>>)> {
        self.retrying
            .iter()
            .map(|key| (key, self.views.get(key).and_then(|v| v.next_try_at)))
    }

    /// The waiting instances whose next check is due at `now`.
    pub fn due_rechecks(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Key> {
        self.due
            .iter()
            .take_while(move |(at, _)| *at <= now)
            .map(|(_, key)| key)
            .filter(|key| self.rechecking.contains(*key))
    }

    /// The earliest time after `now` an instance waiting for a retry or a check is due.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = (
            Bound::Excluded((now, (String::new(), i32::MIN))),
            Bound::Unbounded,
        );
        self.due
            .range::<(DateTime<Utc>, Key), _>(after)
            .map(|(at, _)| *at)
            .find(|at| *at > now)
    }

    /// Every instance and its view.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &TaskView)> {
        self.views.iter()
    }
}
