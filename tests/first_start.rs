//! A new user's first `updraft standalone`: the shipped DAGs on an empty lake, nothing
//! generated yet. It says where the UI is and which DAG runs when, and every run it makes
//! succeeds — a landing folder that does not exist yet is "nothing has landed", not an
//! error — until each interval DAG has run at least twice.

use crate::support::{Backend, Updraft, WebServer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The shipped DAGs that run on an interval, and those on a cron schedule (which run
/// once, for their latest interval, when the scheduler first sees them).
const INTERVAL_DAGS: &[&str] = &["iot_sensors", "user_events_realtime"];
const CRON_DAGS: &[&str] = &[
    "books_warehouse",
    "example_etl",
    "lakehouse_bronze_to_gold",
    "user_events_bronze_to_gold",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_standalone_on_the_shipped_dags_is_all_green() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    assert!(!lake.exists(), "the lake starts empty");
    let server = WebServer::start(&u, "standalone", &[]);
    let store = u.store().await;

    // iot_sensors runs every 5 minutes: its second run is due within 5 minutes.
    let deadline = Instant::now() + Duration::from_secs(7 * 60);
    let finished = loop {
        let mut finished: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for dag in INTERVAL_DAGS.iter().chain(CRON_DAGS) {
            let runs = store.runs(dag, None, 100).await.expect("runs");
            finished.insert(
                dag,
                runs.iter()
                    .filter(|r| !r.is_active())
                    .map(|r| format!("{}: {}", r.run_id, r.state))
                    .collect(),
            );
        }
        let done = INTERVAL_DAGS.iter().all(|d| finished[d].len() >= 2)
            && CRON_DAGS.iter().all(|d| !finished[d].is_empty());
        if done {
            break finished;
        }
        assert!(
            Instant::now() < deadline,
            "not every DAG ran in time: {finished:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    for (dag, runs) in &finished {
        for run in runs {
            assert!(run.ends_with(": success"), "{dag} {run}: {finished:#?}");
        }
    }
    assert!(server.stop().success());

    // What standalone said when it started.
    let said = std::fs::read_to_string(u.dir.path().join("standalone.log")).expect("log");
    assert!(said.contains("web server   http://127.0.0.1:"), "{said}");
    assert!(
        said.contains("dags_paused_at_creation = false"),
        "says whether new DAGs start paused: {said}"
    );
    for dag in INTERVAL_DAGS.iter().chain(CRON_DAGS) {
        let line = said
            .lines()
            .find(|l| l.trim_start().starts_with(dag))
            .unwrap_or_else(|| panic!("no line for {dag}: {said}"));
        assert!(line.contains("next run"), "{line}");
    }
    assert!(
        said.lines()
            .any(|l| l.contains("example_retries") && l.contains("runs when triggered")),
        "{said}"
    );
    u.cleanup().await;
}

/// `UPDRAFT_DAGS_PAUSED_AT_CREATION=true`: a DAG file seen for the first time starts
/// paused (and its triggered runs wait); a DAG already known keeps its flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_dags_can_start_paused() {
    let u = Updraft::new(Backend::Sqlite).await;
    let hello = "dag_id: hello\ntasks:\n  hi: { type: shell, with: { command: 'echo hi' } }\n";
    u.write_dag("hello.yaml", hello);
    let listed = |paused_at_creation: &str| {
        let out = u
            .command(&["dag", "list", "-o", "json"])
            .env("UPDRAFT_DAGS_PAUSED_AT_CREATION", paused_at_creation)
            .output()
            .expect("dag list");
        assert!(out.status.success(), "{:?}", crate::support::text(&out));
        let dags: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        dags.as_array()
            .expect("dags")
            .iter()
            .map(|d| {
                (
                    d["dag_id"].as_str().unwrap_or("").to_string(),
                    d["is_paused"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed("false"),
        [("hello".into(), serde_json::json!(false))]
    );
    u.write_dag("later.yaml", &hello.replace("hello", "later"));
    assert_eq!(
        listed("true"),
        [
            ("hello".into(), serde_json::json!(false)),
            ("later".into(), serde_json::json!(true)),
        ]
    );
    let out = u
        .command(&["dag", "trigger", "later"])
        .env("UPDRAFT_DAGS_PAUSED_AT_CREATION", "true")
        .output()
        .expect("trigger");
    assert!(out.status.success(), "{:?}", crate::support::text(&out));
    let store = u.store().await;
    let runs = store.runs("later", None, 10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, "queued", "a paused DAG's run waits");
    let out = u
        .command(&["dag", "list"])
        .env("UPDRAFT_DAGS_PAUSED_AT_CREATION", "sometimes")
        .output()
        .expect("dag list");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::support::text(&out)
            .1
            .contains("UPDRAFT_DAGS_PAUSED_AT_CREATION `sometimes`: use true or false"),
        "{:?}",
        crate::support::text(&out)
    );
    u.cleanup().await;
}
