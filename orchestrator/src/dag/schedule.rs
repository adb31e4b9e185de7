//! Schedules: cron (5 fields or a preset) evaluated in the DAG's time zone, `@once`, or
//! none (manual only), and the data interval a manual run covers.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// When a DAG runs by itself.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// `schedule: null`: only manual triggers.
    Manual,
    /// `@once`: one run at the start date.
    Once,
    /// A cron expression (presets are expanded).
    Cron { expr: String, cron: Box<Cron> },
}

/// Cron presets, as Airflow names them.
const PRESETS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

impl Schedule {
    /// Parses `schedule:` (None means manual only).
    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        let Some(text) = text.map(str::trim) else {
            return Ok(Schedule::Manual);
        };
        if text == "@once" {
            return Ok(Schedule::Once);
        }
        let expr = PRESETS
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, e)| *e)
            .unwrap_or(text);
        if expr.starts_with('@') {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown schedule preset `{text}` (one of: @once, {})",
                names.join(", ")
            ));
        }
        if expr.split_whitespace().count() != 5 {
            return Err(format!(
                "bad cron `{text}`: expected 5 fields (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| format!("bad cron `{text}`: {e}"))?;
        Ok(Schedule::Cron {
            expr: expr.to_string(),
            cron: Box::new(cron),
        })
    }

    /// The schedule as stored in the `dag` table (None for manual).
    pub fn describe(&self) -> Option<String> {
        match self {
            Schedule::Manual => None,
            Schedule::Once => Some("@once".into()),
            Schedule::Cron { expr, .. } => Some(expr.clone()),
        }
    }

    /// The data interval of a manual run at `at`: for cron, the latest complete interval
    /// ending at or before `at` (as Airflow infers it); otherwise the instant `[at, at]`.
    pub fn manual_interval(&self, at: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let Schedule::Cron { cron, .. } = self else {
            return (at, at);
        };
        let local = at.with_timezone(&tz);
        let end = cron.find_previous_occurrence(&local, true);
        let start = end
            .as_ref()
            .ok()
            .and_then(|end| cron.find_previous_occurrence(end, false).ok());
        match (start, end) {
            (Some(start), Ok(end)) => (start.with_timezone(&Utc), end.with_timezone(&Utc)),
            _ => (at, at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn presets_and_errors() {
        assert!(matches!(Schedule::parse(None), Ok(Schedule::Manual)));
        assert!(matches!(Schedule::parse(Some("@once")), Ok(Schedule::Once)));
        assert_eq!(
            Schedule::parse(Some("@daily"))
                .unwrap()
                .describe()
                .as_deref(),
            Some("0 0 * * *")
        );
        assert!(
            Schedule::parse(Some("61 * * * *"))
                .unwrap_err()
                .contains("bad cron")
        );
        assert!(
            Schedule::parse(Some("* * * *"))
                .unwrap_err()
                .contains("5 fields")
        );
        assert!(Schedule::parse(Some("@fortnightly")).is_err());
    }

    #[test]
    fn manual_interval_is_the_last_complete_one() {
        let s = Schedule::parse(Some("0 2 * * *")).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        let (start, end) = s.manual_interval(at, chrono_tz::UTC);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 3, 9, 2, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap());
    }
}
