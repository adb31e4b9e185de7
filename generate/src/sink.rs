//! Writing generated records: JSON-lines files (written aside, then renamed into place so
//! a reader never sees half a file) or a Kafka topic (created when missing). A count
//! ends the generation; without one, it goes on until `stop` fires.

use super::RecordSource;
use super::kafka::{KafkaSink, ensure_topic};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use updraft_core::StreamUri;

/// Told how many records are written so far, as it goes.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Records per landing file.
const LINES_PER_FILE: u64 = 100_000;

/// A paced (live) stream closes its landing file this often, so readers see new
/// records soon.
const FILE_EVERY: Duration = Duration::from_secs(10);

/// What a generation wrote.
#[derive(Debug, serde::Serialize)]
pub struct GenerateReport {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub target: String,
}

/// Produces `count` records into `to` (or until `stop`), at most `rate` a second when
/// given, telling `progress` how many are written as it goes.
pub async fn generate(
    mut generator: impl RecordSource,
    count: Option<u64>,
    to: &StreamUri,
    rate: Option<u64>,
    partitions: i32,
    stop: &CancellationToken,
    progress: Progress<'_>,
) -> Result<GenerateReport> {
    let started = Instant::now();
    let limit = Limit { count, stop, rate };
    let made = match to {
        StreamUri::File(dir) => to_files(&mut generator, &limit, dir, progress)?,
        StreamUri::Kafka { bootstrap, topic } => {
            ensure_topic(bootstrap, topic, partitions).await?;
            to_kafka(&mut generator, &limit, bootstrap, topic, progress)?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok(GenerateReport {
        events: made,
        seconds,
        events_per_second: made as f64 / seconds.max(1e-9),
        target: to.to_string(),
    })
}

/// When a generation ends, and how fast it goes.
struct Limit<'a> {
    count: Option<u64>,
    stop: &'a CancellationToken,
    rate: Option<u64>,
}

impl Limit<'_> {
    /// Whether record number `made + 1` is still wanted.
    fn wants_more(&self, made: u64) -> bool {
        self.count.is_none_or(|count| made < count) && !self.stop.is_cancelled()
    }
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

/// Writes JSON-lines files of at most `LINES_PER_FILE` records (a live stream closes one
/// every `FILE_EVERY` as well); returns how many records were written.
fn to_files(
    generator: &mut impl RecordSource,
    limit: &Limit,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
    let started = Instant::now();
    let mut written = 0u64;
    let mut part = 0u32;
    while limit.wants_more(written) {
        let name = format!("{}-{stamp}-{part:05}.jsonl", generator.name());
        let partial = dir.join(format!(".{name}.partial"));
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let opened = Instant::now();
        let mut lines = 0;
        while lines < LINES_PER_FILE && limit.wants_more(written) {
            if limit.rate.is_some() && lines > 0 && opened.elapsed() >= FILE_EVERY {
                break;
            }
            let (_, json) = generator.next_record();
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
            lines += 1;
            if written.is_multiple_of(pace_every(limit.rate)) {
                progress(written);
                pace(limit.rate, written, started);
            }
        }
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        if lines == 0 {
            std::fs::remove_file(&partial)?;
            break;
        }
        std::fs::rename(&partial, dir.join(&name))?;
        part += 1;
    }
    progress(written);
    Ok(written)
}

/// How many records go between two looks at the clock: a slow stream is paced record
/// by record, a fast one in blocks.
fn pace_every(rate: Option<u64>) -> u64 {
    rate.map_or(4096, |r| (r / 100).clamp(1, 4096))
}

/// Generates records on a second thread, in batches, while `send` takes them one by one
/// (numbered from 1) on this thread: generating and producing overlap on two cores.
/// Ends when `limit` says so or a `send` fails; returns how many were sent.
fn generated_ahead(
    generator: &mut impl RecordSource,
    limit: &Limit,
    mut send: impl FnMut(u64, (String, String)) -> Result<()>,
) -> Result<u64> {
    // A paced stream is made as it goes, so that live times are the times of sending.
    let batch = if limit.rate.is_some() { 1 } else { 1024 };
    let (count, stop) = (limit.count, limit.stop);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(String, String)>>(16);
        scope.spawn(move || {
            let mut made = 0;
            while count.is_none_or(|c| made < c) && !stop.is_cancelled() {
                let n = count.map_or(batch, |c| batch.min(c - made));
                let records = (0..n).map(|_| generator.next_record()).collect();
                if tx.send(records).is_err() {
                    return;
                }
                made += n;
            }
        });
        let mut sent = 0;
        for records in rx {
            for record in records {
                sent += 1;
                send(sent, record)?;
            }
        }
        Ok(sent)
    })
}

fn to_kafka(
    generator: &mut impl RecordSource,
    limit: &Limit,
    bootstrap: &str,
    topic: &str,
    progress: Progress<'_>,
) -> Result<u64> {
    let producer = KafkaSink::new(bootstrap, topic)?;
    let started = Instant::now();
    let every = pace_every(limit.rate);
    let sent = generated_ahead(generator, limit, |sent, (key, json)| {
        producer.send(Some(&key), &json)?;
        if sent.is_multiple_of(every) {
            progress(sent);
            pace(limit.rate, sent, started);
        }
        Ok(())
    })?;
    producer.finish(sent)?;
    progress(sent);
    Ok(sent)
}
