//! Delta Lake plumbing the table-writing tasks share: opening a table, reading what
//! changed between two versions, registering tables with DataFusion, and the commit
//! that moves a task's source position (a `txn` action) together with its data.

mod catalog;
mod changes;
mod channel_table;
mod commit;
mod count_distinct;
mod files;
mod foreign;
mod merge;
mod parquet_settings;
mod parquet_stats;
mod s3;
mod schemas;
mod session;
mod staged;

pub use catalog::{LakeTable, QueryResult, json_rows, lake_tables, query_lake, query_tables};
pub use changes::{PartitionValues, changes_since, partition_names};
pub use channel_table::{RowSender, channel_table};
pub use commit::{Positions, Rows, WriteSpec, write_checked, write_rows_checked};
pub use files::{DataFile, data_files};
pub use foreign::{
    STAGING_PREFIX, StagedWrite, commit_adds, remove_abandoned, remove_folder, staged_adds,
};
pub use merge::merge;
pub use parquet_settings::parquet_settings;
pub use s3::object_store_at;
pub use schemas::{LakeRoot, lake_session};
pub use session::{
    partition_filter, query_session, quote_ident, register, single_stream_session, sql_session,
};
pub use staged::{commit_staged_checked, stage_files};

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

/// The columns of the Delta table at `location` and their Delta types (`string`,
/// `long`, ...), as lineage events describe a dataset.
pub async fn table_columns(location: &str) -> Result<Vec<(String, String)>, TaskError> {
    let table = open(location, &BTreeMap::new()).await?;
    let snapshot = table
        .snapshot()
        .map_err(|e| delta_error("reading the table's schema", e))?;
    Ok(snapshot
        .schema()
        .fields()
        .map(|f| (f.name().to_string(), f.data_type().to_string()))
        .collect())
}

/// Reports that the attempt of `ctx` committed `version` of the Delta table at
/// `location` (`rows` written, `partitions` touched): an asset event.
pub fn report_write(
    ctx: &updraft_core::TaskContext,
    location: &str,
    version: i64,
    rows: Option<i64>,
    partitions: Vec<String>,
) {
    use updraft_core::report::{AssetAccess, AssetEvent, Report, delta_asset_uri};
    ctx.reports.push(Report::Asset(AssetEvent {
        uri: delta_asset_uri(&ctx.lake, location),
        access: AssetAccess::Write,
        version: Some(version),
        rows,
        partitions,
    }));
}

/// Reports that the attempt of `ctx` committed `version` of the Delta table at
/// `location` with the same data (compaction, vacuum): an event that triggers nothing.
pub fn report_rewrite(ctx: &updraft_core::TaskContext, location: &str, version: i64) {
    use updraft_core::report::{AssetAccess, AssetEvent, Report, delta_asset_uri};
    ctx.reports.push(Report::Asset(AssetEvent {
        uri: delta_asset_uri(&ctx.lake, location),
        access: AssetAccess::Rewrite,
        version: Some(version),
        rows: None,
        partitions: Vec::new(),
    }));
}

