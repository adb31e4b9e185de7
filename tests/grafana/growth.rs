//! `bench/history_growth.sh`: what people feel of the history's size, on a history of
//! 5,000 runs (five days) and then on a large one (by default 1,000,000 runs of ten DAGs, ten tasks
//! each: 10,000,000 task instances and tries), on PostgreSQL — the scheduler's cost per
//! attempt (a chain of 50 no-op tasks run by `dag trigger`), the grid's first page, and
//! the run listing API (newest first, across all DAGs and of one), a /metrics scrape and
//! every Grafana panel on the history. Prints each figure and the ratio. Run with
//! `--ignored`.

use crate::support::{Backend, Updraft, WebServer, text};
use sqlx::Connection;
use std::time::Instant;

/// How busy the installation is, whatever the history's length: the small history is
/// five days of it, the large one years (1,000,000 runs: 1,000 days), so that the panels of
/// the last 24 hours see the same runs in both.
const RUNS_PER_DAY: u64 = 1_000;

/// The median of eleven timings of `f`, in milliseconds (after one to warm up): this
/// machine is noisy, and the figures are a few milliseconds.
async fn median_ms<F, Fut>(mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await;
    let mut times = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    times[5]
}

/// The figures, in the order they are printed.
async fn measure(u: &Updraft, round: usize) -> Vec<(String, f64)> {
    let mut figures = Vec::new();
    // The scheduler's own cost per attempt: a chain run in the foreground.
    let run_id = format!("chain{round}");
    let started = Instant::now();
    let out = u.run(&["dag", "trigger", "chain", "--run-id", &run_id]);
    assert!(out.status.success(), "{:?}", text(&out));
    figures.push((
        "ms per attempt (chain of 50 no-ops)".to_string(),
        started.elapsed().as_secs_f64() * 1e3 / 50.0,
    ));
    let server = WebServer::start(u, "webserver", &[]);
    let http = reqwest::Client::new();
    for (what, path) in [
        ("grid, first page (ms)", "/dags/dag_3"),
        (
            "runs of all DAGs, newest 100 (ms)",
            "/api/v2/dags/~/dagRuns?limit=100&order_by=-run_after",
        ),
        (
            "runs of one DAG, newest 100 (ms)",
            "/api/v2/dags/dag_3/dagRuns?limit=100&order_by=-logical_date",
        ),
        (
            "failed runs of all DAGs, newest 100 (ms)",
            "/api/v2/dags/~/dagRuns?limit=100&state=failed&order_by=-end_date",
        ),
        ("a /metrics scrape (ms)", "/metrics"),
    ] {
        let url = format!("{}{path}", server.base);
        let ms = median_ms(|| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let answer = http
                    .get(&url)
                    .header("accept", "text/html, application/json")
                    .send()
                    .await
                    .expect("request");
                assert!(answer.status().is_success(), "{url}: {}", answer.status());
                answer.bytes().await.expect("body");
            }
        })
        .await;
        figures.push((what.to_string(), ms));
    }
    drop(server);
    let mut db = sqlx::PgConnection::connect(&u.database_url)
        .await
        .expect("db");
    for (what, ms, _) in super::bench::panel_times(&mut db).await {
        figures.push((what, ms));
    }
    figures
}

/// An installation on a fresh PostgreSQL database holding the benchmark's history of
/// `runs` runs, its ten DAGs and a chain of 50 no-ops in its folder.
async fn with_history(runs: u64) -> Updraft {
    let u = Updraft::new(Backend::Postgres).await;
    let mut yaml = String::from("dag_id: chain\ntasks:\n");
    for i in 0..50 {
        let up = if i > 0 {
            format!(", depends_on: [t{}]", i - 1)
        } else {
            String::new()
        };
        yaml.push_str(&format!("  t{i}: {{type: noop{up}}}\n"));
    }
    u.write_dag("chain.yaml", &yaml);
    for d in 0..10 {
        u.write_dag(
            &format!("dag_{d}.yaml"),
            &format!("dag_id: dag_{d}\ntasks:\n  t: {{type: noop}}\n"),
        );
    }
    let out = u.run(&["db", "migrate"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let mut db = sqlx::PgConnection::connect(&u.database_url)
        .await
        .expect("db");
    let started = Instant::now();
    let fill = super::bench::fill(runs, Some(RUNS_PER_DAY));
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill))
        .execute(&mut db)
        .await
        .expect("fill the history");
    // A scheduler folds the kept counts every minute (store/tallies.rs); a history that
    // grew over months has been vacuumed as it grew (autovacuum): its visibility map is
    // current, which index-only scans rely on.
    u.store()
        .await
        .fold_tallies()
        .await
        .expect("fold the tallies");
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut db)
        .await
        .expect("vacuum");
    let tries: i64 = sqlx::query_scalar("SELECT count(*) FROM task_try")
        .fetch_one(&mut db)
        .await
        .expect("count");
    println!(
        "history: {runs} runs, {tries} task tries (filled in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/history_growth.sh"]
async fn what_people_feel_as_the_history_grows() {
    let runs: u64 = std::env::var("UPDRAFT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // A history just large enough to fill every page, the failed runs' too (an empty
    // one would answer pages of nothing): five days. Then the large one.
    let small = with_history(5_000).await;
    let baseline = measure(&small, 0).await;
    small.cleanup().await;
    let large_history = with_history(runs).await;
    let large = measure(&large_history, 0).await;
    println!(
        "{:<80} {:>10} {:>10} {:>6}",
        "",
        "5,000 runs",
        format!("{runs} runs"),
        "ratio"
    );
    for ((what, a), (_, b)) in baseline.iter().zip(&large) {
        println!("{what:<80} {a:>10.2} {b:>10.2} {:>6.2}", b / a);
    }
    large_history.cleanup().await;
}
