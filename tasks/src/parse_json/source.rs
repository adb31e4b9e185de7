//! Reading the source table's new data files: only the columns the task uses, file by
//! file in the order the commit log added them, as a stream, so that parsing a batch
//! overlaps with reading the next.

use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::file::reader::ChunkReader;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use std::sync::Arc;

/// Rows per batch read; each is parsed as one task on the blocking pool.
const BATCH_ROWS: usize = 16 * 1024;

/// The `columns` of `files`, in order, each batch tagged with the source version that
/// added its file. Strings come as plain UTF-8 arrays. A file is fetched whole (land
/// writes one per commit, bounded by its batch size) and decoded on the blocking pool.
pub fn read<'a>(
    source: &DeltaTable,
    files: &'a [&'a (i64, Add)],
    columns: &'a [String],
) -> BoxStream<'a, Result<(i64, RecordBatch), TaskError>> {
    let store = source.log_store().object_store(None);
    stream::iter(files.iter().copied())
        .map(move |(version, add)| {
            let store = store.clone();
            async move {
                let path = deltalake::Path::from_url_path(&add.path).map_err(|e| {
                    TaskError::Fatal(format!("bad data file path `{}`: {e}", add.path))
                })?;
                let bytes = async { store.get(&path).await?.bytes().await }
                    .await
                    .map_err(|e| read_error(&add.path, e))?;
                let columns = columns.to_vec();
                let name = add.path.clone();
                let batches = tokio::task::spawn_blocking(move || decode(bytes, &columns, &name))
                    .await
                    .map_err(|e| TaskError::Fatal(format!("decoder stopped: {e}")))??;
                let version = *version;
                Ok::<_, TaskError>(stream::iter(
                    batches.into_iter().map(move |b| Ok((version, b))),
                ))
            }
        })
        // The next file is fetched and decoded while this one's batches are parsed.
        .buffered(2)
        .try_flatten()
        .boxed()
}

/// The `columns` of one Parquet file, in that order.
fn decode<R: ChunkReader + 'static>(
    bytes: R,
    columns: &[String],
    name: &str,
) -> Result<Vec<RecordBatch>, TaskError> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| read_error(name, e))?;
    let mask =
        ProjectionMask::columns(builder.parquet_schema(), columns.iter().map(String::as_str));
    builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_error(name, e))?
        .map(|batch| in_order(&batch.map_err(|e| read_error(name, e))?, columns))
        .collect()
}

fn read_error(path: &str, e: impl std::fmt::Display) -> TaskError {
    TaskError::Retryable(format!("reading source data file {path}: {e}"))
}

/// The batch's columns in the order `names` asks, strings as plain UTF-8 arrays.
fn in_order(batch: &RecordBatch, names: &[String]) -> Result<RecordBatch, TaskError> {
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for name in names {
        let (i, field) = batch
            .schema()
            .column_with_name(name)
            .map(|(i, f)| (i, f.clone()))
            .ok_or_else(|| TaskError::Config(format!("the source table has no column `{name}`")))?;
        let mut column = batch.column(i).clone();
        let mut data_type = field.data_type().clone();
        if matches!(data_type, DataType::Utf8View | DataType::LargeUtf8) {
            data_type = DataType::Utf8;
            column = cast(&column, &data_type).map_err(|e| TaskError::Fatal(e.to_string()))?;
        }
        fields.push(Field::new(name, data_type, true));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| TaskError::Fatal(format!("reading the source: {e}")))
}
