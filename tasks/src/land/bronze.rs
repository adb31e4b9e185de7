//! The bronze table: raw records with their source coordinates, partitioned by ingestion
//! date, and the exactly-once commit that carries the source position as `txn` actions.

use crate::lake;
use crate::{StreamUri, TaskContext, TaskError};
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{
    ArrayRef, Date32Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::error::ArrowError;
use deltalake::kernel::Add;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

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
    /// The last Kafka record's (partition, offset), and whether all came in that order.
    last_record: Option<(i32, i64)>,
    in_order: bool,
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
            last_record: None,
            in_order: true,
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
        self.in_order &= self
            .last_record
            .is_none_or(|last| last < (partition, offset));
        self.last_record = Some((partition, offset));
        self.rows += 1;
    }

    /// Adds a line of a file (numbered from 1); files come in name order, lines in order.
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

    /// The rows as a record batch, in source order: by partition and offset (records
    /// arrive from a topic's partitions interleaved), or by file and line.
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
        let batch = RecordBatch::try_new(bronze_schema(), columns)
            .map_err(|e| TaskError::Fatal(format!("building the bronze batch: {e}")))?;
        if self.in_order {
            return Ok(batch);
        }
        in_source_order(batch)
    }
}

/// Sorts `batch` by its source coordinates.
fn in_source_order(batch: RecordBatch) -> Result<RecordBatch, TaskError> {
    let error = |e: ArrowError| TaskError::Fatal(format!("ordering the bronze batch: {e}"));
    let coordinates: Vec<SortColumn> = ["partition", "offset", "file", "line"]
        .iter()
        .filter_map(|name| batch.column_by_name(name))
        .map(|values| SortColumn {
            values: values.clone(),
            options: None,
        })
        .collect();
    let order = lexsort_to_indices(&coordinates, None).map_err(error)?;
    take_record_batch(&batch, &order).map_err(error)
}

/// One commit's rows, built on a reader thread, and the source positions they move to.
pub struct Filled {
    batch: RecordBatch,
    rows: u64,
    positions: BTreeMap<String, i64>,
}

impl Filled {
    /// Builds the batch's rows (in source order) where it is called: on the reader.
    pub fn new(batch: BronzeBatch, positions: BTreeMap<String, i64>) -> Result<Self, TaskError> {
        Ok(Self {
            rows: batch.rows as u64,
            batch: batch.finish()?,
            positions,
        })
    }
}

#[cfg(test)]
impl Filled {
    /// The rows and the positions, for tests of the readers.
    pub fn parts(&self) -> (&RecordBatch, &BTreeMap<String, i64>) {
        (&self.batch, &self.positions)
    }
}

