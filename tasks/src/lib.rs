//! What Updraft tasks *do*: one module per task type. This crate knows nothing about
//! scheduling; it gets a rendered configuration and a [`TaskContext`] and returns a
//! [`TaskOutcome`] or a [`TaskError`] that says whether a retry can help.

pub mod config_message;
mod connections;
mod context;
pub mod data_test;
pub mod db_error;
mod delta_maintenance;
mod delta_sql;
mod error;
mod http;
mod key_set;
mod lake;
mod land;
mod load_warehouse;
pub mod log;
mod noop;
mod parse_json;
pub mod registry;
pub mod secrets;
mod shell;
mod sql;
pub mod sql_models;
mod stream_uri;
pub mod yaml_locations;

pub use connections::{Connection, Connections};
pub use context::{Processes, TaskContext, TaskOutcome};
pub use error::TaskError;
pub use lake::{LakeTable, QueryResult, lake_tables, query_lake, query_tables};
pub use land::row_object as csv_row_object;
pub use log::TaskLog;
pub use registry::{TASK_TYPES, TaskType, task_type};
pub use stream_uri::StreamUri;

use serde_json::Value;

/// Checks a task's (unrendered) `with:` configuration for its type, without running it;
/// files it names are relative to `dag_folder`.
pub fn validate(
    task_type: &str,
    config: &Value,
    dag_folder: &std::path::Path,
) -> Result<(), TaskError> {
    registry::task_type(task_type)?.validate(config, dag_folder)
}

/// The files and folders a task's (unrendered) `with:` names, relative to the DAG file's
/// folder (none for an unknown type).
pub fn named_files(task_type: &str, config: &Value) -> Vec<String> {
    registry::task_type(task_type).map_or_else(|_| Vec::new(), |t| t.named_files(config))
}

/// The values of `keys` in a `with:` block that are literal paths (a templated one is
/// only known per run).
pub(crate) fn literal_paths(config: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|key| config.get(*key)?.as_str())
        .filter(|path| !path.contains("{{") && !path.contains("{%") && !path.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs one attempt of a task with its rendered configuration.
pub async fn run(
    task_type: &str,
    config: &Value,
    ctx: &TaskContext,
) -> Result<TaskOutcome, TaskError> {
    registry::task_type(task_type)?.run(config, ctx).await
}

/// Deserializes a task's `with:` block into its typed config, as a fatal config error on failure.
pub(crate) fn parse_config<T: serde::de::DeserializeOwned>(config: &Value) -> Result<T, TaskError> {
    let value = if config.is_null() {
        Value::Object(Default::default())
    } else {
        config.clone()
    };
    serde_json::from_value(value)
        .map_err(|e| TaskError::Config(config_message::for_people(&e.to_string())))
}

/// Parses a human duration such as `30s`, `10m`, `1h` or `1d` in a task config.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(trimmed)
        .map_err(|e| format!("bad duration `{text}`: {e} (use e.g. 30s, 10m, 1h, 1d)"))
}
