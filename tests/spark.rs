//! Spark over Spark Connect against a real local Spark Connect server: `delta_sql` with
//! `engine: spark` (Spark computes, Updraft commits the Delta log) equal to DataFusion's
//! tables, read back by an independent reader; `spark_sql`; interrupting, a server that
//! does not answer, masked tokens, and exactly-once commits under kill -9.

use crate::support::{Backend, Updraft, python_delta_rows, spark_url, text};
use serde_json::{Value, json};
use std::path::Path;

/// An installation whose `spark` connection is the test server.
async fn with_spark() -> Updraft {
    let mut u = Updraft::new(Backend::Sqlite).await;
    u.env.push(("UPDRAFT_CONN_SPARK".into(), spark_url()));
    u
}

fn task(u: &Updraft, dag: &str, task: &str) -> (String, String) {
    let out = u.run(&["task", "test", dag, task, "--logical-date", "2026-01-01"]);
    let shown = text(&out);
    assert!(out.status.success(), "{task}: {shown:?}");
    shown
}

/// The commit files of a Delta table's log.
fn commits(table: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(table.join("_delta_log"))
        .expect("log")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("commit");
            Value::Array(
                text.lines()
                    .map(|l| serde_json::from_str(l).expect("action"))
                    .collect(),
            )
        })
        .collect()
}

/// A partition value with a space, one with a slash and a null, and UTC timestamps,
/// written by Spark and committed by Updraft, read back by Python's `deltalake` and by
/// Spark again (from the files, through their folders) unchanged; the table stays a
/// plain `timestamp` table (no `timestampNtz` feature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_values_and_timestamps_round_trip() {
    let u = with_spark().await;
    let lake = u.dir.path().join("lake");
    u.write_dag(
        "trip.yaml",
        &format!(
            r#"
dag_id: trip
tasks:
  write:
    type: delta_sql
    with:
      engine: spark
      query: |
        SELECT * FROM VALUES
          (1, 'a b', TIMESTAMP '2026-01-01 10:00:00.123456'),
          (2, 'x/y', TIMESTAMP '2026-01-02 00:00:00'),
          (3, NULL, TIMESTAMP '2026-01-02 23:59:59.999999'),
          (4, 'p%q=r', TIMESTAMP '2026-01-03 00:00:00')
          AS t(id, city, at)
      table: "{lake}/trip"
      mode: overwrite
      partition_by: [city]
  copy:
    type: delta_sql
    with:
      engine: spark
      tables: {{trip: "{lake}/trip"}}
      query: "SELECT id, city, at FROM trip"
      table: "{lake}/copy"
      mode: overwrite
"#,
            lake = lake.display()
        ),
    );
    let (log, _) = task(&u, "trip", "write");
    assert!(log.contains("spark operation"), "{log}");
    let expected = json!([
        {"at": "2026-01-01T10:00:00.123456+00:00", "city": "a b", "id": 1},
        {"at": "2026-01-02T00:00:00+00:00", "city": "x/y", "id": 2},
        {"at": "2026-01-02T23:59:59.999999+00:00", "city": null, "id": 3},
        {"at": "2026-01-03T00:00:00+00:00", "city": "p%q=r", "id": 4},
    ]);
    let (rows, schema) = python_delta_rows(&lake.join("trip"));
    assert_eq!(Value::Array(rows), expected);
    assert!(
        schema.contains(&"at: timestamp[us, tz=UTC]".to_string()),
        "{schema:?}"
    );
    let log = commits(&lake.join("trip"));
    assert_eq!(log.len(), 1, "one commit: {log:?}");
    let protocol = log[0]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.get("protocol"))
        .expect("protocol");
    assert!(!protocol.to_string().contains("timestampNtz"), "{protocol}");
    // Each add action carries statistics from the file's footer.
    for add in log[0]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.get("add"))
    {
        let stats: Value = serde_json::from_str(add["stats"].as_str().expect("stats")).unwrap();
        assert_eq!(stats["numRecords"], 1, "{add}");
        assert!(stats["minValues"]["id"].is_number(), "{add}");
    }

    task(&u, "trip", "copy");
    let (copied, _) = python_delta_rows(&lake.join("copy"));
    assert_eq!(
        Value::Array(copied),
        expected,
        "Spark read the same rows back"
    );
    // Overwriting again replaces every file in one commit.
    task(&u, "trip", "write");
    let (rows, _) = python_delta_rows(&lake.join("trip"));
    assert_eq!(Value::Array(rows), expected);
    assert_eq!(commits(&lake.join("trip")).len(), 2);
    u.cleanup().await;
}

