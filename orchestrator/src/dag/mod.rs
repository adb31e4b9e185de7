//! The DAG model: what a validated DAG file means (tasks, dependencies, retry policies,
//! schedule), built from YAML by [`load`] and checked with file:line:col errors.

pub mod asset_trigger;
mod dbt_tasks;
mod files;
mod folder;
mod graph;
pub mod ids;
pub mod load;
mod output_reads;
mod run_vars;
mod schedule;
pub mod source;
pub mod spec;
pub mod timetable;
pub mod trigger_rule;

pub use asset_trigger::{AssetMode, AssetTrigger};
pub use files::{DagFiles, Seen};
pub use folder::{DagFolder, dag_files, is_dag_file};
pub use load::{DagError, load_file, parse_dag};
pub use schedule::Schedule;
pub use source::DagSource;
pub use timetable::{Restriction, RunInfo};
pub use trigger_rule::TriggerRule;
pub use updraft_core::yaml_locations::Position;

use crate::alerts::{Callbacks, Deadline, Freshness};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use petgraph::graph::DiGraph;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// A validated DAG.
#[derive(Debug)]
pub struct Dag {
    pub dag_id: String,
    /// How people see the DAG (`display_name:`); None: its id.
    pub display_name: Option<String>,
    /// Who answers for it (`owner:`).
    pub owner: Option<String>,
    pub description: Option<String>,
    /// When it runs by time (`Manual`: never by time).
    pub schedule: Schedule,
    /// When it runs on asset events (`schedule: {assets: [...]}`), besides.
    pub assets: Option<AssetTrigger>,
    pub timezone: Tz,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub max_active_tasks: u32,
    pub params: serde_json::Map<String, Value>,
    pub tags: Vec<String>,
    /// What to do when a run fails or succeeds (`on_retry` is a task's only).
    pub callbacks: Callbacks,
    /// When its runs must be done by (`deadline:`).
    pub deadlines: Vec<Deadline>,
    /// How old assets may get before someone is told (`freshness:`).
    pub freshness: Vec<Freshness>,
    /// Tasks in file order.
    pub tasks: IndexMap<String, Task>,
    /// Edges point from upstream to downstream; node weights are task ids.
    pub graph: DiGraph<String, ()>,
    /// Task ids in a topological order (every task after all its upstreams).
    pub topo_order: Vec<String>,
    /// The file the DAG was read from.
    pub fileloc: PathBuf,
    /// Its text and the files its tasks name, with the hash that identifies a version.
    pub source: DagSource,
}

/// One task of a DAG.
#[derive(Debug, Clone)]
pub struct Task {
    pub task_id: String,
    pub task_type: String,
    pub description: Option<String>,
    pub upstream: Vec<String>,
    pub downstream: Vec<String>,
    pub trigger_rule: TriggerRule,
    pub retry: RetryPolicy,
    pub execution_timeout: Option<Duration>,
    /// Runs only when this template renders to something true (else skipped).
    pub when: Option<String>,
    /// The unrendered `with:` block.
    pub config: Value,
    /// What to do when the task fails for good, is retried, or succeeds.
    pub callbacks: Callbacks,
    /// The URIs of the assets it declares it writes (`outlets:`) and reads (`inlets:`).
    pub outlets: Vec<String>,
    pub inlets: Vec<String>,
    /// The queue whose schedulers may run it (`queue:`).
    pub queue: String,
    /// The upstream tasks whose outputs its templates read (`{{ outputs.<task_id> }}`).
    pub reads_outputs: Vec<String>,
    /// One instance per item of a list, when it is mapped (`for_each:`).
    pub map: Option<Mapping>,
}

/// How a task fans out (`for_each:`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// A list, or a template (text) that renders to a JSON list.
    pub items: Value,
    /// How many instances may run at once (None: the DAG's `max_active_tasks`).
    pub max_active: Option<u32>,
    /// The longest list expanded; a longer one fails the task.
    pub max_items: u32,
}

/// The longest list a mapped task expands by default (Airflow's `max_map_length`).
pub const DEFAULT_MAX_ITEMS: u32 = 1024;

