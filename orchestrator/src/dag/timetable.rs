//! When scheduled runs happen and which data interval each covers: Airflow's cron
//! data-interval timetable (its default in Airflow 2, `create_cron_data_intervals=True`
//! in Airflow 3) and its `@once` timetable, with Airflow's rules across daylight saving.
//!
//! Cron fields are matched against the wall clock of the DAG's time zone. A wall time
//! that a spring-forward skips is read with the offset in force before the gap (02:30
//! becomes 03:30 summer time); a wall time a fall-back repeats is the second occurrence.
//! A cron whose hour field is `*` instead steps by real elapsed time, so hourly runs
//! stay one hour apart through both changes.
//!
//! An interval schedule is Airflow's timedelta timetable: intervals of that length back
//! to back from the start date, in elapsed time (time zones do not matter).

use super::Schedule;
use chrono::{DateTime, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// One run the timetable asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    /// When the run becomes due: the end of its data interval.
    pub run_after: DateTime<Utc>,
}

/// What limits the runs a DAG gets: its start and end dates and catchup.
#[derive(Debug, Clone, Copy)]
pub struct Restriction {
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
    pub catchup: bool,
}

impl RunInfo {
    fn interval(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            logical_date: start,
            data_interval_start: start,
            data_interval_end: end,
            run_after: end,
        }
    }

    /// The interval as a pair.
    pub fn data_interval(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.data_interval_start, self.data_interval_end)
    }
}

impl Schedule {
    /// The run after the last automated one (`last` is its data interval), as Airflow's
    /// `next_dagrun_info`; None when the schedule has no more runs. `now` matters only
    /// without catchup, which skips to the latest complete interval.
    pub fn next_run(
        &self,
        tz: Tz,
        last: Option<(DateTime<Utc>, DateTime<Utc>)>,
        restriction: &Restriction,
        now: DateTime<Utc>,
    ) -> Option<RunInfo> {
        match self {
            Schedule::Manual => None,
            Schedule::Once => {
                let at = restriction.earliest.filter(|_| last.is_none())?;
                if restriction.latest.is_some_and(|latest| at > latest) {
                    return None;
                }
                Some(RunInfo {
                    logical_date: at,
                    data_interval_start: at,
                    data_interval_end: at,
                    run_after: at,
                })
            }
            Schedule::Cron { cron, expr } => {
                let clock = CronClock::new(cron, expr, tz);
                let earliest = if restriction.catchup {
                    match restriction.earliest {
                        Some(e) => Some(clock.align_to_next(e)?),
                        None => None,
                    }
                } else {
                    Some(clock.skip_to_latest(restriction.earliest, now)?)
                };
                let start = match (last, earliest) {
                    (None, None) => return None,
                    (None, Some(earliest)) => earliest,
                    (Some((_, end)), earliest) => {
                        let aligned = clock.align_to_prev(end)?;
                        earliest.map_or(aligned, |e| aligned.max(e))
                    }
                };
                if restriction.latest.is_some_and(|latest| start > latest) {
                    return None;
                }
                Some(RunInfo::interval(start, clock.next(start)?))
            }
            Schedule::Interval { every, .. } => {
                let earliest = if restriction.catchup {
                    restriction.earliest
                } else {
                    let latest_start = floor_to(now, *every)? - *every;
                    Some(
                        restriction
                            .earliest
                            .map_or(latest_start, |e| e.max(latest_start)),
                    )
                };
                let start = match (last, earliest) {
                    (None, None) => return None,
                    (None, Some(earliest)) => earliest,
                    (Some((_, end)), earliest) => earliest.map_or(end, |e| end.max(e)),
                };
                if restriction.latest.is_some_and(|latest| start > latest) {
                    return None;
                }
                Some(RunInfo::interval(start, start.checked_add_signed(*every)?))
            }
        }
    }

