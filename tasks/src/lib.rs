//! What Updraft tasks *do*: one module per task type, listed in [`TASK_TYPES`]. This
//! crate knows nothing about scheduling; each type keeps the contract of
//! `updraft_core::TaskType`: it gets a rendered configuration and a `TaskContext`, reports
//! records through `ctx.reports`, and returns a `TaskOutcome` or a `TaskError` that says
//! whether a retry can help.

mod conn_check;
mod data_test;
pub mod dbt;
mod delta_maintenance;
mod delta_sql;
mod http;
mod key_set;
mod lake;
mod land;
mod load_warehouse;
mod noop;
mod parse_json;
pub mod registry;
mod shell;
mod shell_output;
mod spark;
mod spark_sql;
mod sql;
mod sql_models;
mod trigger_dag;
mod wait;

// What every task module takes from the core, under the names it has always used.
pub(crate) use updraft_core::{
    Connection, Connections, StreamUri, TaskContext, TaskError, TaskLog, TaskOutcome,
    config_message, db_error, parse_duration, yaml_locations,
};

pub use conn_check::{CHECK_WITHIN, check_connection};
pub use data_test::{SHOWN_ROWS as SHOWN_FAILING_ROWS, read_failures as stored_failing_rows};
pub use lake::{
    LakeTable, QueryResult, lake_tables, object_store_at, query_lake, query_tables, table_columns,
};
pub use registry::{TASK_TYPES, task_type};

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