/// What a reader thread sends to the committing side.
pub type FilledSender = mpsc::Sender<Result<Filled, TaskError>>;

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
        let spec = lake::WriteSpec {
            keep_order: true,
            parquet: Some(lake::parquet_settings(&batch)),
            ..lake::WriteSpec::append(&["ingestion_date".to_string()])
        };
        let moves = self.moves(positions);
        lake::write_checked(&mut self.table, vec![batch], &spec, &moves).await?;
        self.moved(positions);
        Ok(())
    }

    /// [`Bronze::commit`] for files [`lake::stage_files`] wrote already.
    async fn commit_staged(
        &mut self,
        files: Vec<Add>,
        positions: &BTreeMap<String, i64>,
    ) -> Result<(), TaskError> {
        let moves = self.moves(positions);
        lake::commit_staged_checked(&mut self.table, files, &moves).await?;
        self.moved(positions);
        Ok(())
    }

    /// The checked moves from the positions last seen to `positions`.
    fn moves(&self, positions: &BTreeMap<String, i64>) -> lake::Positions {
        let mut moves = lake::Positions::default();
        for (app_id, next) in positions {
            let expected = self.expected.get(app_id).copied().flatten();
            moves.advance(app_id, expected, *next);
        }
        moves
    }

    /// Remembers a committed move.
    fn moved(&mut self, positions: &BTreeMap<String, i64>) {
        for (app, v) in positions {
            self.expected.insert(app.clone(), Some(*v));
        }
        self.commits += 1;
    }

    /// Runs `read` on a thread of its own and commits each batch it sends, in order;
    /// returns how many records were committed. While a batch is committed the next
    /// ones are read and encoded, two at a time, on other threads. Stops between
    /// commits when the task is cancelled.
    pub async fn commit_all(
        &mut self,
        read: impl FnOnce(&FilledSender) -> Result<(), TaskError> + Send + 'static,
        ctx: &TaskContext,
    ) -> Result<u64, TaskError> {
        let (tx, rx) = mpsc::channel(1);
        let reader = tokio::task::spawn_blocking(move || {
            if let Err(e) = read(&tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let landed = self.commit_received(rx, ctx).await;
        reader
            .await
            .map_err(|e| TaskError::Retryable(format!("the reader thread failed: {e}")))?;
        let landed = landed?;
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled(
                "landing stopped between commits".into(),
            ));
        }
        Ok(landed)
    }

    /// Commits what arrives on `received` until it ends, an error arrives or the task
    /// is cancelled.
    async fn commit_received(
        &mut self,
        mut received: mpsc::Receiver<Result<Filled, TaskError>>,
        ctx: &TaskContext,
    ) -> Result<u64, TaskError> {
        let mut landed = 0u64;
        // The first commit creates the table, whose schema staging files needs.
        if self.version() < 0 {
            let Some(filled) = received.recv().await else {
                return Ok(0);
            };
            let filled = filled?;
            if ctx.cancel.is_cancelled() {
                return Ok(0);
            }
            self.commit(filled.batch, &filled.positions).await?;
            landed += filled.rows;
            self.report(filled.rows, landed, ctx);
        }
        let table = self.table.clone();
        let filled = stream::unfold(received, |mut rx| async move {
            rx.recv().await.map(|filled| (filled, rx))
        });
        let mut staged = std::pin::pin!(
            filled
                .map(|filled| stage(table.clone(), filled))
                .buffered(ENCODING)
        );
        while let Some(next) = staged.next().await {
            let (files, rows, positions) = next?;
            if ctx.cancel.is_cancelled() {
                break;
            }
            self.commit_staged(files, &positions).await?;
            landed += rows;
            self.report(rows, landed, ctx);
        }
        Ok(landed)
    }

    fn report(&self, rows: u64, landed: u64, ctx: &TaskContext) {
        ctx.log.line(format!(
            "committed {rows} records (total {landed}, table version {})",
            self.version()
        ));
    }
}

/// Batches encoded into Parquet at the same time, each on its own thread.
const ENCODING: usize = 2;

