//! Schedules as written: cron (5 fields or a preset), a fixed interval (`30s`, `5m`,
//! `1h30m`), `@once`, or none (manual only). What they mean in time is in
//! [`super::timetable`].

use chrono::TimeDelta;
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
    /// Back-to-back data intervals of a fixed length (Airflow's timedelta schedule).
    Interval { text: String, every: TimeDelta },
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
        let looks_like_cron = text.split_whitespace().count() >= 5 || text.contains('*');
        if text.starts_with(|c: char| c.is_ascii_digit()) && !looks_like_cron {
            let every = parse_interval(text)?;
            return Ok(Schedule::Interval {
                text: text.to_string(),
                every,
            });
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
        let cron = parse_cron(expr).map_err(|e| match wrong_field(expr) {
            Some(field) => format!("bad cron `{text}`: {field}"),
            None => format!("bad cron `{text}`: {e}"),
        })?;
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
            Schedule::Interval { text, .. } => Some(text.clone()),
        }
    }
}

/// Reads an interval as durations are written elsewhere in a DAG (`30s`, `5m`, `1h30m`,
/// `1d`, a number of seconds): a whole number of seconds, more than zero.
fn parse_interval(text: &str) -> Result<TimeDelta, String> {
    let every = updraft_core::parse_duration(text)
        .map_err(|e| format!("{e}; a cron expression has 5 fields"))?;
    if every.is_zero() || every.subsec_nanos() != 0 {
        return Err(format!(
            "bad interval `{text}`: it must be a whole number of seconds, more than zero"
        ));
    }
    TimeDelta::from_std(every).map_err(|_| format!("bad interval `{text}`: too long"))
}

/// The five fields, named and with the values each allows, in order.
const FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT"),
];

fn parse_cron(expr: &str) -> Result<Cron, croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
}

/// Which field of a 5-field expression is wrong: each is tried alone, the others `*`.
fn wrong_field(expr: &str) -> Option<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    fields.iter().enumerate().find_map(|(i, field)| {
        let mut alone = ["*"; 5];
        alone[i] = field;
        parse_cron(&alone.join(" ")).err().map(|_| {
            let (name, allowed) = FIELDS[i];
            format!(
                "field {} ({name}) `{field}` is not valid; it takes {allowed}, `*`, lists (`1,5`), ranges (`1-5`) and steps (`*/15`)",
                i + 1
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = Schedule::parse(Some("61 * * * *")).unwrap_err();
        assert!(
            err.contains("bad cron") && err.contains("(minute) `61`"),
            "{err}"
        );
        let err = Schedule::parse(Some("0 0 32 * *")).unwrap_err();
        assert!(err.contains("field 3 (day-of-month) `32`"), "{err}");
        assert!(
            Schedule::parse(Some("* * * *"))
                .unwrap_err()
                .contains("5 fields")
        );
        assert!(Schedule::parse(Some("@fortnightly")).is_err());
    }

    #[test]
    fn intervals() {
        let every = |text: &str| match Schedule::parse(Some(text)) {
            Ok(Schedule::Interval { every, .. }) => Ok(every.num_seconds()),
            Ok(other) => panic!("{text}: {other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(every("30s"), Ok(30));
        assert_eq!(every("5m"), Ok(300));
        assert_eq!(every("1h30m"), Ok(5_400));
        assert_eq!(every("2d"), Ok(172_800));
        assert_eq!(every("90s"), Ok(90));
        assert_eq!(every("300"), Ok(300));
        for (text, why) in [
            ("0s", "more than zero"),
            ("1500ms", "whole number of seconds"),
            ("5x", "bad duration"),
            ("99999999999999d", "too long"),
        ] {
            let err = every(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert_eq!(
            Schedule::parse(Some("1h30m"))
                .unwrap()
                .describe()
                .as_deref(),
            Some("1h30m")
        );
    }
}
