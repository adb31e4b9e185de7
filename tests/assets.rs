//! Asset-triggered runs end to end: DAGs scheduled on the Delta tables other DAGs write
//! (`mode: all` and `any`, `per_partition`), events from outside through the CLI and the
//! API, and each run created once with two schedulers sharing PostgreSQL.

use crate::support::{Backend, Daemon, Updraft, WebServer, text, wait_for};
use serde_json::{Value, json};
use std::time::Duration;
use updraft::store::{DagRunRow, Store};

on_both_backends!(writes_trigger_the_dags_scheduled_on_them_once_each);

/// A DAG that appends one row per day in `conf.days` to the table `name`, partitioned by
/// day (`d`).
fn producer(name: &str) -> String {
    format!(
        r#"dag_id: make_{name}
tasks:
  write:
    type: delta_sql
    with:
      query: >-
        SELECT CAST(day AS DATE) AS d, 1 AS n
        FROM (SELECT unnest(string_to_array('{{{{ conf.days }}}}', ',')) AS day)
      table: "{{{{ lake }}}}/{name}"
      mode: append
      partition_by: [d]
"#
    )
}

/// A DAG scheduled on `schedule` that appends what it was triggered with to `out`.
fn consumer(dag_id: &str, schedule: &str, line: &str, out: &std::path::Path) -> String {
    format!(
        r#"dag_id: {dag_id}
schedule: {schedule}
tasks:
  note:
    type: shell
    with:
      command: echo "{line}" >> {}
"#,
        out.display()
    )
}

async fn runs_of(store: &Store, dag_id: &str) -> Vec<DagRunRow> {
    let mut runs = store.runs(dag_id, None, 1000).await.expect("runs");
    runs.sort_by_key(|r| r.logical_date);
    runs
}

/// Waits until `dag_id` has `count` runs, all successful.
async fn wait_for_runs(store: &Store, dag_id: &str, count: usize, daemons: &[&Daemon]) {
    wait_for(
        &format!("{count} successful run(s) of {dag_id}"),
        Duration::from_secs(40),
        daemons,
        move || async move {
            let runs = runs_of(store, dag_id).await;
            runs.len() == count && runs.iter().all(|r| r.state == "success")
        },
    )
    .await;
}

