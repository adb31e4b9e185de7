//! Parquet settings chosen from the rows being written: no dictionary for text columns
//! whose values are mostly distinct (ids, free text) — the writer would build one for
//! each only to give it up when it grows too large, about a tenth of the silver task's
//! time on 1,000,000 tweets — and row groups small enough to be read in parallel.

use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::datatypes::DataType;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use std::collections::HashSet;

/// Rows per row group: readers scan a file's row groups in parallel, and prune them by
/// their statistics (the writer's default, 1,048,576, made silver one row group per file).
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Fewer sample rows than this say too little about a column.
const MIN_SAMPLE: usize = 1_000;

/// The rows looked at: enough to tell ids from categories.
const SAMPLE: usize = 16 * 1024;

/// Settings for rows like `sample` (delta-rs's Snappy compression, as by default).
pub fn parquet_settings(sample: &RecordBatch) -> WriterProperties {
    let mut settings = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    let sample = sample.slice(0, sample.num_rows().min(SAMPLE));
    if sample.num_rows() >= MIN_SAMPLE {
        for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
            if field.data_type() == &DataType::Utf8 && mostly_distinct(column.as_string::<i32>()) {
                let path = ColumnPath::new(vec![field.name().clone()]);
                settings = settings.set_column_dictionary_enabled(path, false);
            }
        }
    }
    settings.build()
}

/// Whether more than half of the non-null values differ from all others.
fn mostly_distinct(values: &deltalake::arrow::array::StringArray) -> bool {
    let present: Vec<&str> = values.iter().flatten().collect();
    let distinct: HashSet<&str> = present.iter().copied().collect();
    !present.is_empty() && distinct.len() * 2 > present.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::StringArray;
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn ids_lose_the_dictionary_and_categories_keep_it() {
        let ids: Vec<String> = (0..2_000).map(|i| format!("id-{i}")).collect();
        let kinds: Vec<&str> = (0..2_000).map(|i| ["a", "b", "c"][i % 3]).collect();
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(kinds)),
            ],
        )
        .unwrap();
        let settings = parquet_settings(&batch);
        let path = |n: &str| ColumnPath::new(vec![n.to_string()]);
        assert!(!settings.dictionary_enabled(&path("id")));
        assert!(settings.dictionary_enabled(&path("kind")));
        assert_eq!(settings.compression(&path("id")), Compression::SNAPPY);
        assert_eq!(settings.max_row_group_row_count(), Some(ROW_GROUP_ROWS));
    }
}