    /// The runs whose logical date lies in `[from, to]`, oldest first (for backfills).
    pub fn runs_between(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<RunInfo> {
        let restriction = Restriction {
            earliest: Some(from),
            latest: Some(to),
            catchup: true,
        };
        let mut runs: Vec<RunInfo> = Vec::new();
        while runs.len() < limit {
            let last = runs.last().map(RunInfo::data_interval);
            match self.next_run(tz, last, &restriction, to) {
                Some(run) if runs.last() != Some(&run) => runs.push(run),
                _ => break,
            }
        }
        runs
    }

    /// The data interval of a manual run at `at`: for cron, the latest complete interval
    /// ending at or before `at` (Airflow's `infer_manual_data_interval`); otherwise `[at, at]`.
    pub fn manual_interval(&self, at: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        if let Schedule::Interval { every, .. } = self {
            return (at.checked_sub_signed(*every).unwrap_or(at), at);
        }
        let Schedule::Cron { cron, expr } = self else {
            return (at, at);
        };
        let clock = CronClock::new(cron, expr, tz);
        let interval = clock
            .align_to_prev(at)
            .and_then(|end| Some((clock.prev(end)?, end)));
        interval.unwrap_or((at, at))
    }
}

/// `at` rounded down to a whole number of `every` since the Unix epoch (Airflow rounds
/// "now" so that runs without catchup start on the interval's grid).
fn floor_to(at: DateTime<Utc>, every: TimeDelta) -> Option<DateTime<Utc>> {
    let step = every.num_microseconds()?;
    let micros = at.timestamp_micros();
    DateTime::from_timestamp_micros(micros - micros.rem_euclid(step))
}

/// A cron expression read on the wall clock of a time zone.
struct CronClock<'a> {
    cron: &'a Cron,
    tz: Tz,
    /// The hour field is `*`: step by elapsed time across daylight-saving changes.
    every_hour: bool,
}

impl<'a> CronClock<'a> {
    fn new(cron: &'a Cron, expr: &str, tz: Tz) -> Self {
        let every_hour = expr
            .split_whitespace()
            .nth(1)
            .is_some_and(covers_every_hour);
        Self {
            cron,
            tz,
            every_hour,
        }
    }

    fn wall_clock(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.tz).naive_local()
    }

    /// The first fire time strictly after `at`.
    fn next(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = self.wall_clock(at);
        // The cron is matched on naive wall-clock times, carried as UTC (which has no DST).
        let fire = self
            .cron
            .find_next_occurrence(&wall.and_utc(), false)
            .ok()?
            .naive_utc();
        Some(if self.every_hour {
            at + (fire - wall)
        } else {
            self.instant(fire)
        })
    }

    /// The last fire time strictly before `at`.
    fn prev(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = self.wall_clock(at);
        let fire = self
            .cron
            .find_previous_occurrence(&wall.and_utc(), false)
            .ok()?
            .naive_utc();
        Some(if self.every_hour {
            at - (wall - fire)
        } else {
            self.instant(fire)
        })
    }

    /// `at` when it is a fire time, else the next fire time.
    fn align_to_next(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self.next(at)?;
        Some(if self.prev(next) == Some(at) {
            at
        } else {
            next
        })
    }

    /// `at` when it is a fire time, else the previous fire time.
    fn align_to_prev(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let prev = self.prev(at)?;
        Some(if self.next(prev) == Some(at) {
            at
        } else {
            prev
        })
    }

    /// Without catchup: the start of the latest interval that is complete at `now`, or
    /// the aligned start date when that is later.
    fn skip_to_latest(
        &self,
        earliest: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let last_start = self.prev(now)?;
        let latest_start = if self.next(last_start)? == now {
            last_start
        } else {
            self.prev(last_start)?
        };
        match earliest {
            Some(e) => Some(latest_start.max(self.align_to_next(e)?)),
            None => Some(latest_start),
        }
    }

    /// The instant of a wall-clock time: a skipped time is read with the offset before
    /// the gap, a repeated time is its second occurrence (Airflow's `fold=1`).
    fn instant(&self, wall: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&wall) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(_, second) => second.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let before = self
                    .tz
                    .offset_from_utc_datetime(&(wall - TimeDelta::days(1)))
                    .fix();
                (wall - TimeDelta::seconds(i64::from(before.local_minus_utc()))).and_utc()
            }
        }
    }
}

