//! Landing from a folder of JSON-lines files (`*.json`, `*.jsonl`, `*.ndjson`) and CSV
//! files (`*.csv`: a header row, RFC 4180 quoting; each row lands as a JSON object of
//! header → text). Each file's position is the last line landed from it (for CSV, the
//! line its last landed row starts on), so a file that grows is picked up where it was
//! left, and a file landed whole is never read again. Hidden files (`.name`) are files
//! still being written, and are left alone.

use super::bronze::{Bronze, BronzeBatch, Filled, FilledSender};
use crate::{StreamUri, TaskContext, TaskError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn app_id(file_name: &str) -> String {
    format!("updraft-land:file:{file_name}")
}

/// The files waiting in `dir`, in name order. A folder that does not exist yet is one
/// where nothing has landed yet (a fresh install before its first generator or upload):
/// no files, as an empty folder, never a failure.
fn landing_files(dir: &Path) -> Result<Vec<PathBuf>, TaskError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(TaskError::Retryable(format!(
                "cannot read the landing folder {}: {e}",
                dir.display()
            )));
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            !name.starts_with('.') && matches!(ext, "json" | "jsonl" | "ndjson" | "csv")
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
    if dir.is_dir() {
        ctx.log
            .line(format!("{} file(s) in {}", files.len(), dir.display()));
    } else {
        ctx.log.line(format!(
            "{} does not exist yet: nothing has landed",
            dir.display()
        ));
    }
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
pub(super) struct Pending {
    pub(super) path: PathBuf,
    pub(super) name: String,
    pub(super) done: i64,
}

/// Reads the records after each file's position, sending a batch every `batch_size` rows
/// and the last partial one.
fn read_lines(
    files: &[Pending],
    source: &StreamUri,
    batch_size: usize,
    tx: &FilledSender,
    cancel: &CancellationToken,
) -> Result<(), TaskError> {
    let mut out = Batches::new(source, batch_size, tx, cancel);
    for file in files {
        let reading = std::fs::File::open(&file.path).map_err(|e| {
            TaskError::Retryable(format!("cannot open {}: {e}", file.path.display()))
        })?;
        let reader = BufReader::with_capacity(1 << 20, reading);
        let more = if file.path.extension().is_some_and(|e| e == "csv") {
            super::csv_rows::read(reader, file, &mut out)?
        } else {
            read_json_lines(reader, file, &mut out)?
        };
        if !more {
            return Ok(());
        }
    }
    out.finish()
}

/// The batch being filled and the positions it will commit.
pub(super) struct Batches<'a> {
    batch: BronzeBatch,
    positions: BTreeMap<String, i64>,
    /// The positions batches already sent carry.
    sent: BTreeMap<String, i64>,
    source: &'a StreamUri,
    batch_size: usize,
    tx: &'a FilledSender,
    cancel: &'a CancellationToken,
}

impl<'a> Batches<'a> {
    /// Batches of `batch_size` rows from `source`, sent on `tx`.
    pub(super) fn new(
        source: &'a StreamUri,
        batch_size: usize,
        tx: &'a FilledSender,
        cancel: &'a CancellationToken,
    ) -> Self {
        Self {
            batch: BronzeBatch::new(source, batch_size),
            positions: BTreeMap::new(),
            sent: BTreeMap::new(),
            source,
            batch_size,
            tx,
            cancel,
        }
    }

    /// Sends what is left (the positions, if nothing else).
    pub(super) fn finish(self) -> Result<(), TaskError> {
        if !self.positions.is_empty() {
            send(self.tx, self.batch, self.positions)?;
        }
        Ok(())
    }

    /// Adds a record from `file` at `line`; sends the batch when it is full. False when
    /// the committing side has stopped (its error is reported there).
    pub(super) fn push(
        &mut self,
        value: &str,
        file: &Pending,
        line: i64,
    ) -> Result<bool, TaskError> {
        self.batch.push_line(value, &file.name, line);
        if self.batch.rows < self.batch_size {
            return Ok(true);
        }
        self.positions.insert(app_id(&file.name), line);
        self.sent.insert(file.name.clone(), line);
        let full = std::mem::replace(
            &mut self.batch,
            BronzeBatch::new(self.source, self.batch_size),
        );
        let positions = std::mem::take(&mut self.positions);
        Ok(!self.cancel.is_cancelled() && send(self.tx, full, positions)?)
    }

    /// Records that `file` was read up to `line`, when no commit says so already.
    pub(super) fn read_to(&mut self, file: &Pending, line: i64) {
        let sent = self.sent.get(&file.name).copied().unwrap_or(file.done);
        if line > sent {
            self.positions.insert(app_id(&file.name), line);
        }
    }
}

fn send(
    tx: &FilledSender,
    batch: BronzeBatch,
    positions: BTreeMap<String, i64>,
) -> Result<bool, TaskError> {
    let filled = Filled::new(batch, positions)?;
    Ok(tx.blocking_send(Ok(filled)).is_ok())
}

/// Lands the lines of a JSON-lines file after its position; false when landing stopped.
fn read_json_lines(
    mut reader: impl BufRead,
    file: &Pending,
    out: &mut Batches,
) -> Result<bool, TaskError> {
    let mut line = String::new();
    let mut line_no = 0i64;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| TaskError::Retryable(format!("reading {}: {e}", file.path.display())))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if line_no <= file.done {
            continue;
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if !text.trim().is_empty() && !out.push(text, file, line_no)? {
            return Ok(false);
        }
    }
    out.read_to(file, line_no);
    Ok(true)
}
