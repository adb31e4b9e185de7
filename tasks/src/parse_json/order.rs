//! Which row of a key comes first: rows of an earlier source version first, and within
//! a version by the source coordinates (Kafka partition and offset, or file and line) or
//! the columns of `order_by`, never by the order a scan happens to return them in.

use crate::TaskError;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::{SortOptions, interleave_record_batch};
use deltalake::arrow::datatypes::Schema;
use deltalake::arrow::row::{RowConverter, Rows, SortField};

/// The columns a bronze table locates each record by, in the order they sort.
const COORDINATES: [&str; 4] = ["partition", "offset", "file", "line"];

/// Rows per batch when a version's rows are put in order.
const SORTED_BATCH_ROWS: usize = 64 * 1024;

/// One column of the order, as `name` or `name DESC` in YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderColumn {
    pub name: String,
    pub descending: bool,
}

impl OrderColumn {
    /// Parses `name`, `name ASC` or `name DESC`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let descending = match words.as_slice() {
            [_] => false,
            [_, dir] if dir.eq_ignore_ascii_case("asc") => false,
            [_, dir] if dir.eq_ignore_ascii_case("desc") => true,
            _ => {
                return Err(format!(
                    "`order_by` entry `{text}`: write a column name, optionally followed by ASC or DESC"
                ));
            }
        };
        Ok(Self {
            name: words[0].to_string(),
            descending,
        })
    }
}

/// The order within a version: `order_by` when given, else the coordinate columns the
/// source table has (none for a table that is not a bronze table: then its files in
/// commit-log order, and rows as stored).
pub fn within_version(order_by: &[OrderColumn], source: &Schema) -> Vec<OrderColumn> {
    if !order_by.is_empty() {
        return order_by.to_vec();
    }
    COORDINATES
        .iter()
        .filter(|name| source.field_with_name(name).is_ok())
        .map(|name| OrderColumn {
            name: name.to_string(),
            descending: false,
        })
        .collect()
}

/// Puts the rows of one source version in `order` (stable: equal rows keep their read
/// order). Rows already in order, the usual case, are returned as they are.
pub fn sort_version(
    batches: Vec<RecordBatch>,
    order: &[OrderColumn],
) -> Result<Vec<RecordBatch>, TaskError> {
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    if order.is_empty() {
        return Ok(batches);
    }
    let schema = first.schema();
    let mut indices = Vec::with_capacity(order.len());
    let mut fields = Vec::with_capacity(order.len());
    for column in order {
        let i = schema.index_of(&column.name).map_err(|_| {
            TaskError::Config(format!(
                "`order_by` names `{}`, which is neither a column of the schema nor of the source table",
                column.name
            ))
        })?;
        indices.push(i);
        fields.push(SortField::new_with_options(
            schema.field(i).data_type().clone(),
            SortOptions {
                descending: column.descending,
                nulls_first: true,
            },
        ));
    }
    let converter = RowConverter::new(fields).map_err(arrow_error)?;
    let keys: Vec<Rows> = batches
        .iter()
        .map(|b| {
            let columns: Vec<_> = indices.iter().map(|i| b.column(*i).clone()).collect();
            converter.convert_columns(&columns).map_err(arrow_error)
        })
        .collect::<Result<_, _>>()?;
    let mut positions: Vec<(usize, usize)> = keys
        .iter()
        .enumerate()
        .flat_map(|(b, rows)| (0..rows.num_rows()).map(move |r| (b, r)))
        .collect();
    let key = |&(b, r): &(usize, usize)| keys[b].row(r);
    if positions.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
        return Ok(batches);
    }
    positions.sort_by(|a, b| key(a).cmp(&key(b)));
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    positions
        .chunks(SORTED_BATCH_ROWS)
        .map(|chunk| interleave_record_batch(&refs, chunk).map_err(arrow_error))
        .collect()
}

fn arrow_error(e: deltalake::arrow::error::ArrowError) -> TaskError {
    TaskError::Fatal(format!("ordering the source rows: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{AsArray, Int32Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Int64Type};
    use std::sync::Arc;

    fn batch(partitions: &[i32], offsets: &[i64], tags: &[&str]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("partition", DataType::Int32, true),
            Field::new("offset", DataType::Int64, true),
            Field::new("tag", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int32Array::from(partitions.to_vec())),
                Arc::new(Int64Array::from(offsets.to_vec())),
                Arc::new(StringArray::from(tags.to_vec())),
            ],
        )
        .unwrap()
    }

    fn coordinates(schema: &Schema) -> Vec<OrderColumn> {
        within_version(&[], schema)
    }

    #[test]
    fn interleaved_partitions_come_out_by_partition_and_offset() {
        let a = batch(&[1, 0, 1], &[7, 3, 8], &["p1o7", "p0o3", "p1o8"]);
        let b = batch(&[0, 0], &[4, 5], &["p0o4", "p0o5"]);
        let order = coordinates(&a.schema());
        assert_eq!(order.len(), 2, "partition and offset: {order:?}");
        let sorted = sort_version(vec![a, b], &order).unwrap();
        let tags: Vec<&str> = sorted
            .iter()
            .flat_map(|b| b.column(2).as_string::<i32>().iter().flatten())
            .collect();
        assert_eq!(tags, ["p0o3", "p0o4", "p0o5", "p1o7", "p1o8"]);
    }

    #[test]
    fn rows_in_order_stay_as_they_are_and_desc_reverses() {
        let a = batch(&[0, 0], &[1, 2], &["x", "y"]);
        let same = sort_version(vec![a.clone()], &coordinates(&a.schema())).unwrap();
        assert_eq!(same, vec![a.clone()]);
        let desc = vec![OrderColumn::parse("offset DESC").unwrap()];
        let sorted = sort_version(vec![a], &desc).unwrap();
        assert_eq!(
            sorted[0].column(1).as_primitive::<Int64Type>().values(),
            &[2, 1]
        );
        assert!(OrderColumn::parse("offset sideways").is_err());
    }
}
