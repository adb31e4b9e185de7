//! Landing from a Kafka topic: every partition, from the offset after the one the bronze
//! table records, to the end of the partition. A partition is done when the consumer
//! reaches its end (end-of-partition from Fetch) at or past the high watermark read at the
//! start: ListOffsets alone is not trusted for the end (tansu 0.6 reports the start of the
//! last record batch there, which would leave that batch for the next run). A blocking
//! consumer thread fills bounded batches that the async side commits: memory stays flat.

use super::bronze::{Bronze, BronzeBatch, Filled, FilledSender};
use crate::{StreamUri, TaskContext, TaskError};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the first answer of the broker may take before it is reported unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the consumer may see nothing while offsets below the watermark remain.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a partition may return nothing from where it was positioned before landing
/// looks further back: a broker that skips to the next record batch (tansu 0.6) returns
/// nothing at all when the position falls inside the partition's last batch.
const SILENCE_BEFORE_LOOKBACK: Duration = Duration::from_secs(2);

/// What to land from where.
pub struct Options {
    pub bootstrap: String,
    pub topic: String,
    pub batch_size: usize,
    pub properties: BTreeMap<String, String>,
    pub fail_on_data_loss: bool,
}

fn app_id(topic: &str, partition: i32) -> String {
    format!("updraft-land:kafka:{topic}:{partition}")
}

/// Where one partition's landing starts and stands, and the high watermark it must reach.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: i64,
    next: i64,
    watermark: i64,
    /// The partition's low watermark: looking back never goes below it.
    low: i64,
    /// Where the consumer was last positioned, when, and whether its first record was
    /// checked.
    fetch_from: i64,
    positioned_at: Instant,
    checked: bool,
}

impl Range {
    fn new(start: i64, low: i64, watermark: i64) -> Self {
        Range {
            start,
            next: start,
            watermark,
            low,
            fetch_from: start,
            positioned_at: Instant::now(),
            checked: false,
        }
    }

    /// Whether the consumer should be positioned further back: its first record came from
    /// past the start, or nothing came for a while (and there is a further back).
    fn should_look_back(&self, first_offset: Option<i64>) -> bool {
        let skipped = match first_offset {
            Some(offset) => offset > self.start,
            None => self.positioned_at.elapsed() > SILENCE_BEFORE_LOOKBACK,
        };
        !self.checked && skipped && self.fetch_from > self.low
    }
}

/// Positions the consumer of `partition` further back than it was (see [`lookback`]).
fn look_back(
    consumer: &BaseConsumer<LandContext>,
    topic: &str,
    partition: i32,
    range: &mut Range,
) -> Result<(), TaskError> {
    range.fetch_from = lookback(range.fetch_from, range.start, range.low);
    range.positioned_at = Instant::now();
    consumer
        .seek(
            topic,
            partition,
            Offset::Offset(range.fetch_from),
            Duration::from_secs(10),
        )
        .map_err(|e| kafka_error("seeking back", e))
}

/// How far before the landed position to look when a broker skips records.
fn lookback(from: i64, start: i64, low: i64) -> i64 {
    let distance = (start - from).max(1000) * 10;
    (start - distance).max(low)
}

/// The positions a batch moves to: the last offset it holds per partition.
fn positions(topic: &str, last_offsets: BTreeMap<i32, i64>) -> BTreeMap<String, i64> {
    last_offsets
        .into_iter()
        .map(|(p, o)| (app_id(topic, p), o))
        .collect()
}

fn kafka_error(doing: &str, e: KafkaError) -> TaskError {
    TaskError::Retryable(format!("{doing}: {e}"))
}

/// Reports client errors as warnings, except end-of-partition, which is how landing ends.
struct LandContext;

impl ClientContext for LandContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error,
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_)
        ) {
            tracing::warn!("kafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for LandContext {}

fn consumer(options: &Options) -> Result<BaseConsumer<LandContext>, TaskError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &options.bootstrap)
        .set("group.id", "updraft-land")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("fetch.max.bytes", "52428800")
        // A backlog is drained as fast as fetches return; a broker that holds each fetch
        // for the full wait (tansu does, 500 ms by default) would otherwise set the pace.
        .set("fetch.wait.max.ms", "10")
        .set("max.partition.fetch.bytes", "16777216")
        .set("queued.max.messages.kbytes", "262144");
    for (k, v) in &options.properties {
        config.set(k, v);
    }
    config
        .create_with_context(LandContext)
        .map_err(|e| TaskError::Config(format!("bad Kafka consumer settings: {e}")))
}

