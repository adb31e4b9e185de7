//! Keeping the first row of each key: within the new rows, and against the rows the
//! target table already holds.

use crate::TaskError;
use crate::lake::{datafusion_error, quote_ident};
use deltalake::arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use deltalake::arrow::compute::{cast, filter_record_batch};
use deltalake::arrow::row::{OwnedRow, RowConverter, SortField};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use std::collections::HashSet;
use std::sync::Arc;

/// Drops every row whose key was seen earlier in `batches` or exists in `target`
/// (a table registered in `ctx`, if any). Returns the kept rows and how many were dropped.
pub async fn first_of_each_key(
    batches: Vec<RecordBatch>,
    keys: &[String],
    ctx: &SessionContext,
    target: Option<&str>,
) -> Result<(Vec<RecordBatch>, usize), TaskError> {
    if keys.is_empty() || batches.is_empty() {
        return Ok((batches, 0));
    }
    let schema = batches[0].schema();
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
    let converter = RowConverter::new(fields).map_err(arrow_error)?;
    let key_columns = |b: &RecordBatch| -> Vec<ArrayRef> {
        key_index.iter().map(|i| b.column(*i).clone()).collect()
    };

    let mut seen: HashSet<OwnedRow> = HashSet::new();
    let mut firsts = Vec::with_capacity(batches.len());
    for batch in &batches {
        let rows = converter
            .convert_columns(&key_columns(batch))
            .map_err(arrow_error)?;
        let mask: BooleanArray = rows.iter().map(|r| Some(seen.insert(r.owned()))).collect();
        firsts.push(filter_record_batch(batch, &mask).map_err(arrow_error)?);
    }
    let existing = match target {
        Some(table) => existing_keys(&firsts, &key_index, keys, ctx, table, &converter).await?,
        None => HashSet::new(),
    };
    let mut kept = Vec::with_capacity(firsts.len());
    let mut dropped = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    for batch in firsts {
        let batch = if existing.is_empty() {
            batch
        } else {
            let rows = converter
                .convert_columns(&key_columns(&batch))
                .map_err(arrow_error)?;
            let mask: BooleanArray = rows
                .iter()
                .map(|r| Some(!existing.contains(&r.owned())))
                .collect();
            filter_record_batch(&batch, &mask).map_err(arrow_error)?
        };
        dropped -= batch.num_rows();
        kept.push(batch);
    }
    Ok((kept, dropped))
}

/// The keys of `batches` that `table` already holds, found with a join that reads only
/// the key columns of the table.
async fn existing_keys(
    batches: &[RecordBatch],
    key_index: &[usize],
    keys: &[String],
    ctx: &SessionContext,
    table: &str,
    converter: &RowConverter,
) -> Result<HashSet<OwnedRow>, TaskError> {
    let projected: Vec<RecordBatch> = batches
        .iter()
        .map(|b| b.project(key_index).map_err(arrow_error))
        .collect::<Result<_, _>>()?;
    let schema = projected[0].schema();
    let new_keys = MemTable::try_new(schema.clone(), vec![projected])
        .map_err(|e| datafusion_error("collecting new keys", e))?;
    ctx.register_table("__updraft_new_keys", Arc::new(new_keys))
        .map_err(|e| datafusion_error("collecting new keys", e))?;
    let select: Vec<String> = keys
        .iter()
        .map(|k| format!("t.{}", quote_ident(k)))
        .collect();
    let on: Vec<String> = keys
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
    let mut existing = HashSet::new();
    for batch in found? {
        // DataFusion may read strings as views; compare in the new rows' types.
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()).map_err(arrow_error))
            .collect::<Result<_, _>>()?;
        let rows = converter.convert_columns(&columns).map_err(arrow_error)?;
        existing.extend(rows.iter().map(|r| r.owned()));
    }
    Ok(existing)
}

fn arrow_error(e: deltalake::arrow::error::ArrowError) -> TaskError {
    TaskError::Fatal(format!("deduplicating: {e}"))
}
