//! The `land` task: JSON-lines files and a real Kafka-protocol broker (tansu) into a real
//! bronze Delta table, exactly once — re-runs add nothing, new data is picked up, and a
//! `kill -9` at any moment loses nothing and duplicates nothing.

use crate::support::{Backend, Broker, Updraft, generate_tweets, query_delta, text};
use std::path::Path;
use std::time::Duration;
use updraft_generate::RecordSource;

fn land_dag(u: &Updraft, source: &str, batch_size: usize) {
    u.write_dag(
        "land.yaml",
        &format!(
            r#"
dag_id: land
params: {{ source: "{source}" }}
tasks:
  land:
    type: land
    with:
      source: "{{{{ params.source }}}}"
      table: "{}/lake/bronze/tweets"
      batch_size: {batch_size}
"#,
            u.dir.path().display()
        ),
    );
}

fn bronze(u: &Updraft) -> std::path::PathBuf {
    u.dir.path().join("lake/bronze/tweets")
}

async fn one_number(u: &Updraft, sql: &str) -> i64 {
    let rows = query_delta(&[("bronze", &bronze(u))], sql).await;
    rows[0]["n"].as_i64().unwrap_or_else(|| panic!("{rows:?}"))
}

fn generate(u: &Updraft, count: u64, to: &str, seed: u64) {
    generate_tweets(u, count, to, seed, &["--bad-ratio", "0.05"]);
}

fn lines_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_land_once_and_new_files_are_picked_up() {
    let u = Updraft::new(Backend::Sqlite).await;
    let landing = u.dir.path().join("landing");
    let to = format!("file://{}", landing.display());
    generate(&u, 25_000, &to, 1);
    land_dag(&u, &to, 4_000);
    let out = u.run(&["dag", "trigger", "land", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await,
        25_000
    );
    assert_eq!(
        one_number(
            &u,
            "SELECT COUNT(DISTINCT concat(file, ':', CAST(line AS VARCHAR))) AS n FROM bronze"
        )
        .await,
        25_000
    );
    // Every raw line is there verbatim, as often as in the files (the generator repeats
    // some records, as at-least-once producers do); bad ones included.
    let all: Vec<String> = std::fs::read_dir(&landing)
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    for sample in [&all[0], &all[12_345], &all[24_999]] {
        let expected = all.iter().filter(|l| *l == sample).count() as i64;
        let quoted = sample.replace('\'', "''");
        assert_eq!(
            one_number(
                &u,
                &format!("SELECT COUNT(*) AS n FROM bronze WHERE value = '{quoted}'")
            )
            .await,
            expected
        );
    }

    let out = u.run(&["dag", "trigger", "land", "--run-id", "r2"]);
    assert!(out.status.success());
    assert_eq!(
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await,
        25_000,
        "a re-run lands nothing twice"
    );
    let store = u.store().await;
    let r2 = store.tries("land", "r2", None).await.unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&r2[0].metrics).unwrap();
    assert_eq!(metrics["records"], 0);

    generate(&u, 7_000, &to, 2);
    let out = u.run(&["dag", "trigger", "land", "--run-id", "r3"]);
    assert!(out.status.success());
    assert_eq!(
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await as usize,
        lines_in(&landing)
    );
    assert_eq!(lines_in(&landing), 32_000);
    u.cleanup().await;
}

