//! Failures as a person meets them: unreachable services named within seconds, errors
//! that no retry can fix failing at once, unknown names refused, and messages free of
//! Rust internals.

use crate::support::{Backend, Updraft, text};
use std::time::{Duration, Instant};

/// Runs the binary and says how long it took.
fn timed(u: &Updraft, args: &[&str]) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = u.run(args);
    (out, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_services_are_named_within_seconds() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    u.write_dag(
        "from_kafka.yaml",
        "dag_id: from_kafka\ntasks:\n  land:\n    type: land\n    retries: 0\n    with: {source: 'kafka://127.0.0.1:1/tweets', table: '{{ lake }}/bronze/t'}\n",
    );
    // Nothing listens on port 1: the broker refuses.
    let (out, took) = timed(&u, &["dag", "trigger", "from_kafka", "--run-id", "r"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let store = u.store().await;
    let tries = store.tries("from_kafka", "r", None).await.unwrap();
    let error = tries[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("cannot reach the Kafka broker at 127.0.0.1:1"),
        "{error}"
    );

    // A history database that refuses: said at once, and what does not need it works.
    u.env.push((
        "UPDRAFT_DATABASE_URL".into(),
        "postgres://updraft@127.0.0.1:1/nowhere".into(),
    ));
    let (out, took) = timed(&u, &["dag", "runs", "from_kafka"]);
    let err = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
    let out = u.run(&["dag", "list"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("from_kafka"));
    assert!(
        text(&out).1.contains("connection refused"),
        "{:?}",
        text(&out)
    );
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_retry_can_fix_fails_at_once_and_is_explained() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    u.write_dag(
        "two.yaml",
        r#"dag_id: two
default_args: {retries: 2, retry_delay: 1m}
tasks:
  one:
    type: delta_sql
    with: {tables: {}, query: "SELECT 1 AS x", table: "{{ lake }}/gold/one", mode: overwrite}
  two:
    type: delta_sql
    depends_on: [one]
    with: {tables: {one: "{{ lake }}/gold/one"}, query: "SELECT x FROM one", table: "{{ lake }}/gold/two", mode: overwrite}
"#,
    );
    let out = u.run(&["dag", "trigger", "two", "--run-id", "first"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // A corrupt commit log cannot be fixed by trying again: one try, no retry delay.
    std::fs::write(
        lake.join("gold/one/_delta_log/00000000000000000000.json"),
        "{this is not a commit\n",
    )
    .unwrap();
    let (out, took) = timed(&u, &["dag", "trigger", "two", "--run-id", "corrupt"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(took < Duration::from_secs(30), "retried: took {took:?}");
    let store = u.store().await;
    let one = store
        .task_instances("two", "corrupt")
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.task_id == "one")
        .unwrap();
    assert_eq!((one.state.stored(), one.try_number), (Some("failed"), 1));

    // `lake tables` lists what it can read and says what it cannot.
    let out = u.run(&["lake", "tables", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let tables: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |name: &str| {
        tables
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {tables}"))
    };
    assert_eq!(by_name("gold.two")["rows"], 1);
    assert!(by_name("gold.one")["error"].is_string(), "{tables}");

    // Queries: a syntax error reads as one, and the lake is not changed from here.
    let out = u.run(&["lake", "query", "SELEC x FROM gold.two"]);
    let err = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SQL syntax error"), "{err}");
    assert!(!err.contains("ParserError("), "{err}");
    let out = u.run(&["lake", "query", "DROP TABLE gold.two"]);
    let err = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("only queries that read"), "{err}");
    assert!(lake.join("gold/two/_delta_log").is_dir());

    // An unknown DAG is a typo, not an empty history.
    let out = u.run(&["dag", "runs", "nosuchdag"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("no DAG `nosuchdag`"));
    u.cleanup().await;
}

/// SQL that PostgreSQL rejects fails on the first try, with the server's message and
/// code, the position in the statement, and no server source line taken for the user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_sql_fails_at_once_with_the_servers_words() {
    let mut u = Updraft::new(Backend::Postgres).await;
    u.env
        .push(("UPDRAFT_CONN_WH".into(), u.database_url.clone()));
    u.write_dag(
        "bad_sql.yaml",
        "dag_id: bad_sql\ntasks:\n  q: {type: sql, retries: 3, retry_delay: 1m, with: {conn: wh, sql: 'selec 1'}}\n",
    );
    let out = u.run(&["dag", "trigger", "bad_sql", "--run-id", "r"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let store = u.store().await;
    let tries = store.tries("bad_sql", "r", None).await.unwrap();
    assert_eq!(tries.len(), 1, "retried: {tries:?}");
    let error = tries[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("syntax error at or near \"selec\""),
        "{error}"
    );
    assert!(error.contains("SQLSTATE 42601"), "{error}");
    assert!(error.contains("at character 1 of the statement"), "{error}");
    assert!(!error.contains(" at line "), "{error}");
    u.cleanup().await;
}
