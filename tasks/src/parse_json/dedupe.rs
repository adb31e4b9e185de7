//! Keeping the first row of each key: within the new rows, in the order they come, and
//! against the rows the target table already holds.

use super::key_set::KeySet;
use crate::TaskError;
use crate::lake::{datafusion_error, quote_ident};
use deltalake::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::datatypes::Schema;
use deltalake::arrow::row::{RowConverter, Rows, SortField};
use deltalake::datafusion::datasource::MemTable;
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
    fn key_rows(&self, batch: &RecordBatch) -> Result<Rows, TaskError> {
        self.converter
            .convert_columns(&self.key_columns(batch))
            .map_err(arrow_error)
    }

    /// The rows of `batch` whose key no earlier row had.
    pub fn firsts(&mut self, batch: RecordBatch) -> Result<RecordBatch, TaskError> {
        let rows = self.key_rows(&batch)?;
        let mask: BooleanArray = rows
            .iter()
            .map(|row| Some(self.seen.insert(row.as_ref())))
            .collect();
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
                let rows = self.key_rows(&batch)?;
                let mask: BooleanArray = rows
                    .iter()
                    .map(|r| Some(!existing.contains(r.as_ref())))
                    .collect();
                keep(batch, &mask)
            })
            .collect()
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
        let new_keys = MemTable::try_new(schema.clone(), vec![projected])
            .map_err(|e| datafusion_error("collecting new keys", e))?;
        ctx.register_table("__updraft_new_keys", Arc::new(new_keys))
            .map_err(|e| datafusion_error("collecting new keys", e))?;
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
            "SELECT DISTINCT {} FROM {} t JOIN __updraft_new_keys n ON {}",
            select.join(", "),
            quote_ident(table),
            on.join(" AND ")
        );
        let found = async { ctx.sql(&sql).await?.collect().await }
            .await
            .map_err(|e| datafusion_error("looking up existing keys", e));
        ctx.deregister_table("__updraft_new_keys")
            .map_err(|e| datafusion_error("collecting new keys", e))?;
        let mut existing = KeySet::default();
        for batch in found? {
            // DataFusion may read strings as views; compare in the new rows' types.
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| cast(c, f.data_type()).map_err(arrow_error))
                .collect::<Result<_, _>>()?;
            let rows = self
                .converter
                .convert_columns(&columns)
                .map_err(arrow_error)?;
            for row in rows.iter() {
                existing.insert(row.as_ref());
            }
        }
        Ok(existing)
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
