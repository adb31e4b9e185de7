//! Retention: `updraft db clean` removes exactly the finished runs older than the cut
//! (never a queued one, never the newest of a DAG) with their task instances, tries,
//! alerts, asset events and log files, on both backends, while a scheduler works; and
//! `[history] keep` makes one scheduler among several do it by itself.

use crate::support::{Daemon, Updraft, text, wait_for, wait_for_success};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use std::time::Duration;
use updraft::runs::RunListRequest;
use updraft::store::{RunState, Store, TallyKind};

on_both_backends!(clean_removes_old_runs_and_what_hangs_off_them);

const DAG: &str = r#"dag_id: kept
tasks:
  say:
    type: shell
    on_success:
      - shell: {command: "true"}
    with: {command: "echo run {{ run_id }}"}
  write:
    type: delta_sql
    depends_on: [say]
    with: {query: "SELECT 1 AS n", table: "{{ lake }}/t", mode: append}
"#;

/// Moves run `run_id` of `kept` (and its attempts) `days` days into the past.
async fn backdate(u: &Updraft, run_id: &str, days: i64, hours: i64) {
    let at: DateTime<Utc> = Utc::now() - TimeDelta::days(days) + TimeDelta::hours(hours);
    let end = at + TimeDelta::minutes(1);
    let run = "UPDATE dag_run SET logical_date = $1, data_interval_start = $1,
                 data_interval_end = $1, queued_at = $1, started_at = $1,
                 ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE $2 END
               WHERE dag_id = 'kept' AND run_id = $3";
    let tries = "UPDATE task_try SET started_at = $1, ended_at = $2
                 WHERE dag_id = 'kept' AND run_id = $3";
    // The same statements on either backend's pool.
    macro_rules! on {
        ($pool:expr) => {{
            let pool = $pool;
            for sql in [run, tries] {
                sqlx::query(sql)
                    .bind(at)
                    .bind(end)
                    .bind(run_id)
                    .execute(&pool)
                    .await
                    .expect("backdate");
            }
            pool.close().await;
        }};
    }
    if u.on_postgres() {
        on!(sqlx::PgPool::connect(&u.database_url).await.expect("pg"));
    } else {
        on!(sqlx::SqlitePool::connect(&u.database_url)
            .await
            .expect("sqlite"));
    }
}

async fn run_ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = store
        .runs("kept", None, 100)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    ids.sort();
    ids
}

/// The kept counts of runs, task instances and test results by DAG and state
/// (`state_tally`), which listings, the grid and /metrics read, against the rows.
async fn assert_tallies_match(u: &Updraft, store: &Store) {
    let tables = [
        (
            TallyKind::DagRun,
            "SELECT dag_id, state, COUNT(*) FROM dag_run GROUP BY 1, 2",
        ),
        (
            TallyKind::TaskInstance,
            "SELECT dag_id, COALESCE(state, 'none'), COUNT(*) FROM task_instance GROUP BY 1, 2",
        ),
        (
            TallyKind::TestResult,
            "SELECT dag_id, status, COUNT(*) FROM test_result GROUP BY 1, 2",
        ),
    ];
    for (kind, sql) in tables {
        let mut counted: Vec<(String, String, i64)> = if u.on_postgres() {
            let pool = sqlx::PgPool::connect(&u.database_url).await.expect("pg");
            sqlx::query_as(sql).fetch_all(&pool).await.expect("count")
        } else {
            let pool = sqlx::SqlitePool::connect(&u.database_url)
                .await
                .expect("sqlite");
            sqlx::query_as(sql).fetch_all(&pool).await.expect("count")
        };
        counted.sort();
        assert_eq!(
            store.state_tally(kind).await.expect("tally"),
            counted,
            "{kind:?}"
        );
    }
}

