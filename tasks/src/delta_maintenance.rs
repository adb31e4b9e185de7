//! `delta_maintenance`: keeps a Delta table fast and small. `optimize` compacts small
//! files into large ones (a `dataChange: false` commit, which incremental readers
//! ignore); `vacuum` deletes files no version within the retention still uses, and the
//! staging folders of Spark writes no commit took.

use crate::lake::{self, delta_error};
use crate::{TaskContext, TaskError, TaskOutcome, parse_config, parse_duration};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceConfig {
    /// The Delta table.
    table: String,
    /// Compact small files.
    #[serde(default = "yes")]
    optimize: bool,
    /// Target size of compacted files, in bytes (delta-rs default when absent).
    #[serde(default)]
    target_size: Option<std::num::NonZeroU64>,
    /// Delete unused files older than `retention`.
    #[serde(default = "yes")]
    vacuum: bool,
    /// How long removed files stay readable for time travel and running readers.
    #[serde(default = "default_retention")]
    retention: String,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn default_retention() -> String {
    "7d".into()
}
updraft_core::declare_task_type!(
    DeltaMaintenance,
    "delta_maintenance",
    |config, _| validate(config),
    reports = &[updraft_core::ReportKind::Asset]
);

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: MaintenanceConfig = parse_config(config)?;
    if !cfg.retention.contains("{{") {
        parse_duration(&cfg.retention).map_err(TaskError::Config)?;
    }
    if !cfg.optimize && !cfg.vacuum {
        return Err(TaskError::Config(
            "nothing to do: both `optimize` and `vacuum` are false".into(),
        ));
    }
    Ok(())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let cfg: MaintenanceConfig = parse_config(config)?;
    let retention = parse_duration(&cfg.retention).map_err(TaskError::Config)?;
    let mut table = lake::open(&cfg.table, &cfg.storage_options).await?;
    if table.version().is_none() {
        ctx.log.line(format!(
            "{} has no commits yet; nothing to maintain",
            cfg.table
        ));
        return Ok(TaskOutcome::default()
            .with("files_added", 0)
            .with("files_removed", 0)
            .with("files_deleted", 0));
    }
    let before = lake::version(&table);
    let mut outcome = TaskOutcome::default();
    if cfg.optimize {
        let mut builder = table.clone().optimize();
        if let Some(size) = cfg.target_size {
            builder = builder.with_target_size(size);
        }
        let (optimized, metrics) = builder.await.map_err(|e| delta_error("compacting", e))?;
        table = optimized;
        ctx.log.line(format!(
            "optimize: {} files compacted into {}",
            metrics.num_files_removed, metrics.num_files_added
        ));
        outcome = outcome
            .with("files_added", metrics.num_files_added)
            .with("files_removed", metrics.num_files_removed);
    }
    if cfg.vacuum {
        // Writes Spark staged and no commit took (an attempt killed in between).
        let abandoned = lake::remove_abandoned(&table, retention).await?;
        if !abandoned.is_empty() {
            ctx.log.line(format!(
                "vacuum: removed {} uncommitted staging folder(s): {}",
                abandoned.len(),
                abandoned.join(", ")
            ));
        }
        outcome = outcome.with("staging_folders_removed", abandoned.len());
        let retention = chrono::Duration::from_std(retention)
            .map_err(|e| TaskError::Config(format!("`retention` is too long: {e}")))?;
        let (vacuumed, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| delta_error("vacuuming", e))?;
        ctx.log.line(format!(
            "vacuum: {} unused files deleted",
            metrics.files_deleted.len()
        ));
        outcome = outcome.with("files_deleted", metrics.files_deleted.len());
        table = vacuumed;
    }
    // A rewrite is a new version of the table (an asset event, which triggers nothing:
    // the data is the same); a no-op is not.
    if lake::version(&table) > before {
        lake::report_rewrite(ctx, &cfg.table, lake::version(&table));
    }
    Ok(outcome)
}
