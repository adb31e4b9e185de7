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
