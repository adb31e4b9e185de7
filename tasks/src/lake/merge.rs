//! Merging rows into a Delta table by key, as SQL's MERGE does: a target row whose keys
//! match a new row takes its values, a new row matching none is inserted.

use super::{delta_error, quote_ident};
use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::DataFrame;
use deltalake::kernel::transaction::CommitProperties;

/// Merges the rows of `frame` into `target` on `keys`, setting `columns`; with
/// `add_columns`, columns the table lacks are added to its schema. Returns the rows
/// updated and inserted.
pub async fn merge(
    target: &mut DeltaTable,
    frame: DataFrame,
    keys: &[String],
    columns: &[String],
    add_columns: bool,
) -> Result<usize, TaskError> {
    let on: Vec<String> = keys
        .iter()
        .map(|k| format!("target.{q} = source.{q}", q = quote_ident(k)))
        .collect();
    let (table, metrics) = target
        .clone()
        .merge(frame, on.join(" AND "))
        .with_source_alias("source")
        .with_target_alias("target")
        .with_merge_schema(add_columns)
        .with_commit_properties(CommitProperties::default())
        .when_matched_update(|update| {
            columns.iter().fold(update, |u, c| {
                u.update(c.as_str(), format!("source.{}", quote_ident(c)))
            })
        })
        .map_err(|e| delta_error("planning the merge", e))?
        .when_not_matched_insert(|insert| {
            columns.iter().fold(insert, |i, c| {
                i.set(c.as_str(), format!("source.{}", quote_ident(c)))
            })
        })
        .map_err(|e| delta_error("planning the merge", e))?
        .await
        .map_err(|e| delta_error("merging into the Delta table", e))?;
    *target = table;
    Ok(metrics.num_target_rows_updated + metrics.num_target_rows_inserted)
}
