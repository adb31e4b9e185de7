//! `delta_sql` with `engine: spark`: Spark computes, Updraft keeps the Delta log. Each
//! source becomes a temp view over exactly the Parquet files of the snapshot Updraft
//! resolved (typed by the Delta schema); Spark writes the result as Parquet into a new
//! folder inside the target table, and Updraft commits those files in one transaction
//! with the task's positions — or, for `merge`, merges their rows with delta-rs. Files of
//! a write that is not committed are removed.

use super::{Mode, Read, Rows, check_partition_by};
use crate::TaskError;
use crate::lake::{self, DataFile, Positions, StagedWrite, delta_error};
use crate::spark::{Operation, SparkSession, command, relation};
use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::{Add, StructType};
use spark_connect_proto as proto;
use std::collections::HashMap;
use std::sync::Arc;

/// How the result is written.
pub(super) struct Write<'a> {
    pub mode: Mode,
    pub partition_by: &'a [String],
    pub merge_on: &'a [String],
    /// Replace only the rows of the partitions this predicate picks.
    pub replace_where: Option<String>,
    pub positions: &'a Positions,
}

/// Runs the query on Spark over `reads` and writes its rows into `target`; returns how
/// many rows were written.
pub(super) async fn run(
    session: &SparkSession,
    reads: &[Read],
    query: &str,
    target: &mut DeltaTable,
    write: Write<'_>,
) -> Result<usize, TaskError> {
    for read in reads {
        register(session, read).await?;
    }
    let schema = result_schema(session, query).await?;
    check_partition_by(write.partition_by, &schema)?;
    let (select, partition_by) = match target.version() {
        Some(_) => (
            cast_to_table(query, target, &schema)?,
            lake::partition_columns(target),
        ),
        None => (query.to_string(), write.partition_by.to_vec()),
    };
    let delta_schema: StructType = (&utc(&schema)).try_into_kernel().map_err(|e| {
        let e = e.to_string();
        let first = e.lines().next().unwrap_or_default();
        TaskError::Fatal(format!("the query's columns have no Delta type: {first}"))
    })?;
    let folder = format!("{}{}", lake::STAGING_PREFIX, uuid::Uuid::new_v4());
    // Into an existing table, merged rows are read from the staged files, not committed.
    let merging = write.mode == Mode::Merge && target.version().is_some();
    let written = async {
        let staged_partitions = if merging {
            Vec::new()
        } else {
            partition_by.clone()
        };
        write_parquet(
            session,
            &select,
            &folder_url(target, &folder),
            &staged_partitions,
        )
        .await?;
        if merging {
            return merge_staged(target, &folder, write.merge_on, &schema).await;
        }
        let committing = std::time::Instant::now();
        let staged = lake::staged_adds(target, &folder, &partition_by).await?;
        let files = staged.adds.len();
        let change = staged_write(target, &write, &staged.adds).await?;
        lake::commit_adds(
            target,
            staged.adds,
            change,
            (&delta_schema, &partition_by),
            write.positions,
        )
        .await?;
        session.log().line(format!(
            "committed the {files} files Spark wrote as version {} in {} ms",
            lake::version(target),
            committing.elapsed().as_millis()
        ));
        Ok(usize::try_from(staged.rows).unwrap_or(usize::MAX))
    }
    .await;
    if (merging || written.is_err())
        && !committed_from(target, &folder).await
        && let Err(e) = lake::remove_folder(target, &folder).await
    {
        tracing::warn!("removing the staged files in {folder}: {e}");
    }
    written
}

/// Whether the table's newest version uses files of `folder` (a commit whose answer was
/// lost may have been made): then they must stay. Unknown counts as yes.
async fn committed_from(target: &mut DeltaTable, folder: &str) -> bool {
    match target.load().await {
        Ok(()) => {}
        Err(deltalake::DeltaTableError::NotATable(_)) => return false,
        Err(_) => return true,
    }
    let Ok(snapshot) = target.snapshot() else {
        return true;
    };
    let prefix = format!("{folder}/");
    snapshot
        .log_data()
        .iter()
        .any(|f| f.path().starts_with(&prefix))
}

