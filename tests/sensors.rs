//! The shipped `iot_sensors` DAG: generated readings with planted bad ones go from a
//! landing folder (and a Kafka topic, at the same time) through bronze, silver and gold
//! into the warehouse. Silver holds exactly the good readings with their times in UTC,
//! the quarantine exactly the bad ones with the right reasons, gold the statistics an
//! independent reading of the raw records gives — also after `kill -9` mid-landing.

use crate::support::{Backend, Broker, Updraft, copy_tree, query_delta, repo_path, text};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use updraft_generate::RecordSource;
use updraft_generate::sensors::{SensorGenerator, SensorOptions};

/// What silver should make of the raw records, decided without Updraft.
#[derive(Default)]
struct Expected {
    /// (sensor_id, reading time in µs) of every good reading.
    good: BTreeSet<(String, i64)>,
    /// Per (sensor_id, hour start in µs): readings, min, sum and max of the temperature.
    hours: BTreeMap<(String, i64), (i64, f64, f64, f64)>,
    /// Quarantine reasons (the code, or the check's name) and how many.
    bad: BTreeMap<String, usize>,
}

impl Expected {
    fn add(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            *self.bad.entry("invalid_json".into()).or_default() += 1;
            return;
        };
        let (Some(sensor), Some(t)) = (v["sensor_id"].as_str(), v["temperature"].as_f64()) else {
            *self.bad.entry("missing_field".into()).or_default() += 1;
            return;
        };
        let Some(at) = reading_time(&v["ts"]) else {
            *self.bad.entry("wrong_type".into()).or_default() += 1;
            return;
        };
        let humidity = v["humidity"].as_f64().unwrap();
        let broken = if !(-50.0..=60.0).contains(&t) {
            Some("temperature_out_of_range")
        } else if !(0.0..=100.0).contains(&humidity) {
            Some("humidity_out_of_range")
        } else {
            None
        };
        if let Some(check) = broken {
            *self.bad.entry(check.into()).or_default() += 1;
            return;
        }
        assert!(
            self.good.insert((sensor.to_string(), at)),
            "a repeated reading: {line}"
        );
        let hour = at - at.rem_euclid(3_600_000_000);
        let entry =
            self.hours
                .entry((sensor.to_string(), hour))
                .or_insert((0, f64::MAX, 0.0, f64::MIN));
        entry.0 += 1;
        entry.1 = entry.1.min(t);
        entry.2 += t;
        entry.3 = entry.3.max(t);
    }

    fn bad_total(&self) -> usize {
        self.bad.values().sum()
    }
}

/// A reading's time in µs since the epoch, read as a sensor writes it: RFC 3339 with any
/// offset, a UTC time without offset, or Unix seconds.
fn reading_time(ts: &Value) -> Option<i64> {
    if let Some(seconds) = ts.as_f64() {
        return Some((seconds * 1e6).round() as i64);
    }
    let text = ts.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()
        .map(|t| t.timestamp_micros())
}

fn from_files(landing: &Path) -> Expected {
    let mut expected = Expected::default();
    for entry in std::fs::read_dir(landing).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            expected.add(line);
        }
    }
    expected
}

/// The readings `generate sensors --seed SEED --count COUNT --bad-ratio RATIO --start
/// START` makes (its default hours and devices).
fn generated(seed: u64, count: u64, bad_ratio: f64, start: &str, into: &mut Expected) {
    let mut generator = SensorGenerator::new(SensorOptions {
        seed,
        count,
        start: start.parse().unwrap(),
        span: chrono::Duration::hours(24),
        live: false,
        devices: 200,
        bad_ratio,
    })
    .unwrap();
    for _ in 0..count {
        into.add(&generator.next_record().1);
    }
}

