//! Writing generated records: JSON-lines files (written aside, then renamed into place so
//! a reader never sees half a file) or a Kafka topic (created when missing).

use super::kafka::{KafkaSink, ensure_topic};
use super::tweets::TweetGenerator;
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::io::Write;
use std::path::Path;
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

fn to_kafka(
    generator: &mut TweetGenerator,
    count: u64,
    bootstrap: &str,
    topic: &str,
    rate: Option<u64>,
    bar: &ProgressBar,
) -> Result<()> {
    let producer = KafkaSink::new(bootstrap, topic)?;
    let started = Instant::now();
    generated_ahead(generator, count, |sent, (key, json)| {
        producer.send(Some(&key), &json)?;
        if sent.is_multiple_of(4096) {
            bar.set_position(sent);
            pace(rate, sent, started);
        }
        Ok(())
    })?;
    producer.finish(count)?;
    bar.set_position(count);
    Ok(())
}
