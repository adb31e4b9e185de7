//! The bronze table: raw records with their source coordinates, partitioned by ingestion
//! date, and the exactly-once commit that carries the source position as `txn` actions.

use crate::lake;
use crate::{StreamUri, TaskError};
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{
    ArrayRef, Date32Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The Arrow schema of a bronze table.
pub fn bronze_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("value", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("topic", DataType::Utf8, true),
        Field::new("partition", DataType::Int32, true),
        Field::new("offset", DataType::Int64, true),
        Field::new("timestamp", ts.clone(), true),
        Field::new("file", DataType::Utf8, true),
        Field::new("line", DataType::Int64, true),
        Field::new("ingested_at", ts, false),
        Field::new("ingestion_date", DataType::Date32, false),
    ]))
}

/// Rows being gathered for one commit.
pub struct BronzeBatch {
    source: String,
    ingested_at: DateTime<Utc>,
    value: StringBuilder,
    key: StringBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    timestamp: TimestampMicrosecondBuilder,
    file: StringBuilder,
    line: Int64Builder,
    pub rows: usize,
}

impl BronzeBatch {
    /// An empty batch for records from `source`.
    pub fn new(source: &StreamUri, capacity: usize) -> Self {
        Self {
            source: source.to_string(),
            ingested_at: Utc::now(),
            value: StringBuilder::with_capacity(capacity, capacity * 256),
            key: StringBuilder::with_capacity(capacity, capacity * 36),
            topic: StringBuilder::new(),
            partition: Int32Builder::with_capacity(capacity),
            offset: Int64Builder::with_capacity(capacity),
            timestamp: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            file: StringBuilder::new(),
            line: Int64Builder::with_capacity(capacity),
            rows: 0,
        }
    }

    /// Adds a Kafka record.
    pub fn push_kafka(
        &mut self,
        value: &str,
        key: Option<&str>,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp_ms: Option<i64>,
    ) {
        self.value.append_value(value);
        self.key.append_option(key);
        self.topic.append_value(topic);
        self.partition.append_value(partition);
        self.offset.append_value(offset);
        self.timestamp
            .append_option(timestamp_ms.map(|ms| ms * 1000));
        self.file.append_null();
        self.line.append_null();
        self.rows += 1;
    }

    /// Adds a line of a file (numbered from 1).
    pub fn push_line(&mut self, value: &str, file: &str, line: i64) {
        self.value.append_value(value);
        self.key.append_null();
        self.topic.append_null();
        self.partition.append_null();
        self.offset.append_null();
        self.timestamp.append_null();
        self.file.append_value(file);
        self.line.append_value(line);
        self.rows += 1;
    }

    /// The rows as a record batch.
    pub fn finish(mut self) -> Result<RecordBatch, TaskError> {
        let n = self.rows;
        let mut source = StringBuilder::with_capacity(n, n * self.source.len());
        let mut ingested = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut date = Date32Builder::with_capacity(n);
        let day = (self.ingested_at.date_naive() - chrono::NaiveDate::default()).num_days() as i32;
        for _ in 0..n {
            source.append_value(&self.source);
            ingested.append_value(self.ingested_at.timestamp_micros());
            date.append_value(day);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.value.finish()),
            Arc::new(self.key.finish()),
            Arc::new(source.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(ingested.finish()),
            Arc::new(date.finish()),
        ];
        RecordBatch::try_new(bronze_schema(), columns)
            .map_err(|e| TaskError::Fatal(format!("building the bronze batch: {e}")))
    }
}

/// A bronze table and the source positions this task has seen in it.
pub struct Bronze {
    table: DeltaTable,
    /// Position per txn app id as last read from (or committed to) the table.
    expected: HashMap<String, Option<i64>>,
    pub commits: u64,
}

impl Bronze {
    /// Opens the table at `location`, or prepares to create it on the first commit.
    pub async fn open(
        location: &str,
        storage: &BTreeMap<String, String>,
    ) -> Result<Self, TaskError> {
        Ok(Self {
            table: lake::open(location, storage).await?,
            expected: HashMap::new(),
            commits: 0,
        })
    }

    /// The table version, or -1 before the first commit.
    pub fn version(&self) -> i64 {
        lake::version(&self.table)
    }

    /// The position committed for `app_id`, remembered as what the next commit expects.
    pub async fn position(&mut self, app_id: &str) -> Result<Option<i64>, TaskError> {
        let position = lake::position(&self.table, app_id).await?;
        self.expected.insert(app_id.to_string(), position);
        Ok(position)
    }

    /// Appends `batch` and moves each app id to its new position, in one Delta commit.
    /// Fails, committing nothing, if another writer moved any of them since we read them.
    pub async fn commit(
        &mut self,
        batch: RecordBatch,
        positions: &BTreeMap<String, i64>,
    ) -> Result<(), TaskError> {
        let mut moves = lake::Positions::default();
        for (app_id, next) in positions {
            let expected = self.expected.get(app_id).copied().flatten();
            moves.advance(app_id, expected, *next);
        }
        let spec = lake::WriteSpec::append(&["ingestion_date".to_string()]);
        lake::write_checked(&mut self.table, vec![batch], &spec, &moves).await?;
        for (app, v) in positions {
            self.expected.insert(app.clone(), Some(*v));
        }
        self.commits += 1;
        Ok(())
    }
}