/// Reports that the attempt of `ctx` read the Delta table at `location` up to `version`.
pub fn report_read(ctx: &updraft_core::TaskContext, location: &str, version: i64) {
    use updraft_core::report::{AssetAccess, AssetEvent, Report, delta_asset_uri};
    ctx.reports.push(Report::Asset(AssetEvent {
        uri: delta_asset_uri(&ctx.lake, location),
        access: AssetAccess::Read,
        version: Some(version),
        rows: None,
        partitions: Vec::new(),
    }));
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

/// The txn app id under which a task (`parse-json`, `delta-sql`) keeps how far it has
/// read `source`: the source table's id from its metadata, which moving or copying the
/// lake keeps (a path would change with it).
pub fn source_app_id(task: &str, source: &DeltaTable) -> Result<String, TaskError> {
    let snapshot = source
        .snapshot()
        .map_err(|e| delta_error("reading the source table's metadata", e))?;
    Ok(format!(
        "updraft-{task}:table-id:{}",
        snapshot.metadata().id()
    ))
}

/// How far `target` has read `source` (under `app`, from [`source_app_id`]). A table
/// written before ids were used keeps it under the source's URL: read once, it moves to
/// the id with the next commit.
pub async fn source_position(
    target: &DeltaTable,
    app: &str,
    task: &str,
    source: &DeltaTable,
) -> Result<Option<i64>, TaskError> {
    if let Some(done) = position(target, app).await? {
        return Ok(Some(done));
    }
    let legacy = format!("updraft-{task}:{}", source.log_store().root_url());
    position(target, &legacy).await
}

/// A delta-rs error as a task error: only storage that did not answer can work on a
/// retry; a corrupt log, bad data or a schema conflict fails the same way every time.
pub fn delta_error(doing: &str, e: DeltaTableError) -> TaskError {
    let retryable = match &e {
        DeltaTableError::ObjectStore { .. }
        | DeltaTableError::Io { .. }
        | DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::Transaction { .. } => true,
        // The kernel's error type is not re-exported; its variant names tell storage
        // failures from everything else.
        DeltaTableError::KernelError(k) => {
            let kind = format!("{k:?}");
            ["IOError(", "ObjectStore(", "Reqwest("]
                .iter()
                .any(|v| kind.contains(v))
        }
        _ => false,
    };
    let text = format!("{doing}: {e}");
    if retryable {
        TaskError::Retryable(text)
    } else {
        TaskError::Fatal(text)
    }
}

/// A DataFusion error as a task error (plans and SQL are not retried).
pub fn datafusion_error(
    doing: &str,
    e: deltalake::datafusion::error::DataFusionError,
) -> TaskError {
    TaskError::Fatal(format!("{doing}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn ints(values: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, false)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    async fn append(table: &mut DeltaTable, batch: RecordBatch, app: &str, at: i64, merge: bool) {
        let mut positions = Positions::default();
        positions.advance(app, position(table, app).await.unwrap(), at);
        let spec = WriteSpec {
            schema_mode: merge.then_some(deltalake::operations::write::SchemaMode::Merge),
            ..WriteSpec::append(&[])
        };
        write_checked(table, vec![batch], &spec, &positions)
            .await
            .unwrap();
    }

    /// A target written by an earlier version (position under the source's URL) is read
    /// once, then keeps its position under the source's id, which a copied lake shares;
    /// a column added on append (the quarantine's `reason_code`) joins the schema.
    #[tokio::test]
    async fn positions_survive_copying_and_old_tables_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        let none = BTreeMap::new();
        let mut source = open(&at("lake/source"), &none).await.unwrap();
        append(&mut source, ints(&[1, 2]), "writer", 0, false).await;
        let mut target = open(&at("lake/target"), &none).await.unwrap();
        let legacy = format!("updraft-parse-json:{}", source.log_store().root_url());
        append(&mut target, ints(&[1]), &legacy, 0, false).await;

        let app = source_app_id("parse-json", &source).unwrap();
        assert!(app.starts_with("updraft-parse-json:table-id:"), "{app}");
        let done = source_position(&target, &app, "parse-json", &source).await;
        assert_eq!(done.unwrap(), Some(0), "the old key is read");

        let wider = RecordBatch::try_new(
            // The new column comes before the old one, as `reason_code` does.
            Arc::new(Schema::new(vec![
                Field::new("code", DataType::Utf8, true),
                Field::new("a", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["wrong_type"])),
                Arc::new(Int64Array::from(vec![2])),
            ],
        )
        .unwrap();
        append(&mut target, wider, &app, 1, true).await;
        let columns: Vec<String> = target
            .snapshot()
            .unwrap()
            .schema()
            .fields()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(columns, ["a", "code"]);

        let copied = std::process::Command::new("cp")
            .args(["-r", &at("lake"), &at("copy")])
            .status()
            .unwrap();
        assert!(copied.success());
        let source = open(&at("copy/source"), &none).await.unwrap();
        let target = open(&at("copy/target"), &none).await.unwrap();
        let app = source_app_id("parse-json", &source).unwrap();
        let done = source_position(&target, &app, "parse-json", &source).await;
        assert_eq!(done.unwrap(), Some(1), "the copy knows how far it read");
    }
}
