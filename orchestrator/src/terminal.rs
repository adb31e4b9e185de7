//! Progress bars for long work: drawn on a terminal, hidden otherwise (callers then
//! write log lines instead).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Whether stderr is a terminal a progress bar can be drawn on.
pub fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar of `len` steps in the given indicatif template, hidden when not on a terminal.
pub fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let bar = if is_terminal() {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Reports a line of progress: above the bar on a terminal, otherwise as a timestamped
/// log line `[time] label: line` on stderr.
pub fn progress_line(bar: &ProgressBar, label: &str, line: &str) {
    let line = updraft_core::secrets::mask(line);
    if is_terminal() {
        bar.println(line.as_ref());
    } else {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        eprintln!("[{stamp}] {label}: {line}");
    }
}

/// A writer for the process's log lines that masks secrets in each line it is given
/// (tracing writes one formatted event per call).
pub struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(updraft_core::secrets::mask(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
