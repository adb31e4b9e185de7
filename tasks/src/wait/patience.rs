//! How long and how often a waiting task checks (the keys every `wait` condition and
//! `trigger_dag` with `wait` share, as Airflow's sensors): `poke_interval`, `timeout`
//! counted from the try's first check, `soft_fail`, `exponential_backoff`, `max_wait`.

use crate::{TaskContext, TaskError, TaskOutcome};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The keys of [`Patience`], taken out of a `with:` block before its condition is read.
pub(crate) const KEYS: &[&str] = &[
    "poke_interval",
    "timeout",
    "soft_fail",
    "exponential_backoff",
    "max_wait",
];

/// When to check again, and when to give up.
#[derive(Debug, Clone)]
pub(crate) struct Patience {
    pub poke_interval: Duration,
    pub timeout: Duration,
    /// At the timeout the task is skipped instead of failed.
    pub soft_fail: bool,
    /// Each wait doubles (up to `max_wait`).
    pub exponential_backoff: bool,
    pub max_wait: Option<Duration>,
}

/// A duration as YAML writes it: seconds, or text (`30s`, `2h`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Span {
    Seconds(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatienceConfig {
    poke_interval: Option<Span>,
    timeout: Option<Span>,
    #[serde(default)]
    soft_fail: bool,
    #[serde(default)]
    exponential_backoff: bool,
    max_wait: Option<Span>,
}

fn span(value: Option<Span>, key: &str, default: Duration) -> Result<Duration, TaskError> {
    match value {
        None => Ok(default),
        Some(Span::Seconds(n)) => Ok(Duration::from_secs(n)),
        Some(Span::Text(text)) => updraft_core::parse_duration(&text)
            .map_err(|e| TaskError::Config(format!("`{key}`: {e}"))),
    }
}

impl Patience {
    /// Reads the patience keys of `config` (others are left for the caller), and what is
    /// left of the block.
    pub fn split(config: &Value) -> Result<(Self, Value), TaskError> {
        let Value::Object(map) = config else {
            return Err(TaskError::Config("`with:` must be a mapping".into()));
        };
        let (mine, rest): (serde_json::Map<_, _>, serde_json::Map<_, _>) = map
            .clone()
            .into_iter()
            .partition(|(k, _)| KEYS.contains(&k.as_str()));
        let cfg: PatienceConfig = crate::parse_config(&Value::Object(mine))?;
        let patience = Self {
            poke_interval: span(cfg.poke_interval, "poke_interval", Duration::from_secs(60))?,
            timeout: span(cfg.timeout, "timeout", Duration::from_secs(24 * 3600))?,
            soft_fail: cfg.soft_fail,
            exponential_backoff: cfg.exponential_backoff,
            max_wait: cfg
                .max_wait
                .map(|m| span(Some(m), "max_wait", Duration::ZERO))
                .transpose()?,
        };
        if patience.poke_interval.is_zero() {
            return Err(TaskError::Config(
                "`poke_interval` must be more than 0".into(),
            ));
        }
        Ok((patience, Value::Object(rest)))
    }

    /// What a check that found its condition not met leads to: a check again later in
    /// the same try, or — its timeout passed since `ctx`'s first check — a failure that is
    /// not retried (skipped with `soft_fail`). `ready_at` is when the condition will
    /// surely hold (a time), checked then rather than every interval.
    pub fn not_yet(
        &self,
        ctx: &TaskContext,
        waiting_for: String,
        ready_at: Option<DateTime<Utc>>,
    ) -> Result<TaskOutcome, TaskError> {
        let now = Utc::now();
        let first = ctx.waiting_since.unwrap_or(now);
        let waited = (now - first).to_std().unwrap_or_default();
        if waited >= self.timeout {
            let timeout = humantime::format_duration(self.timeout);
            if self.soft_fail {
                ctx.log.line(format!(
                    "timed out after {timeout} waiting for {waiting_for}: skipped (soft_fail)"
                ));
                return Ok(TaskOutcome::nothing_to_do());
            }
            return Err(TaskError::Fatal(format!(
                "timed out after {timeout} waiting for {waiting_for}"
            )));
        }
        let at = match ready_at {
            Some(at) => at,
            None => now + delta(self.interval(waited)),
        };
        // The last check is at the timeout, so the task ends then, not an interval later.
        let at = at.min(first + delta(self.timeout)).max(now);
        Ok(TaskOutcome::not_yet(at, waiting_for))
    }

    /// The wait before the next check, `waited` after the first: with backoff each wait
    /// is what was waited so far plus an interval (1, 2, 4, 8 intervals...), so it needs
    /// no count of checks.
    fn interval(&self, waited: Duration) -> Duration {
        let interval = if self.exponential_backoff {
            waited.saturating_add(self.poke_interval)
        } else {
            self.poke_interval
        };
        self.max_wait.map_or(interval, |max| interval.min(max))
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patience(config: Value) -> Patience {
        Patience::split(&config).expect("valid").0
    }

    #[test]
    fn defaults_and_what_is_left() {
        let (p, rest) =
            Patience::split(&serde_json::json!({"for": "file", "path": "x"})).expect("valid");
        assert_eq!(p.poke_interval, Duration::from_secs(60));
        assert_eq!(p.timeout, Duration::from_secs(86_400));
        assert_eq!(rest, serde_json::json!({"for": "file", "path": "x"}));
        let bad = Patience::split(&serde_json::json!({"timeout": "soon"}));
        assert!(matches!(bad, Err(TaskError::Config(m)) if m.contains("`timeout`")));
    }

    #[test]
    fn backoff_doubles_each_wait_up_to_max_wait() {
        let p = patience(serde_json::json!({
            "poke_interval": 10, "exponential_backoff": true, "max_wait": "1m"
        }));
        let mut waited = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let wait = p.interval(waited);
            waits.push(wait.as_secs());
            waited += wait;
        }
        assert_eq!(waits, vec![10, 20, 40, 60, 60]);
        let flat = patience(serde_json::json!({"poke_interval": "5s"}));
        assert_eq!(flat.interval(Duration::from_secs(500)).as_secs(), 5);
    }
}
