//! `bench/dashboards.sh`: every dashboard query, as Grafana sends it for the last 24 hours,
//! on a large history (by default 100,000 runs of ten DAGs over 100 days, ten tasks each:
//! 1,000,000 task instances and attempts, a data-test task per run). Prints each query's
//! median time; run with `--ignored`.

use super::{board, expand, run};
use crate::support::{Backend, Updraft};
use chrono::{Duration, Utc};
use sqlx::{Connection, PgConnection};
use std::time::Instant;

/// The history: `$RUNS` runs spread evenly up to now, `$SPACING` apart (`fill` sets it),
/// ten tasks each, one in fifty failed on its last task after a retry, and two data tests
/// per run.
const FILL: &str = r#"
INSERT INTO dag (dag_id, is_paused, schedule, timezone, fileloc, last_parsed_at, next_run_after)
SELECT 'dag_' || d, FALSE, '*/15 * * * *', 'UTC', '/dags/dag_' || d || '.yaml', now(),
       now() + interval '5 minutes'
FROM generate_series(0, 9) AS d;

INSERT INTO job (job_id, job_type, hostname, pid, state, started_at, heartbeat_at, ended_at)
SELECT 'job_' || j, 'scheduler', 'host' || (j % 3), j, CASE WHEN j < 2 THEN 'running' ELSE 'stopped' END,
       now() - (j + 1) * interval '5 hours', now() - j * interval '5 hours',
       CASE WHEN j < 2 THEN NULL ELSE now() - j * interval '5 hours' END
FROM generate_series(0, 499) AS j;

INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, data_interval_start, data_interval_end,
                     state, queued_at, started_at, ended_at)
SELECT 'dag_' || (n % 10), 'scheduled__' || n, 'scheduled', t, t, t + interval '15 minutes',
       CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'success' END,
       t + interval '15 minutes', t + interval '15 minutes 2 seconds',
       t + interval '15 minutes 2 seconds' + (20 + n % 300) * interval '1 second'
FROM generate_series(1, $RUNS) AS n,
     LATERAL (SELECT now() - interval '20 minutes' - ($RUNS - n) * $SPACING) AS x(t);

INSERT INTO task_instance (dag_id, run_id, task_id, task_type, state, try_number, max_tries,
                           started_at, ended_at, duration, hostname)
SELECT r.dag_id, r.run_id, 'task_' || k, CASE WHEN k = 9 THEN 'data_test' ELSE 'shell' END,
       CASE WHEN r.state = 'failed' AND k = 9 THEN 'failed' ELSE 'success' END,
       CASE WHEN r.state = 'failed' AND k = 9 THEN 2 ELSE 1 END, 3,
       r.started_at + k * interval '2 seconds', r.started_at + (k + 1) * interval '2 seconds',
       1.5 + k, 'host0'
FROM dag_run r, generate_series(0, 9) AS k;

INSERT INTO task_try (dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration,
                      hostname, error, metrics)
SELECT dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration, hostname,
       CASE WHEN state = 'failed' THEN 'data tests failed: 1 of 2' END, '{"seconds": 1.5}'
FROM task_instance;
INSERT INTO task_try (dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration,
                      hostname, error)
SELECT dag_id, run_id, task_id, 1, 'up_for_retry', started_at - interval '1 minute',
       started_at - interval '58 seconds', 2.0, hostname, 'exit code 1'
FROM task_instance WHERE try_number = 2;

INSERT INTO test_result (dag_id, run_id, task_id, try_number, test_id, test_name, model, column_name,
                         test_type, severity, status, failures, message, started_at, ended_at,
                         execution_time)
SELECT t.dag_id, t.run_id, t.task_id, t.try_number, 'test.' || t.dag_id || '.' || name, name,
       'tweets', col, kind, 'ERROR',
       CASE WHEN t.state = 'failed' AND col = 'tweet_id' THEN 'fail' ELSE 'pass' END,
       CASE WHEN t.state = 'failed' AND col = 'tweet_id' THEN 3 ELSE 0 END,
       CASE WHEN t.state = 'failed' AND col = 'tweet_id' THEN 'Got 3 results, configured to fail if != 0' END,
       t.started_at, t.ended_at, 0.05
FROM task_try t,
     (VALUES ('unique_tweets_tweet_id', 'tweet_id', 'unique'),
             ('not_null_tweets_user_id', 'user_id', 'not_null')) AS tests(name, col, kind)
WHERE t.task_id = 'task_9' AND t.state <> 'up_for_retry';
ANALYZE;
"#;

/// The SQL that fills a history of `runs` runs over 100 days, or `per_day` runs a day.
pub(crate) fn fill(runs: u64, per_day: Option<u64>) -> String {
    let spacing = match per_day {
        Some(n) => format!("(interval '1 day' / {n})"),
        None => format!("(interval '100 days' / {runs})"),
    };
    FILL.replace("$RUNS", &runs.to_string())
        .replace("$SPACING", &spacing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/dashboards.sh"]
async fn dashboard_queries_on_a_large_history() {
    let runs: u64 = std::env::var("UPDRAFT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let u = Updraft::new(Backend::Postgres).await;
    let out = u.run(&["db", "migrate"]);
    assert!(out.status.success(), "{:?}", crate::support::text(&out));
    let mut db = PgConnection::connect(&u.database_url).await.expect("db");
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill(runs, None)))
        .execute(&mut db)
        .await
        .expect("fill the history");
    let counts: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM dag_run), (SELECT count(*) FROM task_try)")
            .fetch_one(&mut db)
            .await
            .expect("counts");
    println!(
        "history: {} runs, {} task tries (filled in {:.1} s)",
        counts.0,
        counts.1,
        started.elapsed().as_secs_f64()
    );
    for (what, ms, rows) in panel_times(&mut db).await {
        println!("{what:<80} {ms:>8.1} ms {rows:>6} rows");
    }
    u.cleanup().await;
}

/// Every query of the shipped dashboards on the history database (variables first, as
/// Grafana runs them), for the last 24 hours: `(dashboard: what, median milliseconds of
/// five runs after one, rows)`. Warehouse panels are left out (the history has no gold
/// tables).
pub(crate) async fn panel_times(db: &mut PgConnection) -> Vec<(String, f64, usize)> {
    let now = Utc::now();
    let range = expand::Range {
        from: now - Duration::hours(24),
        to: now,
    };
    let mut figures = Vec::new();
    for (name, b) in board::dashboards() {
        let mut variables = expand::Variables::new();
        for q in board::queries(&b) {
            if q.uid != "updraft-history" {
                continue;
            }
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..6 {
                let t = Instant::now();
                let result = run(db, &q, &variables, range).await.expect("query");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                rows = result.len();
                if let Some(var) = &q.variable {
                    let options = super::first_column(&result);
                    variables.insert(var.clone(), q.selected.clone().unwrap_or(options));
                }
            }
            // The first run warms the cache; the median of the other five.
            let mut warm = times[1..].to_vec();
            warm.sort_by(f64::total_cmp);
            figures.push((format!("{name}: {}", q.what), warm[2], rows));
        }
    }
    figures
}
