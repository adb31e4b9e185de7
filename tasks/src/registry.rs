//! The task types this build knows, one entry each: a DAG's `type:` names one, the DAG
//! loader asks it to check the task's `with:` block, and the engine asks it to run an
//! attempt. A new task type is a module with `validate` and `run`, its
//! `declare_task_type!` line, and its entry in [`TASK_TYPES`].

use crate::{TaskContext, TaskError, TaskOutcome};
use futures::future::BoxFuture;
use serde_json::Value;
use std::path::Path;

/// One task type.
pub trait TaskType: Sync {
    /// Its name in a DAG's `type:` key.
    fn name(&self) -> &'static str;
    /// Checks an (unrendered) `with:` block; files it names are relative to `dag_folder`.
    fn validate(&self, config: &Value, dag_folder: &Path) -> Result<(), TaskError>;
    /// The files and folders an (unrendered) `with:` block names, relative to the DAG
    /// file's folder, leaving out templated names: what a DAG version must keep.
    fn named_files(&self, config: &Value) -> Vec<String> {
        let _ = config;
        Vec::new()
    }
    /// Runs one attempt with the rendered `with:` block.
    fn run<'a>(
        &'a self,
        config: &'a Value,
        ctx: &'a TaskContext,
    ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>>;
}

/// Declares the task type of the module it is written in: a unit struct `$ty` named
/// `$name`, checked by `$validate` (given the config and the DAG's folder) and run by the
/// module's `run`; `files = &["key", ...]` names the `with:` keys that hold paths of
/// files or folders (relative to the DAG file) its attempts read.
macro_rules! declare_task_type {
    ($ty:ident, $name:literal, $validate:expr) => {
        $crate::registry::declare_task_type!($ty, $name, $validate, files = &[]);
    };
    ($ty:ident, $name:literal, $validate:expr, files = $files:expr) => {
        #[doc = concat!("The `", $name, "` task type.")]
        pub(crate) struct $ty;

        impl $crate::registry::TaskType for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn validate(
                &self,
                config: &serde_json::Value,
                dag_folder: &std::path::Path,
            ) -> Result<(), $crate::TaskError> {
                ($validate)(config, dag_folder)
            }

            fn named_files(&self, config: &serde_json::Value) -> Vec<String> {
                $crate::literal_paths(config, $files)
            }

            fn run<'a>(
                &'a self,
                config: &'a serde_json::Value,
                ctx: &'a $crate::TaskContext,
            ) -> futures::future::BoxFuture<'a, Result<$crate::TaskOutcome, $crate::TaskError>>
            {
                Box::pin(run(config, ctx))
            }
        }
    };
}
pub(crate) use declare_task_type;

/// Every task type this build knows.
pub static TASK_TYPES: &[&dyn TaskType] = &[
    &crate::noop::Noop,
    &crate::shell::Shell,
    &crate::sql::Sql,
    &crate::http::Http,
    &crate::land::Land,
    &crate::parse_json::ParseJson,
    &crate::delta_sql::DeltaSql,
    &crate::load_warehouse::LoadWarehouse,
    &crate::delta_maintenance::DeltaMaintenance,
    &crate::data_test::DataTest,
    &crate::sql_models::SqlModels,
];

/// The task type called `name`.
pub fn task_type(name: &str) -> Result<&'static dyn TaskType, TaskError> {
    TASK_TYPES
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = TASK_TYPES.iter().map(|t| t.name()).collect();
            TaskError::Config(format!(
                "unknown task type `{name}` (known: {})",
                known.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_unknown_ones_are_listed() {
        let names: Vec<&str> = TASK_TYPES.iter().map(|t| t.name()).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let Err(TaskError::Config(message)) = task_type("spark") else {
            panic!("spark is not a task type");
        };
        assert!(
            message.contains("`spark`") && message.contains("parse_json"),
            "{message}"
        );
    }
}
