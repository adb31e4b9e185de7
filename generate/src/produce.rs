//! `updraft produce`: each row of a CSV file (as a JSON object of header → text, as
//! `land` lands CSV) or each line of a JSON-lines file, as one message on a Kafka topic —
//! seed 003's producer, generic. A delay between messages throttles it like the seed's.

use crate::kafka::{KafkaSink, ensure_topic};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

/// What to send and how.
pub struct ProduceRequest<'a> {
    pub file: &'a Path,
    pub bootstrap: &'a str,
    pub topic: &'a str,
    /// Waited after each message.
    pub delay: Option<Duration>,
    /// The column (CSV) or top-level field (JSON) whose value keys each message.
    pub key: Option<&'a str>,
    /// Partitions of the topic when it has to be created.
    pub partitions: i32,
}

/// A request that names something the file does not have: the user's mistake.
#[derive(Debug, thiserror::Error)]
#[error("--key {key}: {file} has no such column (it has {columns})")]
pub struct NoSuchColumn {
    pub key: String,
    pub file: String,
    pub columns: String,
}

/// What was sent.
#[derive(Debug, serde::Serialize)]
pub struct ProduceReport {
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub topic: String,
}

/// Sends every row of the file; `progress(bytes read)` is told as it goes.
pub async fn produce(
    request: &ProduceRequest<'_>,
    progress: impl FnMut(u64),
) -> Result<ProduceReport> {
    let opened = std::fs::File::open(request.file)
        .with_context(|| format!("cannot open {}", request.file.display()))?;
    ensure_topic(request.bootstrap, request.topic, request.partitions).await?;
    let sink = KafkaSink::new(request.bootstrap, request.topic)?;
    let started = Instant::now();
    let is_csv = request.file.extension().is_some_and(|e| e == "csv");
    let sent = if is_csv {
        send_csv(opened, request, &sink, progress)?
    } else {
        send_lines(opened, request, &sink, progress)?
    };
    sink.finish(sent)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ProduceReport {
        messages: sent,
        seconds,
        messages_per_second: sent as f64 / seconds.max(1e-9),
        topic: request.topic.to_string(),
    })
}

fn send_csv(
    file: std::fs::File,
    request: &ProduceRequest<'_>,
    sink: &KafkaSink,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let path = request.file.display();
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let names: Vec<String> = csv
        .headers()
        .with_context(|| format!("{path}: no CSV header"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let key_at = match request.key {
        Some(key) => match names.iter().position(|n| n == key) {
            Some(i) => Some(i),
            None => {
                return Err(NoSuchColumn {
                    key: key.to_string(),
                    file: path.to_string(),
                    columns: names.join(", "),
                }
                .into());
            }
        },
        None => None,
    };
    let mut record = csv::StringRecord::new();
    let mut sent = 0;
    loop {
        let more = csv.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{path}:{line}: not CSV: {e}")
        })?;
        if !more {
            break;
        }
        let value = serde_json::Value::Object(updraft_core::csv_row::row_object(&names, &record));
        let key = key_at.and_then(|i| record.get(i));
        sink.send(key, &value.to_string())?;
        sent += 1;
        tick(request, sent, || progress(csv.position().byte()));
    }
    Ok(sent)
}

fn send_lines(
    file: std::fs::File,
    request: &ProduceRequest<'_>,
    sink: &KafkaSink,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let path = request.file.display();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let (mut sent, mut read, mut line_no) = (0, 0u64, 0);
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("{path}:{}: cannot read", line_no + 1))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        line_no += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        // A line that is not JSON is sent as it is (bad records are data too); it has no key.
        let key = request.key.and_then(|k| {
            let value: serde_json::Value = serde_json::from_str(text).ok()?;
            Some(match value.get(k)? {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
        sink.send(key.as_deref(), text)?;
        sent += 1;
        tick(request, sent, || progress(read));
    }
    Ok(sent)
}

/// Waits the delay, and reports progress now and then.
fn tick(request: &ProduceRequest<'_>, sent: u64, progress: impl FnOnce()) {
    if let Some(delay) = request.delay {
        std::thread::sleep(delay);
        progress();
    } else if sent.is_multiple_of(4096) {
        progress();
    }
}
