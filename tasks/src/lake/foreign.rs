//! Parquet files another engine (Spark) wrote into a folder of a table, committed to the
//! Delta log as they are: each becomes an add action with its size, the partition values
//! its `column=value` folders name and statistics from its footer. The commit carries the
//! task's positions (`txn`) like every other, so it is made once.

use super::commit::check_positions;
use super::files::hive_value;
use super::parquet_stats::{FileAt, delta_stats, footer};
use super::{Positions, delta_error};
use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, Remove, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use std::collections::HashMap;

/// How the folders another engine writes into a table start (`spark-<uuid>`).
pub const STAGING_PREFIX: &str = "spark-";

/// How many footers are read at once.
const FOOTERS_AT_ONCE: usize = 16;

/// The Parquet files of a folder, as add actions.
pub struct StagedFiles {
    pub adds: Vec<Add>,
    /// The rows they hold.
    pub rows: u64,
}

/// Add actions for the Parquet files under `folder` (relative to the table root);
/// everything else there (Spark's `_SUCCESS`, checksum files) is deleted.
pub async fn staged_adds(
    table: &DeltaTable,
    folder: &str,
    partition_columns: &[String],
) -> Result<StagedFiles, TaskError> {
    let store = table.log_store().object_store(None);
    let mut data = Vec::new();
    for file in list(table, folder).await? {
        let name = file.name.rsplit('/').next().unwrap_or_default();
        if name.ends_with(".parquet") && !name.starts_with(['.', '_']) {
            data.push(file);
        } else {
            remove(store.as_ref(), &file).await?;
        }
    }
    // Footers are read a few at a time: on object storage each is two round trips.
    let store = store.as_ref();
    let staged: Vec<(Add, u64)> = futures::stream::iter(data)
        .map(|file| async move { staged_add(store, file, partition_columns).await })
        .buffered(FOOTERS_AT_ONCE)
        .try_collect()
        .await?;
    let rows = staged
        .iter()
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
    let mut adds: Vec<Add> = staged.into_iter().map(|(add, _)| add).collect();
    adds.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(StagedFiles { adds, rows })
}

/// The add action of one staged Parquet file, and how many rows it holds.
async fn staged_add(
    store: &dyn object_store::ObjectStore,
    file: Listed,
    partition_columns: &[String],
) -> Result<(Add, u64), TaskError> {
    let partition_values = folder_partition(&file.name, partition_columns)?;
    let at = match &file.local {
        Some(path) => FileAt::Disk(path),
        None => FileAt::Store(store, &file.location),
    };
    let metadata = footer(at, file.size).await?;
    let rows = u64::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    let add = Add {
        // As it is named: delta-rs escapes it as a URI in the log.
        path: file.name,
        partition_values,
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        modification_time: file.modified_ms,
        data_change: true,
        stats: Some(delta_stats(&metadata)?),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    };
    Ok((add, rows))
}

/// A file under a table's folder: its path under the table root as the storage names
/// it, and the store's path for it.
struct Listed {
    name: String,
    /// Where it is: on disk, or in the table's object store.
    local: Option<std::path::PathBuf>,
    location: Path,
    size: u64,
    modified_ms: i64,
}

/// The files under `folder`. A local folder is walked on disk: the local store's listing
/// decodes `%2F` in a file name (Spark's escaped `/`) into a separator.
async fn list(table: &DeltaTable, folder: &str) -> Result<Vec<Listed>, TaskError> {
    let root = table.log_store().root_url().clone();
    if root.scheme() != "file" {
        let store = table.log_store().object_store(None);
        let listed: Vec<_> = store
            .list(Some(&Path::from(folder)))
            .try_collect()
            .await
            .map_err(|e| delta_error("listing the staged files", e.into()))?;
        return Ok(listed
            .into_iter()
            .map(|meta| Listed {
                name: meta.location.as_ref().to_string(),
                local: None,
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
                location: meta.location,
            })
            .collect());
    }
    let base = root
        .to_file_path()
        .map_err(|_| TaskError::Fatal(format!("{root} is not a local folder")))?;
    let folder = folder.to_string();
    tokio::task::spawn_blocking(move || walk(&base, &folder))
        .await
        .map_err(|e| TaskError::Fatal(format!("listing the staged files stopped: {e}")))?
}

/// Every file under `base/folder`, named relative to `base`.
fn walk(base: &std::path::Path, folder: &str) -> Result<Vec<Listed>, TaskError> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_string()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(base.join(&dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(TaskError::Retryable(format!("listing {dir}: {e}"))),
        };
        for entry in entries {
            let entry = entry.map_err(|e| TaskError::Retryable(format!("listing {dir}: {e}")))?;
            let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
            let meta = entry
                .metadata()
                .map_err(|e| TaskError::Retryable(format!("reading {name}: {e}")))?;
            if meta.is_dir() {
                pending.push(name);
                continue;
            }
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .unwrap_or(0);
            found.push(Listed {
                local: Some(entry.path()),
                location: Path::from_iter(name.split('/')),
                name,
                size: meta.len(),
                modified_ms,
            });
        }
    }
    Ok(found)
}

/// Deletes one listed file.
async fn remove(store: &dyn object_store::ObjectStore, file: &Listed) -> Result<(), TaskError> {
    match &file.local {
        Some(path) => std::fs::remove_file(path)
            .map_err(|e| TaskError::Retryable(format!("removing {}: {e}", path.display()))),
        None => store
            .delete(&file.location)
            .await
            .map_err(|e| delta_error("removing a staged file", e.into())),
    }
}