/// Registers the files `read` sees as a temp view named after it.
async fn register(session: &SparkSession, read: &Read) -> Result<(), TaskError> {
    let changed = match &read.rows {
        Rows::Partitions(changed) => Some(changed),
        Rows::All | Rows::Filtered(_) => None,
    };
    let files = lake::data_files(&read.table, changed)?;
    let snapshot = read
        .table
        .snapshot()
        .map_err(|e| delta_error("reading a source's schema", e))?;
    let schema = snapshot.schema();
    let columns: Vec<(String, String)> = schema
        .fields()
        .map(|f| Ok((f.name().to_string(), spark_type(f.data_type())?)))
        .collect::<Result<_, TaskError>>()?;
    let name = match &read.rows {
        Rows::Filtered(_) => format!("__updraft_all_{}", read.name),
        _ => read.name.clone(),
    };
    register_files(session, &name, &read.table, &columns, &files).await?;
    if let Rows::Filtered(filter) = &read.rows {
        let view = format!(
            "CREATE OR REPLACE TEMPORARY VIEW {} AS SELECT * FROM {} WHERE {filter}",
            quote(&read.name),
            quote(&name)
        );
        session.sql(&view).await?;
    }
    Ok(())
}

/// A temp view over exactly `files` of `table`, typed by `columns`; partition columns
/// come from the `column=value` folders, as Spark reads a Hive layout.
async fn register_files(
    session: &SparkSession,
    name: &str,
    table: &DeltaTable,
    columns: &[(String, String)],
    files: &[DataFile],
) -> Result<(), TaskError> {
    if files.is_empty() {
        let nulls: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("CAST(NULL AS {t}) AS {}", quote(c)))
            .collect();
        let view = format!(
            "CREATE OR REPLACE TEMPORARY VIEW {} AS SELECT {} WHERE false",
            quote(name),
            nulls.join(", ")
        );
        session.sql(&view).await?;
        return Ok(());
    }
    let root = spark_root(table);
    let ddl: Vec<String> = columns
        .iter()
        .map(|(c, t)| format!("{} {t}", quote(c)))
        .collect();
    let read = proto::Read {
        is_streaming: false,
        read_type: Some(proto::read::ReadType::DataSource(proto::read::DataSource {
            format: Some("parquet".into()),
            schema: Some(ddl.join(", ")),
            options: HashMap::from([("basePath".to_string(), root.clone())]),
            paths: files.iter().map(|f| format!("{root}/{}", f.path)).collect(),
            predicates: Vec::new(),
            source_name: None,
        })),
    };
    let view = proto::CreateDataFrameViewCommand {
        input: Some(relation(proto::relation::RelType::Read(read))),
        name: name.to_string(),
        is_global: false,
        replace: true,
    };
    session
        .execute(
            Operation::Command(Box::new(command(
                proto::command::CommandType::CreateDataframeView(view),
            ))),
            &format!("view `{name}` over {} files of {root}", files.len()),
        )
        .await?;
    Ok(())
}

/// The columns the query returns, as Arrow types (Spark answers an empty result with
/// its schema).
async fn result_schema(session: &SparkSession, query: &str) -> Result<SchemaRef, TaskError> {
    let probe = format!(
        "SELECT * FROM ({}) AS q LIMIT 0",
        query.trim().trim_end_matches(';')
    );
    let batches = session.sql(&probe).await?;
    batches
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| TaskError::Fatal("Spark answered the query without its columns".into()))
}

/// `schema` with Spark's session time zone (`Etc/UTC`) named as Delta names UTC.
fn utc(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(*unit, Some("UTC".into()))),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
}

