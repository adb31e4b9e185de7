//! Delta Lake plumbing the table-writing tasks share: opening a table, reading what
//! changed between two versions, registering tables with DataFusion, and the commit
//! that moves a task's source position (a `txn` action) together with its data.

mod catalog;
mod changes;
mod commit;
mod s3;
mod session;

pub use catalog::{LakeTable, QueryResult, lake_tables, query_lake, query_tables};
pub use changes::{PartitionValues, changes_since};
pub use commit::{Positions, WriteSpec, write_checked};
pub use session::{partition_filter, quote_ident, register, sql_session};

use crate::TaskError;
use deltalake::{DeltaTable, DeltaTableError};
use std::collections::{BTreeMap, HashMap};

/// Turns a path or URL into a table URL (creating a local folder).
pub fn table_url(location: &str) -> Result<url::Url, TaskError> {
    s3::register();
    deltalake::ensure_table_uri(location)
        .map_err(|e| TaskError::Config(format!("bad table location `{location}`: {e}")))
}

/// Opens the Delta table at `location`; a location with no table yet opens with no version.
pub async fn open(
    location: &str,
    storage: &BTreeMap<String, String>,
) -> Result<DeltaTable, TaskError> {
    let url = table_url(location)?;
    let options: HashMap<String, String> = storage.clone().into_iter().collect();
    DeltaTable::try_from_url_with_storage_options(url, options)
        .await
        .map_err(|e| delta_error(&format!("opening the Delta table at {location}"), e))
}

/// The table's version, or -1 when it has no commit yet.
pub fn version(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

/// The position a task recorded under `app_id` in the table's current snapshot.
pub async fn position(table: &DeltaTable, app_id: &str) -> Result<Option<i64>, TaskError> {
    let Ok(snapshot) = table.snapshot() else {
        return Ok(None); // no table yet
    };
    snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| delta_error("reading a recorded position", e))
}

/// The table's partition columns (none before its first commit).
pub fn partition_columns(table: &DeltaTable) -> Vec<String> {
    table
        .snapshot()
        .map(|s| s.metadata().partition_columns().to_vec())
        .unwrap_or_default()
}

/// Storage and commit-conflict errors can pass; a schema mismatch cannot.
pub fn delta_error(doing: &str, e: DeltaTableError) -> TaskError {
    match e {
        DeltaTableError::SchemaMismatch { .. }
        | DeltaTableError::InvalidTableLocation(_)
        | DeltaTableError::Generic(_) => TaskError::Fatal(format!("{doing}: {e}")),
        other => TaskError::Retryable(format!("{doing}: {other}")),
    }
}

/// A DataFusion error as a task error (plans and SQL are not retried).
pub fn datafusion_error(
    doing: &str,
    e: deltalake::datafusion::error::DataFusionError,
) -> TaskError {
    TaskError::Fatal(format!("{doing}: {e}"))
}