/// Lands everything below each partition's high watermark; returns how many records.
pub async fn land(
    options: Options,
    bronze: &mut Bronze,
    ctx: &TaskContext,
) -> Result<u64, TaskError> {
    let source = StreamUri::Kafka {
        bootstrap: options.bootstrap.clone(),
        topic: options.topic.clone(),
    };
    let consumer = consumer(&options)?;
    let topic = options.topic.clone();
    let bootstrap = options.bootstrap.clone();
    let (consumer, partitions) = tokio::task::spawn_blocking(move || {
        // The first answer is awaited briefly: a broker that refuses or does not answer
        // is reported in seconds, not after the client's long retries.
        let metadata = consumer
            .fetch_metadata(Some(&topic), CONNECT_TIMEOUT)
            .map_err(|e| {
                TaskError::Retryable(format!(
                    "cannot reach the Kafka broker at {bootstrap} within {}s (is it running, and is the address right?): {e}",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?;
        let partitions: Vec<(i32, i64, i64)> = match metadata.topics().first() {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => t
                .partitions()
                .iter()
                .map(|p| {
                    let (low, high) = consumer
                        .fetch_watermarks(&topic, p.id(), METADATA_TIMEOUT)
                        .map_err(|e| kafka_error("reading watermarks", e))?;
                    Ok((p.id(), low, high))
                })
                .collect::<Result<_, TaskError>>()?,
            _ => {
                return Err(TaskError::Retryable(format!(
                    "topic `{topic}` does not exist (yet)"
                )));
            }
        };
        Ok((consumer, partitions))
    })
    .await
    .map_err(|e| TaskError::Retryable(format!("metadata thread failed: {e}")))??;

    let mut ranges: HashMap<i32, Range> = HashMap::new();
    for (partition, low, high) in partitions {
        let landed = bronze.position(&app_id(&options.topic, partition)).await?;
        let mut start = landed.map_or(low, |offset| offset + 1);
        if start < low {
            let message = format!(
                "partition {partition}: offsets {start}..{low} were deleted by the broker before they were landed"
            );
            if options.fail_on_data_loss {
                return Err(TaskError::Fatal(format!(
                    "{message} (set fail_on_data_loss: false to skip them)"
                )));
            }
            ctx.log
                .line(format!("warning: {message}; continuing at {low}"));
            start = low;
        }
        ctx.log.line(format!(
            "partition {partition}: landing from offset {start} (high watermark {high})"
        ));
        ranges.insert(partition, Range::new(start, low, high));
    }

    let cancel = ctx.cancel.clone();
    let batch_size = options.batch_size;
    let topic = options.topic.clone();
    bronze
        .commit_all(
            move |tx| consume(&consumer, &topic, &source, ranges, batch_size, tx, &cancel),
            ctx,
        )
        .await
}

/// Reads every partition to its end, sending full batches (and the last partial one).
fn consume(
    consumer: &BaseConsumer<LandContext>,
    topic: &str,
    source: &StreamUri,
    mut ranges: HashMap<i32, Range>,
    batch_size: usize,
    tx: &FilledSender,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), TaskError> {
    let mut assignment = TopicPartitionList::new();
    for (partition, range) in &ranges {
        assignment
            .add_partition_offset(topic, *partition, Offset::Offset(range.start))
            .map_err(|e| kafka_error("assigning partitions", e))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_error("assigning partitions", e))?;
    let mut batch = BronzeBatch::new(source, batch_size);
    let mut last_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_progress = Instant::now();
    for range in ranges.values_mut() {
        range.positioned_at = Instant::now();
    }
    while !ranges.is_empty() {
        if cancel.is_cancelled() {
            return Ok(());
        }
        for (partition, range) in ranges.iter_mut() {
            if range.should_look_back(None) {
                look_back(consumer, topic, *partition, range)?;
            }
        }
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            if last_progress.elapsed() > STALL_TIMEOUT {
                return Err(TaskError::Retryable(format!(
                    "no records for {}s while partitions {:?} were not fully landed",
                    STALL_TIMEOUT.as_secs(),
                    ranges.keys().collect::<Vec<_>>()
                )));
            }
            continue;
        };
        last_progress = Instant::now();
        let message = match result {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(partition)) => {
                // The consumer's own position is unset until it returns a record, so the
                // next offset is tracked here.
                if let Some(range) = ranges.get(&partition)
                    && range.next >= range.watermark
                {
                    ranges.remove(&partition);
                }
                if ranges.is_empty() && batch.rows > 0 {
                    let full = std::mem::replace(&mut batch, BronzeBatch::new(source, batch_size));
                    let filled =
                        Filled::new(full, positions(topic, std::mem::take(&mut last_offsets)))?;
                    if tx.blocking_send(Ok(filled)).is_err() {
                        return Ok(());
                    }
                }
                continue;
            }
            Err(e) => return Err(kafka_error("consuming", e)),
        };
        let (partition, offset) = (message.partition(), message.offset());
        let Some(range) = ranges.get_mut(&partition) else {
            continue; // already at its end: the rest is for the next run
        };
        if !range.checked {
            // A broker must serve the record at the requested offset (or the next one that
            // exists). Some (tansu 0.6) skip to the next record batch when the offset falls
            // inside one: then look further back, and drop what was landed already.
            if range.should_look_back(Some(offset)) {
                look_back(consumer, topic, partition, range)?;
                continue;
            }
            range.checked = true;
        }
        if offset < range.next {
            continue; // landed already (by an earlier run, or served twice)
        }
        range.next = offset + 1;
        let value = message
            .payload()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let key = message.key().map(String::from_utf8_lossy);
        batch.push_kafka(
            &value,
            key.as_deref(),
            topic,
            partition,
            offset,
            message.timestamp().to_millis(),
        );
        last_offsets.insert(partition, offset);
        if batch.rows >= batch_size {
            let full = std::mem::replace(&mut batch, BronzeBatch::new(source, batch_size));
            let filled = Filled::new(full, positions(topic, std::mem::take(&mut last_offsets)))?;
            if tx.blocking_send(Ok(filled)).is_err() {
                return Ok(()); // the writer stopped; its error is reported there
            }
        }
    }
    if batch.rows > 0 {
        let _ = tx.blocking_send(Ok(Filled::new(batch, positions(topic, last_offsets))?));
    }
    Ok(())
}
