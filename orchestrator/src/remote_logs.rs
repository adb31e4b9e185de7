//! Task logs in an object store (`[logs] url = "s3://bucket/prefix"`), readable from any
//! host while the attempt runs. The attempt writes its log to a local file as always (the
//! buffer); an uploader copies what the file gained as numbered chunk objects every few
//! seconds and at the end, then an `end` object, under
//! `<prefix>/dag_id=…/run_id=…/task_id=…/attempt=N/`. A reader lists the chunks in order:
//! a crash loses at most the last few seconds, and a log without its `end` object whose
//! attempt is over was cut.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a running attempt's new log bytes are uploaded.
pub const UPLOAD_EVERY: Duration = Duration::from_secs(2);

/// The name of the object that says a log is complete.
const END: &str = "end";

/// The object-store location of attempt `try_number`'s log: the URL `task_try.log_path`
/// keeps (a trailing `/`: a folder of chunks).
pub fn attempt_url(
    root: &str,
    (dag_id, run_id, task_id): (&str, &str, &str),
    map_index: i32,
    try_number: i64,
) -> String {
    let instance = if map_index >= 0 {
        format!("map_index={map_index}/")
    } else {
        String::new()
    };
    format!(
        "{}/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{instance}attempt={try_number}/",
        root.trim_end_matches('/')
    )
}

/// Whether a recorded log path is an object-store location.
pub fn is_remote(log_path: &str) -> bool {
    log_path.contains("://")
}

/// One attempt's log in the object store.
#[derive(Clone)]
pub struct RemoteLog {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl RemoteLog {
    /// The log at `url` (as [`attempt_url`] made it).
    pub fn open(url: &str) -> std::io::Result<Self> {
        let (store, prefix) = updraft_tasks::object_store_at(url)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self { store, prefix })
    }

    fn chunk_name(seq: u64) -> String {
        format!("chunk-{seq:08}.log")
    }

    /// The chunks (name, size) in order, and whether the `end` object is there.
    pub async fn chunks(&self) -> std::io::Result<(Vec<(Path, u64)>, bool)> {
        use futures::TryStreamExt;
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(std::io::Error::other)?;
        let mut chunks = Vec::new();
        let mut ended = false;
        for meta in listed {
            match meta.location.filename() {
                Some(END) => ended = true,
                Some(name) if name.starts_with("chunk-") => chunks.push((meta.location, meta.size)),
                _ => {}
            }
        }
        chunks.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        Ok((chunks, ended))
    }

    /// Its bytes so far.
    pub async fn len(&self) -> std::io::Result<u64> {
        Ok(self.chunks().await?.0.iter().map(|(_, size)| size).sum())
    }

    /// Whether the writer finished it.
    pub async fn complete(&self) -> std::io::Result<bool> {
        Ok(self.chunks().await?.1)
    }

    /// Up to `max` bytes from `offset`.
    pub async fn read(&self, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
        let (chunks, _) = self.chunks().await?;
        let mut out = Vec::new();
        let mut start = 0u64;
        for (location, size) in chunks {
            let end = start + size;
            if end > offset && out.len() < max {
                let from = offset.max(start) - start;
                let want = (max - out.len()) as u64;
                let to = size.min(from + want);
                let bytes = self
                    .store
                    .get_range(&location, from..to)
                    .await
                    .map_err(std::io::Error::other)?;
                out.extend_from_slice(&bytes);
            }
            start = end;
        }
        Ok(out)
    }

    /// Deletes every object of the log.
    pub async fn delete(&self) -> std::io::Result<()> {
        let (chunks, ended) = self.chunks().await?;
        for (location, _) in chunks {
            self.store
                .delete(&location)
                .await
                .map_err(std::io::Error::other)?;
        }
        if ended {
            let _ = self.store.delete(&self.prefix.clone().join(END)).await;
        }
        Ok(())
    }
}

/// The uploader of one attempt's log; [`Upload::finish`] uploads the rest and the `end`.
pub struct Upload {
    done: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Upload {
    /// Starts copying the local file `local` to the log at `url` as it grows; when
    /// `resume`, after the chunks the log has (a sensor's next check, whose earlier
    /// checks' buffer was removed once uploaded), the log becoming incomplete again.
    pub fn start(url: &str, local: std::path::PathBuf, resume: bool) -> std::io::Result<Self> {
        let log = RemoteLog::open(url)?;
        let done = CancellationToken::new();
        let stop = done.clone();
        let task = tokio::spawn(async move {
            let mut sent = (0u64, 0u64);
            if resume {
                let (chunks, _) = log.chunks().await?;
                sent.1 = chunks.len() as u64;
                let _ = log.store.delete(&log.prefix.clone().join(END)).await;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(UPLOAD_EVERY) => {}
                    _ = stop.cancelled() => break,
                }
                // A failed upload is tried again with the next one: the bytes wait.
                if let Err(e) = upload_new(&log, &local, &mut sent).await {
                    tracing::warn!("log upload to the object store failed (tried again): {e}");
                }
            }
            upload_new(&log, &local, &mut sent).await?;
            log.store
                .put(
                    &log.prefix.clone().join(END),
                    object_store::PutPayload::default(),
                )
                .await
                .map_err(std::io::Error::other)?;
            Ok(())
        });
        Ok(Self { done, task })
    }

    /// Uploads what is left and marks the log complete.
    pub async fn finish(self) -> std::io::Result<()> {
        self.done.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Uploads the bytes `local` gained since `sent.0` as chunk number `sent.1`.
async fn upload_new(
    log: &RemoteLog,
    local: &std::path::Path,
    sent: &mut (u64, u64),
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(local).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    file.seek(std::io::SeekFrom::Start(sent.0)).await?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await?;
    if bytes.is_empty() {
        return Ok(());
    }
    let n = bytes.len() as u64;
    let location = log.prefix.clone().join(RemoteLog::chunk_name(sent.1));
    log.store
        .put(&location, object_store::PutPayload::from(bytes))
        .await
        .map_err(std::io::Error::other)?;
    *sent = (sent.0 + n, sent.1 + 1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_have_a_folder_each() {
        assert_eq!(
            attempt_url("s3://logs/updraft/", ("etl", "r1", "load"), -1, 2),
            "s3://logs/updraft/dag_id=etl/run_id=r1/task_id=load/attempt=2/"
        );
        assert_eq!(
            attempt_url("s3://logs/updraft", ("etl", "r1", "load"), 3, 1),
            "s3://logs/updraft/dag_id=etl/run_id=r1/task_id=load/map_index=3/attempt=1/"
        );
        assert!(is_remote("s3://logs/x/"));
        assert!(!is_remote("/var/lib/updraft/logs/x.log"));
    }
}
