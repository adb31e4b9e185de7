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
