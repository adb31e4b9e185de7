//! Where an attempt's log is: the path (or object-store location) its row recorded, else
//! where the settings put it. The location always comes from the history, never from what
//! a caller typed. And reading a log in constant memory, from a file or from the object
//! store alike: its end without the rest, its last lines, and its bytes a chunk at a
//! time — followed while the attempt runs — for the CLI and the API alike.

use super::RunsError;
use crate::settings::Settings;
use crate::store::{Store, TaskTryRow};
use std::path::PathBuf;

/// One attempt and where its log is.
pub struct AttemptLog {
    pub attempt: TaskTryRow,
    pub source: LogSource,
}

/// Where a log's bytes are: a file of this host, or the attempt's chunks in the object
/// store (`[logs] url`).
#[derive(Clone)]
pub enum LogSource {
    File(PathBuf),
    Remote(crate::remote_logs::RemoteLog),
}

impl LogSource {
    /// Up to `max` bytes from `offset` (nothing for a log not written yet).
    pub async fn read(&self, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        match self {
            LogSource::File(path) => read_file(path, offset, max).await,
            LogSource::Remote(log) => log.read(offset, max).await,
        }
    }

    /// How many bytes it has now.
    pub async fn len(&self) -> std::io::Result<u64> {
        match self {
            LogSource::File(path) => match tokio::fs::metadata(path).await {
                Ok(meta) => Ok(meta.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
                Err(e) => Err(e),
            },
            LogSource::Remote(log) => log.len().await,
        }
    }

    /// Whether its writer finished it (a file: as far as anyone can tell, yes).
    async fn complete(&self) -> std::io::Result<bool> {
        match self {
            LogSource::File(_) => Ok(true),
            LogSource::Remote(log) => log.complete().await,
        }
    }
}

/// The line that ends a log in the object store whose attempt is over but whose writer
/// never finished it (killed): what reached the store is all there is.
const CUT: &str = "[updraft] the log ends here: the process writing it stopped before finishing it (its last seconds may be missing)\n";

/// The log of attempt `try_number` (default: the latest) of a task instance in a run
/// (`map_index` -1: a task that is not mapped).
pub async fn attempt_log(
    store: &Store,
    settings: &Settings,
    (dag_id, run_id, task_id, map_index): (&str, &str, &str, i32),
    try_number: Option<i64>,
) -> Result<AttemptLog, RunsError> {
    let tries = store.tries(dag_id, run_id, Some(task_id)).await?;
    let mut tries = tries
        .into_iter()
        .filter(|t| t.map_index == map_index)
        .peekable();
    if map_index >= 0 && tries.peek().is_none() {
        return Err(RunsError::NotFound(format!(
            "task `{task_id}` in run `{run_id}` of `{dag_id}` has no instance with map_index {map_index}"
        )));
    }
    let chosen = match try_number {
        Some(n) => tries.find(|t| t.try_number == n),
        None => tries.next_back(),
    };
    let Some(attempt) = chosen else {
        return Err(RunsError::NotFound(format!(
            "no attempt{} of task `{}` in run `{run_id}` of `{dag_id}`",
            try_number.map(|n| format!(" {n}")).unwrap_or_default(),
            crate::store::instance_name(task_id, map_index)
        )));
    };
    let source = log_source(settings, &attempt)?;
    Ok(AttemptLog { attempt, source })
}

/// Where the log of an attempt already read from the history is.
pub fn log_source(settings: &Settings, attempt: &TaskTryRow) -> Result<LogSource, RunsError> {
    match &attempt.log_path {
        Some(url) if crate::remote_logs::is_remote(url) => crate::remote_logs::RemoteLog::open(url)
            .map(LogSource::Remote)
            .map_err(|e| RunsError::NotFound(format!("the log at {url}: {e}"))),
        Some(path) => Ok(LogSource::File(PathBuf::from(path))),
        None => settings
            .log_path(
                (&attempt.dag_id, &attempt.run_id, &attempt.task_id),
                attempt.map_index,
                attempt.try_number,
            )
            .map(LogSource::File)
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

/// The last `max_bytes` of a log, read from its end (an attempt with no log yet: empty).
pub async fn log_tail(source: &LogSource, max_bytes: u64) -> std::io::Result<LogTail> {
    let total_bytes = source.len().await?;
    let start = total_bytes.saturating_sub(max_bytes);
    let bytes = source
        .read(start, usize::try_from(max_bytes).unwrap_or(usize::MAX))
        .await?;
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

/// The bytes of `attempt`'s log from `offset`, a chunk at a time; when `follow`ing, also
/// those written later, until the attempt has ended and all is sent, or `stop` fires. A
/// log in the object store that its writer never finished ends with a line saying so.
pub fn log_chunks(
    store: Store,
    attempt: &TaskTryRow,
    source: LogSource,
    (offset, follow): (u64, bool),
    stop: tokio_util::sync::CancellationToken,
) -> impl futures::Stream<Item = std::io::Result<Vec<u8>>> + use<> {
    let ids = (
        attempt.dag_id.clone(),
        attempt.run_id.clone(),
        attempt.task_id.clone(),
        attempt.try_number,
    );
    let watched = std::sync::Arc::new((store, ids, source, stop));
    // Once everything is sent, a log cut short says so; `u64::MAX`: said.
    futures::stream::unfold((offset, !follow), move |(sent, mut ended)| {
        let watched = watched.clone();
        async move {
            let (store, ids, source, stop) = &*watched;
            if sent == u64::MAX {
                return None;
            }
            loop {
                match source.read(sent, CHUNK).await {
                    Ok(bytes) if !bytes.is_empty() => {
                        let next = sent + bytes.len() as u64;
                        return Some((Ok(bytes), (next, ended)));
                    }
                    Err(e) => return Some((Err(e), (sent, true))),
                    Ok(_) if ended => {
                        let over = !still_running(store, ids).await;
                        return match source.complete().await {
                            Ok(false) if over => {
                                Some((Ok(CUT.as_bytes().to_vec()), (u64::MAX, true)))
                            }
                            _ => None,
                        };
                    }
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

/// Up to `max` bytes of the file from `offset` (nothing when it does not exist yet: an
/// attempt that failed before starting has no log).
async fn read_file(path: &std::path::Path, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::with_capacity(max.min(CHUNK));
    file.take(max as u64).read_to_end(&mut bytes).await?;
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

/// Up to one chunk of whole lines of the log from `offset`; a line longer than a chunk is
/// cut so that every page moves on.
pub async fn log_page(source: &LogSource, offset: u64) -> std::io::Result<LogPage> {
    let mut bytes = source.read(offset, CHUNK).await?;
    if bytes.len() == CHUNK
        && let Some(end) = memchr::memrchr(b'\n', &bytes)
    {
        bytes.truncate(end + 1);
    }
    let next = offset.saturating_add(bytes.len() as u64);
    Ok(LogPage { bytes, next })
}

/// Where the last `lines` lines of the log begin, found reading backwards from its end.
pub async fn tail_offset(source: &LogSource, lines: usize) -> std::io::Result<u64> {
    let len = source.len().await?;
    // The newline ending the last line does not start a line.
    let mut seen = 0usize;
    let mut end = len;
    const BLOCK: u64 = 64 * 1024;
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let n = usize::try_from(end - start).unwrap_or(0);
        let block = source.read(start, n).await?;
        for i in (0..block.len()).rev() {
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
