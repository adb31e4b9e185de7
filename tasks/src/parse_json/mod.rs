//! `parse_json`: turns raw JSON records in a Delta table (a bronze table) into a typed,
//! clean Delta table (silver). Records are checked against an explicit schema; those
//! that do not fit go to a quarantine table with the raw text and the reason. Valid
//! rows are flattened (dotted paths), typed, timestamps normalised to UTC, deduplicated
//! on keys (against the target too), and extended with SQL expressions (DataFusion).
//!
//! It is incremental and idempotent: each output table records, as a `txn` action in
//! the same commit as its rows, the source version it has processed; a run reads only
//! the data files added to the source after that version.
//!
//! "First" is by source version, then by the bronze coordinates or `order_by`
//! (`order`), never by scan order. A commit's rows stream from the source files through
//! the parser, the order and the dedupe into the Delta write (`chunk`), so both cores
//! work and memory holds a few batches and the commit's keys.

mod checks;
mod chunk;
mod columns;
mod dedupe;
mod order;
mod picker;
mod source;

use crate::lake::{self, Positions, WriteSpec, datafusion_error, delta_error};
use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use chunk::{ChunkPlan, Produced};
use columns::{Column, ColumnConfig, ReasonCode, Rejection, RowParser};
use deltalake::DeltaTable;
use deltalake::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::{cast, filter, filter_record_batch, not};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::Add;
use futures::{StreamExt, TryStreamExt};
use order::OrderColumn;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseJsonConfig {
    /// The Delta table holding the raw records.
    source: String,
    /// The source column with the JSON text.
    #[serde(default = "default_column")]
    column: String,
    /// The clean Delta table.
    table: String,
    /// The Delta table for records that do not fit the schema.
    quarantine: String,
    /// The explicit schema.
    columns: Vec<ColumnConfig>,
    /// Source columns copied unchanged into both tables (lineage: topic, offset, file...).
    #[serde(default)]
    carry: Vec<String>,
    /// Keys on which only the first row is kept (also against rows already in `table`).
    #[serde(default)]
    dedupe_on: Vec<String>,
    /// What "first" means within one source version (`name` or `name DESC`; columns of
    /// the schema or of the source table). Default: the bronze table's coordinates.
    #[serde(default)]
    order_by: Vec<String>,
    /// Numbers, booleans, dates and timestamps may be given as text, and empty text is a
    /// missing value (records landed from CSV files hold only text).
    #[serde(default)]
    text_values: bool,
    /// Row rules: a row for which one is false is quarantined with its name as reason.
    #[serde(default)]
    checks: Vec<checks::CheckConfig>,
    /// Extra columns as SQL select expressions, e.g. `character_length(text) AS text_length`.
    #[serde(default)]
    derive: Vec<String>,
    #[serde(default)]
    partition_by: Vec<String>,
    /// About how many source rows one commit covers (its keys are held for dedupe).
    #[serde(default = "default_batch_rows")]
    batch_rows: usize,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
}

fn default_column() -> String {
    "value".into()
}

fn default_batch_rows() -> usize {
    1_000_000
}
updraft_core::declare_task_type!(
    ParseJson,
    "parse_json",
    |config, _| validate(config),
    reports = &[updraft_core::ReportKind::Asset]
);

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: ParseJsonConfig = parse_config(config)?;
    checked_columns(&cfg)?;
    checks::validate(&cfg.checks)?;
    if cfg.batch_rows == 0 {
        return Err(TaskError::Config("`batch_rows` must be at least 1".into()));
    }
    Ok(())
}

