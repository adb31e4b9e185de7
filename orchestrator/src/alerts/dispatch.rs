//! The dispatcher: a scheduler's background loop that claims due callbacks, sends each
//! with its timeout, and records the answer, putting a message back (with a growing
//! delay) after a retryable failure until its tries are spent. It never touches a run.

use super::send::{NotSent, Receivers, send};
use super::{Action, CallbackState};
use crate::settings::Settings;
use crate::store::{CallbackEnd, CallbackRow, Store};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use updraft_core::Connections;

/// A message is tried at most this many times.
pub const MAX_ATTEMPTS: i64 = 3;

/// How often the store is asked for due messages.
const POLL: Duration = Duration::from_millis(250);

/// At most this many messages are claimed (and sent at once) per round.
const BATCH: i64 = 16;

/// Sends the callbacks of one job.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    job_id: String,
    connections: Arc<Connections>,
    openlineage: Option<crate::settings::OpenLineageTarget>,
    /// Where people reach the UI, for links in messages.
    base_url: Option<String>,
    http: reqwest::Client,
}

impl Dispatcher {
    /// A dispatcher claiming as `job_id`, with `settings`' connections and base URL.
    pub fn new(store: Store, job_id: &str, settings: &Settings) -> Self {
        Self {
            store,
            job_id: job_id.to_string(),
            connections: settings.connections.clone(),
            openlineage: settings.openlineage.clone(),
            base_url: settings.base_url.as_ref().map(|u| u.to_string()),
            http: reqwest::Client::new(),
        }
    }

    /// Claims and sends until `stop` fires; a round's messages are all answered (or
    /// time out) before it returns.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!("alerts: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Decides the deadlines that can be and which assets went stale, claims the due
    /// messages and sends them; how many it claimed.
    pub async fn round(&self) -> Result<usize, crate::store::StoreError> {
        self.store
            .decide_deadlines(self.base_url.as_deref())
            .await?;
        self.store
            .decide_freshness(self.base_url.as_deref())
            .await?;
        let claimed = self.store.claim_callbacks(&self.job_id, BATCH).await?;
        let count = claimed.len();
        let mut sending = JoinSet::new();
        for row in claimed {
            let me = self.clone();
            sending.spawn(async move { me.deliver(row).await });
        }
        while let Some(done) = sending.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!("alerts: {e}");
            }
        }
        Ok(count)
    }

    /// Sends one claimed message and records how it went.
    async fn deliver(&self, row: CallbackRow) -> Result<(), crate::store::StoreError> {
        let started = Instant::now();
        let outcome = match serde_json::from_str::<Action>(&row.action) {
            Ok(action) => {
                let facts = serde_json::from_str(&row.facts).unwrap_or_default();
                let receivers = Receivers {
                    connections: &self.connections,
                    openlineage: self.openlineage.as_ref(),
                };
                send(&self.http, &receivers, &action, &facts).await
            }
            Err(e) => Err(NotSent {
                message: format!("the recorded action does not read: {e}"),
                retryable: false,
                timed_out: false,
            }),
        };
        let duration = started.elapsed().as_secs_f64();
        let end = match outcome {
            Ok(sent) => CallbackEnd {
                state: CallbackState::Sent,
                answer: sent.answer,
                duration,
                next_attempt_at: None,
            },
            Err(not) if not.retryable && row.attempts < MAX_ATTEMPTS => CallbackEnd {
                state: CallbackState::Pending,
                answer: not.message,
                duration,
                next_attempt_at: Some(Utc::now() + backoff(row.attempts)),
            },
            Err(not) => CallbackEnd {
                state: CallbackState::Failed,
                answer: if not.timed_out {
                    format!("timed out: {}", not.message)
                } else {
                    not.message
                },
                duration,
                next_attempt_at: None,
            },
        };
        let kind = &row.action_kind;
        match end.state {
            CallbackState::Sent => tracing::info!(
                "alert {} {} of {} {}: sent ({})",
                row.event,
                kind,
                row.dag_id,
                row.run_id,
                end.answer
            ),
            _ => tracing::warn!(
                "alert {} {} of {} {}: {} after try {} ({})",
                row.event,
                kind,
                row.dag_id,
                row.run_id,
                end.state,
                row.attempts,
                end.answer
            ),
        }
        self.store.end_callback(&row.id, &self.job_id, &end).await?;
        Ok(())
    }
}

/// The wait before try `attempts + 1`: 1 s, then 4 s.
fn backoff(attempts: i64) -> chrono::TimeDelta {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 4)).unwrap_or(0);
    chrono::TimeDelta::seconds(4i64.pow(exponent))
}

/// Sends what is due until nothing is left or `limit` passes: a process that worked a
/// run by itself (`dag trigger`) says what its run caused before it exits; what is left
/// (a retry not yet due) a scheduler sends later.
pub async fn dispatch_until(dispatcher: &Dispatcher, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match dispatcher.round().await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("alerts: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_wait_longer_each_time() {
        assert_eq!(backoff(1), chrono::TimeDelta::seconds(1));
        assert_eq!(backoff(2), chrono::TimeDelta::seconds(4));
    }
}
