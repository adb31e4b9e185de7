//! `delta_sql`: runs a SQL query (DataFusion) over named Delta tables and writes the
//! result to a Delta table: `append`, `overwrite`, `overwrite_partitions` (the
//! partitions a source changed since the last run, or those a predicate names), or
//! `merge` on key columns. With `partitions_from`, the source version the result was
//! computed from is committed with it (a `txn` action), so every run rebuilds exactly
//! the partitions touched since, and a re-run with nothing new changes nothing.

use crate::lake::{
    self, PartitionValues, Positions, WriteSpec, datafusion_error, delta_error, quote_ident,
};
use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
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
enum Mode {
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
    Ok(())
}

/// This task's name in its txn app ids.
const TASK: &str = "delta-sql";

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let cfg: DeltaSqlConfig = parse_config(config)?;
    let query = query_text(&cfg, &ctx.dag_folder)?;
    let started = std::time::Instant::now();
    let mut sources = Vec::with_capacity(cfg.tables.len());
    for (name, source) in &cfg.tables {
        sources.push((
            name.clone(),
            lake::open(source.location(), &cfg.storage_options).await?,
        ));
    }
    let mut target = lake::open(&cfg.table, &cfg.storage_options).await?;
    let session = lake::sql_session(&[]).await?;
    let mut positions = Positions::default();
    let mut replace_where = cfg.replace_where.clone();
    let mut full_rebuild = cfg.mode == Mode::Overwrite;
    let mut partitions = 0usize;
    for (name, table) in &sources {
        if table.version().is_none() {
            ctx.log.line(format!(
                "source table `{name}` ({}) has no commits yet; nothing to do",
                cfg.tables[name].location()
            ));
            return Ok(TaskOutcome::nothing_to_do());
        }
        if cfg.partitions_from.as_deref() != Some(name.as_str()) {
            match cfg.tables[name].filter() {
                Some(filter) => register_view(&session, name, table, filter).await?,
                None => lake::register(&session, name, table).await?,
            }
            continue;
        }
        let app = lake::source_app_id(TASK, table)?;
        let last = lake::source_position(&target, &app, TASK, table).await?;
        positions.advance(
            &app,
            lake::position(&target, &app).await?,
            lake::version(table),
        );
        let changes = match last {
            Some(v) => Some(lake::changes_since(table, v).await?).filter(|c| !c.incomplete),
            None => None,
        };
        let Some(changes) = changes else {
            // Never built, or the log no longer says what changed: rebuild everything.
            ctx.log
                .line(format!("rebuilding all of {} from `{name}`", cfg.table));
            full_rebuild = true;
            lake::register(&session, name, table).await?;
            continue;
        };
        if changes.partitions.is_empty() {
            ctx.log.line(format!(
                "`{name}` has no new rows since version {}; {} is up to date",
                last.unwrap_or(-1),
                cfg.table
            ));
            return Ok(TaskOutcome::default().with("rows", 0).with("partitions", 0));
        }
        partitions = changes.partitions.len();
        let filter = restrict_to(&session, name, table, &changes.partitions).await?;
        ctx.log.line(format!(
            "rebuilding {partitions} partitions changed in `{name}`: {filter}"
        ));
        replace_where = Some(filter);
    }
    for (name, table) in &sources {
        lake::report_read(ctx, cfg.tables[name].location(), lake::version(table));
    }
    let frame = session
        .sql(&query)
        .await
        .map_err(|e| TaskError::Config(format!("the query does not plan: {e}")))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    if let Some(missing) = cfg
        .partition_by
        .iter()
        .find(|c| schema.field_with_name(c).is_err())
    {
        return Err(TaskError::Config(format!(
            "`partition_by` names `{missing}`, which the query does not return"
        )));
    }
    let replace_where = if full_rebuild || target.version().is_none() {
        None
    } else {
        replace_where
    };
    let before = lake::version(&target);
    let rows = write(&mut target, frame, &cfg, &schema, replace_where, &positions).await?;
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
        .with("partitions", partitions)
        .with("full_rebuild", full_rebuild)
        .with("table_version", lake::version(&target))
        .with("seconds", seconds))
}

/// A partition as an asset event names it: `column=value` for each of its columns,
/// joined with `/` (a null value is `null`).
/// The query text, from `query` or from `sql_file` (relative to the DAG's folder).
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
