//! Landing from a folder of JSON-lines files (`*.json`, `*.jsonl`, `*.ndjson`). Each file's
//! position is the number of lines landed from it, so a file that grows is picked up where
//! it was left, and a file landed whole is never read again. Hidden files (`.name`) are
//! files still being written, and are left alone.

use super::bronze::{Bronze, BronzeBatch};
use crate::{StreamUri, TaskContext, TaskError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

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

/// Lands every line not yet landed; returns how many.
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
    let mut batch = BronzeBatch::new(&source, batch_size);
    let mut positions: BTreeMap<String, i64> = BTreeMap::new();
    let mut landed = 0u64;
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let app = app_id(&name);
        let done = bronze.position(&app).await?.unwrap_or(0);
        let file = std::fs::File::open(&path)
            .map_err(|e| TaskError::Retryable(format!("cannot open {}: {e}", path.display())))?;
        let mut line_no = 0i64;
        for line in BufReader::with_capacity(1 << 20, file).lines() {
            let line =
                line.map_err(|e| TaskError::Retryable(format!("reading {}: {e}", path.display())))?;
            line_no += 1;
            if line_no <= done {
                continue;
            }
            if !line.trim().is_empty() {
                batch.push_line(&line, &name, line_no);
            }
            positions.insert(app.clone(), line_no);
            if batch.rows >= batch_size {
                landed +=
                    flush(bronze, &mut batch, &mut positions, &source, batch_size, ctx).await?;
            }
        }
    }
    if !positions.is_empty() {
        landed += flush(bronze, &mut batch, &mut positions, &source, batch_size, ctx).await?;
    }
    Ok(landed)
}

async fn flush(
    bronze: &mut Bronze,
    batch: &mut BronzeBatch,
    positions: &mut BTreeMap<String, i64>,
    source: &StreamUri,
    batch_size: usize,
    ctx: &TaskContext,
) -> Result<u64, TaskError> {
    if ctx.cancel.is_cancelled() {
        return Err(TaskError::Cancelled(
            "landing stopped between commits".into(),
        ));
    }
    let full = std::mem::replace(batch, BronzeBatch::new(source, batch_size));
    let rows = full.rows as u64;
    bronze.commit(full.finish()?, positions).await?;
    ctx.log.line(format!(
        "committed {rows} records (table version {})",
        bronze.version()
    ));
    positions.clear();
    Ok(rows)
}
