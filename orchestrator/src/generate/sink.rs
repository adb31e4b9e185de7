//! Writing generated records: JSON-lines files (written aside, then renamed into place so
//! a reader never sees half a file) or a Kafka topic (created when missing).

use super::tweets::TweetGenerator;
use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use updraft_tasks::StreamUri;

/// Records per landing file.
const LINES_PER_FILE: u64 = 100_000;

/// What a generation wrote.
#[derive(Debug, serde::Serialize)]
pub struct GenerateReport {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub target: String,
}

/// Produces `count` records into `to`, at most `rate` a second when given.
pub async fn generate(
    mut generator: TweetGenerator,
    count: u64,
    to: &StreamUri,
    rate: Option<u64>,
    partitions: i32,
) -> Result<GenerateReport> {
    let bar = progress_bar(count);
    let started = Instant::now();
    match to {
        StreamUri::File(dir) => to_files(&mut generator, count, dir, rate, &bar)?,
        StreamUri::Kafka { bootstrap, topic } => {
            ensure_topic(bootstrap, topic, partitions).await?;
            to_kafka(&mut generator, count, bootstrap, topic, rate, &bar)?
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    Ok(GenerateReport {
        events: count,
        seconds,
        events_per_second: count as f64 / seconds.max(1e-9),
        target: to.to_string(),
    })
}

fn progress_bar(count: u64) -> ProgressBar {
    crate::terminal::progress_bar(
        count,
        "{spinner} generating [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
    )
}

/// Sleeps as needed so that `done` events take at least `done / rate` seconds.
fn pace(rate: Option<u64>, done: u64, started: Instant) {
    if let Some(rate) = rate.filter(|r| *r > 0) {
        let due = Duration::from_secs_f64(done as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

fn to_files(
    generator: &mut TweetGenerator,
    count: u64,
    dir: &Path,
    rate: Option<u64>,
    bar: &ProgressBar,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
    let started = Instant::now();
    let mut written = 0u64;
    let mut part = 0u32;
    while written < count {
        let lines = LINES_PER_FILE.min(count - written);
        let name = format!("tweets-{stamp}-{part:05}.jsonl");
        let partial = dir.join(format!(".{name}.partial"));
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        for _ in 0..lines {
            let (_, json) = generator.next_record();
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
            if written.is_multiple_of(4096) {
                bar.set_position(written);
                pace(rate, written, started);
            }
        }
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, dir.join(&name))?;
        part += 1;
    }
    bar.set_position(written);
    Ok(())
}

/// Generates `count` records on a second thread, in batches, while `send` takes them one
/// by one (numbered from 1) on this thread: generating and producing overlap on two cores.
/// A failing `send` stops the generator.
fn generated_ahead(
    generator: &mut TweetGenerator,
    count: u64,
    mut send: impl FnMut(u64, (String, String)) -> Result<()>,
) -> Result<()> {
    const BATCH: u64 = 1024;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(String, String)>>(16);
        scope.spawn(move || {
            let mut made = 0;
            while made < count {
                let n = BATCH.min(count - made);
                let batch = (0..n).map(|_| generator.next_record()).collect();
                if tx.send(batch).is_err() {
                    return;
                }
                made += n;
            }
        });
        let mut sent = 0;
        for batch in rx {
            for record in batch {
                sent += 1;
                send(sent, record)?;
            }
        }
        Ok(())
    })
}

/// Creates the topic with `partitions` partitions unless it exists.
async fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("cannot create a Kafka admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .with_context(|| format!("cannot reach Kafka at {bootstrap}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Counts deliveries the broker did not acknowledge, keeping the first error.
#[derive(Default)]
struct DeliveryCheck {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCheck {}

impl ProducerContext for DeliveryCheck {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

fn to_kafka(
    generator: &mut TweetGenerator,
    count: u64,
    bootstrap: &str,
    topic: &str,
    rate: Option<u64>,
    bar: &ProgressBar,
) -> Result<()> {
    let producer: ThreadedProducer<DeliveryCheck> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", "lz4")
        .set("acks", "all")
        .set("message.timeout.ms", "120000")
        .create_with_context(DeliveryCheck::default())
        .with_context(|| format!("cannot create a Kafka producer for {bootstrap}"))?;
    let started = Instant::now();
    generated_ahead(generator, count, |sent, (key, json)| {
        let mut record = BaseRecord::to(topic).key(&key).payload(&json);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => bail!("cannot send to {topic}: {e}"),
            }
        }
        if sent.is_multiple_of(4096) {
            bar.set_position(sent);
            pace(rate, sent, started);
        }
        Ok(())
    })?;
    producer
        .flush(Duration::from_secs(120))
        .context("Kafka did not acknowledge every event within 120 s")?;
    let check = producer.context();
    let failed = check.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = check
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        bail!("{failed} of {count} events were not delivered to {topic}: {first}");
    }
    bar.set_position(count);
    Ok(())
}