/// Checks silver, quarantine and gold against what the raw readings say.
async fn assert_layers(lake: &Path, expected: &Expected) {
    let silver = query_delta(
        &[("s", &lake.join("silver/sensor_data"))],
        "SELECT sensor_id, CAST(reading_at AS BIGINT) AS at FROM s",
    )
    .await;
    let got: BTreeSet<(String, i64)> = silver
        .iter()
        .map(|r| {
            (
                r["sensor_id"].as_str().unwrap().to_string(),
                r["at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(silver.len(), got.len(), "no reading twice in silver");
    assert_eq!(got.len(), expected.good.len());
    assert!(
        got == expected.good,
        "silver holds exactly the good readings, times in UTC"
    );

    let reasons = query_delta(
        &[("q", &lake.join("silver/sensor_data_quarantine"))],
        "SELECT CASE WHEN reason_code = 'check' THEN reason ELSE reason_code END AS why, count(*) AS n
         FROM q GROUP BY 1 ORDER BY 1",
    )
    .await;
    let reasons: BTreeMap<String, usize> = reasons
        .iter()
        .map(|r| {
            (
                r["why"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(
        reasons, expected.bad,
        "the quarantine holds exactly the planted readings"
    );

    let gold = query_delta(
        &[("g", &lake.join("gold/sensor_stats_by_hour"))],
        "SELECT sensor_id, CAST(reading_hour AS BIGINT) AS hour, readings, min_temperature,
                avg_temperature, max_temperature FROM g",
    )
    .await;
    assert_eq!(
        gold.len(),
        expected.hours.len(),
        "one row per sensor and hour"
    );
    for row in &gold {
        let key = (
            row["sensor_id"].as_str().unwrap().to_string(),
            row["hour"].as_i64().unwrap(),
        );
        let (n, min, sum, max) = expected.hours[&key];
        assert_eq!(row["readings"].as_i64(), Some(n), "{row}");
        assert_eq!(row["min_temperature"].as_f64(), Some(min), "{row}");
        assert_eq!(row["max_temperature"].as_f64(), Some(max), "{row}");
        let avg = row["avg_temperature"].as_f64().unwrap();
        assert!((avg - sum / n as f64).abs() < 1e-9, "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_to_gold_on_the_embedded_defaults() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    // Without --to, where the DAG looks.
    let out = u.run(&[
        "generate",
        "sensors",
        "--count",
        "20000",
        "--seed",
        "11",
        "--bad-ratio",
        "0.05",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let expected = from_files(&lake.join("landing/sensor_data"));
    assert_eq!(expected.good.len() + expected.bad_total(), 20_000);
    // A missing sensor_id and a missing temperature are both `missing_field`.
    assert!(
        expected.bad.len() == 5 && expected.bad_total() > 600,
        "{:?}",
        expected.bad
    );

    let out = u.run(&["dag", "trigger", "iot_sensors", "--run-id", "s1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let states: BTreeMap<String, String> = store
        .task_instances("iot_sensors", "s1")
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.task_id, t.state.stored().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        states["land_kafka"], "skipped",
        "no topic given: {states:?}"
    );
    assert!(
        states
            .iter()
            .all(|(task, state)| task == "land_kafka" || state == "success"),
        "{states:?}"
    );
    assert_layers(&lake, &expected).await;

    let url = format!("sqlite://{}", u.home().join("warehouse.db").display());
    let mut wh = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let (rows, readings): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(readings) FROM gold_sensor_stats_by_hour")
            .fetch_one(&mut wh)
            .await
            .unwrap();
    assert_eq!(rows as usize, expected.hours.len());
    assert_eq!(readings as usize, expected.good.len());

    // More readings later: only they are added; then a run with nothing new changes nothing.
    let out = u.run(&[
        "generate",
        "sensors",
        "--count",
        "3000",
        "--seed",
        "12",
        "--start",
        "2026-01-02T00:00:00Z",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    for run_id in ["s2", "s3"] {
        let out = u.run(&["dag", "trigger", "iot_sensors", "--run-id", run_id]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    assert_layers(&lake, &from_files(&lake.join("landing/sensor_data"))).await;
    u.cleanup().await;
}

/// Files and a Kafka topic into one bronze table at once, the run killed three times
/// while landing: every reading of both sources is in bronze once, and silver,
/// quarantine and gold are exactly what the readings give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_kafka_at_once_exactly_once_under_kill_9() {
    let broker = Broker::start();
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    // The shipped DAG with small landing batches, so that a kill finds it mid-landing.
    let shipped = std::fs::read_to_string(repo_path("dags/iot_sensors.yaml")).unwrap();
    let table = r#"table: "{{ lake }}/bronze/sensor_data""#;
    assert_eq!(shipped.matches(table).count(), 2);
    u.write_dag(
        "iot_sensors.yaml",
        &shipped.replace(table, &format!("{table}\n      batch_size: 400")),
    );
    copy_tree(&repo_path("sql"), &u.dir.path().join("sql"));

    let (count, bad_ratio) = (12_000u64, 0.05);
    let topic = format!("kafka://{}/sensor_data", broker.bootstrap);
    // The topic's readings are of the next day: a device reports a time only once.
    let next_day = "2026-01-02T00:00:00Z";
    for (seed, to) in [(21, None), (22, Some(topic.as_str()))] {
        let (seed, n) = (seed.to_string(), count.to_string());
        let mut args = vec![
            "generate",
            "sensors",
            "--count",
            &n,
            "--seed",
            &seed,
            "--bad-ratio",
            "0.05",
        ];
        if let Some(to) = to {
            args.extend(["--to", to, "--start", next_day]);
        }
        let out = u.run(&args);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let mut expected = from_files(&lake.join("landing/sensor_data"));
    generated(22, count, bad_ratio, next_day, &mut expected);

    let conf = format!(r#"{{"kafka": "{topic}"}}"#);
    u.kill_after_commits(
        &["dag", "trigger", "iot_sensors", "--conf", &conf],
        &lake.join("bronze/sensor_data/_delta_log"),
        &[3, 14, 31],
        Duration::ZERO,
        Duration::from_secs(180),
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "iot_sensors",
        "--run-id",
        "final",
        "--conf",
        &conf,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));

    let bronze = query_delta(
        &[("b", &lake.join("bronze/sensor_data"))],
        "SELECT count(*) AS n,
                count(DISTINCT concat(coalesce(file, ''), ':', coalesce(CAST(line AS VARCHAR), ''), ':',
                      coalesce(CAST(partition AS VARCHAR), ''), ':', coalesce(CAST(\"offset\" AS VARCHAR), ''))) AS coordinates,
                count(topic) AS from_kafka
         FROM b",
    )
    .await;
    assert_eq!(bronze[0]["n"].as_u64(), Some(2 * count), "{bronze:?}");
    assert_eq!(
        bronze[0]["coordinates"].as_u64(),
        Some(2 * count),
        "no record twice"
    );
    assert_eq!(bronze[0]["from_kafka"].as_u64(), Some(count));
    assert_layers(&lake, &expected).await;
    u.cleanup().await;
}