fn trigger(u: &Updraft, dag_id: &str, conf: Value) {
    let out = u.run(&[
        "dag",
        "trigger",
        dag_id,
        "--queue-only",
        "--conf",
        &conf.to_string(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
}

fn lines(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

async fn writes_trigger_the_dags_scheduled_on_them_once_each(u: &Updraft) {
    let lake = u.dir.path().join("lake");
    let out = |name: &str| u.dir.path().join(format!("{name}.txt"));
    u.write_dag("make_a.yaml", &producer("a"));
    u.write_dag("make_b.yaml", &producer("b"));
    let both = "{assets: ['{{ lake }}/a', 'delta://lake/b']}";
    let either = "{assets: ['{{ lake }}/a', 'delta://lake/b'], mode: any}";
    let per_day = "{assets: ['{{ lake }}/a'], per_partition: true}";
    u.write_dag(
        "on_all.yaml",
        &consumer(
            "on_all",
            both,
            "{{ triggering_asset_events | length }}",
            &out("all"),
        ),
    );
    u.write_dag(
        "on_any.yaml",
        &consumer(
            "on_any",
            either,
            "{{ triggering_asset_events | map(attribute='uri') | join(',') }}",
            &out("any"),
        ),
    );
    u.write_dag(
        "per_day.yaml",
        &consumer(
            "per_day",
            per_day,
            "{{ partition.d }} v{{ triggering_asset_events[0].version }} {{ triggering_asset_events[0].source_dag_id }}",
            &out("per_day"),
        ),
    );
    let env = [("UPDRAFT_LAKE", lake.to_str().unwrap())];
    // Two schedulers share PostgreSQL; SQLite takes one.
    let count = if u.on_postgres() { 2 } else { 1 };
    let daemons: Vec<Daemon> = (0..count)
        .map(|i| Daemon::start(u, &format!("scheduler{i}"), &env))
        .collect();
    let all: Vec<&Daemon> = daemons.iter().collect();
    let store = u.store().await;
    wait_for(
        "the DAGs scheduled on assets to be recorded",
        Duration::from_secs(20),
        &all,
        || async {
            store
                .scheduled_on_assets()
                .await
                .is_ok_and(|s| s.len() == 5)
        },
    )
    .await;

    // Two days into `a`: `any` runs once, per-day once per day, `all` waits for `b`.
    trigger(u, "make_a", json!({"days": "2026-01-01,2026-01-02"}));
    wait_for_runs(&store, "on_any", 1, &all).await;
    wait_for_runs(&store, "per_day", 2, &all).await;
    // Again one day: one more run each.
    trigger(u, "make_a", json!({"days": "2026-01-02"}));
    wait_for_runs(&store, "on_any", 2, &all).await;
    wait_for_runs(&store, "per_day", 3, &all).await;
    assert!(
        runs_of(&store, "on_all").await.is_empty(),
        "`all` ran without b"
    );
    assert_eq!(
        lines(&out("per_day")),
        [
            "2026-01-01 v0 make_a",
            "2026-01-02 v0 make_a",
            "2026-01-02 v1 make_a"
        ],
        "one run per partition touched, each with its event"
    );
    // `b` written: `all` runs once, for all three events (repeated `a` events collapse).
    trigger(u, "make_b", json!({"days": "2026-02-01"}));
    wait_for_runs(&store, "on_all", 1, &all).await;
    wait_for_runs(&store, "on_any", 3, &all).await;
    assert_eq!(lines(&out("all")), ["3"]);
    let on_all = &runs_of(&store, "on_all").await[0];
    assert_eq!(on_all.run_type, "asset_triggered");
    assert!(on_all.run_id.starts_with("asset_triggered__"), "{on_all:?}");

    // An event from outside, through the CLI, triggers `b`'s DAGs with its extra.
    let out_cli = u.run(&[
        "asset",
        "event",
        "delta://lake/b",
        "--extra",
        r#"{"from": "ingest"}"#,
    ]);
    assert!(out_cli.status.success(), "{:?}", text(&out_cli));
    wait_for_runs(&store, "on_any", 4, &all).await;
    let last = runs_of(&store, "on_any").await.pop().expect("a run");
    let conf: Value = serde_json::from_str(&last.conf).expect("conf");
    assert_eq!(
        conf["triggering_asset_events"][0]["extra"],
        json!({"from": "ingest"}),
        "{conf}"
    );
    assert_eq!(
        conf["triggering_asset_events"][0]["source_dag_id"],
        Value::Null
    );
    // No run is made twice, and `all` waits for `a` again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (dag_id, count) in [("on_all", 1), ("on_any", 4), ("per_day", 3)] {
        assert_eq!(runs_of(&store, dag_id).await.len(), count, "{dag_id}");
    }

    // Every event triggered exactly the runs it should: no event was consumed twice.
    let (events, _) = store
        .asset_events_where(
            &updraft::store::AssetEventFilter {
                writes_only: true,
                ..Default::default()
            },
            100,
            0,
            false,
        )
        .await
        .expect("events");
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let triggered = store.runs_triggered_by(&ids).await.expect("triggered");
    let of = |dag: &str| triggered.iter().filter(|(_, d, _)| d == dag).count();
    // on_any: a(2 days), a(1 day), b, external b → 4 runs, one event each.
    assert_eq!(of("on_any"), 4, "{triggered:?}");
    // per_day: the first `a` event twice (two days), the second once.
    assert_eq!(of("per_day"), 3, "{triggered:?}");
    assert_eq!(of("on_all"), 3, "{triggered:?}");
    let queued = store.queued_asset_events().await.expect("queue");
    assert!(
        !queued.is_empty() && queued.iter().all(|q| q.target_dag_id == "on_all"),
        "only the outside event of b waits (for on_all's a): {queued:?}"
    );
    // A DAG whose file is gone is scheduled on nothing, and what it had queued goes.
    std::fs::remove_file(u.dags().join("on_all.yaml")).expect("remove on_all");
    wait_for(
        "on_all to be forgotten",
        Duration::from_secs(20),
        &all,
        || async {
            let on = store.scheduled_on_assets().await.unwrap_or_default();
            let queue = store.queued_asset_events().await.unwrap_or_default();
            on.len() == 3 && queue.is_empty()
        },
    )
    .await;
    for d in daemons {
        assert!(d.stop().success());
    }
}

/// `POST /api/v2/assets/events` in Airflow's shape triggers the DAG scheduled on the
/// asset, and `GET /api/v2/assets` and `/api/v2/assets/events` show the asset, who
/// writes it, the DAG scheduled on it and the run the event triggered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_to_the_api_triggers_a_run() {
    let u = Updraft::new(Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    let done = u.dir.path().join("done.txt");
    u.write_dag("make_a.yaml", &producer("a"));
    u.write_dag(
        "on_a.yaml",
        &consumer(
            "on_a",
            "{assets: ['delta://lake/a'], per_partition: true}",
            "{{ partition.d }} {{ triggering_asset_events[0].extra.why | default('') }}",
            &done,
        ),
    );
    let env = [("UPDRAFT_LAKE", lake.to_str().unwrap())];
    let daemon = Daemon::start(&u, "scheduler", &env);
    let store = u.store().await;
    wait_for(
        "the DAG scheduled on a to be recorded",
        Duration::from_secs(20),
        &[&daemon],
        || async {
            store
                .scheduled_on_assets()
                .await
                .is_ok_and(|s| s.len() == 1)
        },
    )
    .await;
    trigger(&u, "make_a", json!({"days": "2026-03-01"}));
    wait_for_runs(&store, "on_a", 1, &[&daemon]).await;

    let server = WebServer::start(&u, "webserver", &env);
    let api = server.client(None);
    let (status, assets) = api.get("/api/v2/assets?uri_pattern=lake/a").await;
    assert_eq!(status, 200, "{assets}");
    assert_eq!(assets["total_entries"], 1, "{assets}");
    let asset = &assets["assets"][0];
    assert_eq!(asset["uri"], "delta://lake/a");
    assert_eq!(asset["scheduled_dags"][0]["dag_id"], "on_a", "{asset}");
    assert_eq!(asset["producing_tasks"][0]["dag_id"], "make_a", "{asset}");
    assert_eq!(asset["producing_tasks"][0]["task_id"], "write", "{asset}");
    let asset_id = asset["id"].as_i64().expect("an id");

    let body = json!({"asset_id": asset_id, "extra": {"why": "backfilled"}, "partition_key": "d=2026-03-02"});
    let (status, event) = api
        .call(
            reqwest::Method::POST,
            "/api/v2/assets/events",
            &body.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["asset_id"], asset_id);
    assert_eq!(event["source_dag_id"], Value::Null);
    wait_for_runs(&store, "on_a", 2, &[&daemon]).await;
    assert_eq!(lines(&done), ["2026-03-01 ", "2026-03-02 backfilled"]);
    let path = format!("/api/v2/assets/events?asset_id={asset_id}&order_by=-timestamp");
    let (status, events) = api.get(&path).await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["total_entries"], 2, "{events}");
    let newest = &events["asset_events"][0];
    assert_eq!(newest["extra"], json!({"why": "backfilled"}));
    assert_eq!(newest["created_dagruns"][0]["dag_id"], "on_a", "{newest}");
    let oldest = &events["asset_events"][1];
    assert_eq!(oldest["source_dag_id"], "make_a");
    assert_eq!(oldest["partition_key"], "d=2026-03-01");

    // Bad input: an unknown asset is a 404, a partition that is not column=value a 400.
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "/api/v2/assets/events",
            &json!({"asset_id": 999_999}).to_string(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, answer) = api
        .call(
            reqwest::Method::POST,
            "/api/v2/assets/events",
            &json!({"asset_id": asset_id, "partition_key": "2026"}).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    drop(server);
    assert!(daemon.stop().success());
    u.cleanup().await;
}