/// Topic offsets per partition, read back from bronze, must be exactly 0..end with no
/// gap and no repeat, and the values must be exactly the generated ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_landing_is_exactly_once_under_kill_9() {
    let broker = Broker::start();
    let u = Updraft::new(Backend::Sqlite).await;
    let to = format!("kafka://{}/tweets", broker.bootstrap);
    let total: i64 = 60_000;
    generate(&u, total as u64, &to, 7);
    land_dag(&u, &to, 1_500);
    // Kill the lander three times at different points in its work, then let it finish.
    u.kill_after_commits(
        &["dag", "trigger", "land"],
        &bronze(&u).join("_delta_log"),
        &[2, 9, 17],
        Duration::from_millis(7),
        Duration::from_secs(120),
    );
    let out = u.run(&["dag", "trigger", "land", "--run-id", "final"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (rows, distinct) = (
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await,
        one_number(&u, "SELECT COUNT(DISTINCT concat(CAST(partition AS VARCHAR), ':', CAST(\"offset\" AS VARCHAR))) AS n FROM bronze").await,
    );
    assert_eq!((rows, distinct), (total, total), "no loss, no duplicate");
    let per_partition = query_delta(
        &[("bronze", &bronze(&u))],
        "SELECT partition, MIN(\"offset\") AS lo, MAX(\"offset\") AS hi, COUNT(*) AS n FROM bronze GROUP BY partition ORDER BY partition",
    )
    .await;
    assert_eq!(per_partition.len(), 3, "{per_partition:?}");
    for p in &per_partition {
        assert_eq!(p["lo"], 0, "{p}");
        assert_eq!(
            p["hi"].as_i64().unwrap() + 1,
            p["n"].as_i64().unwrap(),
            "no gap: {p}"
        );
    }
    // The landed values are exactly the produced ones (same seed, same generator).
    let mut generator =
        updraft_generate::tweets::TweetGenerator::new(updraft_generate::tweets::GeneratorOptions {
            seed: 7,
            count: total as u64,
            start: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
            span: chrono::Duration::days(1),
            bad_ratio: 0.05,
            duplicate_ratio: 0.01,
            late_ratio: 0.02,
            users: 100_000,
        })
        .unwrap();
    let mut produced: Vec<String> = (0..total).map(|_| generator.next_record().1).collect();
    produced.sort();
    let landed = query_delta(
        &[("bronze", &bronze(&u))],
        "SELECT value FROM bronze ORDER BY value",
    )
    .await;
    let landed: Vec<String> = landed
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert!(
        landed == produced,
        "landed values differ from the produced ones"
    );
    // And a run with nothing new adds nothing.
    let out = u.run(&["dag", "trigger", "land", "--run-id", "idle"]);
    assert!(out.status.success());
    assert_eq!(
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await,
        total
    );
    u.cleanup().await;
}

/// A landing killed while inside each partition's last record batch: a broker may serve
/// nothing from inside a batch when no later batch exists (tansu 0.6), and the next run
/// still lands the rest, once, instead of waiting for records that never come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_landing_killed_inside_the_last_record_batch_lands_the_rest() {
    let broker = Broker::start();
    let u = Updraft::new(Backend::Sqlite).await;
    let to = format!("kafka://{}/tweets", broker.bootstrap);
    generate(&u, 3_000, &to, 11);
    land_dag(&u, &to, 1_000);
    let out = u.run(&["dag", "trigger", "land", "--run-id", "first"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // A burst small enough that the producer sends each partition's part in one batch,
    // landed a few records a commit so that the kill finds it inside.
    generate(&u, 60, &to, 12);
    land_dag(&u, &to, 3);
    let log = bronze(&u).join("_delta_log");
    let commits = std::fs::read_dir(&log).unwrap().count();
    u.kill_after_commits(
        &["dag", "trigger", "land"],
        &log,
        &[commits + 2],
        Duration::ZERO,
        Duration::from_secs(120),
    );
    let landed = one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await;
    assert!(
        (3_003..3_060).contains(&landed),
        "killed mid-burst: {landed}"
    );
    let out = u.run(&["dag", "trigger", "land", "--run-id", "final"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (rows, distinct) = (
        one_number(&u, "SELECT COUNT(*) AS n FROM bronze").await,
        one_number(&u, "SELECT COUNT(DISTINCT concat(CAST(partition AS VARCHAR), ':', CAST(\"offset\" AS VARCHAR))) AS n FROM bronze").await,
    );
    assert_eq!((rows, distinct), (3_060, 3_060), "no loss, no duplicate");
    u.cleanup().await;
}

/// Every data row of the CSV files in `dir`, read independently of Updraft: (file, line
/// the row starts on, header → value).
fn csv_rows(dir: &Path) -> Vec<(String, i64, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "csv") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header = reader.headers().unwrap().clone();
        for record in reader.records() {
            let record = record.unwrap();
            let line = record.position().unwrap().line() as i64;
            let object: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(record.iter())
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            out.push((name.clone(), line, object.into()));
        }
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

async fn bronze_rows(u: &Updraft) -> Vec<(String, i64, serde_json::Value)> {
    let rows = query_delta(
        &[("bronze", &bronze(u))],
        "SELECT file, line, value FROM bronze ORDER BY file, line",
    )
    .await;
    rows.iter()
        .map(|r| {
            let value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_i64().unwrap(),
                value,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_rows_land_once_as_json_with_their_file_and_line() {
    let u = Updraft::new(Backend::Sqlite).await;
    let landing = u.dir.path().join("landing");
    let to = format!("file://{}", landing.display());
    let books = |count: &str, seed: &str| {
        let args = [
            "generate",
            "books",
            "--count",
            count,
            "--seed",
            seed,
            "--bad-ratio",
            "0.2",
            "--to",
            &to,
        ];
        let out = u.run(&args);
        assert!(out.status.success(), "{:?}", text(&out));
    };
    books("2500", "1");
    land_dag(&u, &to, 1_000);
    let out = u.run(&["dag", "trigger", "land", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let expected = csv_rows(&landing);
    assert_eq!(expected.len(), 2_500);
    assert!(
        expected
            .iter()
            .any(|(_, _, v)| v["Name"].as_str().is_some_and(|n| n.contains(','))),
        "quoted commas are in the sample"
    );
    assert_eq!(bronze_rows(&u).await, expected);

    // Again: nothing new lands. Then a second file: only its rows land.
    let out = u.run(&["dag", "trigger", "land", "--run-id", "r2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(bronze_rows(&u).await.len(), 2_500);
    books("700", "2");
    let out = u.run(&["dag", "trigger", "land", "--run-id", "r3"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let expected = csv_rows(&landing);
    assert_eq!(expected.len(), 3_200);
    assert_eq!(bronze_rows(&u).await, expected);
    u.cleanup().await;
}

/// `updraft produce` sends each CSV row as a JSON object, keyed by a column; `land` from
/// the topic gets the same objects the CSV holds, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_csv_rows_land_from_kafka_as_the_same_objects() {
    let broker = Broker::start();
    let u = Updraft::new(Backend::Sqlite).await;
    let landing = u.dir.path().join("landing");
    let out = u.run(&[
        "generate",
        "books",
        "--count",
        "1200",
        "--seed",
        "3",
        "--bad-ratio",
        "0.2",
        "--to",
        &format!("file://{}", landing.display()),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let file = std::fs::read_dir(&landing)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let to = format!("kafka://{}/books", broker.bootstrap);
    let file_arg = file.display().to_string();
    let out = u.run(&[
        "-o", "json", "produce", &file_arg, "--to", &to, "--key", "Author",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["messages"], 1200);

    land_dag(&u, &to, 500);
    let out = u.run(&["dag", "trigger", "land", "--run-id", "k1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let rows = query_delta(
        &[("bronze", &bronze(&u))],
        "SELECT key, value FROM bronze ORDER BY \"partition\", \"offset\"",
    )
    .await;
    let mut landed: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let value: serde_json::Value =
                serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
            assert_eq!(r["key"], value["Author"], "keyed by the Author column");
            value
        })
        .collect();
    let mut sent: Vec<serde_json::Value> =
        csv_rows(&landing).into_iter().map(|(_, _, v)| v).collect();
    let order = |v: &serde_json::Value| v.to_string();
    landed.sort_by_key(order);
    sent.sort_by_key(order);
    assert_eq!(landed, sent);

    // A second land finds nothing new; a wrong key column is the user's mistake.
    let out = u.run(&["dag", "trigger", "land", "--run-id", "k2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        one_number(&u, "SELECT count(*) AS n FROM bronze").await,
        1200
    );
    let out = u.run(&["produce", &file_arg, "--to", &to, "--key", "Isbn"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out).1.contains("no such column"), "{:?}", text(&out));
    u.cleanup().await;
}
