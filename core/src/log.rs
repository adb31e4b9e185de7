//! The attempt log: a file per attempt (or stdout for `task test`), written with
//! timestamps and secrets masked. A command's output arrives in chunks and is written in
//! bulk — one timestamp and one masking pass per chunk, not per line — so logging never
//! slows the command. A log is bounded: past half its cap only the head stays in the
//! file; what follows goes round a tail file of the other half, raw, with each chunk's
//! time kept aside, and when the attempt's log is closed its last lines are stamped and
//! appended after a line saying how much was dropped. Output that will be dropped is
//! never formatted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
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

/// A log file that keeps its first half-cap bytes, and the last half-cap bytes of what
/// follows in a [`Tail`] beside it.
struct Capped {
    head: File,
    /// Bytes in the head file.
    head_bytes: u64,
    /// The most the head and the tail each keep.
    half: u64,
    tail: Option<Tail>,
}

/// The end of a log past its head: raw chunks going round a file of `size` bytes, each
/// with the stamp its lines get when shown.
struct Tail {
    file: File,
    path: PathBuf,
    size: u64,
    /// Bytes ever written (the file holds the last `size` of them).
    written: u64,
    /// The chunks still (at least partly) in the file, oldest first.
    chunks: VecDeque<Chunk>,
}

/// A chunk of the tail: where it starts in all that was written, its length, and the
/// stamp of its lines (None: written already stamped).
struct Chunk {
    start: u64,
    len: u64,
    stamp: Option<String>,
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
        let open = || OpenOptions::new().create(true).append(true).open(path);
        // A sensor's log is opened again at every check: its folder is there already.
        let head = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                open()?
            }
            other => other?,
        };
        let head_bytes = head.metadata()?.len();
        Ok(Self {
            target: Arc::new(Target::File {
                path: path.to_path_buf(),
                file: Mutex::new(Capped {
                    head,
                    head_bytes,
                    half: (max_bytes / 2).max(4096),
                    tail: None,
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
        let mut text = crate::secrets::mask(message.as_ref()).into_owned();
        text.push('\n');
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
        self.write(crate::secrets::mask(&text).as_bytes());
    }

    /// Writes masked lines with one stamp: formatted into the head while it has room,
    /// raw into the tail past it.
    fn write(&self, raw: &[u8]) {
        let stamp = stamp();
        match &*self.target {
            Target::File { path, file } => {
                if let Ok(mut capped) = file.lock() {
                    let _ = capped.write(path, raw, &stamp);
                }
            }
            Target::Stdout => {
                let _ = std::io::stdout().write_all(&stamped(raw, &stamp));
            }
            Target::Stderr => {
                let _ = std::io::stderr().write_all(&stamped(raw, &stamp));
            }
        }
    }
}

/// `[2026-12-06T12:00:00.000Z] `
fn stamp() -> String {
    format!("[{}] ", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

/// Each line of `raw` with `stamp` before it (a last line without an end gets one; a
/// `\r` before a line's end is dropped).
fn stamped(raw: &[u8], stamp: &str) -> Vec<u8> {
    let lines = memchr::memchr_iter(b'\n', raw).count() + 1;
    let mut out = Vec::with_capacity(raw.len() + lines * (stamp.len() + 1));
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(stamp.as_bytes());
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

impl Capped {
    fn write(&mut self, path: &Path, raw: &[u8], stamp: &str) -> std::io::Result<()> {
        if self.tail.is_none() {
            let formatted = stamped(raw, stamp);
            let room = self.half.saturating_sub(self.head_bytes);
            let to_head = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(formatted.len());
            self.head.write_all(&formatted[..to_head])?;
            self.head_bytes += to_head as u64;
            let rest = &formatted[to_head..];
            if rest.is_empty() {
                return Ok(());
            }
            self.start_tail(path)?;
            return self.append_tail(rest, None);
        }
        self.append_tail(raw, Some(stamp))
    }

    /// The head is full: says so in it, and opens the tail.
    fn start_tail(&mut self, path: &Path) -> std::io::Result<()> {
        let tail_path = path.with_extension("log.tail");
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(&tail_path)?;
        let note = format!(
            "\n{}the log reached {} (its cap is {} per attempt): what follows is kept as its last {}, shown here when the attempt ends\n",
            stamp(),
            human(self.half),
            human(self.half * 2),
            human(self.half)
        );
        self.head.write_all(note.as_bytes())?;
        self.tail = Some(Tail {
            file,
            path: tail_path,
            size: self.half,
            written: 0,
            chunks: VecDeque::new(),
        });
        Ok(())
    }

    fn append_tail(&mut self, bytes: &[u8], stamp: Option<&str>) -> std::io::Result<()> {
        let Some(tail) = &mut self.tail else {
            return Ok(());
        };
        tail.push(bytes, stamp)
    }

    /// Appends the tail's last lines, stamped, to the head after a line saying how much
    /// was dropped, and removes the tail file. A chunk at a time: closing a full log
    /// holds no more of it in memory than writing it did.
    fn close(&mut self) -> std::io::Result<()> {
        let Some(tail) = self.tail.take() else {
            return Ok(());
        };
        let (first, skip, shown_raw, shown) = tail.last_lines(self.half)?;
        let note = format!(
            "{}... {} of output dropped here (the log's cap is {} per attempt); its last {} follow\n",
            stamp(),
            human(tail.written.saturating_sub(shown_raw)),
            human(self.half * 2),
            human(shown)
        );
        self.head.write_all(note.as_bytes())?;
        for (i, chunk) in tail.chunks.iter().enumerate().skip(first) {
            let text = tail.shown(chunk)?;
            let from = if i == first { skip } else { 0 };
            self.head.write_all(&text[from.min(text.len())..])?;
        }
        let Tail { file, path, .. } = tail;
        drop(file);
        std::fs::remove_file(path)
    }
}

impl Tail {
    /// Writes a chunk at the ring's end, forgetting the chunks it overwrites.
    fn push(&mut self, bytes: &[u8], stamp: Option<&str>) -> std::io::Result<()> {
        // Only the last `size` bytes of a chunk can stay.
        let skip = bytes
            .len()
            .saturating_sub(usize::try_from(self.size).unwrap_or(usize::MAX));
        let start = self.written + skip as u64;
        let mut left = &bytes[skip..];
        let mut at = start;
        while !left.is_empty() {
            let offset = at % self.size;
            let n = usize::try_from(self.size - offset)
                .unwrap_or(usize::MAX)
                .min(left.len());
            self.file.write_all_at(&left[..n], offset)?;
            at += n as u64;
            left = &left[n..];
        }
        self.written += bytes.len() as u64;
        self.chunks.push_back(Chunk {
            start,
            len: self.written - start,
            stamp: stamp.map(str::to_string),
        });
        let oldest = self.written.saturating_sub(self.size);
        while self
            .chunks
            .front()
            .is_some_and(|c| c.start + c.len <= oldest)
        {
            self.chunks.pop_front();
        }
        Ok(())
    }

    /// The bytes a chunk still has in the file (its start may be overwritten).
    fn read(&self, chunk: &Chunk) -> std::io::Result<Vec<u8>> {
        let oldest = self.written.saturating_sub(self.size);
        let from = chunk.start.max(oldest);
        let len = usize::try_from(chunk.start + chunk.len - from).unwrap_or(0);
        let mut out = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let offset = (from + done as u64) % self.size;
            let n = usize::try_from(self.size - offset)
                .unwrap_or(usize::MAX)
                .min(len - done);
            self.file.read_exact_at(&mut out[done..done + n], offset)?;
            done += n;
        }
        Ok(out)
    }

    /// A chunk as it is shown: what is left of it in the file (from its first whole line
    /// when its start was overwritten), stamped.
    fn shown(&self, chunk: &Chunk) -> std::io::Result<Vec<u8>> {
        let raw = self.read(chunk)?;
        let cut = chunk.start < self.written.saturating_sub(self.size);
        let raw = if cut {
            match memchr::memchr(b'\n', &raw) {
                Some(i) => &raw[i + 1..],
                None => &[][..],
            }
        } else {
            &raw[..]
        };
        Ok(match &chunk.stamp {
            Some(stamp) => stamped(raw, stamp),
            None => raw.to_vec(),
        })
    }

    /// Which whole lines at the end, stamped, fit in `limit` bytes: from chunk `first`,
    /// skipping its first `skip` bytes; with the bytes of output they hold before stamping,
    /// and after.
    fn last_lines(&self, limit: u64) -> std::io::Result<(usize, usize, u64, u64)> {
        let (mut total, mut raw_total) = (0u64, 0u64);
        let mut first = self.chunks.len();
        let mut skip = 0;
        for (i, chunk) in self.chunks.iter().enumerate().rev() {
            let text = self.shown(chunk)?;
            if total + text.len() as u64 > limit {
                // Only the last lines of this chunk fit.
                let room = usize::try_from(limit - total).unwrap_or(0);
                let from = text.len() - room.min(text.len());
                let from =
                    memchr::memchr(b'\n', &text[from..]).map_or(text.len(), |j| from + j + 1);
                let lines = memchr::memchr_iter(b'\n', &text[from..]).count();
                // Stamping keeps one line for one line: the same last lines, raw.
                let raw = self.read(chunk)?;
                raw_total += raw
                    .split_inclusive(|b| *b == b'\n')
                    .rev()
                    .take(lines)
                    .map(|l| l.len() as u64)
                    .sum::<u64>();
                total += (text.len() - from) as u64;
                first = i;
                skip = from;
                break;
            }
            total += text.len() as u64;
            raw_total += self.read(chunk)?.len() as u64;
            first = i;
        }
        Ok((first, skip, raw_total, total))
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
