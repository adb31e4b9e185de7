//! A real SMTP server on loopback for the `email` alert action: aiosmtpd (from PyPI,
//! `scripts/ensure-smtp-receiver.sh`) keeping every message it receives in a maildir.

use super::service::{free_port, wait_until_listening};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The server; killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts aiosmtpd on a free port, keeping mail under `dir`.
    pub fn start(dir: &std::path::Path) -> SmtpServer {
        let python = std::env::var("AIOSMTPD_PYTHON").unwrap_or_else(|_| {
            panic!("AIOSMTPD_PYTHON is not set: scripts/ensure-smtp-receiver.sh installs aiosmtpd")
        });
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        wait_until_listening(port, "aiosmtpd");
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The messages received, as they arrived (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut found: Vec<(std::time::SystemTime, String)> = entries
            .flatten()
            .filter_map(|e| {
                let at = e.metadata().ok()?.modified().ok()?;
                Some((at, std::fs::read_to_string(e.path()).ok()?))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, text)| text).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