/// `spark_sql` sends SQL as written: it writes plain Parquet and hands on the last
/// statement's first row; the connection's token never shows in the log, the history or
/// `conn list`, and `conn check` says what the server is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_sql_on_parquet_with_outputs_and_a_masked_token() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let token = "sekret-token-4711";
    u.env.push((
        "UPDRAFT_CONN_SPARK".into(),
        format!("{}/;token={token};user_id=etl", spark_url()),
    ));
    let parquet = u.dir.path().join("numbers");
    u.write_dag(
        "plain.yaml",
        &format!(
            r#"
dag_id: plain
tasks:
  numbers:
    type: spark_sql
    with:
      sql:
        - "INSERT OVERWRITE DIRECTORY '{dir}' USING parquet SELECT id, id * 2 AS twice FROM range(10)"
        - "SELECT count(*) AS n, sum(twice) AS total FROM parquet.`{dir}`"
      output: first_row
"#,
            dir = parquet.display()
        ),
    );
    let out = u.run(&["dag", "trigger", "plain", "--run-id", "r1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let outputs = u.run(&["task", "outputs", "plain", "r1", "numbers", "-o", "json"]);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).expect("json");
    assert_eq!(outputs["n"], 10, "{outputs}");
    assert_eq!(outputs["total"], 90, "{outputs}");
    assert!(
        std::fs::read_dir(&parquet)
            .expect("the Parquet folder")
            .any(|f| f
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet"))
    );
    let log = u.run(&["task", "logs", "plain", "r1", "numbers"]);
    let (log, _) = text(&log);
    assert!(
        log.contains("spark operation") && log.contains("INSERT OVERWRITE"),
        "{log}"
    );
    let listed = u.run(&["conn", "list"]);
    let checked = u.run(&["conn", "check", "spark", "-o", "json"]);
    let check: Value = serde_json::from_slice(&checked.stdout).expect("json");
    assert_eq!(check["answers"], true, "{check}");
    assert!(
        check["server"]
            .as_str()
            .unwrap_or_default()
            .contains("Spark 4."),
        "{check}"
    );
    for shown in [stdout, stderr, log, text(&listed).0, check.to_string()] {
        assert!(!shown.contains(token), "the token leaked: {shown}");
    }
    assert!(text(&listed).0.contains("token=***"), "{:?}", text(&listed));
    u.cleanup().await;
}

/// A Spark error in the SQL fails at once, without retries, naming Spark's error class
/// and SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_the_sql_is_not_retried() {
    let u = with_spark().await;
    u.write_dag(
        "wrong.yaml",
        r#"
dag_id: wrong
default_args: {retries: 3, retry_delay: 1s}
tasks:
  wrong:
    type: spark_sql
    with:
      sql: "SELECT no_such_column FROM range(3)"
"#,
    );
    let out = u.run(&["dag", "trigger", "wrong", "--run-id", "r1"]);
    assert!(!out.status.success());
    let states = u.run(&["task", "states", "wrong", "r1", "-o", "json"]);
    let states: Value = serde_json::from_slice(&states.stdout).expect("json");
    let state = &states[0];
    assert_eq!(state["state"], "failed", "{state}");
    assert_eq!(state["try_number"], 1, "not retried: {state}");
    let error = state["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("UNRESOLVED_COLUMN") && error.contains("42703"),
        "{error}"
    );
    u.cleanup().await;
}

/// A server that accepts connections but never answers fails the attempt within 10 s
/// as retryable (the client's own retries would wait for minutes); so does `conn check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_fails_within_10_seconds() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("addr").port();
    // Accept and hold connections, saying nothing.
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in silent.incoming().take(8) {
            kept.push(stream);
        }
    });
    let mut u = Updraft::new(Backend::Sqlite).await;
    u.env.push((
        "UPDRAFT_CONN_SPARK".into(),
        format!("sc://127.0.0.1:{port}"),
    ));
    u.write_dag(
        "silent.yaml",
        r#"
dag_id: silent
tasks:
  ask:
    type: spark_sql
    with:
      sql: "SELECT 1"
"#,
    );
    let started = std::time::Instant::now();
    let out = u.run(&[
        "task",
        "test",
        "silent",
        "ask",
        "--logical-date",
        "2026-01-01",
    ]);
    let took = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(took < std::time::Duration::from_secs(14), "took {took:?}");
    assert!(
        stdout.contains("does not answer within 10 s"),
        "{stdout}{stderr}"
    );
    let started = std::time::Instant::now();
    let checked = u.run(&["conn", "check", "spark", "-o", "json"]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(14));
    let check: Value = serde_json::from_slice(&checked.stdout).expect("json");
    assert_eq!(check["answers"], false, "{check}");
    drop(held);
    u.cleanup().await;
}

