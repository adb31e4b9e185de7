//! The attempt log: a file per attempt (or stdout for `task test`), written line by line
//! with timestamps and secrets masked (a child process's output included, line by line).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where an attempt's log lines go.
#[derive(Clone)]
pub struct TaskLog {
    target: Arc<Target>,
}

enum Target {
    File { path: PathBuf, file: Mutex<File> },
    Stdout,
    Stderr,
}

impl TaskLog {
    /// Opens (appending) the log file of an attempt, creating its folders.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            target: Arc::new(Target::File {
                path: path.to_path_buf(),
                file: Mutex::new(file),
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
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let text = format!("[{stamp}] {}\n", crate::secrets::mask(message.as_ref()));
        match &*self.target {
            Target::File { file, .. } => {
                if let Ok(mut f) = file.lock() {
                    let _ = f.write_all(text.as_bytes());
                }
            }
            Target::Stdout => {
                let _ = std::io::stdout().write_all(text.as_bytes());
            }
            Target::Stderr => {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
    }
}