/// The query with its columns cast to the existing table's types, which it must match.
fn cast_to_table(query: &str, table: &DeltaTable, result: &Schema) -> Result<String, TaskError> {
    let snapshot = table
        .snapshot()
        .map_err(|e| delta_error("reading the target's schema", e))?;
    let schema = snapshot.schema();
    let wanted: Vec<String> = schema.fields().map(|f| f.name().to_string()).collect();
    let mut returned: Vec<String> = result.fields().iter().map(|f| f.name().clone()).collect();
    let mut expected = wanted.clone();
    returned.sort();
    expected.sort();
    if returned != expected {
        return Err(TaskError::Config(format!(
            "the query returns the columns {returned:?}, the table {} has {expected:?}",
            table.log_store().root_url()
        )));
    }
    let casts: Vec<String> = schema
        .fields()
        .map(|f| {
            let c = quote(f.name());
            Ok(format!(
                "CAST(q.{c} AS {}) AS {c}",
                spark_type(f.data_type())?
            ))
        })
        .collect::<Result<_, TaskError>>()?;
    Ok(format!(
        "SELECT {} FROM ({}) AS q",
        casts.join(", "),
        query.trim().trim_end_matches(';')
    ))
}

/// Has Spark write `select`'s rows as Parquet into `url` (a new folder).
async fn write_parquet(
    session: &SparkSession,
    select: &str,
    url: &str,
    partition_by: &[String],
) -> Result<(), TaskError> {
    let write = proto::WriteOperation {
        input: Some(crate::spark::sql_relation(select)),
        source: Some("parquet".into()),
        save_type: Some(proto::write_operation::SaveType::Path(url.to_string())),
        mode: proto::write_operation::SaveMode::ErrorIfExists as i32,
        partitioning_columns: partition_by.to_vec(),
        ..Default::default()
    };
    session
        .execute(
            Operation::Command(Box::new(command(
                proto::command::CommandType::WriteOperation(write),
            ))),
            &format!("writing the result to {url}: {select}"),
        )
        .await?;
    Ok(())
}

/// What committing the staged files does to the table: append, or replace all of it or
/// the partitions `replace_where` picks (which every staged file must be in).
async fn staged_write(
    target: &DeltaTable,
    write: &Write<'_>,
    staged: &[Add],
) -> Result<StagedWrite, TaskError> {
    let Some(_) = target.version() else {
        return Ok(StagedWrite::Append);
    };
    let snapshot = target
        .snapshot()
        .map_err(|e| delta_error("reading the target's files", e))?;
    let current: Vec<_> = snapshot.log_data().iter().collect();
    let replaced = match write.mode {
        Mode::Append | Mode::Merge => return Ok(StagedWrite::Append),
        Mode::Overwrite => vec![true; current.len()],
        Mode::OverwritePartitions => match &write.replace_where {
            None => vec![true; current.len()],
            Some(predicate) => {
                let staged_partitions: Vec<_> =
                    staged.iter().map(|a| a.partition_values.clone()).collect();
                if let Some(outside) = partitions_matching(target, predicate, &staged_partitions)
                    .await?
                    .iter()
                    .position(|matched| !matched)
                {
                    return Err(TaskError::Fatal(format!(
                        "Spark's result has rows outside `{predicate}` (in {})",
                        staged[outside].path
                    )));
                }
                let existing: Vec<_> = current.iter().map(|f| f.partition_values_map()).collect();
                partitions_matching(target, predicate, &existing).await?
            }
        },
    };
    let removes = current
        .iter()
        .zip(replaced)
        .filter(|(_, replace)| *replace)
        .map(|(file, _)| file.remove_action(true))
        .collect();
    let predicate = match write.mode {
        Mode::OverwritePartitions => write.replace_where.clone(),
        _ => None,
    };
    Ok(StagedWrite::Replace { removes, predicate })
}

