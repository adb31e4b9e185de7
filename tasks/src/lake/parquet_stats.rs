//! A Parquet file's Delta statistics (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`) read from its footer, for files another engine wrote: readers skip files
//! by them, so a bound is only given where it is exact or safely wider.

use super::delta_error;
use crate::TaskError;
use deltalake::arrow::array::{Array, ArrayRef};
use deltalake::arrow::datatypes::Schema;
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use deltalake::parquet::arrow::parquet_to_arrow_schema;
use deltalake::parquet::file::metadata::ParquetMetaData;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// Strings longer than this get no bounds (Delta readers compare prefixes; a long max
/// would need rounding up).
const MAX_STRING_STAT: usize = 64;

/// The Delta `stats` JSON of a Parquet file, from its footer.
pub fn delta_stats(metadata: &ParquetMetaData) -> Result<String, TaskError> {
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| TaskError::Fatal(format!("reading a staged file's schema: {e}")))?;
    let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
    for field in schema.fields() {
        if field.data_type().is_nested() {
            continue;
        }
        let Some(column) = column_stats(field.name(), &schema, metadata)? else {
            continue;
        };
        nulls.insert(field.name().clone(), json!(column.nulls));
        if let Some(min) = column.min.as_ref().and_then(|v| bound(v, Ordering::Less)) {
            mins.insert(field.name().clone(), min);
        }
        if let Some(max) = column
            .max
            .as_ref()
            .and_then(|v| bound(v, Ordering::Greater))
        {
            maxes.insert(field.name().clone(), max);
        }
    }
    let stats = json!({
        "numRecords": file.num_rows(),
        "minValues": mins,
        "maxValues": maxes,
        "nullCount": nulls,
    });
    Ok(stats.to_string())
}

struct ColumnStats {
    nulls: u64,
    min: Option<ScalarValue>,
    max: Option<ScalarValue>,
}

/// A column's null count and bounds over every row group; None when a row group has no
/// statistics for it (then the file gets none for the column).
fn column_stats(
    name: &str,
    schema: &Schema,
    metadata: &ParquetMetaData,
) -> Result<Option<ColumnStats>, TaskError> {
    let footer = |e: deltalake::parquet::errors::ParquetError| {
        TaskError::Fatal(format!("reading the statistics of `{name}`: {e}"))
    };
    let converter =
        StatisticsConverter::try_new(name, schema, metadata.file_metadata().schema_descr())
            .map_err(footer)?;
    let groups = metadata.row_groups();
    let nulls = converter.row_group_null_counts(groups).map_err(footer)?;
    if nulls.null_count() > 0 {
        return Ok(None);
    }
    let mins = converter.row_group_mins(groups).map_err(footer)?;
    let maxes = converter.row_group_maxes(groups).map_err(footer)?;
    Ok(Some(ColumnStats {
        nulls: nulls.values().iter().sum(),
        min: extreme(&mins, Ordering::Less)?,
        max: extreme(&maxes, Ordering::Greater)?,
    }))
}

/// The least (`Less`) or greatest (`Greater`) of the row groups' bounds; None when a row
/// group has none (all its values null, or no statistics).
fn extreme(bounds: &ArrayRef, wanted: Ordering) -> Result<Option<ScalarValue>, TaskError> {
    let mut best: Option<ScalarValue> = None;
    for i in 0..bounds.len() {
        if bounds.is_null(i) {
            continue;
        }
        let value = ScalarValue::try_from_array(bounds, i)
            .map_err(|e| TaskError::Fatal(format!("reading a statistic: {e}")))?;
        best = match best {
            Some(current) if value.partial_cmp(&current) != Some(wanted) => Some(current),
            _ => Some(value),
        };
    }
    Ok(best)
}