/// The partition values of a file from the `column=value` folders right above it.
fn folder_partition(
    path: &str,
    columns: &[String],
) -> Result<HashMap<String, Option<String>>, TaskError> {
    let folders: Vec<&str> = path.split('/').rev().skip(1).take(columns.len()).collect();
    let mut values = HashMap::new();
    for (column, folder) in columns.iter().zip(folders.iter().rev()) {
        let value = folder
            .strip_prefix(column.as_str())
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| {
                TaskError::Fatal(format!(
                    "the staged file {path} is not in a `{column}=…` folder"
                ))
            })?;
        values.insert(column.clone(), hive_value(value));
    }
    if values.len() != columns.len() {
        return Err(TaskError::Fatal(format!(
            "the staged file {path} is not in folders for each of {columns:?}"
        )));
    }
    Ok(values)
}

/// Deletes `folder` (relative to the table root) and all it holds; returns how many
/// files it held.
pub async fn remove_folder(table: &DeltaTable, folder: &str) -> Result<usize, TaskError> {
    let listed = list(table, folder).await?;
    let root = table.log_store().root_url().clone();
    if let Ok(base) = root.to_file_path() {
        // The folders go too, not only the files.
        match std::fs::remove_dir_all(base.join(folder)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(TaskError::Retryable(format!("removing {folder}: {e}")));
            }
            _ => return Ok(listed.len()),
        }
    }
    let store = table.log_store().object_store(None);
    for file in &listed {
        remove(store.as_ref(), file).await?;
    }
    Ok(listed.len())
}

/// Removes the staging folders of writes that were never committed (their attempt was
/// killed between Spark's write and the commit): folders none of whose files the table
/// uses, untouched for `older_than` (a running attempt's are newer). Returns their names.
pub async fn remove_abandoned(
    table: &DeltaTable,
    older_than: std::time::Duration,
) -> Result<Vec<String>, TaskError> {
    let snapshot = table
        .snapshot()
        .map_err(|e| delta_error("reading the table's files", e))?;
    let used: std::collections::HashSet<String> = snapshot
        .log_data()
        .iter()
        .filter_map(|f| f.path().split('/').next().map(str::to_string))
        .filter(|top| top.starts_with(STAGING_PREFIX))
        .collect();
    let cutoff = chrono::Utc::now().timestamp_millis()
        - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let mut removed = Vec::new();
    for folder in staging_folders(table).await? {
        if used.contains(&folder) {
            continue;
        }
        let files = list(table, &folder).await?;
        if files.iter().all(|f| f.modified_ms < cutoff) {
            remove_folder(table, &folder).await?;
            removed.push(folder);
        }
    }
    Ok(removed)
}

/// The table root's folders named like staging folders.
async fn staging_folders(table: &DeltaTable) -> Result<Vec<String>, TaskError> {
    let root = table.log_store().root_url().clone();
    let names: Vec<String> = match root.to_file_path() {
        Ok(base) if root.scheme() == "file" => match std::fs::read_dir(&base) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(TaskError::Retryable(format!("listing {root}: {e}"))),
        },
        _ => {
            let store = table.log_store().object_store(None);
            store
                .list_with_delimiter(None)
                .await
                .map_err(|e| delta_error("listing the table's folders", e.into()))?
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()
        }
    };
    Ok(names
        .into_iter()
        .filter(|n| n.starts_with(STAGING_PREFIX))
        .collect())
}

/// How staged files change the table.
pub enum StagedWrite {
    /// Add them.
    Append,
    /// Add them and remove these files (all of the table, or the replaced partitions).
    Replace {
        removes: Vec<Remove>,
        predicate: Option<String>,
    },
}

/// Commits `adds` as the write says, with `positions.next`, in one commit; a table with
/// no commit yet is created by it, with `schema` and `partition_by`. Fails, committing
/// nothing, when another writer moved a position.
pub async fn commit_adds(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    write: StagedWrite,
    (schema, partition_by): (&StructType, &[String]),
    positions: &Positions,
) -> Result<(), TaskError> {
    let properties = check_positions(table, positions).await?;
    let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    if table.version().is_none() {
        let created = table
            .create()
            .with_columns(schema.fields().cloned())
            .with_partition_columns(partition_by.to_vec())
            .with_actions(actions)
            .with_commit_properties(properties)
            .await
            .map_err(|e| delta_error("creating the table with the staged files", e))?;
        *table = created;
        return Ok(());
    }
    let (mode, predicate) = match write {
        StagedWrite::Append => (SaveMode::Append, None),
        StagedWrite::Replace { removes, predicate } => {
            actions.extend(removes.into_iter().map(Action::Remove));
            (SaveMode::Overwrite, predicate)
        }
    };
    let operation = DeltaOperation::Write {
        mode,
        partition_by: Some(partition_by.to_vec()).filter(|p| !p.is_empty()),
        predicate,
    };
    let snapshot = table
        .snapshot()
        .map_err(|e| delta_error("reading the table to commit to", e))?;
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(|e| delta_error("committing the staged files", e))?;
    table.state = Some(committed.snapshot());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_folders_above_the_file() {
        let columns = vec!["city".to_string(), "day".to_string()];
        let found = folder_partition(
            "stage/city=x%2Fy/day=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
            &columns,
        )
        .unwrap();
        assert_eq!(found["city"].as_deref(), Some("x/y"));
        assert_eq!(found["day"], None);
        assert!(folder_partition("stage/part-0.parquet", &columns).is_err());
    }
}