fn checked_columns(cfg: &ParseJsonConfig) -> Result<Vec<Column>, TaskError> {
    if cfg.columns.is_empty() {
        return Err(TaskError::Config(
            "`columns` is empty: list the schema's columns".into(),
        ));
    }
    let columns = cfg
        .columns
        .iter()
        .map(|c| {
            let column = Column::new(c)?;
            Ok(if cfg.text_values {
                column.reading_text()
            } else {
                column
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(TaskError::Config)?;
    let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    names.extend(cfg.carry.iter().map(String::as_str));
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(TaskError::Config(format!(
                "column `{name}` is listed twice"
            )));
        }
    }
    if let Some(k) = cfg.dedupe_on.iter().find(|k| !names.contains(&k.as_str())) {
        return Err(TaskError::Config(format!(
            "`dedupe_on` names `{k}`, which is not in `columns`"
        )));
    }
    order_by(cfg)?;
    Ok(columns)
}

fn order_by(cfg: &ParseJsonConfig) -> Result<Vec<OrderColumn>, TaskError> {
    cfg.order_by
        .iter()
        .map(|text| OrderColumn::parse(text).map_err(TaskError::Config))
        .collect()
}

/// This task's name in its txn app ids.
const TASK: &str = "parse-json";

#[derive(Default)]
struct Counts {
    records: usize,
    valid: usize,
    quarantined: usize,
    duplicates: usize,
    written: usize,
    commits: usize,
}

impl Counts {
    fn add(&mut self, chunk: &Produced) {
        self.records += chunk.records;
        self.valid += chunk.valid;
        self.quarantined += chunk.quarantined;
        self.duplicates += chunk.duplicates;
        self.written += chunk.written;
    }
}

/// The source columns to read: the JSON text, the carried columns, then the columns only
/// the order needs.
fn read_columns(cfg: &ParseJsonConfig, columns: &[Column], order: &[OrderColumn]) -> Vec<String> {
    let mut read = vec![cfg.column.clone()];
    read.extend(cfg.carry.iter().cloned());
    for column in order {
        let parsed = columns.iter().any(|c| c.name == column.name);
        if !parsed && !read.contains(&column.name) {
            read.push(column.name.clone());
        }
    }
    read
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: ParseJsonConfig = parse_config(config)?;
    let columns = Arc::new(checked_columns(&cfg)?);
    if cfg.batch_rows == 0 {
        return Err(TaskError::Config("`batch_rows` must be at least 1".into()));
    }
    let started = std::time::Instant::now();
    let source = lake::open(&cfg.source, &cfg.storage_options).await?;
    if source.version().is_none() {
        ctx.log.line(format!(
            "{} has no commits yet; nothing to parse",
            cfg.source
        ));
        return Ok(TaskOutcome::nothing_to_do());
    }
    let mut target = lake::open(&cfg.table, &cfg.storage_options).await?;
    let mut quarantine = lake::open(&cfg.quarantine, &cfg.storage_options).await?;
    let app = lake::source_app_id(TASK, &source)?;
    let target_done = lake::source_position(&target, &app, TASK, &source).await?;
    let quarantine_done = lake::source_position(&quarantine, &app, TASK, &source).await?;
    let from = target_done.unwrap_or(-1).min(quarantine_done.unwrap_or(-1));
    let until = lake::version(&source);
    ctx.log.line(format!(
        "parsing {} versions {}..={until} into {} (quarantine {})",
        cfg.source,
        from + 1,
        cfg.table,
        cfg.quarantine
    ));
    let changes = lake::changes_since(&source, from).await?;
    if changes.incomplete {
        return Err(TaskError::Fatal(format!(
            "the commit log of {} no longer holds every version after {from} (log retention); \
             rebuild {} and {} from scratch",
            cfg.source, cfg.table, cfg.quarantine
        )));
    }
    let order = order::within_version(&order_by(&cfg)?, source_arrow_schema(&source)?.as_ref());
    let read_columns = read_columns(&cfg, &columns, &order);
    let output = parsed_schema(&columns, &cfg.carry, &source)?;
    let checks = Arc::new(checks::compile(&cfg.checks, &output)?);
    let plan = ChunkPlan {
        cfg: &cfg,
        columns: &columns,
        checks: &checks,
        order: &order,
        read_columns: &read_columns,
        source: &source,
        target_done: target_done.unwrap_or(-1),
        quarantine_done: quarantine_done.unwrap_or(-1),
        output,
    };
    let quarantine_schema = quarantine_schema(&cfg, &source)?;
    let versions_before = (lake::version(&target), lake::version(&quarantine));
    let mut counts = Counts::default();
    for chunk in chunks(&changes.added, until, cfg.batch_rows) {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled("stopped between commits".into()));
        }
        let produced = if chunk.end > plan.target_done {
            let produced = parse_and_write(&plan, &chunk, &mut target, &app).await?;
            counts.commits += 1;
            produced
        } else {
            chunk::produce(&plan, chunk::parse(&plan, &chunk.files), None, None).await?
        };
        counts.add(&produced);
        if chunk.end > plan.quarantine_done {
            let mut positions = Positions::default();
            positions.advance(&app, lake::position(&quarantine, &app).await?, chunk.end);
            let bad = with_time(produced.bad, &quarantine_schema)?;
            let spec = WriteSpec {
                schema_mode: Some(deltalake::operations::write::SchemaMode::Merge),
                ..WriteSpec::append(&[])
            };
            lake::write_checked(&mut quarantine, bad, &spec, &positions).await?;
            counts.commits += 1;
        }
        ctx.log.line(format!(
            "source version {}: {} records so far ({} valid, {} quarantined, {} duplicates dropped)",
            chunk.end, counts.records, counts.valid, counts.quarantined, counts.duplicates
        ));
    }
    let written = [
        (&cfg.table, &target, versions_before.0, counts.written),
        (
            &cfg.quarantine,
            &quarantine,
            versions_before.1,
            counts.quarantined,
        ),
    ];
    for (location, table, before, rows) in written {
        if lake::version(table) > before {
            // The partitions its commits touched, for DAGs scheduled per partition.
            let changes = lake::changes_since(table, before).await?;
            lake::report_write(
                ctx,
                location,
                lake::version(table),
                i64::try_from(rows).ok(),
                lake::partition_names(&changes.partitions),
            );
        }
    }
    lake::report_read(ctx, &cfg.source, until);
    let seconds = started.elapsed().as_secs_f64();
    ctx.log.line(format!(
        "parsed {} records in {seconds:.2}s: {} written, {} quarantined, {} duplicates dropped",
        counts.records, counts.written, counts.quarantined, counts.duplicates
    ));
    Ok(TaskOutcome::default()
        .with("records", counts.records)
        .with("valid", counts.valid)
        .with("quarantined", counts.quarantined)
        .with("duplicates", counts.duplicates)
        .with("written", counts.written)
        .with("commits", counts.commits)
        .with("source_version", until)
        .with("seconds", seconds))
}

