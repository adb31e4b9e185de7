//! The contract of a task type: a DAG's `type:` names one, the DAG loader asks it to
//! check the task's `with:` block, a DAG version asks it which files the block names, and
//! the engine asks it to run an attempt. The list of the types a build knows is the
//! tasks crate's registry.

use crate::{ReportKind, TaskContext, TaskError, TaskOutcome};
use futures::future::BoxFuture;
use serde_json::Value;
use std::path::Path;

/// One task type.
pub trait TaskType: Sync {
    /// Its name in a DAG's `type:` key.
    fn name(&self) -> &'static str;
    /// Checks an (unrendered) `with:` block; files it names are relative to `dag_folder`.
    fn validate(&self, config: &Value, dag_folder: &Path) -> Result<(), TaskError>;
    /// The `with:` keys that hold paths of files or folders (relative to the DAG file)
    /// its attempts read.
    fn file_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// The files and folders an (unrendered) `with:` block names, relative to the DAG
    /// file's folder, leaving out templated names: what a DAG version must keep.
    fn named_files(&self, config: &Value) -> Vec<String> {
        literal_paths(config, self.file_keys())
    }
    /// The kinds of records its attempts report (see [`crate::Report`]).
    fn reports(&self) -> &'static [ReportKind] {
        &[]
    }
    /// Runs one attempt with the rendered `with:` block.
    fn run<'a>(
        &'a self,
        config: &'a Value,
        ctx: &'a TaskContext,
    ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>>;
}

/// The values of `keys` in a `with:` block that are literal paths (a templated one is
/// only known per run).
pub fn literal_paths(config: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|key| config.get(*key)?.as_str())
        .filter(|path| !path.contains("{{") && !path.contains("{%") && !path.is_empty())
        .map(str::to_string)
        .collect()
}

/// Declares the task type of the module it is written in: a unit struct `$ty` named
/// `$name`, checked by `$validate` (given the config and the DAG's folder) and run by the
/// module's `run`. Optional, in this order: `files = &["key", ...]` names the `with:` keys
/// that hold paths of files or folders its attempts read; `reports = &[ReportKind::..]`
/// the kinds of records it reports.
#[macro_export]
macro_rules! declare_task_type {
    ($ty:ident, $name:literal, $validate:expr $(, files = $files:expr)? $(, reports = $reports:expr)? $(,)?) => {
        #[doc = concat!("The `", $name, "` task type.")]
        pub(crate) struct $ty;

        impl $crate::TaskType for $ty {
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

            $(fn file_keys(&self) -> &'static [&'static str] {
                $files
            })?

            $(fn reports(&self) -> &'static [$crate::ReportKind] {
                $reports
            })?

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
