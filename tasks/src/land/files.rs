//! Landing from a folder of JSON-lines files (`*.json`, `*.jsonl`, `*.ndjson`). Each file's
//! position is the number of lines landed from it, so a file that grows is picked up where
//! it was left, and a file landed whole is never read again. Hidden files (`.name`) are
//! files still being written, and are left alone.

use super::bronze::{Bronze, BronzeBatch, Filled, FilledSender};
use crate::{StreamUri, TaskContext, TaskError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn app_id(file_name: &str) -> String {
    format!("updraft-land:file:{file_name}")
}

fn landing_files(dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        TaskError::Retryable(format!(
            "cannot read the landing folder {}: {e}",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            !name.starts_with('.') && matches!(ext, "json" | "jsonl" | "ndjson")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Lands every line not yet landed; returns how many. A reader thread reads and builds
/// the next batch while the previous one is encoded and committed.
pub async fn land(
    dir: &Path,
    bronze: &mut Bronze,
    batch_size: usize,
    ctx: &TaskContext,
) -> Result<u64, TaskError> {
    let source = StreamUri::File(dir.to_path_buf());
    let files = landing_files(dir)?;
    ctx.log
        .line(format!("{} file(s) in {}", files.len(), dir.display()));
    let mut pending = Vec::with_capacity(files.len());
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let done = bronze.position(&app_id(&name)).await?.unwrap_or(0);
        pending.push(Pending { path, name, done });
    }
    let cancel = ctx.cancel.clone();
    bronze
        .commit_all(
            move |tx| read_lines(&pending, &source, batch_size, tx, &cancel),
            ctx,
        )
        .await
}

/// A landing file and how many of its lines were landed before.
struct Pending {
    path: PathBuf,
    name: String,
    done: i64,
}

/// Reads the lines after each file's position, sending a batch every `batch_size` rows
/// and the last partial one.
fn read_lines(
    files: &[Pending],
    source: &StreamUri,
    batch_size: usize,
    tx: &FilledSender,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let mut batch = BronzeBatch::new(source, batch_size);
    let mut positions: BTreeMap<String, i64> = BTreeMap::new();
    let send = |batch: BronzeBatch, positions: BTreeMap<String, i64>| {
        let filled = Filled::new(batch, positions)?;
        Ok::<bool, TaskError>(tx.blocking_send(Ok(filled)).is_ok())
    };
    for file in files {
        let app = app_id(&file.name);
        let reading = std::fs::File::open(&file.path).map_err(|e| {
            TaskError::Retryable(format!("cannot open {}: {e}", file.path.display()))
        })?;
        let mut reader = BufReader::with_capacity(1 << 20, reading);
        let mut line = String::new();
        let mut line_no = 0i64;
        // The last line whose position a sent batch carries.
        let mut sent = file.done;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| {
                TaskError::Retryable(format!("reading {}: {e}", file.path.display()))
            })?;
            if read == 0 {
                break;
            }
            line_no += 1;
            if line_no <= file.done {
                continue;
            }
            let text = line.strip_suffix('\n').unwrap_or(&line);
            let text = text.strip_suffix('\r').unwrap_or(text);
            if !text.trim().is_empty() {
                batch.push_line(text, &file.name, line_no);
            }
            if batch.rows >= batch_size {
                positions.insert(app.clone(), line_no);
                sent = line_no;
                let full = std::mem::replace(&mut batch, BronzeBatch::new(source, batch_size));
                // Stop when the committing side has stopped (its error is reported there).
                if cancel.is_cancelled() || !send(full, std::mem::take(&mut positions))? {
                    return Ok(());
                }
            }
        }
        if line_no > sent {
            positions.insert(app, line_no);
        }
    }
    if !positions.is_empty() {
        send(batch, positions)?;
    }
    Ok(())
}