/// Which of `partitions` (values by column, as the log keeps them) the SQL predicate
/// picks, evaluated by DataFusion with the columns typed as in the table.
async fn partitions_matching(
    table: &DeltaTable,
    predicate: &str,
    partitions: &[HashMap<String, Option<String>>],
) -> Result<Vec<bool>, TaskError> {
    let columns = lake::partition_columns(table);
    let schema = table
        .snapshot()
        .map_err(|e| delta_error("reading the target's schema", e))?
        .snapshot()
        .arrow_schema();
    let mut fields = vec![Field::new("__file", DataType::UInt64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from_iter_values(
        0..partitions.len() as u64,
    ))];
    for column in &columns {
        let field = schema
            .field_with_name(column)
            .map_err(|e| TaskError::Fatal(format!("partition column `{column}`: {e}")))?;
        let text: StringArray = partitions
            .iter()
            .map(|p| p.get(column).cloned().flatten())
            .collect();
        let typed = deltalake::arrow::compute::cast(&text, field.data_type())
            .map_err(|e| TaskError::Fatal(format!("partition values of `{column}`: {e}")))?;
        fields.push(Field::new(column, field.data_type().clone(), true));
        arrays.push(typed);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| TaskError::Fatal(format!("partition values: {e}")))?;
    let picked = async {
        let ctx = SessionContext::new();
        ctx.register_batch("partitions", batch)?;
        let frame = ctx
            .sql(&format!(
                "SELECT \"__file\" FROM partitions WHERE {predicate}"
            ))
            .await?;
        frame.collect().await
    }
    .await
    .map_err(|e| {
        TaskError::Config(format!(
            "with `engine: spark`, `replace_where` may name only the partition columns {columns:?} \
             (its partitions are replaced by files): `{predicate}`: {e}"
        ))
    })?;
    let mut matched = vec![false; partitions.len()];
    for batch in picked {
        let files = batch.column(0).as_any().downcast_ref::<UInt64Array>();
        for index in files.into_iter().flat_map(|a| a.values().iter()) {
            if let Some(slot) = usize::try_from(*index)
                .ok()
                .and_then(|i| matched.get_mut(i))
            {
                *slot = true;
            }
        }
    }
    Ok(matched)
}

/// Merges the rows Spark staged in `folder` into `target` on the key columns; returns
/// how many there were.
async fn merge_staged(
    target: &mut DeltaTable,
    folder: &str,
    merge_on: &[String],
    schema: &Schema,
) -> Result<usize, TaskError> {
    let ctx = SessionContext::new();
    let root = target.log_store().root_url().clone();
    let store_url = url::Url::parse(&format!("{}://{}", root.scheme(), root.authority()))
        .map_err(|e| TaskError::Fatal(format!("the table's store: {e}")))?;
    ctx.register_object_store(&store_url, target.log_store().root_object_store(None));
    let location = format!("{}/{folder}/", root.as_str().trim_end_matches('/'));
    let frame = ctx
        .read_parquet(location, Default::default())
        .await
        .map_err(|e| lake::datafusion_error("reading Spark's staged rows", e))?;
    let rows = frame
        .clone()
        .count()
        .await
        .map_err(|e| lake::datafusion_error("counting Spark's staged rows", e))?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    lake::merge(target, frame, merge_on, &columns, false).await?;
    Ok(rows)
}

/// The table's root as Spark names it: its path undecoded (Hadoop takes a path as it
/// is), `s3a://` for S3.
fn spark_root(table: &DeltaTable) -> String {
    let store = table.log_store();
    let url = store.root_url();
    let path = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy();
    let path = path.trim_end_matches('/');
    match url.scheme() {
        "file" => format!("file://{path}"),
        "s3" => format!("s3a://{}{path}", url.authority()),
        scheme => format!("{scheme}://{}{path}", url.authority()),
    }
}

/// Where Spark writes `folder` of the table.
fn folder_url(table: &DeltaTable, folder: &str) -> String {
    format!("{}/{folder}", spark_root(table))
}

/// A Delta type as Spark's DDL names it.
fn spark_type(data_type: &deltalake::kernel::DataType) -> Result<String, TaskError> {
    use deltalake::kernel::DataType as D;
    Ok(match data_type {
        D::Primitive(p) => p.to_string(),
        D::Array(a) => format!("array<{}>", spark_type(a.element_type())?),
        D::Map(m) => format!(
            "map<{}, {}>",
            spark_type(m.key_type())?,
            spark_type(m.value_type())?
        ),
        D::Struct(s) => {
            let fields: Vec<String> = s
                .fields()
                .map(|f| {
                    Ok(format!(
                        "{}: {}",
                        quote(f.name()),
                        spark_type(f.data_type())?
                    ))
                })
                .collect::<Result<_, TaskError>>()?;
            format!("struct<{}>", fields.join(", "))
        }
        other => {
            return Err(TaskError::Fatal(format!(
                "Spark cannot read a column of type {other} from Parquet files"
            )));
        }
    })
}

/// A Spark identifier, backquoted.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