/// The Spark jobs the test server runs now (its status API).
fn running_spark_jobs() -> usize {
    let ui = std::env::var("UPDRAFT_TEST_SPARK_UI").expect("UPDRAFT_TEST_SPARK_UI");
    let get = |path: &str| -> Value {
        let out = std::process::Command::new("curl")
            .args(["-sf", &format!("{ui}{path}")])
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let apps = get("/api/v1/applications");
    let app = apps[0]["id"].as_str().expect("application id").to_string();
    get(&format!("/api/v1/applications/{app}/jobs?status=running"))
        .as_array()
        .map_or(0, Vec::len)
}

/// `execution_timeout` stops a slow Spark query on the server: its job is interrupted
/// (the server's status shows nothing running), not left to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_interrupts_the_query_on_the_server() {
    let u = with_spark().await;
    u.write_dag(
        "slow.yaml",
        r#"
dag_id: slow
tasks:
  slow:
    type: spark_sql
    execution_timeout: 4s
    with:
      sql: "SELECT count(*) FROM range(0, 100000000000, 1, 2) a WHERE sha2(CAST(id AS STRING), 256) = 'x'"
"#,
    );
    let started = std::time::Instant::now();
    let out = u.run(&[
        "task",
        "test",
        "slow",
        "slow",
        "--logical-date",
        "2026-01-01",
    ]);
    let (stdout, _) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        stdout.contains("execution_timeout of 4s exceeded"),
        "{stdout}"
    );
    assert!(stdout.contains("interrupted 1 spark operation"), "{stdout}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running_spark_jobs() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a Spark job still runs after the interrupt"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    u.cleanup().await;
}

const GOLD: [&str; 4] = [
    "popular_hashtags_by_hour",
    "active_users_by_day",
    "tweet_volume_by_region",
    "tweet_metrics_by_language",
];

/// Fails unless the two tables hold the same rows, floating-point values equal to a
/// relative 1e-9 (DataFusion and Spark sum doubles in different orders).
fn assert_same_rows(what: &str, mut actual: Vec<Value>, mut expected: Vec<Value>) {
    // Rows sorted by their exact values, the floats left out.
    let key = |row: &Value| -> String {
        row.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| !v.is_f64())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    actual.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(actual.len(), expected.len(), "{what}: row counts");
    for (a, e) in actual.iter().zip(&expected) {
        let (a, e) = (a.as_object().expect("row"), e.as_object().expect("row"));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            e.keys().collect::<Vec<_>>(),
            "{what}"
        );
        for (column, value) in a {
            let other = &e[column];
            match (value.as_f64(), other.as_f64()) {
                (Some(x), Some(y)) if value.is_f64() || other.is_f64() => assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                    "{what}: {column} {x} != {y} in {a:?} / {e:?}"
                ),
                _ => assert_eq!(value, other, "{what}: {column} in {a:?} / {e:?}"),
            }
        }
    }
}