fn clean(u: &Updraft, args: &[&str]) -> Value {
    let mut all = vec!["db", "clean", "-o", "json"];
    all.extend_from_slice(args);
    let out = u.run(&all);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

async fn clean_removes_old_runs_and_what_hangs_off_them(u: &Updraft) {
    u.write_dag("kept.yaml", DAG);
    for run_id in ["r1", "r2", "r3", "r4", "r5"] {
        let out = u.run(&["dag", "trigger", "kept", "--run-id", run_id]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let out = u.run(&["dag", "trigger", "kept", "--run-id", "r6", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // r1..r4 ended 100 days ago (r4 the newest of them), r6 is an old queued run, r5 new.
    for (i, run_id) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
        backdate(u, run_id, 100, i as i64).await;
    }
    backdate(u, "r6", 200, 0).await;
    let store = u.store().await;
    let log_of = |run_id: &str| {
        u.home()
            .join("logs/dag_id=kept")
            .join(format!("run_id={run_id}"))
            .join("task_id=say/attempt=1.log")
    };
    assert!(log_of("r1").exists());

    // Keeping the newest two: r5 and r4 stay, r6 is not finished: r1..r3 go.
    let planned = clean(u, &["--older-than", "30d", "--keep-last", "2", "--dry-run"]);
    assert_eq!(planned["runs"], 3, "{planned}");
    assert_eq!(planned["task_instances"], 6, "{planned}");
    assert_eq!(planned["task_tries"], 6, "{planned}");
    assert_eq!(planned["callbacks"], 3, "{planned}");
    assert_eq!(planned["asset_events"], 3, "{planned}");
    assert_eq!(planned["log_files"], 6, "{planned}");
    assert_eq!(planned["dry_run"], true);
    assert_eq!(run_ids(&store).await.len(), 6, "a dry run removes nothing");
    assert_tallies_match(u, &store).await;
    // /metrics' histograms: each ended attempt once (r1..r5: two tasks each).
    let attempts_ended = async || -> u64 {
        let metrics = store.metrics().await.expect("metrics");
        metrics.ended_tries.iter().map(|(_, d)| d.count).sum()
    };
    assert_eq!(attempts_ended().await, 10);
    assert!(log_of("r1").exists());

    // A scheduler works on while the clean runs, and after it.
    let daemon = Daemon::start(u, "scheduler", &[]);
    let done = clean(u, &["--older-than", "30d", "--keep-last", "2", "-y"]);
    assert_eq!(done["runs"], 3, "{done}");
    assert_eq!(done["log_files"], 6, "{done}");
    assert_eq!(done["dry_run"], false);
    assert_eq!(run_ids(&store).await, ["r4", "r5", "r6"]);
    // (The tallies are compared once r6 is done: while the scheduler moves it, the two
    // reads of a comparison may straddle a change.)
    for gone in ["r1", "r2", "r3"] {
        assert!(
            store
                .tries("kept", gone, None)
                .await
                .expect("tries")
                .is_empty()
        );
        assert!(
            store
                .task_instances("kept", gone)
                .await
                .expect("ti")
                .is_empty()
        );
        assert!(
            store
                .run_callbacks("kept", gone)
                .await
                .expect("cb")
                .is_empty()
        );
        assert!(!log_of(gone).exists(), "the log of {gone} stays");
        assert!(
            !log_of(gone).parent().expect("dir").exists(),
            "an empty folder stays"
        );
    }
    assert!(log_of("r4").exists());
    assert_eq!(
        store.tries("kept", "r4", None).await.expect("tries").len(),
        2
    );
    // The asset keeps its newest write; the removed runs' events went.
    let events = store
        .asset_events("delta://lake/t", 100)
        .await
        .expect("events");
    let producers: Vec<&str> = events.iter().filter_map(|e| e.run_id.as_deref()).collect();
    assert!(
        producers.iter().all(|r| !["r1", "r2", "r3"].contains(r)),
        "{producers:?}"
    );
    // The old queued run is the scheduler's to run.
    wait_for_success(&store, ("kept", "r6"), Duration::from_secs(30), &[&daemon]).await;
    // The counts a listing answers with follow the runs, before and after a fold.
    assert_tallies_match(u, &store).await;
    let listed = async |state: Option<RunState>| {
        let mut request = RunListRequest::newest("kept", 1);
        request.filter.states.extend(state);
        updraft::runs::list(&store, &request)
            .await
            .expect("list")
            .total_entries
    };
    assert_eq!(listed(None).await, 3);
    assert_eq!(listed(Some(RunState::Success)).await, 3);
    assert_eq!(listed(Some(RunState::Failed)).await, 0);
    // r6's two attempts added, r1..r3's six not taken back: counters do not go back.
    assert_eq!(attempts_ended().await, 12);
    assert!(store.fold_tallies().await.expect("fold") > 0);
    assert_tallies_match(u, &store).await;
    assert_eq!(attempts_ended().await, 12, "folded, the same");
    assert_eq!(listed(None).await, 3);
    assert_eq!(listed(Some(RunState::Success)).await, 3);
    // Nothing left to do: a second clean removes nothing.
    let again = clean(u, &["--older-than", "30d", "--keep-last", "2", "-y"]);
    assert_eq!(again["runs"], 0, "{again}");
    // Without -y and without a terminal to ask on, nothing happens.
    let out = u.run(&["db", "clean", "--older-than", "1s"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("-y"), "{:?}", text(&out));
    assert_eq!(run_ids(&store).await.len(), 3);
    assert!(daemon.stop().success());
}

/// `[history] keep` on two schedulers sharing PostgreSQL: the old runs go, cleaned by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scheduler_keeps_the_history_to_its_age() {
    let u = Updraft::new(crate::support::Backend::Postgres).await;
    u.write_dag("kept.yaml", DAG);
    for run_id in ["r1", "r2", "r3"] {
        let out = u.run(&["dag", "trigger", "kept", "--run-id", run_id]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    backdate(&u, "r1", 100, 0).await;
    backdate(&u, "r2", 100, 1).await;
    let env = [("UPDRAFT_HISTORY_KEEP", "30d")];
    let first = Daemon::start(&u, "first", &env);
    let second = Daemon::start(&u, "second", &env);
    let store = u.store().await;
    let s = &store;
    wait_for(
        "the old runs to go",
        Duration::from_secs(30),
        &[&first, &second],
        move || async move { run_ids(s).await == ["r3"] },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cleaned_by = [first.log(), second.log()]
        .iter()
        .filter(|log| log.contains("history clean: 2 run(s)"))
        .count();
    assert_eq!(
        cleaned_by,
        1,
        "one scheduler cleans:\n{}\n{}",
        first.log(),
        second.log()
    );
    assert!(first.stop().success());
    assert!(second.stop().success());
    u.cleanup().await;
}

/// `bench/history_clean.sh`: `db clean --older-than 1d` on the dashboards benchmark's
/// history (by default 100,000 runs of ten DAGs over 100 days: 1,000,000 task instances,
/// 1,020,000 task tries, 40,000 test results), with a scheduler working meanwhile;
/// prints the time and the rate. Run with `--ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/history_clean.sh"]
async fn clean_a_large_history() {
    use sqlx::Connection;
    let runs: u64 = std::env::var("UPDRAFT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let u = Updraft::new(crate::support::Backend::Postgres).await;
    let out = u.run(&["db", "migrate"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let mut db = sqlx::PgConnection::connect(&u.database_url)
        .await
        .expect("db");
    let fill = crate::grafana::bench::fill(runs, None);
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
        .execute(&mut db)
        .await
        .expect("fill the history");
    let count = "SELECT (SELECT count(*) FROM dag_run), (SELECT count(*) FROM task_try)";
    let before: (i64, i64) = sqlx::query_as(count)
        .fetch_one(&mut db)
        .await
        .expect("count");
    let newest: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dag_run WHERE ended_at >= now() - interval '1 day'",
    )
    .fetch_one(&mut db)
    .await
    .expect("newest");
    println!("history: {} runs, {} task tries", before.0, before.1);
    let daemon = Daemon::start(&u, "scheduler", &[]);
    let started = std::time::Instant::now();
    let report = clean(&u, &["--older-than", "1d", "-y"]);
    let seconds = started.elapsed().as_secs_f64();
    let after: (i64, i64) = sqlx::query_as(count)
        .fetch_one(&mut db)
        .await
        .expect("count");
    println!(
        "db clean --older-than 1d: {} runs and {} task tries removed in {seconds:.1} s \
         ({:.0} tries/s); {} runs and {} tries left",
        report["runs"],
        report["task_tries"],
        report["task_tries"].as_f64().unwrap_or(0.0) / seconds,
        after.0,
        after.1
    );
    assert_eq!(after.0, newest, "the last day's runs stay, nothing else");
    assert!(daemon.stop().success());
    u.cleanup().await;
}
