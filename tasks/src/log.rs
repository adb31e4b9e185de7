//! The attempt log: a file per attempt (or stdout for `task test`), written with
//! timestamps and secrets masked. A command's output arrives in chunks and is written in
//! bulk — one timestamp and one masking pass per chunk, not per line — so logging never
//! slows the command. A log is bounded: past its cap only its head stays in the file, the
//! rest goes round a tail file of the same size, and when the attempt's log is closed the
//! tail is appended after a line saying how much was dropped.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The default cap of one attempt's log (`[logs] max_bytes_per_attempt`).
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Where an attempt's log lines go.
#[derive(Clone)]
pub struct TaskLog {
    target: Arc<Target>,
}

enum Target {
    File { path: PathBuf, file: Mutex<Capped> },
    Stdout,
    Stderr,
}

/// A log file that keeps its first half-cap bytes and, beyond, the last half-cap bytes
/// in a ring beside it.
struct Capped {
    head: File,
    /// Bytes in the head file.
    head_bytes: u64,
    /// The most the head and the ring each keep.
    half: u64,
    /// The tail ring (`<log>.tail`) once the head is full, and the bytes written to it.
    ring: Option<(File, PathBuf)>,
    ring_bytes: u64,
}

impl TaskLog {
    /// Opens (appending) the log file of an attempt, creating its folders, capped at
    /// [`DEFAULT_MAX_BYTES`].
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_capped(path, DEFAULT_MAX_BYTES)
    }

    /// Opens (appending) the log file of an attempt, keeping at most `max_bytes` of it
    /// (its head and its tail).
    pub fn open_capped(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let head = OpenOptions::new().create(true).append(true).open(path)?;
        let head_bytes = head.metadata()?.len();
        Ok(Self {
            target: Arc::new(Target::File {
                path: path.to_path_buf(),
                file: Mutex::new(Capped {
                    head,
                    head_bytes,
                    half: (max_bytes / 2).max(4096),
                    ring: None,
                    ring_bytes: 0,
                }),
            }),
        })
    }

    /// A log that prints to this process's stdout (used by `updraft task test`).
    pub fn stdout() -> Self {
        Self {
            target: Arc::new(Target::Stdout),
        }
    }

    /// A log that prints to this process's stderr (when stdout carries results).
    pub fn stderr() -> Self {
        Self {
            target: Arc::new(Target::Stderr),
        }
    }

    /// The file behind the log, if any.
    pub fn path(&self) -> Option<&Path> {
        match &*self.target {
            Target::File { path, .. } => Some(path),
            Target::Stdout | Target::Stderr => None,
        }
    }

    /// Writes one timestamped line, secrets masked. A log that cannot be written must not
    /// fail the task.
    pub fn line(&self, message: impl AsRef<str>) {
        let text = format!("{}{}\n", stamp(), crate::secrets::mask(message.as_ref()));
        self.write(text.as_bytes());
    }

    /// Writes the lines of `chunk` (a command's output; the last line may be cut short,
    /// as a line too long to hold is written in pieces), each with the same timestamp,
    /// masked once for the whole chunk.
    pub fn lines(&self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(chunk);
        let masked = crate::secrets::mask(&text);
        let stamp = stamp();
        let mut out = Vec::with_capacity(masked.len() + (stamp.len() + 1) * 8);
        for line in masked.split_terminator('\n') {
            out.extend_from_slice(stamp.as_bytes());
            out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
            out.push(b'\n');
        }
        self.write(&out);
    }

    fn write(&self, bytes: &[u8]) {
        match &*self.target {
            Target::File { path, file } => {
                if let Ok(mut capped) = file.lock() {
                    let _ = capped.write(path, bytes);
                }
            }
            Target::Stdout => {
                let _ = std::io::stdout().write_all(bytes);
            }
            Target::Stderr => {
                let _ = std::io::stderr().write_all(bytes);
            }
        }
    }
}

