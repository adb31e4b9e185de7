//! The data files of a snapshot, for an engine that reads them as plain Parquet (Spark
//! over Spark Connect): each file's path under the table root and its partition values.
//! Tables whose files plain Parquet readers would misread are refused.

use super::{PartitionValues, delta_error};
use crate::TaskError;
use deltalake::DeltaTable;
use std::collections::BTreeSet;

/// One data file of a snapshot.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The path under the table root, decoded (`event_date=2024-01-01/part-0.parquet`).
    pub path: String,
}

/// The data files of `table`'s loaded snapshot, only those of `partitions` when given.
/// Fails for deletion vectors and column mapping, which a Parquet reader does not apply.
pub fn data_files(
    table: &DeltaTable,
    partitions: Option<&BTreeSet<PartitionValues>>,
) -> Result<Vec<DataFile>, TaskError> {
    let snapshot = table
        .snapshot()
        .map_err(|e| delta_error("reading the table's files", e))?;
    let root = table.log_store().root_url().to_string();
    if let Some(mode) = snapshot
        .metadata()
        .configuration()
        .get("delta.columnMapping.mode")
        .filter(|m| m.as_str() != "none")
    {
        return Err(TaskError::Fatal(format!(
            "{root} uses column mapping (`{mode}`): its Parquet files name columns differently \
             from the table, so Spark cannot read them as files"
        )));
    }
    let partition_columns = snapshot.metadata().partition_columns().to_vec();
    let mut files = Vec::new();
    for file in snapshot.log_data().iter() {
        if file.deletion_vector_descriptor().is_some() {
            return Err(TaskError::Fatal(format!(
                "{root} has deletion vectors (in {}): Spark would read the deleted rows from \
                 the files; rewrite the table without them (delta_maintenance optimize)",
                file.path()
            )));
        }
        let partition: PartitionValues = file.partition_values_map().into_iter().collect();
        if partitions.is_some_and(|wanted| !wanted.contains(&partition)) {
            continue;
        }
        let path = file.path().to_string();
        check_layout(&root, &path, &partition_columns, &partition)?;
        files.push(DataFile { path });
    }
    Ok(files)
}

/// Spark finds a file's partition values in the `column=value` folders above it: they
/// must say what the log says.
fn check_layout(
    root: &str,
    path: &str,
    columns: &[String],
    partition: &PartitionValues,
) -> Result<(), TaskError> {
    let folders: Vec<&str> = path.split('/').rev().skip(1).take(columns.len()).collect();
    let found: Vec<(String, Option<String>)> = folders
        .iter()
        .rev()
        .filter_map(|folder| folder.split_once('='))
        .map(|(column, value)| (column.to_string(), hive_value(value)))
        .collect();
    let expected: Vec<(String, Option<String>)> = columns
        .iter()
        .map(|c| (c.clone(), partition.get(c).cloned().flatten()))
        .collect();
    if found != expected {
        return Err(TaskError::Fatal(format!(
            "{root}: the file {path} is not in the folders of its partition ({}), so Spark would \
             read other partition values from its path",
            super::partition_names(&BTreeSet::from([partition.clone()])).join(", ")
        )));
    }
    Ok(())
}

/// A Hive partition folder's value: `%XX` escapes decoded, `__HIVE_DEFAULT_PARTITION__`
/// for null.
pub fn hive_value(folder_value: &str) -> Option<String> {
    if folder_value == "__HIVE_DEFAULT_PARTITION__" {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(folder_value).decode_utf8_lossy();
    Some(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::hive_value;

    #[test]
    fn hive_folder_values_decode() {
        assert_eq!(hive_value("a b").as_deref(), Some("a b"));
        assert_eq!(hive_value("x%2Fy").as_deref(), Some("x/y"));
        assert_eq!(hive_value("p%25q%3Dr,%7Bs}").as_deref(), Some("p%q=r,{s}"));
        assert_eq!(hive_value("100%").as_deref(), Some("100%"));
        assert_eq!(hive_value("__HIVE_DEFAULT_PARTITION__"), None);
    }
}
