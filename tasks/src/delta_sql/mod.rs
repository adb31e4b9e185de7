//! `delta_sql`: runs a SQL query (DataFusion) over named Delta tables and writes the
//! result to a Delta table: `append`, `overwrite`, `overwrite_partitions` (the
//! partitions a source changed since the last run, or those a predicate names), or
//! `merge` on key columns. With `partitions_from`, the source version the result was
//! computed from is committed with it (a `txn` action), so every run rebuilds exactly
//! the partitions touched since, and a re-run with nothing new changes nothing. With
//! `engine: spark` a Spark Connect server computes the same query over the same files
//! and Updraft commits what it wrote ([`on_spark`]).

mod on_spark;

use crate::lake::{
    self, PartitionValues, Positions, WriteSpec, datafusion_error, delta_error, quote_ident,
};
use crate::{TaskContext, TaskError, TaskOutcome, parse_config, spark};
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::protocol::SaveMode;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    Append,
    Overwrite,
    OverwritePartitions,
    Merge,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaSqlConfig {
    /// Delta tables the query can use, by name.
    #[serde(default)]
    tables: BTreeMap<String, Source>,
    /// The query itself...
    #[serde(default)]
    query: Option<String>,
    /// ...or a file holding it, relative to the DAG file's folder.
    #[serde(default)]
    sql_file: Option<String>,
    /// The Delta table written.
    table: String,
    mode: Mode,
    #[serde(default)]
    partition_by: Vec<String>,
    /// `overwrite_partitions`: rebuild the partitions whose rows changed in this source
    /// table (one of `tables`, partitioned by columns the result also has) since the last run.
    #[serde(default)]
    partitions_from: Option<String>,
    /// `overwrite_partitions`: replace the rows matching this predicate (e.g. the run's
    /// day: `event_date = DATE '{{ ds }}'`); the query must produce only such rows.
    #[serde(default)]
    replace_where: Option<String>,
    /// `merge`: rows whose keys match are updated, others inserted.
    #[serde(default)]
    merge_on: Vec<String>,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
    /// What computes the query: `datafusion` (in process) or `spark`; may be templated.
    #[serde(default)]
    engine: Option<String>,
    /// `engine: spark`: the Spark Connect connection.
    #[serde(default = "spark_conn")]
    conn: String,
    /// `engine: spark`: session settings.
    #[serde(default)]
    spark_conf: BTreeMap<String, String>,
}

fn spark_conn() -> String {
    spark::DEFAULT_CONN.into()
}

impl DeltaSqlConfig {
    /// The engine `engine:` names (rendered), DataFusion when absent.
    fn engine(&self) -> Result<Engine, TaskError> {
        match self.engine.as_deref().map(str::trim) {
            None | Some("") | Some("datafusion") => Ok(Engine::Datafusion),
            Some("spark") => Ok(Engine::Spark),
            Some(other) => Err(TaskError::Config(format!(
                "`engine` is `{other}`; it is `datafusion` or `spark`"
            ))),
        }
    }
}

/// A table the query reads: its location, or `{table: location, where: predicate}` for
/// only the rows the predicate picks (e.g. an asset-triggered run's partition).
#[derive(Deserialize)]
#[serde(untagged)]
enum Source {
    Location(String),
    Filtered(FilteredSource),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilteredSource {
    table: String,
    #[serde(rename = "where")]
    filter: String,
}

impl Source {
    fn location(&self) -> &str {
        match self {
            Source::Location(location) => location,
            Source::Filtered(f) => &f.table,
        }
    }

