//! Keeping the first row of each key: within the new rows, in the order they come, and
//! against the rows the target table already holds.

use crate::TaskError;
use crate::key_set::KeySet;
use crate::lake::{datafusion_error, quote_ident};
use deltalake::arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::datatypes::Schema;
use deltalake::arrow::row::{RowConverter, Rows, SortField};
use deltalake::datafusion::common::{Column, DataFusionError};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use deltalake::datafusion::logical_expr::{Accumulator, Expr, lit};
use deltalake::datafusion::prelude::SessionContext;
use std::sync::Arc;

/// The keys seen so far, and how to find a batch's keys.
pub struct FirstOfEachKey {
    keys: Vec<String>,
    key_index: Vec<usize>,
    converter: RowConverter,
    seen: KeySet,
}

impl FirstOfEachKey {
    /// Deduplication on `keys` of rows of `schema`; `None` when there are no keys.
    pub fn new(keys: &[String], schema: &Schema) -> Result<Option<Self>, TaskError> {
        if keys.is_empty() {
            return Ok(None);
        }
        let key_index: Vec<usize> = keys
            .iter()
            .map(|k| {
                schema.index_of(k).map_err(|_| {
                    TaskError::Config(format!("`dedupe_on` names `{k}`, which is not a column"))
                })
            })
            .collect::<Result<_, _>>()?;
        let fields = key_index
            .iter()
            .map(|i| SortField::new(schema.field(*i).data_type().clone()))
            .collect();
        Ok(Some(Self {
            keys: keys.to_vec(),
            key_index,
            converter: RowConverter::new(fields).map_err(arrow_error)?,
            seen: KeySet::default(),
        }))
    }

    fn key_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.key_index
            .iter()
            .map(|i| batch.column(*i).clone())
            .collect()
    }

    /// The keys of `batch`, comparable as bytes.
    fn key_rows(&self, batch: &RecordBatch) -> Result<KeyBytes, TaskError> {
        self.key_bytes(&self.key_columns(batch))
    }

    /// Key `columns` as bytes: a lone text key as its own UTF-8 (half the size of Arrow's
    /// row format, which it would otherwise take, for an id), other keys as rows.
    fn key_bytes(&self, columns: &[ArrayRef]) -> Result<KeyBytes, TaskError> {
        if let [column] = columns
            && let Some(text) = column.as_string_opt::<i32>()
        {
            return Ok(KeyBytes::Text(text.clone()));
        }
        self.converter
            .convert_columns(columns)
            .map(KeyBytes::Rows)
            .map_err(arrow_error)
    }

    /// The rows of `batch` whose key no earlier row had.
    pub fn firsts(&mut self, batch: RecordBatch) -> Result<RecordBatch, TaskError> {
        let keys = self.key_rows(&batch)?;
        let mask: BooleanArray = keys.iter().map(|key| Some(self.seen.insert(key))).collect();
        keep(batch, &mask)
    }

    /// The rows of `batches` whose key `table` (registered in `ctx`) does not hold, found
    /// with a join that reads only the key columns of the table.
    pub async fn not_in(
        &self,
        batches: Vec<RecordBatch>,
        ctx: &SessionContext,
        table: &str,
    ) -> Result<Vec<RecordBatch>, TaskError> {
        let existing = self.existing_keys(&batches, ctx, table).await?;
        if existing.is_empty() {
            return Ok(batches);
        }
        batches
            .into_iter()
            .map(|batch| {
                let keys = self.key_rows(&batch)?;
                let mask: BooleanArray = keys.iter().map(|k| Some(!existing.contains(k))).collect();
                keep(batch, &mask)
            })
            .collect()
    }

    /// Each key column's range among the new keys (`projected`): a row of the target
    /// outside it cannot match, and its files whose statistics lie outside are not read
    /// (keys that follow the table's layout, such as an event time, skip most of it).
    fn key_ranges(&self, projected: &[RecordBatch]) -> Vec<Expr> {
        let mut ranges = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let columns: Vec<ArrayRef> = projected.iter().map(|b| b.column(i).clone()).collect();
            let Some(data_type) = columns.first().map(|c| c.data_type().clone()) else {
                continue;
            };
            let bounds = (|| {
                let mut low = MinAccumulator::try_new(&data_type)?;
                let mut high = MaxAccumulator::try_new(&data_type)?;
                for column in &columns {
                    low.update_batch(std::slice::from_ref(column))?;
                    high.update_batch(std::slice::from_ref(column))?;
                }
                Ok::<_, DataFusionError>((low.evaluate()?, high.evaluate()?))
            })();
            // A type without an order (a list) is looked up whole.
            if let Ok((low, high)) = bounds
                && !low.is_null()
                && !high.is_null()
            {
                let column = Expr::Column(Column::new_unqualified(key));
                ranges.push(column.between(lit(low), lit(high)));
            }
        }
        ranges
    }

    async fn existing_keys(
        &self,
        batches: &[RecordBatch],
        ctx: &SessionContext,
        table: &str,
    ) -> Result<KeySet, TaskError> {
        let Some(first) = batches.first() else {
            return Ok(KeySet::default());
        };
        let projected: Vec<RecordBatch> = batches
            .iter()
            .map(|b| b.project(&self.key_index).map_err(arrow_error))
            .collect::<Result<_, _>>()?;
        let schema = Arc::new(
            first
                .schema()
                .project(&self.key_index)
                .map_err(arrow_error)?,
        );
        let ranges = self.key_ranges(&projected);
        let new_keys = MemTable::try_new(schema.clone(), vec![projected])
            .map_err(|e| datafusion_error("collecting new keys", e))?;
        ctx.register_table("__updraft_new_keys", Arc::new(new_keys))
            .map_err(|e| datafusion_error("collecting new keys", e))?;
        let mut candidates = ctx
            .table(table)
            .await
            .map_err(|e| datafusion_error("looking up existing keys", e))?;
        for range in ranges {
            candidates = candidates
                .filter(range)
                .map_err(|e| datafusion_error("looking up existing keys", e))?;
        }
        ctx.register_table("__updraft_candidates", candidates.into_view())
            .map_err(|e| datafusion_error("looking up existing keys", e))?;
        let select: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("t.{}", quote_ident(k)))
            .collect();
        let on: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("t.{q} = n.{q}", q = quote_ident(k)))
            .collect();
        let sql = format!(
            "SELECT DISTINCT {} FROM __updraft_candidates t JOIN __updraft_new_keys n ON {}",
            select.join(", "),
            on.join(" AND ")
        );
        let found = async { ctx.sql(&sql).await?.collect().await }
            .await
            .map_err(|e| datafusion_error("looking up existing keys", e));
        for name in ["__updraft_new_keys", "__updraft_candidates"] {
            ctx.deregister_table(name)
                .map_err(|e| datafusion_error("collecting new keys", e))?;
        }
        let mut existing = KeySet::default();
        for batch in found? {
            // DataFusion may read strings as views; compare in the new rows' types.
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| cast(c, f.data_type()).map_err(arrow_error))
                .collect::<Result<_, _>>()?;
            for key in self.key_bytes(&columns)?.iter() {
                existing.insert(key);
            }
        }
        Ok(existing)
    }
}