/// The data files of each partition (`event_date`) of a gold table, by the Delta log.
fn files_by_date(table: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut live = std::collections::BTreeMap::<String, (String, bool)>::new();
    for commit in commits(table) {
        for action in commit.as_array().expect("actions") {
            if let Some(add) = action.get("add") {
                let date = add["partitionValues"]["event_date"]
                    .as_str()
                    .unwrap_or("null");
                live.insert(
                    add["path"].as_str().expect("path").into(),
                    (date.into(), true),
                );
            }
            if let Some(remove) = action.get("remove") {
                live.remove(remove["path"].as_str().expect("path"));
            }
        }
    }
    let mut by_date = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (path, (date, _)) in live {
        by_date.entry(date).or_default().push(path);
    }
    by_date
}

fn generate(u: &Updraft, lake: &Path, count: u64, seed: u64, start: &str) {
    let to = format!("file://{}", lake.join("landing").display());
    let options = [
        "--start",
        start,
        "--days",
        "2",
        "--users",
        "300",
        "--bad-ratio",
        "0.02",
        "--late-ratio",
        "0",
    ];
    crate::support::generate_tweets(u, count, &to, seed, &options);
}

fn trigger(u: &Updraft, run_id: &str, extra: &[&str]) {
    let mut args = vec![
        "dag",
        "trigger",
        "lakehouse_bronze_to_gold",
        "--run-id",
        run_id,
    ];
    args.extend_from_slice(extra);
    let out = u.run(&args);
    assert!(out.status.success(), "{run_id}: {:?}", text(&out));
}

/// The shipped lakehouse DAG with `--conf '{"engine": "spark"}'` builds the gold tables
/// on Spark equal, row for row (read by Python's `deltalake`), to those DataFusion
/// builds from the same events; new events rebuild only the partitions they touch, on
/// Spark too, and the Spark operations are in the task's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lakehouse_gold_on_spark_equals_datafusion() {
    let mut here = Updraft::new(Backend::Sqlite).await;
    let here_lake = here.use_shipped_dags();
    let mut there = with_spark().await;
    let there_lake = there.use_shipped_dags();
    let spark = ["--conf", r#"{"engine": "spark"}"#];
    for (u, lake) in [(&here, &here_lake), (&there, &there_lake)] {
        generate(u, lake, 4_000, 7, "2026-01-01T00:00:00Z");
    }
    trigger(&here, "first", &[]);
    trigger(&there, "first", &spark);
    let compare = |round: &str| {
        for table in GOLD {
            let (by_datafusion, schema_a) = python_delta_rows(&here_lake.join("gold").join(table));
            let (by_spark, schema_b) = python_delta_rows(&there_lake.join("gold").join(table));
            assert!(!by_spark.is_empty(), "{round}: {table} is empty");
            assert_eq!(schema_b, schema_a, "{round}: {table}'s columns");
            assert_same_rows(&format!("{round}: {table}"), by_spark, by_datafusion);
        }
    };
    compare("first run");
    let log = there.run(&[
        "task",
        "logs",
        "lakehouse_bronze_to_gold",
        "first",
        "gold_active_users_by_day",
    ]);
    let (log, _) = text(&log);
    assert!(
        log.contains("spark operation") && log.contains("writing the result"),
        "{log}"
    );

    let hashtags = there_lake.join("gold/popular_hashtags_by_hour");
    let before = files_by_date(&hashtags);
    for (u, lake) in [(&here, &here_lake), (&there, &there_lake)] {
        generate(u, lake, 1_000, 9, "2026-01-02T12:00:00Z");
    }
    trigger(&here, "second", &[]);
    trigger(&there, "second", &spark);
    compare("second run");
    // Only the days the new events fall on were rebuilt: the first day's files stay.
    let after = files_by_date(&hashtags);
    assert_eq!(
        after["2026-01-01"], before["2026-01-01"],
        "the untouched day keeps its files"
    );
    assert_ne!(
        after["2026-01-02"], before["2026-01-02"],
        "the touched day was rebuilt"
    );
    assert!(after.contains_key("2026-01-03"), "{after:?}");
    here.cleanup().await;
    there.cleanup().await;
}