/// Data files of consecutive source versions processed in one commit.
struct Chunk<'a> {
    files: Vec<&'a (i64, Add)>,
    /// The last source version the chunk covers.
    end: i64,
}

/// Splits the added files into chunks of about `rows` rows, cut only between versions.
/// The last chunk ends at `until`, so versions without data still advance the position.
fn chunks(added: &[(i64, Add)], until: i64, rows: usize) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut current = Chunk {
        files: Vec::new(),
        end: until,
    };
    let mut current_rows = 0usize;
    for (i, file) in added.iter().enumerate() {
        current.files.push(file);
        current_rows += records_in(&file.1).unwrap_or(rows);
        let version_ends = added.get(i + 1).is_none_or(|next| next.0 != file.0);
        if current_rows >= rows && version_ends && file.0 < until {
            current.end = file.0;
            out.push(std::mem::replace(
                &mut current,
                Chunk {
                    files: Vec::new(),
                    end: until,
                },
            ));
            current_rows = 0;
        }
    }
    if !current.files.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

fn records_in(add: &Add) -> Option<usize> {
    let stats: Value = serde_json::from_str(add.stats.as_deref()?).ok()?;
    stats.get("numRecords")?.as_u64().map(|n| n as usize)
}

/// Parses a chunk and writes its new rows (with the derived columns) to `target` as
/// they come, in one commit that also moves the target's source position.
async fn parse_and_write(
    plan: &ChunkPlan<'_>,
    chunk: &Chunk<'_>,
    target: &mut DeltaTable,
    app: &str,
) -> Result<Produced, TaskError> {
    // The first parsed batch tells which columns are worth a dictionary.
    let mut parsed = chunk::parse(plan, &chunk.files);
    let first = parsed.try_next().await?;
    let parquet = first
        .as_ref()
        .map(|(_, p)| lake::parquet_settings(&p.valid));
    let parsed = futures::stream::iter(first.map(Ok)).chain(parsed).boxed();
    let (table, sender) = lake::channel_table(plan.output.clone(), 4)?;
    let session = lake::sql_session(&[]).await?;
    // Keys of new rows are looked up in the target in the same session.
    let has_rows = target.version().is_some();
    if has_rows {
        lake::register(&session, "__updraft_target", target).await?;
    }
    session
        .register_table("parsed", table)
        .map_err(|e| datafusion_error("preparing parsed rows", e))?;
    let mut select = vec!["*".to_string()];
    select.extend(plan.cfg.derive.iter().cloned());
    let sql = format!("SELECT {} FROM parsed", select.join(", "));
    let frame = session
        .sql(&sql)
        .await
        .map_err(|e| TaskError::Config(format!("`derive`: {e}")))?;
    let mut positions = Positions::default();
    positions.advance(app, lake::position(target, app).await?, chunk.end);
    let spec = WriteSpec {
        parquet,
        ..WriteSpec::append(&plan.cfg.partition_by)
    };
    let write = lake::write_rows_checked(target, lake::Rows::Plan(frame), &spec, &positions);
    let produce = chunk::produce(plan, parsed, Some(sender), has_rows.then_some(&session));
    let (produced, ()) = tokio::try_join!(produce, write)?;
    Ok(produced)
}

