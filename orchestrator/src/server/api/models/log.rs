//! `TaskInstancesLogResponse`: a page of an attempt's log as Airflow's structured lines,
//! with the token that asks for the next page.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One log line: its text, and when it was written (the time of the chunk of output it
/// came in; null for the first lines of a page that starts inside a chunk).
#[derive(Serialize, ToSchema)]
pub struct StructuredLogMessage {
    pub timestamp: Option<DateTime<Utc>>,
    pub event: String,
}

/// A page of a log.
#[derive(Serialize, ToSchema)]
pub struct TaskInstancesLogResponse {
    pub content: Vec<StructuredLogMessage>,
    /// Send it back as `token` for the lines that follow (also while the attempt runs).
    pub continuation_token: Option<String>,
}

impl TaskInstancesLogResponse {
    /// The lines of `bytes` (as the attempt log writes them: `[time] text`), and the
    /// token of the byte offset `next`.
    pub fn new(bytes: &[u8], next: u64) -> Self {
        let text = String::from_utf8_lossy(bytes);
        let mut stamp = None;
        let content = text
            .lines()
            .map(|line| {
                let (at, event) = stamped(line);
                if at.is_some() {
                    stamp = at;
                }
                StructuredLogMessage {
                    timestamp: stamp,
                    event: event.to_string(),
                }
            })
            .collect();
        Self {
            content,
            continuation_token: Some(next.to_string()),
        }
    }
}

/// A line's stamp (`[2026-01-02T03:04:05.678Z] `) and the rest.
fn stamped(line: &str) -> (Option<DateTime<Utc>>, &str) {
    let parsed = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .and_then(|(at, event)| Some((at.parse::<DateTime<Utc>>().ok()?, event)));
    match parsed {
        Some((at, event)) => (Some(at), event),
        None => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_the_time_of_their_chunk() {
        let page = TaskInstancesLogResponse::new(
            b"[2026-01-02T03:04:05.678Z] first\nsecond\n[not a time] third\n",
            60,
        );
        let shown: Vec<(Option<String>, &str)> = page
            .content
            .iter()
            .map(|m| (m.timestamp.map(|t| t.to_rfc3339()), m.event.as_str()))
            .collect();
        let at = Some("2026-01-02T03:04:05.678+00:00".to_string());
        assert_eq!(
            shown,
            [
                (at.clone(), "first"),
                (at.clone(), "second"),
                (at, "[not a time] third")
            ]
        );
        assert_eq!(page.continuation_token.as_deref(), Some("60"));
    }
}