/// `[2026-12-06T12:00:00.000Z] `
fn stamp() -> String {
    format!("[{}] ", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

impl Capped {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let room = self.half.saturating_sub(self.head_bytes);
        let to_head = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        if to_head > 0 {
            self.head.write_all(&bytes[..to_head])?;
            self.head_bytes += to_head as u64;
        }
        let rest = &bytes[to_head..];
        if rest.is_empty() {
            return Ok(());
        }
        if self.ring.is_none() {
            let ring_path = path.with_extension("log.tail");
            let ring = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(true)
                .open(&ring_path)?;
            let note = format!(
                "\n{}the log reached {} (its cap is {} per attempt): what follows is kept as its last {}, shown here when the attempt ends\n",
                stamp(),
                human(self.half),
                human(self.half * 2),
                human(self.half)
            );
            self.head.write_all(note.as_bytes())?;
            self.ring = Some((ring, ring_path));
        }
        let Some((ring, _)) = &self.ring else {
            return Ok(());
        };
        // Only the last `half` bytes of `rest` can survive anyway.
        let skip = rest
            .len()
            .saturating_sub(usize::try_from(self.half).unwrap_or(usize::MAX));
        self.ring_bytes += skip as u64;
        let mut left = &rest[skip..];
        while !left.is_empty() {
            let at = self.ring_bytes % self.half;
            let n = usize::try_from(self.half - at)
                .unwrap_or(usize::MAX)
                .min(left.len());
            ring.write_all_at(&left[..n], at)?;
            self.ring_bytes += n as u64;
            left = &left[n..];
        }
        Ok(())
    }

    /// Appends the tail kept in the ring to the head, after a line saying how much was
    /// dropped, and removes the ring.
    fn close(&mut self) -> std::io::Result<()> {
        let Some((mut ring, ring_path)) = self.ring.take() else {
            return Ok(());
        };
        let kept = self.ring_bytes.min(self.half);
        let dropped = self.ring_bytes - kept;
        let start = if self.ring_bytes > self.half {
            self.ring_bytes % self.half
        } else {
            0
        };
        let mut tail = Vec::new();
        ring.seek(SeekFrom::Start(start))?;
        (&mut ring).take(kept).read_to_end(&mut tail)?;
        if tail.len() < usize::try_from(kept).unwrap_or(usize::MAX) {
            ring.seek(SeekFrom::Start(0))?;
            (&mut ring)
                .take(kept - tail.len() as u64)
                .read_to_end(&mut tail)?;
        }
        // Begin the tail at a whole line.
        let from = if dropped > 0 {
            tail.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1)
        } else {
            0
        };
        let note = format!(
            "{}... {} of output dropped here (the log's cap is {} per attempt); its last {} follow\n",
            stamp(),
            human(dropped + from as u64),
            human(self.half * 2),
            human(kept - from as u64)
        );
        self.head.write_all(note.as_bytes())?;
        self.head.write_all(&tail[from..])?;
        drop(ring);
        std::fs::remove_file(ring_path)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Target::File { file, .. } = self
            && let Ok(capped) = file.get_mut()
        {
            let _ = capped.close();
        }
    }
}

/// A size for people: `1.5 MiB`.
fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else if bytes >= 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_over_its_cap_keeps_its_head_and_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("attempt=1.log");
        {
            let log = TaskLog::open_capped(&path, 16 * 1024).expect("open");
            for i in 0..10_000 {
                log.lines(format!("line {i:05}\n").as_bytes());
            }
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("line 00000") && text.contains("line 09999"),
            "head and tail"
        );
        assert!(!text.contains("line 05000"), "the middle is dropped");
        assert!(text.contains("of output dropped here"), "said so");
        assert!(text.len() < 20 * 1024, "{} bytes", text.len());
        assert!(!dir.path().join("attempt=1.log.tail").exists());
        // The tail begins at a whole line.
        let after = text.split("follow\n").nth(1).expect("tail");
        assert!(after.starts_with('['), "{}", &after[..40]);
    }

    #[test]
    fn a_chunk_is_stamped_line_by_line_and_masked() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a.log");
        crate::secrets::register("chunk-secret-value");
        {
            let log = TaskLog::open(&path).expect("open");
            log.lines(b"one\r\ntwo chunk-secret-value\nthree");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with("] one") && lines[1].ends_with("] two ***"),
            "{text}"
        );
        assert!(lines[2].ends_with("] three"));
    }
}