/// One source batch split into typed valid rows and quarantined rows.
struct Parsed {
    valid: RecordBatch,
    quarantined: RecordBatch,
}

/// Splits one source batch: the JSON column first, then `carried` columns copied to both
/// outputs, then columns only the order needs (valid rows keep them until sorted).
fn parse_batch(
    batch: &RecordBatch,
    columns: &[Column],
    checks: &[checks::Check],
    carried: usize,
    version: i64,
) -> Result<Parsed, TaskError> {
    let values = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| TaskError::Config("the JSON column must hold text".into()))?;
    let mut parser = RowParser::new(columns, values.len());
    // Per row: why it is quarantined (its reason and code), or None.
    let mut rejected: Vec<Option<(String, &'static str)>> = Vec::with_capacity(values.len());
    for raw in values.iter() {
        let result = match raw {
            Some(text) => parser.push(text),
            None => Err(Rejection {
                code: ReasonCode::NullRecord,
                reason: "the record is null".to_string(),
            }),
        };
        rejected.push(result.err().map(|r| (r.reason, r.code.as_str())));
    }
    let parsed_ok = BooleanArray::from_iter(rejected.iter().map(|r| Some(r.is_none())));
    let carried_only = batch
        .project(&(1..=carried).collect::<Vec<_>>())
        .map_err(|e| TaskError::Fatal(e.to_string()))?;
    let carried = batch
        .project(&(1..batch.num_columns()).collect::<Vec<_>>())
        .map_err(|e| TaskError::Fatal(e.to_string()))?;

    let mut fields: Vec<Field> = columns.iter().map(Column::field).collect();
    let mut arrays = parser.finish();
    let kept =
        filter_record_batch(&carried, &parsed_ok).map_err(|e| TaskError::Fatal(e.to_string()))?;
    fields.extend(kept.schema().fields().iter().map(|f| f.as_ref().clone()));
    arrays.extend(kept.columns().iter().cloned());
    let mut valid = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| TaskError::Fatal(format!("building parsed rows: {e}")))?;
    if !checks.is_empty() {
        valid = apply_checks(checks, valid, &mut rejected)?;
    }
    let ok = BooleanArray::from_iter(rejected.iter().map(|r| Some(r.is_none())));
    let bad = not(&ok).map_err(|e| TaskError::Fatal(e.to_string()))?;
    let (reasons, codes): (Vec<String>, Vec<&'static str>) = rejected.into_iter().flatten().unzip();

    let raw_bad = filter(batch.column(0), &bad).map_err(|e| TaskError::Fatal(e.to_string()))?;
    let n = raw_bad.len();
    let mut q_fields = vec![
        Field::new("raw", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        reason_code_field(),
        Field::new("source_version", DataType::Int64, false),
    ];
    let mut q_arrays: Vec<ArrayRef> = vec![
        raw_bad,
        Arc::new(StringArray::from(reasons)),
        Arc::new(StringArray::from(codes)),
        Arc::new(Int64Array::from(vec![version; n])),
    ];
    let moved =
        filter_record_batch(&carried_only, &bad).map_err(|e| TaskError::Fatal(e.to_string()))?;
    q_fields.extend(moved.schema().fields().iter().map(|f| f.as_ref().clone()));
    q_arrays.extend(moved.columns().iter().cloned());
    let quarantined = RecordBatch::try_new(Arc::new(Schema::new(q_fields)), q_arrays)
        .map_err(|e| TaskError::Fatal(format!("building quarantined rows: {e}")))?;
    Ok(Parsed { valid, quarantined })
}

/// Takes the rows breaking a check out of `valid`, marking them in `rejected` (one entry
/// per source row; the valid rows are those without one, in order).
fn apply_checks(
    checks: &[checks::Check],
    valid: RecordBatch,
    rejected: &mut [Option<(String, &'static str)>],
) -> Result<RecordBatch, TaskError> {
    let broken = checks::broken(checks, &valid)?;
    if broken.iter().all(Option::is_none) {
        return Ok(valid);
    }
    let keep = BooleanArray::from_iter(broken.iter().map(|b| Some(b.is_none())));
    let mut broken = broken.into_iter();
    for slot in rejected.iter_mut().filter(|r| r.is_none()) {
        if let Some(Some(name)) = broken.next() {
            *slot = Some((name.to_string(), ReasonCode::Check.as_str()));
        }
    }
    filter_record_batch(&valid, &keep).map_err(|e| TaskError::Fatal(e.to_string()))
}

/// The quarantine table's schema: raw text, reason, source version, carried columns and
/// the time the record was quarantined.
fn quarantine_schema(cfg: &ParseJsonConfig, source: &DeltaTable) -> Result<SchemaRef, TaskError> {
    let mut fields = vec![
        Field::new("raw", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        reason_code_field(),
        Field::new("source_version", DataType::Int64, false),
    ];
    fields.extend(carried_fields(&cfg.carry, source)?);
    fields.push(quarantined_at_field());
    Ok(Arc::new(Schema::new(fields)))
}

/// Nullable: quarantine tables written before codes existed gain the column on their
/// next append (their old rows read NULL).
fn reason_code_field() -> Field {
    Field::new("reason_code", DataType::Utf8, true)
}

fn quarantined_at_field() -> Field {
    Field::new(
        "quarantined_at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// Adds `quarantined_at` (now) to each batch; an empty list becomes one empty batch, so
/// the table exists and its position moves even when nothing was quarantined.
fn with_time(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, TaskError> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut out = Vec::with_capacity(batches.len().max(1));
    for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(vec![now; batch.num_rows()]).with_timezone("UTC"),
        ));
        let columns = columns
            .into_iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(&c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TaskError::Fatal(format!("building quarantined rows: {e}")))?;
        out.push(
            RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| TaskError::Fatal(format!("building quarantined rows: {e}")))?,
        );
    }
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok(out)
}

/// The schema of parsed rows: the schema's columns, then the carried ones.
fn parsed_schema(
    columns: &[Column],
    carry: &[String],
    source: &DeltaTable,
) -> Result<SchemaRef, TaskError> {
    let mut fields: Vec<Field> = columns.iter().map(Column::field).collect();
    fields.extend(carried_fields(carry, source)?);
    Ok(Arc::new(Schema::new(fields)))
}

/// The source table's columns.
fn source_arrow_schema(source: &DeltaTable) -> Result<SchemaRef, TaskError> {
    Ok(source
        .snapshot()
        .map_err(|e| delta_error("reading the source schema", e))?
        .snapshot()
        .arrow_schema())
}

/// The carried columns as they appear in both output tables (nullable, plain strings).
fn carried_fields(carry: &[String], source: &DeltaTable) -> Result<Vec<Field>, TaskError> {
    let source_schema = source_arrow_schema(source)?;
    carry
        .iter()
        .map(|name| {
            let field = source_schema.field_with_name(name).map_err(|_| {
                TaskError::Config(format!(
                    "`carry` names `{name}`, which the source table lacks"
                ))
            })?;
            let data_type = match field.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other.clone(),
            };
            Ok(Field::new(name, data_type, true))
        })
        .collect()
}
