//! `noop`: does nothing and succeeds (Airflow's EmptyOperator); for joins and benchmarks.

use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoopConfig {}
updraft_core::declare_task_type!(Noop, "noop", |config, _| validate(config));

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    parse_config::<NoopConfig>(config).map(|_| ())
}

pub(crate) async fn run(config: &Value, _ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    Ok(TaskOutcome::default())
}
