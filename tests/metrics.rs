//! `/metrics` scraped by a real Prometheus (Debian's, started on a free port with a
//! bearer token), its series read back through Prometheus's query API and compared with
//! what the history tables hold, on both backends.

use crate::support::{Updraft, WebServer, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

on_both_backends!(prometheus_scrapes_what_the_history_holds);

const VIEWER: &str = "viewer-token-for-prometheus";

/// A Prometheus server scraping one target every second; stopped when dropped.
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    fn start(dir: &std::path::Path, target: &str) -> Prometheus {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let port = crate::support::free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: updraft\n    authorization: {{credentials: {VIEWER}}}\n    static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .expect("config");
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {bin} ({e}); scripts/ensure-browser-and-prometheus.sh installs it"
                )
            });
        crate::support::wait_until_listening(port, "prometheus");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The series of an instant query: labels (without `__name__`, `job`, `instance`) → value.
    async fn query(&self, promql: &str) -> BTreeMap<Vec<(String, String)>, f64> {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", promql)])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(answer["status"], "success", "{answer}");
        let mut series = BTreeMap::new();
        for s in answer["data"]["result"].as_array().expect("result") {
            let labels: Vec<(String, String)> = s["metric"]
                .as_object()
                .expect("metric")
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "job" | "instance"))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let value: f64 = s["value"][1]
                .as_str()
                .unwrap_or("NaN")
                .parse()
                .expect("a number");
            series.insert(labels, value);
        }
        series
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    l
}