    fn filter(&self) -> Option<&str> {
        match self {
            Source::Location(_) => None,
            Source::Filtered(f) => Some(&f.filter),
        }
    }
}

updraft_core::declare_task_type!(
    DeltaSql,
    "delta_sql",
    |config, _| validate(config),
    files = &["sql_file"],
    reports = &[updraft_core::ReportKind::Asset]
);

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: DeltaSqlConfig = parse_config(config)?;
    if cfg.query.is_some() == cfg.sql_file.is_some() {
        return Err(TaskError::Config(
            "give exactly one of `query` and `sql_file`".into(),
        ));
    }
    match cfg.mode {
        Mode::OverwritePartitions => {
            if cfg.partitions_from.is_some() == cfg.replace_where.is_some() {
                return Err(TaskError::Config(
                    "`overwrite_partitions` needs exactly one of `partitions_from` and `replace_where`".into(),
                ));
            }
            if let Some(name) = &cfg.partitions_from {
                match cfg.tables.get(name) {
                    None => {
                        return Err(TaskError::Config(format!(
                            "`partitions_from` names `{name}`, which is not in `tables`"
                        )));
                    }
                    Some(Source::Filtered(_)) => {
                        return Err(TaskError::Config(format!(
                            "`partitions_from` reads the partitions of `{name}` that changed; give it as a location, without `where`"
                        )));
                    }
                    Some(Source::Location(_)) => {}
                }
            }
        }
        Mode::Merge if cfg.merge_on.is_empty() => {
            return Err(TaskError::Config(
                "`merge` needs `merge_on` key columns".into(),
            ));
        }
        _ => {}
    }
    let stray = [
        (cfg.partitions_from.is_some(), "partitions_from"),
        (cfg.replace_where.is_some(), "replace_where"),
    ];
    if cfg.mode != Mode::OverwritePartitions
        && let Some((_, key)) = stray.iter().find(|(set, _)| *set)
    {
        return Err(TaskError::Config(format!(
            "`{key}` only applies to mode `overwrite_partitions`"
        )));
    }
    if cfg.mode != Mode::Merge && !cfg.merge_on.is_empty() {
        return Err(TaskError::Config(
            "`merge_on` only applies to mode `merge`".into(),
        ));
    }
    if !cfg.engine.as_deref().unwrap_or_default().contains("{{") {
        cfg.engine()?;
    }
    Ok(())
}

/// This task's name in its txn app ids.
const TASK: &str = "delta-sql";

/// What computes the query.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    /// DataFusion, in this process.
    Datafusion,
    /// A Spark Connect server: it reads the snapshot's Parquet files and writes Parquet
    /// that Updraft commits.
    Spark,
}

/// How the query reads one of `tables`.
struct Read {
    name: String,
    table: DeltaTable,
    rows: Rows,
}

/// Which rows of a source the query sees.
enum Rows {
    All,
    /// Those the predicate picks (`where:`).
    Filtered(String),
    /// Those of the partitions that changed since the last run (`partitions_from`).
    Partitions(BTreeSet<PartitionValues>),
}