/// A bound as Delta writes it in JSON; timestamps at millisecond precision, rounded
/// outwards (down for a minimum, up for a maximum).
fn bound(value: &ScalarValue, side: Ordering) -> Option<Value> {
    use ScalarValue as S;
    Some(match value {
        S::Int8(Some(v)) => json!(v),
        S::Int16(Some(v)) => json!(v),
        S::Int32(Some(v)) => json!(v),
        S::Int64(Some(v)) => json!(v),
        S::Float32(Some(v)) if v.is_finite() => json!(v),
        S::Float64(Some(v)) if v.is_finite() => json!(v),
        S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v))
            if v.chars().count() <= MAX_STRING_STAT =>
        {
            json!(v)
        }
        S::Date32(Some(days)) => {
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::days(i64::from(*days)))?;
            json!(date.format("%Y-%m-%d").to_string())
        }
        S::TimestampMicrosecond(Some(micros), _) => {
            let millis = match side {
                Ordering::Less => micros.div_euclid(1000),
                _ => micros.checked_add(999)?.div_euclid(1000),
            };
            let at = chrono::DateTime::from_timestamp_millis(millis)?;
            json!(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        _ => return None,
    })
}

/// Where a Parquet file is read from.
pub enum FileAt<'a> {
    /// On this machine's disk.
    Disk(&'a std::path::Path),
    /// In an object store.
    Store(
        &'a dyn object_store::ObjectStore,
        &'a object_store::path::Path,
    ),
}

impl FileAt<'_> {
    async fn range(&self, range: std::ops::Range<u64>) -> Result<Vec<u8>, TaskError> {
        match self {
            FileAt::Disk(path) => {
                use std::io::{Read, Seek, SeekFrom};
                let read = || -> std::io::Result<Vec<u8>> {
                    let mut file = std::fs::File::open(path)?;
                    file.seek(SeekFrom::Start(range.start))?;
                    let mut bytes = vec![0; usize::try_from(range.end - range.start).unwrap_or(0)];
                    file.read_exact(&mut bytes)?;
                    Ok(bytes)
                };
                read().map_err(|e| TaskError::Retryable(format!("reading {}: {e}", path.display())))
            }
            FileAt::Store(store, path) => {
                use object_store::ObjectStoreExt;
                let bytes = store
                    .get_range(path, range)
                    .await
                    .map_err(|e| delta_error(&format!("reading the footer of {path}"), e.into()))?;
                Ok(bytes.to_vec())
            }
        }
    }
}

/// Reads the footer of a Parquet file of `size` bytes (two ranged reads: its length,
/// then the metadata).
pub async fn footer(file: FileAt<'_>, size: u64) -> Result<ParquetMetaData, TaskError> {
    use deltalake::parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    let corrupt = |why: String| TaskError::Fatal(format!("a staged file is not Parquet: {why}"));
    let tail_at = size
        .checked_sub(8)
        .ok_or_else(|| corrupt("too short".into()))?;
    let tail: [u8; 8] = file
        .range(tail_at..size)
        .await?
        .try_into()
        .map_err(|_| corrupt("short read".into()))?;
    let length = FooterTail::try_new(&tail)
        .map_err(|e| corrupt(e.to_string()))?
        .metadata_length();
    let start = u64::try_from(length)
        .ok()
        .and_then(|l| tail_at.checked_sub(l))
        .ok_or_else(|| corrupt("its footer is longer than the file".into()))?;
    let bytes = file.range(start..tail_at).await?;
    ParquetMetaDataReader::decode_metadata(&bytes).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_bounds_round_outwards_to_milliseconds() {
        let at = ScalarValue::TimestampMicrosecond(Some(1_500), Some("UTC".into()));
        assert_eq!(
            bound(&at, Ordering::Less),
            Some(json!("1970-01-01T00:00:00.001Z"))
        );
        assert_eq!(
            bound(&at, Ordering::Greater),
            Some(json!("1970-01-01T00:00:00.002Z"))
        );
        let exact = ScalarValue::TimestampMicrosecond(Some(2_000), None);
        assert_eq!(
            bound(&exact, Ordering::Greater),
            Some(json!("1970-01-01T00:00:00.002Z"))
        );
        let day = ScalarValue::Date32(Some(20454));
        assert_eq!(bound(&day, Ordering::Less), Some(json!("2026-01-01")));
        let long = ScalarValue::Utf8(Some("x".repeat(65)));
        assert_eq!(
            bound(&long, Ordering::Less),
            None,
            "long strings get no bounds"
        );
        assert_eq!(
            bound(&ScalarValue::Float64(Some(f64::NAN)), Ordering::Less),
            None
        );
    }
}