/// Encodes a filled batch into staged files of `table`, on a runtime thread of its own.
async fn stage(
    table: DeltaTable,
    filled: Result<Filled, TaskError>,
) -> Result<(Vec<Add>, u64, BTreeMap<String, i64>), TaskError> {
    let Filled {
        batch,
        rows,
        positions,
    } = filled?;
    let parquet = lake::parquet_settings(&batch);
    let files = tokio::spawn(async move { lake::stage_files(&table, batch, parquet).await })
        .await
        .map_err(|e| TaskError::Retryable(format!("encoding a batch failed: {e}")))??;
    Ok((files, rows, positions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::AsArray;
    use deltalake::arrow::datatypes::{Int32Type, Int64Type};
    use deltalake::datafile::DataFileReader;
    use deltalake::datafile::reader::ParquetFileReader;
    use futures::TryStreamExt;

    fn kafka_source() -> StreamUri {
        "kafka://127.0.0.1:9092/t".parse().unwrap()
    }

    #[test]
    fn records_of_interleaved_partitions_are_put_in_partition_and_offset_order() {
        let mut batch = BronzeBatch::new(&kafka_source(), 8);
        for (partition, offset) in [(1, 10), (0, 5), (2, 0), (0, 6), (1, 11)] {
            let value = format!("p{partition}o{offset}");
            batch.push_kafka(&value, None, "t", partition, offset, None);
        }
        let batch = batch.finish().unwrap();
        let values: Vec<&str> = batch
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(values, ["p0o5", "p0o6", "p1o10", "p1o11", "p2o0"]);
        let partitions = batch.column(4).as_primitive::<Int32Type>();
        assert_eq!(partitions.values(), &[0, 0, 1, 1, 2]);
    }

    /// A commit of many rows (more than DataFusion's batch size, which the default
    /// write spreads over the cores) is stored in the order the rows were given.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_keeps_the_order_of_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("bronze").display().to_string();
        let mut bronze = Bronze::open(&location, &BTreeMap::new()).await.unwrap();
        let source = StreamUri::File(dir.path().to_path_buf());
        let rows = 50_000;
        let mut batch = BronzeBatch::new(&source, rows);
        for line in 1..=rows as i64 {
            batch.push_line("{}", "a.jsonl", line);
        }
        let app = "updraft-land:file:a.jsonl";
        bronze.position(app).await.unwrap();
        let positions = BTreeMap::from([(app.to_string(), rows as i64)]);
        bronze
            .commit(batch.finish().unwrap(), &positions)
            .await
            .unwrap();

        let lines: Vec<i64> = lines_by_version(&location).await.concat();
        let expected: Vec<i64> = (1..=rows as i64).collect();
        assert!(lines == expected, "rows out of line order");
    }

    fn context() -> TaskContext {
        TaskContext {
            dag_id: "d".into(),
            run_id: "r".into(),
            task_id: "land".into(),
            lake: String::new(),
            dag_folder: std::path::PathBuf::new(),
            try_number: 1,
            waiting_since: None,
            data_interval_start: Utc::now(),
            data_interval_end: Utc::now(),
            connections: Default::default(),
            log: crate::TaskLog::stderr(),
            cancel: Default::default(),
            reports: Default::default(),
            processes: Default::default(),
            dag_runs: None,
        }
    }

    /// Batches encoded two at a time on other threads are still committed one commit
    /// per batch, in the order read, each with the position it reached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_encoded_side_by_side_are_committed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("bronze").display().to_string();
        let mut bronze = Bronze::open(&location, &BTreeMap::new()).await.unwrap();
        let app = "updraft-land:file:a.jsonl";
        bronze.position(app).await.unwrap();
        let source = StreamUri::File(dir.path().to_path_buf());
        let (batches, rows) = (6, 20_000i64);
        let read = move |tx: &FilledSender| {
            for b in 0..batches {
                let mut batch = BronzeBatch::new(&source, rows as usize);
                for line in b * rows + 1..=(b + 1) * rows {
                    batch.push_line("{}", "a.jsonl", line);
                }
                let positions = BTreeMap::from([(app.to_string(), (b + 1) * rows)]);
                tx.blocking_send(Filled::new(batch, positions)).unwrap();
            }
            Ok(())
        };
        let landed = bronze.commit_all(read, &context()).await.unwrap();
        assert_eq!(landed, (batches * rows) as u64);

        let by_version = lines_by_version(&location).await;
        assert_eq!(by_version.len(), batches as usize, "one commit per batch");
        for (b, lines) in by_version.iter().enumerate() {
            let b = b as i64;
            let expected: Vec<i64> = (b * rows + 1..=(b + 1) * rows).collect();
            assert!(*lines == expected, "commit {b} holds other lines");
        }
        let table = lake::open(&location, &BTreeMap::new()).await.unwrap();
        assert_eq!(
            lake::position(&table, app).await.unwrap(),
            Some(batches * rows)
        );
    }

    /// The `line` column of each commit's files, in the order the log adds them.
    async fn lines_by_version(location: &str) -> Vec<Vec<i64>> {
        let table = lake::open(location, &BTreeMap::new()).await.unwrap();
        let changes = lake::changes_since(&table, -1).await.unwrap();
        let reader = ParquetFileReader::new(table.log_store().object_store(None));
        let mut versions: Vec<Vec<i64>> = Vec::new();
        for (version, add) in &changes.added {
            let path = deltalake::Path::from_url_path(&add.path).unwrap();
            let batches: Vec<RecordBatch> = reader
                .read_file(path)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            versions.resize(*version as usize + 1, Vec::new());
            for b in batches {
                let line = b
                    .column_by_name("line")
                    .unwrap()
                    .as_primitive::<Int64Type>();
                versions[*version as usize].extend(line.values().iter().copied());
            }
        }
        versions
    }
}
