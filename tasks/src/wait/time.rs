//! `for: time`: until an instant (`at`, templated, default the end of the run's data
//! interval) plus `delay` (Airflow's TimeDeltaSensor and DateTimeSensor). It is checked
//! again at that instant, not every interval.

use super::Check;
use crate::{TaskContext, TaskError, TaskOutcome};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeCondition {
    /// ISO 8601; default: the end of the run's data interval.
    at: Option<String>,
    /// Added to `at` (`2h`, `30m`).
    delay: Option<String>,
}

impl TimeCondition {
    pub(crate) fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        let at = match &self.at {
            None => ctx.data_interval_end,
            Some(text) => DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    TaskError::Config(format!(
                        "`at` `{text}` is not an ISO 8601 date and time: {e}"
                    ))
                })?,
        };
        let delay = match &self.delay {
            None => TimeDelta::zero(),
            Some(text) => updraft_core::parse_duration(text)
                .map_err(|e| TaskError::Config(format!("`delay`: {e}")))
                .map(|d| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX))?,
        };
        let target = at
            .checked_add_signed(delay)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let shown = target.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if Utc::now() >= target {
            return Ok(Check::Met(TaskOutcome::default().with_output("at", shown)));
        }
        Ok(Check::NotYet(format!("the time {shown}"), Some(target)))
    }
}