/// What the sources say the write must do.
struct Plan {
    reads: Vec<Read>,
    positions: Positions,
    replace_where: Option<String>,
    full_rebuild: bool,
    partitions: usize,
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let cfg: DeltaSqlConfig = parse_config(config)?;
    let query = query_text(&cfg, &ctx.dag_folder)?;
    let started = std::time::Instant::now();
    let mut target = lake::open(&cfg.table, &cfg.storage_options).await?;
    let mut plan = match plan(&cfg, &target, ctx).await? {
        Ok(plan) => plan,
        Err(done) => return Ok(done),
    };
    if let Some(done) = once_per_run(&cfg, &target, ctx, &mut plan.positions).await? {
        return Ok(done);
    }
    for read in &plan.reads {
        lake::report_read(
            ctx,
            cfg.tables[&read.name].location(),
            lake::version(&read.table),
        );
    }
    let replace_where = if plan.full_rebuild || target.version().is_none() {
        None
    } else {
        plan.replace_where.clone()
    };
    let before = lake::version(&target);
    let rows = match cfg.engine()? {
        Engine::Datafusion => {
            let frame = datafusion_frame(&plan.reads, &query).await?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            check_partition_by(&cfg.partition_by, &schema)?;
            write(
                &mut target,
                frame,
                &cfg,
                &schema,
                replace_where,
                &plan.positions,
            )
            .await?
        }
        Engine::Spark => {
            let write = on_spark::Write {
                mode: cfg.mode,
                partition_by: &cfg.partition_by,
                merge_on: &cfg.merge_on,
                replace_where,
                positions: &plan.positions,
            };
            let session = spark::attempt_session(ctx, &cfg.conn, &cfg.spark_conf).await?;
            let done = on_spark::run(&session, &plan.reads, &query, &mut target, write).await;
            session.close().await;
            done?
        }
    };
    if lake::version(&target) > before {
        // The partitions the commit touched, for DAGs scheduled per partition.
        let changes = lake::changes_since(&target, before).await?;
        lake::report_write(
            ctx,
            &cfg.table,
            lake::version(&target),
            i64::try_from(rows).ok(),
            lake::partition_names(&changes.partitions),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    ctx.log.line(format!(
        "{:?} {rows} rows into {} (version {}) in {seconds:.2}s",
        cfg.mode,
        cfg.table,
        lake::version(&target)
    ));
    Ok(TaskOutcome::default()
        .with("rows", rows)
        .with("partitions", plan.partitions)
        .with("full_rebuild", plan.full_rebuild)
        .with("table_version", lake::version(&target))
        .with("seconds", seconds))
}

/// Opens the sources and decides what the query reads and the write replaces; or the
/// outcome when there is nothing to do (a source without commits, nothing new).
async fn plan(
    cfg: &DeltaSqlConfig,
    target: &DeltaTable,
    ctx: &TaskContext,
) -> Result<Result<Plan, TaskOutcome>, TaskError> {
    let mut plan = Plan {
        reads: Vec::with_capacity(cfg.tables.len()),
        positions: Positions::default(),
        replace_where: cfg.replace_where.clone(),
        full_rebuild: cfg.mode == Mode::Overwrite,
        partitions: 0,
    };
    for (name, source) in &cfg.tables {
        let table = lake::open(source.location(), &cfg.storage_options).await?;
        if table.version().is_none() {
            ctx.log.line(format!(
                "source table `{name}` ({}) has no commits yet; nothing to do",
                source.location()
            ));
            return Ok(Err(TaskOutcome::nothing_to_do()));
        }
        let name = name.clone();
        if cfg.partitions_from.as_deref() != Some(name.as_str()) {
            let rows = match source.filter() {
                Some(filter) => Rows::Filtered(filter.to_string()),
                None => Rows::All,
            };
            plan.reads.push(Read { name, table, rows });
            continue;
        }
        let app = lake::source_app_id(TASK, &table)?;
        let last = lake::source_position(target, &app, TASK, &table).await?;
        plan.positions.advance(
            &app,
            lake::position(target, &app).await?,
            lake::version(&table),
        );
        let changes = match last {
            Some(v) => Some(lake::changes_since(&table, v).await?).filter(|c| !c.incomplete),
            None => None,
        };
        let Some(changes) = changes else {
            // Never built, or the log no longer says what changed: rebuild everything.
            ctx.log
                .line(format!("rebuilding all of {} from `{name}`", cfg.table));
            plan.full_rebuild = true;
            plan.reads.push(Read {
                name,
                table,
                rows: Rows::All,
            });
            continue;
        };
        if changes.partitions.is_empty() {
            ctx.log.line(format!(
                "`{name}` has no new rows since version {}; {} is up to date",
                last.unwrap_or(-1),
                cfg.table
            ));
            return Ok(Err(TaskOutcome::default()
                .with("rows", 0)
                .with("partitions", 0)));
        }
        plan.partitions = changes.partitions.len();
        let schema = table
            .snapshot()
            .map_err(|e| delta_error("reading the source schema", e))?
            .snapshot()
            .arrow_schema();
        let filter = lake::partition_filter(&changes.partitions, &schema).unwrap_or("FALSE".into());
        ctx.log.line(format!(
            "rebuilding {} partitions changed in `{name}`: {filter}",
            plan.partitions
        ));
        plan.replace_where = Some(filter);
        plan.reads.push(Read {
            name,
            table,
            rows: Rows::Partitions(changes.partitions),
        });
    }
    Ok(Ok(plan))
}

/// An `append` adds a run's rows once: its commit carries the run's `txn` (the try
/// number), and a later try of the same run (a retry after a crash that left the commit
/// unrecorded, or a clear) that finds it appends nothing. Other modes replace what they
/// write, so a later try computes again (and their logs gain no `txn` per run).
async fn once_per_run(
    cfg: &DeltaSqlConfig,
    target: &DeltaTable,
    ctx: &TaskContext,
    positions: &mut Positions,
) -> Result<Option<TaskOutcome>, TaskError> {
    if cfg.mode != Mode::Append {
        return Ok(None);
    }
    let app = format!(
        "updraft-{TASK}:run:{}/{}/{}",
        ctx.dag_id, ctx.task_id, ctx.run_id
    );
    let committed = lake::position(target, &app).await?;
    let try_number = i64::from(ctx.try_number);
    if let Some(earlier) = committed.filter(|t| *t < try_number) {
        ctx.log.line(format!(
            "try {earlier} of this run already appended its rows to {}; appending nothing",
            cfg.table
        ));
        return Ok(Some(TaskOutcome::nothing_to_do()));
    }
    positions.advance(&app, committed, try_number);
    Ok(None)
}

/// The query planned by DataFusion over the sources, each registered as its rows say.
async fn datafusion_frame(reads: &[Read], query: &str) -> Result<DataFrame, TaskError> {
    let session = lake::sql_session(&[]).await?;
    for read in reads {
        match &read.rows {
            Rows::All => lake::register(&session, &read.name, &read.table).await?,
            Rows::Filtered(filter) => {
                register_view(&session, &read.name, &read.table, filter).await?
            }
            Rows::Partitions(changed) => {
                restrict_to(&session, &read.name, &read.table, changed).await?;
            }
        }
    }
    session
        .sql(query)
        .await
        .map_err(|e| TaskError::Config(format!("the query does not plan: {e}")))
}

/// Fails when `partition_by` names a column the query does not return.
fn check_partition_by(partition_by: &[String], schema: &SchemaRef) -> Result<(), TaskError> {
    match partition_by
        .iter()
        .find(|c| schema.field_with_name(c).is_err())
    {
        Some(missing) => Err(TaskError::Config(format!(
            "`partition_by` names `{missing}`, which the query does not return"
        ))),
        None => Ok(()),
    }
}

/// Registers `table` as `name` restricted to the partitions that changed (the whole table
/// stays registered under a hidden name); returns the SQL filter that picks them.
async fn restrict_to(
    session: &SessionContext,
    name: &str,
    table: &DeltaTable,
    changed: &BTreeSet<PartitionValues>,
) -> Result<String, TaskError> {
    let schema = table
        .snapshot()
        .map_err(|e| delta_error("reading the source schema", e))?
        .snapshot()
        .arrow_schema();
    let filter = lake::partition_filter(changed, &schema).unwrap_or("FALSE".into());
    register_view(session, name, table, &filter).await?;
    Ok(filter)
}

/// Registers `table` as `name`, only its rows that `filter` picks (the whole table
/// stays registered under a hidden name).
async fn register_view(
    session: &SessionContext,
    name: &str,
    table: &DeltaTable,
    filter: &str,
) -> Result<(), TaskError> {
    let hidden = format!("__updraft_all_{name}");
    lake::register(session, &hidden, table).await?;
    let view = format!(
        "CREATE VIEW {} AS SELECT * FROM {} WHERE {filter}",
        quote_ident(name),
        quote_ident(&hidden)
    );
    session.sql(&view).await.map_err(|e| {
        TaskError::Config(format!(
            "`{name}`: the filter `{filter}` does not plan: {e}"
        ))
    })?;
    Ok(())
}

/// Writes the query's rows into the target as the mode says (only `replace_where`'s
/// partitions replaced when given); returns how many rows were written.
async fn write(
    target: &mut DeltaTable,
    frame: DataFrame,
    cfg: &DeltaSqlConfig,
    schema: &SchemaRef,
    replace_where: Option<String>,
    positions: &Positions,
) -> Result<usize, TaskError> {
    if cfg.mode == Mode::Merge && target.version().is_some() {
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        return lake::merge(target, frame, &cfg.merge_on, &columns, false).await;
    }
    let batches = collect(frame, schema).await?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let mode = match cfg.mode {
        Mode::Append | Mode::Merge => SaveMode::Append,
        Mode::Overwrite | Mode::OverwritePartitions => SaveMode::Overwrite,
    };
    let spec = WriteSpec {
        mode,
        partition_by: cfg.partition_by.clone(),
        replace_where,
        schema_mode: None,
        keep_order: false,
        parquet: None,
    };
    lake::write_checked(target, batches, &spec, positions).await?;
    Ok(rows)
}

/// The query text, from `query` or from `sql_file` (relative to the DAG's folder).
fn query_text(cfg: &DeltaSqlConfig, dag_folder: &Path) -> Result<String, TaskError> {
    if let Some(q) = &cfg.query {
        return Ok(q.clone());
    }
    let file = cfg.sql_file.as_deref().unwrap_or_default();
    let path = dag_folder.join(file);
    std::fs::read_to_string(&path)
        .map_err(|e| TaskError::Config(format!("cannot read sql_file {}: {e}", path.display())))
}

/// Runs the query; an empty result is one empty batch so the table still gets its schema.
async fn collect(frame: DataFrame, schema: &SchemaRef) -> Result<Vec<RecordBatch>, TaskError> {
    let mut batches = frame
        .collect()
        .await
        .map_err(|e| datafusion_error("running the query", e))?;
    batches.retain(|b| b.num_rows() > 0);
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok(batches)
}
