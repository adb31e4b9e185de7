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
mod log;
mod noop;
mod parse_json;
pub mod secrets;
mod shell;
mod sql;
pub mod sql_models;
mod stream_uri;
pub mod yaml_locations;

pub use connections::{Connection, Connections};
pub use context::{TaskContext, TaskOutcome};
pub use error::TaskError;
pub use lake::{LakeTable, QueryResult, lake_tables, query_lake, query_tables};
pub use land::row_object as csv_row_object;
pub use log::TaskLog;
pub use stream_uri::StreamUri;

use serde_json::Value;

/// Every task type this build knows, as written in a DAG's `type:` key.
pub const TASK_TYPES: &[&str] = &[
    "noop",
    "shell",
    "sql",
    "http",
    "land",
    "parse_json",
    "delta_sql",
    "load_warehouse",
    "delta_maintenance",
    "data_test",
    "sql_models",
];

/// Checks a task's (unrendered) `with:` configuration for its type, without running it;
/// files it names are relative to `dag_folder`.
pub fn validate(
    task_type: &str,
    config: &Value,
    dag_folder: &std::path::Path,
) -> Result<(), TaskError> {
    match task_type {
        "noop" => noop::validate(config),
        "shell" => shell::validate(config),
        "sql" => sql::validate(config),
        "http" => http::validate(config),
        "land" => land::validate(config),
        "parse_json" => parse_json::validate(config),
        "delta_sql" => delta_sql::validate(config),
        "load_warehouse" => load_warehouse::validate(config),
        "delta_maintenance" => delta_maintenance::validate(config),
        "data_test" => data_test::validate(config, dag_folder),
        "sql_models" => sql_models::validate(config, dag_folder),
        other => Err(unknown_type(other)),
    }
}

/// Runs one attempt of a task with its rendered configuration.
pub async fn run(
    task_type: &str,
    config: &Value,
    ctx: &TaskContext,
) -> Result<TaskOutcome, TaskError> {
    match task_type {
        "noop" => noop::run(config, ctx).await,
        "shell" => shell::run(config, ctx).await,
        "sql" => sql::run(config, ctx).await,
        "http" => http::run(config, ctx).await,
        "land" => land::run(config, ctx).await,
        "parse_json" => parse_json::run(config, ctx).await,
        "delta_sql" => delta_sql::run(config, ctx).await,
        "load_warehouse" => load_warehouse::run(config, ctx).await,
        "delta_maintenance" => delta_maintenance::run(config, ctx).await,
        "data_test" => data_test::run(config, ctx).await,
        "sql_models" => sql_models::run(config, ctx).await,
        other => Err(unknown_type(other)),
    }
}

fn unknown_type(name: &str) -> TaskError {
    TaskError::Config(format!(
        "unknown task type `{name}` (known: {})",
        TASK_TYPES.join(", ")
    ))
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