/// The staging folders in a table's root.
fn staging_folders(table: &Path) -> Vec<String> {
    std::fs::read_dir(table)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("spark-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `updraft ARGS` and kill -9s it as soon as `ready` holds (or lets it end).
fn kill_when(u: &Updraft, args: &[&str], ready: impl Fn() -> bool) {
    let mut child = u
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start updraft");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready() && child.try_wait().expect("wait").is_none() {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// kill -9 of Updraft once Spark has written its files (before the commit) and once the
/// commit is in the log (before the history records it): the rebuilt partition is
/// committed exactly once, the table never shows a partial write, and the staging folder
/// the killed attempt left is removed by `delta_maintenance`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_exactly_once_under_kill_9() {
    let u = with_spark().await;
    let lake = u.dir.path().join("lake");
    let seed = |day: &str| {
        format!(
            "    type: delta_sql\n    with: {{query: \"SELECT DATE '{day}' AS day, value AS v FROM range(1000)\", table: \"{}/src\", mode: append, partition_by: [day]}}\n",
            lake.display()
        )
    };
    u.write_dag(
        "seed.yaml",
        &format!(
            "dag_id: seed\ntasks:\n  day1:\n{}  day2:\n{}",
            seed("2026-01-01"),
            seed("2026-01-02")
        ),
    );
    u.write_dag(
        "once.yaml",
        &format!(
            r#"
dag_id: once
tasks:
  agg:
    type: delta_sql
    with:
      engine: spark
      tables: {{src: "{lake}/src"}}
      query: "SELECT day, count(*) AS n, sum(v) AS total FROM src GROUP BY day"
      table: "{lake}/agg"
      mode: overwrite_partitions
      partitions_from: src
      partition_by: [day]
  maintain:
    type: delta_maintenance
    depends_on: [agg]
    with: {{table: "{lake}/agg", optimize: false, retention: 0s}}
"#,
            lake = lake.display()
        ),
    );
    let agg = lake.join("agg");
    task(&u, "seed", "day1");
    let out = u.run(&[
        "task",
        "test",
        "once",
        "agg",
        "--logical-date",
        "2026-01-01",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(commits(&agg).len(), 1);
    task(&u, "seed", "day2");

    // Spark's write is complete (its _SUCCESS marker), the commit not yet made.
    let folders_before = staging_folders(&agg);
    kill_when(&u, &["dag", "trigger", "once", "--run-id", "k1"], || {
        staging_folders(&agg)
            .iter()
            .filter(|f| !folders_before.contains(f))
            .any(|f| agg.join(f).join("_SUCCESS").exists())
    });
    let committed_by_k1 = commits(&agg).len() - 1;
    // Killed before its commit (as it nearly always is), k1 left its files staged.
    let abandoned: Vec<String> = staging_folders(&agg)
        .into_iter()
        .filter(|f| !folders_before.contains(f) && committed_by_k1 == 0)
        .collect();
    // The commit is in the log, the history has not recorded it.
    kill_when(&u, &["dag", "trigger", "once", "--run-id", "k2"], || {
        commits(&agg).len() > 1
    });
    let out = u.run(&["dag", "trigger", "once", "--run-id", "final"]);
    assert!(out.status.success(), "{:?}", text(&out));

    assert_eq!(
        commits(&agg).len(),
        2,
        "exactly one commit rebuilt the second day (k1 committed: {committed_by_k1})"
    );
    let (rows, _) = python_delta_rows(&agg);
    assert_eq!(
        Value::Array(rows),
        json!([
            {"day": "2026-01-01", "n": 1000, "total": 499500},
            {"day": "2026-01-02", "n": 1000, "total": 499500},
        ])
    );
    // What a killed attempt staged and never committed is gone (`maintain` ran in the
    // final run, retention 0s); what the table uses stays.
    let used: Vec<String> = files_by_day(&agg);
    for folder in &abandoned {
        assert!(!agg.join(folder).exists(), "{folder} was left");
    }
    for folder in staging_folders(&agg) {
        assert!(
            used.iter().any(|p| p.starts_with(&format!("{folder}/"))),
            "{folder} is left though no commit took it ({used:?})"
        );
    }
    u.cleanup().await;
}

/// The data files the table uses now, by the Delta log.
fn files_by_day(table: &Path) -> Vec<String> {
    let mut live = std::collections::BTreeSet::new();
    for commit in commits(table) {
        for action in commit.as_array().expect("actions") {
            if let Some(add) = action.get("add") {
                live.insert(add["path"].as_str().expect("path").to_string());
            }
            if let Some(remove) = action.get("remove") {
                live.remove(remove["path"].as_str().expect("path"));
            }
        }
    }
    live.into_iter().collect()
}

/// `merge` on Spark: Spark computes the rows, delta-rs merges them on the keys. An
/// `append` adds a run's rows once: clearing the run (its try 2) appends nothing, a new
/// run appends again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_an_append_once_per_run_on_spark() {
    let u = with_spark().await;
    let lake = u.dir.path().join("lake");
    u.write_dag(
        "people.yaml",
        &format!(
            r#"
dag_id: people
tasks:
  base:
    type: delta_sql
    with:
      engine: spark
      query: "SELECT * FROM VALUES (1, 'a', TIMESTAMP '2026-01-01 00:00:00'), (2, 'b', TIMESTAMP '2026-01-01 00:00:00') AS t(id, name, at)"
      table: "{lake}/people"
      mode: overwrite
  upsert:
    type: delta_sql
    depends_on: [base]
    with:
      engine: spark
      query: "SELECT * FROM VALUES (2, 'B', TIMESTAMP '2026-01-02 00:00:00'), (3, 'c', TIMESTAMP '2026-01-02 00:00:00') AS t(id, name, at)"
      table: "{lake}/people"
      mode: merge
      merge_on: [id]
  record:
    type: delta_sql
    with:
      engine: spark
      query: "SELECT '{{{{ run_id }}}}' AS run"
      table: "{lake}/runs"
      mode: append
"#,
            lake = lake.display()
        ),
    );
    let out = u.run(&["dag", "trigger", "people", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (people, _) = python_delta_rows(&lake.join("people"));
    assert_eq!(
        Value::Array(people),
        json!([
            {"at": "2026-01-01T00:00:00+00:00", "id": 1, "name": "a"},
            {"at": "2026-01-02T00:00:00+00:00", "id": 2, "name": "B"},
            {"at": "2026-01-02T00:00:00+00:00", "id": 3, "name": "c"},
        ])
    );
    assert!(
        staging_folders(&lake.join("people")).len() == 1,
        "merge leaves no staged files"
    );
    let out = u.run(&["task", "clear", "people", "r1", "--task", "^record$"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let log = u.run(&["task", "logs", "people", "r1", "record"]);
    assert!(
        text(&log).0.contains("try 1 of this run already appended"),
        "{:?}",
        text(&log)
    );
    let out = u.run(&["dag", "trigger", "people", "--run-id", "r2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (runs, _) = python_delta_rows(&lake.join("runs"));
    assert_eq!(Value::Array(runs), json!([{"run": "r1"}, {"run": "r2"}]));
    u.cleanup().await;
}
