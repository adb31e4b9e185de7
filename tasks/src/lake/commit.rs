//! The one way tasks write Delta tables: data and the task's source positions (`txn`
//! actions) in one commit, made only if no other writer moved those positions since
//! the task read them. delta-rs does not reject a stale `txn` by itself, so the check
//! runs on the very snapshot the commit is made on, and the commit is not retried on a
//! newer version (where the check would no longer hold).

use super::{delta_error, position};
use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::SaveMode;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Source positions by txn app id: what the task read (`expected`) and what it commits.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    pub expected: BTreeMap<String, Option<i64>>,
    pub next: BTreeMap<String, i64>,
}

impl Positions {
    /// Moves `app_id` from `expected` to `next` in the coming commit.
    pub fn advance(&mut self, app_id: &str, expected: Option<i64>, next: i64) {
        self.expected.insert(app_id.to_string(), expected);
        self.next.insert(app_id.to_string(), next);
    }
}

/// How the data is written.
#[derive(Clone)]
pub struct WriteSpec {
    pub mode: SaveMode,
    pub partition_by: Vec<String>,
    /// With `SaveMode::Overwrite`: replace only the rows matching this SQL predicate.
    pub replace_where: Option<String>,
    /// How the table's schema may change: `Merge` adds the batches' new (nullable)
    /// columns, `Overwrite` (with `SaveMode::Overwrite`) takes the batches' schema.
    pub schema_mode: Option<SchemaMode>,
    /// Write the rows in the order given, on one stream. By default delta-rs spreads
    /// them over the cores, and the order of rows within a file changes from run to run.
    pub keep_order: bool,
    /// Parquet settings, when not delta-rs's defaults.
    pub parquet: Option<WriterProperties>,
}

impl WriteSpec {
    /// Appends rows.
    pub fn append(partition_by: &[String]) -> Self {
        Self {
            mode: SaveMode::Append,
            partition_by: partition_by.to_vec(),
            replace_where: None,
            schema_mode: None,
            keep_order: false,
            parquet: None,
        }
    }
}

/// Writes `batches` to `table` and records `positions.next`, in one commit; fails,
/// committing nothing, when another writer moved any position since it was read.
pub async fn write_checked(
    table: &mut DeltaTable,
    batches: Vec<RecordBatch>,
    spec: &WriteSpec,
    positions: &Positions,
) -> Result<(), TaskError> {
    write_rows_checked(table, Rows::Batches(batches), spec, positions).await
}

/// The rows a write stores: in memory, or produced by a DataFusion plan as they are
/// written (a plan over a stream keeps memory to a few batches).
pub enum Rows {
    Batches(Vec<RecordBatch>),
    Plan(DataFrame),
}

/// [`write_checked`] for rows in memory or from a plan.
pub async fn write_rows_checked(
    table: &mut DeltaTable,
    rows: Rows,
    spec: &WriteSpec,
    positions: &Positions,
) -> Result<(), TaskError> {
    let properties = check_positions(table, positions).await?;
    let mut builder = match rows {
        Rows::Batches(batches) => table.clone().write(batches),
        Rows::Plan(frame) => {
            let (state, plan) = frame.into_parts();
            table
                .clone()
                .write(Vec::new())
                .with_input_plan(plan)
                .with_session_state(Arc::new(state))
        }
    }
    .with_save_mode(spec.mode)
    .with_commit_properties(properties);
    if !spec.partition_by.is_empty() {
        builder = builder.with_partition_columns(spec.partition_by.clone());
    }
    if let Some(mode) = spec.schema_mode {
        builder = builder.with_schema_mode(mode);
    }
    if let Some(properties) = &spec.parquet {
        builder = builder.with_writer_properties(properties.clone());
    }
    if spec.keep_order {
        builder = builder.with_session_state(Arc::new(super::single_stream_session()?.state()));
    }
    if let Some(predicate) = &spec.replace_where {
        builder = builder.with_replace_where(predicate.clone());
    }
    *table = builder
        .await
        .map_err(|e| delta_error("committing to the Delta table", e))?;
    Ok(())
}

/// Refreshes `table` and checks that no other writer moved `positions.expected` since
/// they were read; returns the commit properties that move them to `positions.next`.
pub(super) async fn check_positions(
    table: &mut DeltaTable,
    positions: &Positions,
) -> Result<CommitProperties, TaskError> {
    if table.version().is_some() {
        table
            .update_incremental(None)
            .await
            .map_err(|e| delta_error("refreshing the table", e))?;
    }
    for (app_id, expected) in &positions.expected {
        let now = position(table, app_id).await?;
        if now != *expected {
            return Err(TaskError::Retryable(format!(
                "another writer moved `{app_id}` concurrently (at {now:?}, expected {expected:?}); nothing was committed"
            )));
        }
    }
    let txns = positions
        .next
        .iter()
        .map(|(app, v)| Transaction::new(app, *v))
        .collect();
    Ok(CommitProperties::default()
        .with_application_transactions(txns)
        .with_max_retries(0))
}
