//! The DAG file as written: serde structs that mirror the YAML and reject unknown keys.

use crate::alerts::{Action, DeadlineSpecs, FreshnessSpec};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// One DAG file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagSpec {
    pub dag_id: String,
    /// How people see the DAG (Airflow's `dag_display_name`); the id when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Who answers for the DAG (Airflow's `owners`).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Text (cron, preset, interval, `@once`) or a mapping with `assets:` (read by
    /// [`super::asset_trigger::parse_schedule`]).
    #[serde(default)]
    pub schedule: Option<Value>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub catchup: bool,
    #[serde(default)]
    pub max_active_runs: Option<u32>,
    #[serde(default)]
    pub max_active_tasks: Option<u32>,
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    #[serde(default)]
    pub default_args: RetrySpec,
    /// What to do when a run fails or succeeds (`- webhook: {...}`: one-key maps, not
    /// YAML tags).
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_failure: Vec<Action>,
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_success: Vec<Action>,
    /// When runs must be done by, and what to do when one is not.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub deadline: Option<DeadlineSpecs>,
    /// How old assets may get before someone is told.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub freshness: Vec<FreshnessSpec>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub tasks: IndexMap<String, TaskSpec>,
}

/// Retry, timeout and alert settings, in `default_args` or on a task.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub retries: Option<u32>,
    pub retry_delay: Option<DurationSpec>,
    pub retry_exponential_backoff: Option<bool>,
    pub max_retry_delay: Option<DurationSpec>,
    pub execution_timeout: Option<DurationSpec>,
    pub trigger_rule: Option<String>,
    /// Which schedulers may run the task: those serving this queue (default `default`).
    pub queue: Option<String>,
    /// What to do when the task fails for good, is retried, or succeeds.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_failure: Option<Vec<Action>>,
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_retry: Option<Vec<Action>>,
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_success: Option<Vec<Action>>,
    /// What to do when the task's `when:` skips it.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_skipped: Option<Vec<Action>>,
    /// What to do when data tests the task reports fail (or error), or warn.
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_test_failure: Option<Vec<Action>>,
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub on_test_warn: Option<Vec<Action>>,
}

/// A duration as written: `30s`, `10m`, `1h`, `1d`, or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a duration such as 30s, 10m, 1h, 1d, or a number of seconds"
)]
pub enum DurationSpec {
    Seconds(u64),
    Text(String),
}

/// One task.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    #[serde(rename = "type")]
    pub task_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, rename = "with")]
    pub config: Value,
    /// A template; the task is skipped when it renders empty or false.
    #[serde(default)]
    pub when: Option<String>,
    /// Assets a successful attempt writes, besides those its type records itself
    /// (Airflow's `outlets`): URIs or `{{ lake }}/...` tables.
    #[serde(default)]
    pub outlets: Vec<String>,
    /// Assets it reads, likewise (Airflow's `inlets`).
    #[serde(default)]
    pub inlets: Vec<String>,
    /// Runs one instance of the task per item: a YAML list, or a template that renders
    /// to a JSON list.
    #[serde(default)]
    pub for_each: Option<Value>,
    /// How many of its instances may run at once (default: the DAG's
    /// `max_active_tasks`).
    #[serde(default)]
    pub max_active: Option<u32>,
    /// The longest list it expands (default 1,024, Airflow's `max_map_length`).
    #[serde(default)]
    pub max_items: Option<u32>,
    #[serde(flatten)]
    pub retry: RetrySpec,
}
