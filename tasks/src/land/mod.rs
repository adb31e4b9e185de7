//! `land`: appends raw records from a Kafka topic (all partitions) or a folder of
//! JSON-lines and CSV files to a bronze Delta table, exactly once. It lands what is available
//! when it starts, in bounded batches, and stops (Spark's `availableNow`). The source
//! position (a Kafka offset per partition, or lines per file) is committed in the same
//! Delta commit as the data, as `txn` actions, and checked on the snapshot the commit
//! is made on; the broker's consumer-group offsets are never used.

mod bronze;
mod csv_rows;
mod files;
mod kafka;

use crate::lake;
use crate::{StreamUri, TaskContext, TaskError, TaskOutcome, parse_config};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use updraft_core::report::{AssetAccess, AssetEvent, Report};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LandConfig {
    /// `file://DIR` or `kafka://HOST:PORT/TOPIC`.
    source: String,
    /// The bronze Delta table (a path or a URL).
    table: String,
    /// Records per Delta commit; bounds memory whatever the backlog.
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    /// Extra librdkafka consumer settings.
    #[serde(default)]
    kafka_properties: BTreeMap<String, String>,
    /// Fail when the broker no longer holds offsets that were never landed (retention).
    #[serde(default = "yes")]
    fail_on_data_loss: bool,
    /// Object-store settings for the table (e.g. S3 endpoint and keys).
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
}

fn default_batch_size() -> usize {
    100_000
}

fn yes() -> bool {
    true
}

impl LandConfig {
    fn source(&self) -> Result<StreamUri, TaskError> {
        self.source.parse().map_err(TaskError::Config)
    }
}
updraft_core::declare_task_type!(
    Land,
    "land",
    |config, _| validate(config),
    reports = &[updraft_core::ReportKind::Asset]
);

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: LandConfig = parse_config(config)?;
    if !cfg.source.contains("{{") {
        cfg.source()?;
    }
    if cfg.batch_size == 0 {
        return Err(TaskError::Config("`batch_size` must be at least 1".into()));
    }
    Ok(())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let cfg: LandConfig = parse_config(config)?;
    let source = cfg.source()?;
    let mut bronze = bronze::Bronze::open(&cfg.table, &cfg.storage_options).await?;
    let started = std::time::Instant::now();
    ctx.log.line(format!("landing {source} into {}", cfg.table));
    let landed = match &source {
        StreamUri::File(dir) => files::land(dir, &mut bronze, cfg.batch_size, ctx).await?,
        StreamUri::Kafka { bootstrap, topic } => {
            let options = kafka::Options {
                bootstrap: bootstrap.clone(),
                topic: topic.clone(),
                batch_size: cfg.batch_size,
                properties: cfg.kafka_properties.clone(),
                fail_on_data_loss: cfg.fail_on_data_loss,
            };
            kafka::land(options, &mut bronze, ctx).await?
        }
    };
    let rows = i64::try_from(landed).ok();
    if bronze.commits > 0 {
        lake::report_write(ctx, &cfg.table, bronze.version(), rows, Vec::new());
    }
    ctx.reports.push(Report::Asset(AssetEvent {
        uri: source.asset_uri(&ctx.lake),
        access: AssetAccess::Read,
        version: None,
        rows,
        partitions: Vec::new(),
    }));
    let seconds = started.elapsed().as_secs_f64();
    ctx.log.line(format!(
        "landed {landed} records in {} commits, {seconds:.2}s ({:.0} records/s)",
        bronze.commits,
        landed as f64 / seconds.max(1e-9)
    ));
    Ok(TaskOutcome::default()
        .with("records", landed)
        .with("commits", bronze.commits)
        .with("seconds", seconds)
        .with("table_version", bronze.version()))
}