/// A batch's keys as byte strings.
enum KeyBytes {
    Text(StringArray),
    Rows(Rows),
}

/// The key of a null text: a byte that no UTF-8 text holds.
const NULL_TEXT: &[u8] = &[0xFF];

impl KeyBytes {
    fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            KeyBytes::Text(text) => {
                Box::new(text.iter().map(|v| v.map_or(NULL_TEXT, str::as_bytes)))
            }
            KeyBytes::Rows(rows) => Box::new(rows.iter().map(|row| row.data())),
        }
    }
}

/// The rows of `batch` where `mask` is true; the batch itself when that is all of them.
fn keep(batch: RecordBatch, mask: &BooleanArray) -> Result<RecordBatch, TaskError> {
    if mask.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    filter_record_batch(&batch, mask).map_err(arrow_error)
}

fn arrow_error(e: deltalake::arrow::error::ArrowError) -> TaskError {
    TaskError::Fatal(format!("deduplicating: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, Int64Array};
    use deltalake::arrow::datatypes::{DataType, Field};

    fn batch(ids: &[Option<&str>], parts: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("part", DataType::Int64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(parts.to_vec())),
            ],
        )
        .unwrap()
    }

    fn kept(keys: &[&str], batches: &[RecordBatch]) -> Vec<(Option<String>, i64)> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut dedupe = FirstOfEachKey::new(&keys, &batches[0].schema())
            .unwrap()
            .unwrap();
        let mut rows = Vec::new();
        for b in batches {
            let firsts = dedupe.firsts(b.clone()).unwrap();
            let ids = firsts.column(0).as_string::<i32>();
            let parts = firsts
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for i in 0..firsts.num_rows() {
                let id = ids.is_valid(i).then(|| ids.value(i).to_string());
                rows.push((id, parts.value(i)));
            }
        }
        rows
    }

    #[test]
    fn the_first_of_each_key_is_kept_across_batches_and_null_is_a_key_of_its_own() {
        let batches = [
            batch(&[Some("a"), Some(""), None, Some("a")], &[1, 2, 3, 4]),
            batch(&[None, Some("b"), Some(""), Some("a")], &[5, 6, 7, 8]),
        ];
        let expected = vec![
            (Some("a".to_string()), 1),
            (Some(String::new()), 2),
            (None, 3),
            (Some("b".to_string()), 6),
        ];
        assert_eq!(kept(&["id"], &batches), expected);
    }

    #[test]
    fn a_key_of_two_columns_keeps_each_pair_once() {
        let batches = [
            batch(&[Some("a"), Some("a"), Some("a")], &[1, 2, 1]),
            batch(&[Some("b"), Some("a")], &[1, 2]),
        ];
        let expected = vec![
            (Some("a".to_string()), 1),
            (Some("a".to_string()), 2),
            (Some("b".to_string()), 1),
        ];
        assert_eq!(kept(&["id", "part"], &batches), expected);
    }
}