/// Whether a cron hour field names all 24 hours (`*`, `*/1`, `0-23`, a full list), as
/// Airflow decides which crons step by elapsed time.
fn covers_every_hour(field: &str) -> bool {
    let mut hours = [false; 24];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().unwrap_or(0)),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (0, 23),
            r => match r.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                // `5/2` means from 5 to the end.
                None => {
                    let a = r.parse().unwrap_or(0);
                    (a, if part.contains('/') { 23 } else { a })
                }
            },
        };
        if step == 0 {
            return false;
        }
        for hour in (from..=to.min(23)).step_by(step) {
            hours[hour] = true;
        }
    }
    hours.iter().all(|h| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn catchup_from(start: DateTime<Utc>) -> Restriction {
        Restriction {
            earliest: Some(start),
            latest: None,
            catchup: true,
        }
    }

    /// The fixture's times: to the minute for crons, to the second for intervals.
    fn minute(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%MZ")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ"))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .and_utc()
    }

    fn show(run: &RunInfo, format: &str) -> [String; 4] {
        let f = |t: DateTime<Utc>| t.format(format).to_string();
        [
            f(run.logical_date),
            f(run.data_interval_start),
            f(run.data_interval_end),
            f(run.run_after),
        ]
    }

    /// Compares with what Airflow 2.10.5's own timetables returned for the same crons,
    /// time zones and daylight-saving weeks (tests/fixtures/airflow_timetable.py).
    #[test]
    fn matches_airflow_across_time_zones_and_dst_changes() {
        let text = include_str!("../../../tests/fixtures/airflow_timetable.json");
        let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
        let (mut checked, mut intervals, mut wrong) = (0, 0, Vec::new());
        for case in fixture["cases"].as_array().unwrap() {
            let (cron, format) = match case["every"].as_str() {
                Some(every) => {
                    intervals += 1;
                    (every, "%Y-%m-%dT%H:%M:%SZ")
                }
                None => (case["cron"].as_str().unwrap(), "%Y-%m-%dT%H:%MZ"),
            };
            let schedule = Schedule::parse(Some(cron)).unwrap();
            let tz: Tz = case["timezone"].as_str().unwrap().parse().unwrap();
            if let Some(at) = case["manual_at"].as_str() {
                let (start, end) = schedule.manual_interval(minute(at), tz);
                let want = &case["manual_interval"];
                checked += 1;
                if (start, end)
                    != (
                        minute(want[0].as_str().unwrap()),
                        minute(want[1].as_str().unwrap()),
                    )
                {
                    wrong.push(format!(
                        "{cron} {tz} manual at {at}: got {start} .. {end}, Airflow {want}"
                    ));
                }
                continue;
            }
            let restriction = Restriction {
                earliest: Some(minute(case["earliest"].as_str().unwrap())),
                latest: None,
                catchup: case["catchup"].as_bool().unwrap(),
            };
            let now = case["now"].as_str().map_or(utc(2100, 1, 1, 0, 0), minute);
            let mut last = None;
            for want in case["runs"].as_array().unwrap() {
                let want: Vec<&str> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                checked += 1;
                let got = schedule.next_run(tz, last, &restriction, now);
                match got {
                    Some(run)
                        if show(&run, format)
                            .iter()
                            .map(String::as_str)
                            .eq(want.iter().copied()) =>
                    {
                        last = Some(run.data_interval());
                    }
                    other => {
                        wrong.push(format!(
                            "{cron} {tz} from {} (catchup {}): got {:?}, Airflow {want:?}",
                            case["earliest"],
                            restriction.catchup,
                            other.as_ref().map(|run| show(run, format))
                        ));
                        break;
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {checked} differ:\n{}",
            wrong.len(),
            wrong[..wrong.len().min(15)].join("\n")
        );
        assert!(checked > 4500, "only {checked} runs checked");
        assert_eq!(intervals, 200, "interval cases");
    }

    #[test]
    fn hour_fields_that_cover_every_hour() {
        for yes in ["*", "*/1", "0-23", "0-11,12-23", "0/1"] {
            assert!(covers_every_hour(yes), "{yes}");
        }
        for no in ["*/2", "1-23", "0", "0-22"] {
            assert!(!covers_every_hour(no), "{no}");
        }
    }

    #[test]
    fn manual_interval_is_the_last_complete_one() {
        let s = Schedule::parse(Some("0 2 * * *")).unwrap();
        let (start, end) = s.manual_interval(utc(2026, 3, 10, 12, 0), chrono_tz::UTC);
        assert_eq!(
            (start, end),
            (utc(2026, 3, 9, 2, 0), utc(2026, 3, 10, 2, 0))
        );
    }

    #[test]
    fn daily_intervals_in_a_time_zone_follow_its_wall_clock() {
        let s = Schedule::parse(Some("0 2 * * *")).unwrap();
        let tz = chrono_tz::Europe::Amsterdam;
        let r = catchup_from(utc(2026, 3, 27, 0, 0));
        let first = s.next_run(tz, None, &r, utc(2026, 4, 1, 0, 0)).unwrap();
        // 02:00 CET is 01:00 UTC.
        assert_eq!(first.logical_date, utc(2026, 3, 27, 1, 0));
        assert_eq!(first.run_after, utc(2026, 3, 28, 1, 0));
        let second = s
            .next_run(tz, Some(first.data_interval()), &r, utc(2026, 4, 1, 0, 0))
            .unwrap();
        // 2026-03-29 02:00 does not exist in Amsterdam: it is read as 03:00 CEST = 01:00 UTC.
        assert_eq!(second.data_interval_end, utc(2026, 3, 29, 1, 0));
        let third = s
            .next_run(tz, Some(second.data_interval()), &r, utc(2026, 4, 1, 0, 0))
            .unwrap();
        assert_eq!(third.data_interval_end, utc(2026, 3, 30, 0, 0));
    }

    #[test]
    fn hourly_runs_stay_an_hour_apart_through_fall_back() {
        let s = Schedule::parse(Some("30 * * * *")).unwrap();
        let tz = chrono_tz::Europe::Zurich;
        let r = catchup_from(utc(2026, 10, 24, 23, 30));
        let mut last = None;
        let mut starts = Vec::new();
        for _ in 0..4 {
            let run = s.next_run(tz, last, &r, utc(2026, 11, 1, 0, 0)).unwrap();
            starts.push(run.logical_date);
            last = Some(run.data_interval());
        }
        let gaps: Vec<i64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes())
            .collect();
        assert_eq!(gaps, vec![60, 60, 60]);
    }

    #[test]
    fn without_catchup_only_the_latest_interval_runs() {
        let s = Schedule::parse(Some("@daily")).unwrap();
        let r = Restriction {
            earliest: Some(utc(2026, 1, 1, 0, 0)),
            latest: None,
            catchup: false,
        };
        let run = s
            .next_run(chrono_tz::UTC, None, &r, utc(2026, 2, 10, 13, 0))
            .unwrap();
        assert_eq!(run.logical_date, utc(2026, 2, 9, 0, 0));
        assert_eq!(run.run_after, utc(2026, 2, 10, 0, 0));
    }

    #[test]
    fn end_date_and_once() {
        let s = Schedule::parse(Some("@daily")).unwrap();
        let r = Restriction {
            earliest: Some(utc(2026, 1, 1, 0, 0)),
            latest: Some(utc(2026, 1, 3, 0, 0)),
            catchup: true,
        };
        let runs = s.runs_between(
            chrono_tz::UTC,
            utc(2026, 1, 1, 0, 0),
            utc(2026, 1, 3, 0, 0),
            100,
        );
        assert_eq!(runs.len(), 3);
        let last = runs.last().map(RunInfo::data_interval);
        assert_eq!(
            s.next_run(chrono_tz::UTC, last, &r, utc(2027, 1, 1, 0, 0)),
            None
        );
        let once = Schedule::parse(Some("@once")).unwrap();
        let run = once
            .next_run(chrono_tz::UTC, None, &r, utc(2027, 1, 1, 0, 0))
            .unwrap();
        assert_eq!(run.run_after, utc(2026, 1, 1, 0, 0));
        assert_eq!(
            once.next_run(
                chrono_tz::UTC,
                Some(run.data_interval()),
                &r,
                utc(2027, 1, 1, 0, 0)
            ),
            None
        );
    }
}