impl Task {
    /// What a new `task_instance` row of this task starts with.
    pub fn row(&self) -> TaskRow<'_> {
        TaskRow {
            task_id: &self.task_id,
            task_type: &self.task_type,
            max_tries: i64::from(self.retry.retries) + 1,
            queue: &self.queue,
        }
    }

    /// Whether its attempts may wait between checks (`up_for_reschedule`): a sensor, or
    /// `trigger_dag` with `wait`. Such a check is safe to do again after a crash.
    pub fn waits(&self) -> bool {
        match self.task_type.as_str() {
            "wait" => true,
            "trigger_dag" => self.config.get("wait").is_some_and(|w| w != false),
            _ => false,
        }
    }
}

/// What a new run's `task_instance` row of a task starts with.
#[derive(Debug, Clone, Copy)]
pub struct TaskRow<'a> {
    pub task_id: &'a str,
    pub task_type: &'a str,
    pub max_tries: i64,
    pub queue: &'a str,
}

/// The queue of a task that names none, and the one a scheduler serves by default.
pub const DEFAULT_QUEUE: &str = "default";

/// How a failed attempt is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub delay: Duration,
    pub exponential_backoff: bool,
    pub max_delay: Option<Duration>,
}

impl RetryPolicy {
    /// The wait after attempt `try_number` (1-based) failed: `delay × 2^(try−1)` with
    /// exponential backoff, capped by `max_delay`.
    pub fn delay_after(&self, try_number: u32) -> Duration {
        let delay = if self.exponential_backoff {
            let factor = 2u32.saturating_pow(try_number.saturating_sub(1));
            self.delay.saturating_mul(factor)
        } else {
            self.delay
        };
        match self.max_delay {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }
}

impl Dag {
    /// How people see the DAG: its `display_name`, else its id.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.dag_id)
    }

    /// How its schedule reads in listings (None: manual only): `0 2 * * *`, `Asset`,
    /// `Asset or 0 2 * * *`.
    pub fn schedule_summary(&self) -> Option<String> {
        asset_trigger::summary(&self.schedule, self.assets.as_ref())
    }

    /// The task with this id.
    pub fn task(&self, task_id: &str) -> Option<&Task> {
        self.tasks.get(task_id)
    }

    /// What bounds the DAG's scheduled runs: start and end dates, catchup.
    pub fn restriction(&self) -> Restriction {
        Restriction {
            earliest: self.start_date,
            latest: self.end_date,
            catchup: self.catchup,
        }
    }

    /// (task_id, task_type, max_tries) of every task, for a new run.
    pub fn task_rows(&self) -> Vec<TaskRow<'_>> {
        self.tasks.values().map(Task::row).collect()
    }

    /// Tasks nothing depends on: the run's outcome is decided by them.
    pub fn leaves(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values().filter(|t| t.downstream.is_empty())
    }

    /// Adds `task_id` and every task downstream of it to `into` (nothing for an unknown id).
    pub fn with_downstream(&self, task_id: &str, into: &mut std::collections::BTreeSet<String>) {
        let Some(start) = self.node(task_id) else {
            return;
        };
        let mut dfs = petgraph::visit::Dfs::new(&self.graph, start);
        while let Some(n) = dfs.next(&self.graph) {
            into.insert(self.graph[n].clone());
        }
    }

    /// The tasks upstream of `task_id`, directly or through others (not itself).
    pub fn upstream_of(&self, task_id: &str) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        let Some(start) = self.node(task_id) else {
            return found;
        };
        let reversed = petgraph::visit::Reversed(&self.graph);
        let mut dfs = petgraph::visit::Dfs::new(reversed, start);
        while let Some(n) = dfs.next(reversed) {
            if n != start {
                found.insert(self.graph[n].clone());
            }
        }
        found
    }

    /// The graph's node of `task_id`.
    fn node(&self, task_id: &str) -> Option<petgraph::graph::NodeIndex> {
        self.graph
            .node_indices()
            .find(|n| self.graph[*n] == task_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            retries: 5,
            delay: Duration::from_secs(1),
            exponential_backoff: true,
            max_delay: Some(Duration::from_secs(5)),
        };
        let waits: Vec<u64> = (1..=5).map(|t| p.delay_after(t).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
        let flat = RetryPolicy {
            exponential_backoff: false,
            ..p
        };
        assert_eq!(flat.delay_after(4), Duration::from_secs(1));
    }
}
