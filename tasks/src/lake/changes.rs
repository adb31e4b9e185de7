//! What changed in a table between two versions, read from its commit log: the data
//! files added and the partitions whose rows were added or removed. Compaction commits
//! (`dataChange: false`) change no data and are ignored.

use super::delta_error;
use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add};
use std::collections::{BTreeMap, BTreeSet};

/// One partition's values, by column (a null partition value is `None`).
pub type PartitionValues = BTreeMap<String, Option<String>>;

/// Data changes of versions `(after, to]`.
#[derive(Debug, Default)]
pub struct Changes {
    /// Files added with new rows, with the version that added them, oldest first.
    pub added: Vec<(i64, Add)>,
    /// Partitions that gained or lost rows.
    pub partitions: BTreeSet<PartitionValues>,
    /// Some versions' commit files were removed by log cleanup, so the list is incomplete.
    pub incomplete: bool,
}

/// Reads the commits after version `after` up to the table's loaded version.
pub async fn changes_since(table: &DeltaTable, after: i64) -> Result<Changes, TaskError> {
    let to = super::version(table);
    let store = table.log_store();
    let mut changes = Changes::default();
    for version in (after + 1)..=to {
        let Some(bytes) = store
            .read_commit_entry(version as u64)
            .await
            .map_err(|e| delta_error("reading the table's commit log", e))?
        else {
            changes.incomplete = true;
            continue;
        };
        let actions = deltalake::logstore::get_actions(version as u64, &bytes)
            .map_err(|e| delta_error("parsing the table's commit log", e))?;
        for action in actions {
            match action {
                Action::Add(add) if add.data_change => {
                    changes
                        .partitions
                        .insert(to_partition(&add.partition_values));
                    changes.added.push((version, add));
                }
                Action::Remove(remove) if remove.data_change => {
                    if let Some(values) = &remove.partition_values {
                        changes.partitions.insert(to_partition(values));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(changes)
}

fn to_partition(values: &std::collections::HashMap<String, Option<String>>) -> PartitionValues {
    values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The partitions of a partitioned table as asset events name them (none for a table
/// without partition columns).
pub fn partition_names(partitions: &BTreeSet<PartitionValues>) -> Vec<String> {
    partitions
        .iter()
        .filter(|values| !values.is_empty())
        .map(partition_name)
        .collect()
}

/// A partition as asset events name it: `column=value[/column=value]` (`null` for null).
fn partition_name(values: &PartitionValues) -> String {
    values
        .iter()
        .map(|(column, value)| format!("{column}={}", value.as_deref().unwrap_or("null")))
        .collect::<Vec<_>>()
        .join("/")
}