async fn prometheus_scrapes_what_the_history_holds(u: &Updraft) {
    u.write_dag(
        "etl.yaml",
        "dag_id: etl\ntasks:\n  extract: { type: shell, with: { command: 'echo extracted' } }\n  boom:\n    type: shell\n    depends_on: [extract]\n    retries: 1\n    retry_delay: 0s\n    with: { command: 'exit 3' }\n  load: { type: noop, depends_on: [boom] }\n",
    );
    u.write_dag(
        "dq.yaml",
        "dag_id: dq\ntasks:\n  people:\n    type: delta_sql\n    with: {tables: {}, query: \"SELECT column1 AS id, column2 AS name FROM (VALUES (1, 'a'), (2, NULL))\", table: '{{ lake }}/gold/people', mode: overwrite}\n  test_people:\n    type: data_test\n    depends_on: [people]\n    with:\n      tables: {people: '{{ lake }}/gold/people'}\n      models:\n        - name: people\n          columns:\n            - {name: id, tests: [unique, not_null]}\n            - {name: name, tests: [not_null]}\n",
    );
    u.write_dag("broken.yaml", "dag_id: broken\ntasks: {a: {type: nope}}\n");
    for (dag, run) in [("etl", "r1"), ("etl", "r2"), ("dq", "r1")] {
        let out = u.run(&["dag", "trigger", dag, "--run-id", run]);
        assert!(
            !out.status.success(),
            "{dag} fails by design: {:?}",
            text(&out)
        );
    }
    let out = u.run(&[
        "dag",
        "trigger",
        "etl",
        "--run-id",
        "waiting",
        "--queue-only",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["dag", "pause", "etl"]);
    assert!(out.status.success(), "{:?}", text(&out));

    let tokens = format!("viewer:{VIEWER}");
    let server = WebServer::start(u, "standalone", &[("UPDRAFT_API_TOKENS", &tokens)]);
    let target = server.base.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(u.dir.path(), &target);

    // What the history holds, counted here from the rows.
    let store = u.store().await;
    let mut runs: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let mut tries: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for dag in ["etl", "dq"] {
        for run in store.runs(dag, None, 100).await.expect("runs") {
            if let (Some(start), Some(end)) = (run.started_at, run.ended_at) {
                let e = runs
                    .entry((dag.to_string(), run.state.to_string()))
                    .or_default();
                e.0 += 1.0;
                e.1 += (end - start).as_seconds_f64();
            }
            for t in store.tries(dag, &run.run_id, None).await.expect("tries") {
                *tries
                    .entry((dag.to_string(), t.task_id, t.state.to_string()))
                    .or_default() += 1.0;
            }
        }
    }
    assert_eq!(
        runs.get(&("etl".into(), "failed".into())).map(|r| r.0),
        Some(2.0),
        "{runs:?}"
    );
    assert_eq!(
        tries.get(&("etl".into(), "boom".into(), "failed".into())),
        Some(&4.0),
        "two attempts in each of two runs: {tries:?}"
    );

    // Prometheus has scraped once the series are there.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut finished = prometheus.query("updraft_dag_runs_total").await;
    while finished.is_empty() {
        let log = std::fs::read_to_string(u.dir.path().join("prometheus.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped /metrics: {log}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        finished = prometheus.query("updraft_dag_runs_total").await;
    }
    let expected: BTreeMap<_, _> = runs
        .iter()
        .map(|((d, s), (n, _))| (labels(&[("dag_id", d), ("state", s)]), *n))
        .collect();
    assert_eq!(finished, expected);
    let counts = prometheus
        .query("updraft_dag_run_duration_seconds_count")
        .await;
    assert_eq!(counts, expected, "the histogram counts the same runs");
    let inf = prometheus
        .query(r#"updraft_dag_run_duration_seconds_bucket{le="+Inf"}"#)
        .await;
    let inf: BTreeMap<_, _> = inf
        .into_iter()
        .map(|(l, v)| {
            (
                l.into_iter().filter(|(k, _)| k != "le").collect::<Vec<_>>(),
                v,
            )
        })
        .collect();
    assert_eq!(inf, expected);
    let sums = prometheus
        .query("updraft_dag_run_duration_seconds_sum")
        .await;
    for ((d, s), (_, seconds)) in &runs {
        let got = sums[&labels(&[("dag_id", d), ("state", s)])];
        assert!(
            (got - seconds).abs() < 0.01,
            "{d} {s}: {got} s, the rows say {seconds} s"
        );
    }

    let expected_tries: BTreeMap<_, _> = tries
        .iter()
        .map(|((d, t, s), n)| (labels(&[("dag_id", d), ("task_id", t), ("state", s)]), *n))
        .collect();
    assert_eq!(
        prometheus.query("updraft_task_tries_total").await,
        expected_tries
    );
    assert_eq!(
        prometheus
            .query("updraft_task_duration_seconds_count")
            .await,
        expected_tries
    );

    let runs_now = prometheus.query("updraft_runs").await;
    assert_eq!(
        runs_now.get(&labels(&[("state", "queued")])),
        Some(&1.0),
        "{runs_now:?}"
    );
    assert_eq!(
        runs_now.get(&labels(&[("state", "failed")])),
        Some(&3.0),
        "{runs_now:?}"
    );
    let instances = prometheus.query("updraft_task_instances").await;
    assert_eq!(
        instances.get(&labels(&[("state", "upstream_failed")])),
        Some(&2.0),
        "{instances:?}"
    );
    assert_eq!(
        instances.get(&labels(&[("state", "none")])),
        Some(&3.0),
        "the queued run's: {instances:?}"
    );
    let errors = prometheus.query("updraft_dag_import_errors").await;
    assert_eq!(errors.values().copied().collect::<Vec<_>>(), [1.0]);
    let tests = prometheus.query("updraft_data_tests_total").await;
    assert_eq!(
        tests,
        BTreeMap::from([
            (labels(&[("status", "fail")]), 1.0),
            (labels(&[("status", "pass")]), 2.0)
        ])
    );
    let ages = prometheus
        .query("updraft_scheduler_heartbeat_age_seconds")
        .await;
    assert_eq!(ages.len(), 1, "the standalone scheduler: {ages:?}");
    assert!(
        ages.values().all(|age| (0.0..30.0).contains(age)),
        "{ages:?}"
    );
    drop(prometheus);
    assert!(server.stop().success());
}
