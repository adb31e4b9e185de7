//! Where an attempt's log is: the path its row recorded, else where the settings put it.
//! The path always comes from the history, never from what a caller typed. And reading a
//! log in constant memory: its end without the rest, its last lines, and its bytes a chunk
//! at a time — followed while the attempt runs — for the CLI and the API alike.

use super::RunsError;
use crate::settings::Settings;
use crate::store::{Store, TaskTryRow};
use std::path::PathBuf;

/// One attempt and its log file.
pub struct AttemptLog {
    pub attempt: TaskTryRow,
    pub path: PathBuf,
}

/// The log of attempt `try_number` (default: the latest) of a task in a run.
pub async fn attempt_log(
    store: &Store,
    settings: &Settings,
    (dag_id, run_id, task_id): (&str, &str, &str),
    try_number: Option<i64>,
) -> Result<AttemptLog, RunsError> {
    let tries = store.tries(dag_id, run_id, Some(task_id)).await?;
    let chosen = match try_number {
        Some(n) => tries.into_iter().find(|t| t.try_number == n),
        None => tries.into_iter().last(),
    };
    let Some(attempt) = chosen else {
        return Err(RunsError::NotFound(format!(
            "no attempt{} of task `{task_id}` in run `{run_id}` of `{dag_id}`",
            try_number.map(|n| format!(" {n}")).unwrap_or_default()
        )));
    };
    let path = log_path(settings, &attempt)?;
    Ok(AttemptLog { attempt, path })
}

/// The log file of an attempt already read from the history.
pub fn log_path(settings: &Settings, attempt: &TaskTryRow) -> Result<PathBuf, RunsError> {
    match &attempt.log_path {
        Some(path) => Ok(PathBuf::from(path)),
        None => settings
            .log_path(
                &attempt.dag_id,
                &attempt.run_id,
                &attempt.task_id,
                attempt.try_number,
            )
            .map_err(RunsError::NotFound),
    }
}

/// The end of a log file.
pub struct LogTail {
    /// The last lines (whole lines, unless one line is longer than asked for).
    pub text: String,
    /// The size of the whole file.
    pub total_bytes: u64,
    /// Whether the file holds more than `text`.
    pub truncated: bool,
}

/// The last `max_bytes` of a log, read from its end (an attempt with no file: empty).
pub async fn log_tail(path: &std::path::Path, max_bytes: u64) -> std::io::Result<LogTail> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogTail {
                text: String::new(),
                total_bytes: 0,
                truncated: false,
            });
        }
        Err(e) => return Err(e),
    };
    let total_bytes = file.metadata().await?.len();
    let start = total_bytes.saturating_sub(max_bytes);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes).await?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0
        && let Some(newline) = text.find('\n')
        && newline + 1 < text.len()
    {
        // Begin at a whole line.
        text.drain(..=newline);
    }
    Ok(LogTail {
        text,
        total_bytes,
        truncated: start > 0,
    })
}

/// How much of a log is read at a time.
const CHUNK: usize = 256 * 1024;

/// How often a followed log is looked at for new bytes.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The bytes of `attempt`'s log at `path` from `offset`, a chunk at a time; when
/// `follow`ing, also those written later, until the attempt has ended and all is sent, or
/// `stop` fires.
pub fn log_chunks(
    store: Store,
    attempt: &TaskTryRow,
    path: PathBuf,
    (offset, follow): (u64, bool),
    stop: tokio_util::sync::CancellationToken,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + use<> {
    let ids = (
        attempt.dag_id.clone(),
        attempt.run_id.clone(),
        attempt.task_id.clone(),
        attempt.try_number,
    );
    let watched = std::sync::Arc::new((store, ids, path, stop));
    futures::stream::unfold((offset, !follow), move |(sent, mut ended)| {
        let watched = watched.clone();
        async move {
            let (store, ids, path, stop) = &*watched;
            loop {
                match read_chunk(path, sent).await {
                    Ok(bytes) if !bytes.is_empty() => {
                        let next = sent + bytes.len() as u64;
                        return Some((Ok(bytes), (next, ended)));
                    }
                    Err(e) => return Some((Err(e), (sent, true))),
                    Ok(_) if ended => return None,
                    Ok(_) => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                    _ = stop.cancelled() => return None,
                }
                // Once the end is seen the file is read once more: the last lines land
                // before it.
                ended = !still_running(store, ids).await;
            }
        }
    })
}

/// Whether the attempt is still running (a store that cannot say: as if it ended).
async fn still_running(
    store: &Store,
    (dag_id, run_id, task_id, try_number): &(String, String, String, i64),
) -> bool {
    store
        .tries(dag_id, run_id, Some(task_id))
        .await
        .map(|tries| {
            tries
                .iter()
                .any(|t| t.try_number == *try_number && t.state == crate::store::TaskState::Running)
        })
        .unwrap_or(false)
}

/// Up to [`CHUNK`] bytes of the file from `offset` (nothing when it does not exist yet:
/// an attempt that failed before starting has no log).
async fn read_chunk(path: &std::path::Path, offset: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::with_capacity(CHUNK);
    file.take(CHUNK as u64).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// Whole lines of a log from a byte offset: what one page of the API's log answer holds.
pub struct LogPage {
    /// The lines' bytes, ending with a newline (or the log's last bytes when the attempt
    /// has written no newline after them yet).
    pub bytes: Vec<u8>,
    /// Where the next page starts.
    pub next: u64,
}

/// Up to one chunk of whole lines of the log at `path` from `offset`; a line longer than a
/// chunk is cut so that every page moves on.
pub async fn log_page(path: &std::path::Path, offset: u64) -> std::io::Result<LogPage> {
    let mut bytes = read_chunk(path, offset).await?;
    if bytes.len() == CHUNK
        && let Some(end) = memchr::memrchr(b'\n', &bytes)
    {
        bytes.truncate(end + 1);
    }
    let next = offset.saturating_add(bytes.len() as u64);
    Ok(LogPage { bytes, next })
}

/// Where the last `lines` lines of the file begin, found reading backwards from its end.
pub async fn tail_offset(path: &std::path::Path, lines: usize) -> std::io::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata().await?.len();
    // The newline ending the last line does not start a line.
    let mut seen = 0usize;
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(block.len());
        file.seek(std::io::SeekFrom::Start(start)).await?;
        file.read_exact(&mut block[..n]).await?;
        for i in (0..n).rev() {
            if block[i] != b'\n' {
                continue;
            }
            if skip_last && start + i as u64 == len - 1 {
                continue;
            }
            seen += 1;
            if seen == lines {
                return Ok(start + i as u64 + 1);
            }
        }
        skip_last = false;
        end = start;
    }
    Ok(0)
}
