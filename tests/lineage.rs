//! Lineage and freshness end to end: the lakehouse in its two-DAG form (gold scheduled on
//! silver, once per event date) with the lineage the history records equal to the reads
//! and writes its YAML names, drawn on the assets page in a real browser; OpenLineage
//! events for every attempt, received over HTTP and checked with OpenLineage's own
//! client; a freshness rule that alerts once per stale period.

use crate::support::{
    Backend, Browser, Daemon, Receiver, Updraft, WebServer, generate_tweets, query_delta,
    repo_path, text, wait_for,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// The edges (from, to, kind) the YAML of the two-DAG lakehouse implies, read from the
/// files themselves: a task's `source`/`tables` are read, its `table`/`quarantine`
/// written; a load writes its warehouse table; `land` reads the landing folder; a DAG
/// scheduled on assets is triggered by them. Data tests check tables and maintenance
/// rewrites them: neither moves data, so neither is lineage.
fn lineage_in_yaml(folder: &Path, landing: &str) -> BTreeSet<(String, String, String)> {
    let lake_uri = |text: &str| {
        let path = text
            .trim()
            .strip_prefix("{{ lake }}/")
            .unwrap_or_else(|| panic!("a lake table: {text}"));
        format!("delta://lake/{path}")
    };
    let mut edges = BTreeSet::new();
    for name in ["lakehouse_silver.yaml", "lakehouse_gold.yaml"] {
        let yaml: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(folder.join(name)).expect("dag"))
                .expect("yaml");
        let dag_id = yaml["dag_id"].as_str().expect("dag_id");
        for uri in yaml["schedule"]["assets"].as_array().into_iter().flatten() {
            let uri = uri.as_str().expect("text");
            let from = if uri.contains("://") {
                uri.to_string()
            } else {
                lake_uri(uri)
            };
            edges.insert((from, format!("{dag_id} (DAG)"), "schedules".into()));
        }
        for (task_id, task) in yaml["tasks"].as_object().expect("tasks") {
            let node = format!("{dag_id}.{task_id}");
            let with = &task["with"];
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            match task["type"].as_str().expect("type") {
                "land" => {
                    reads.push(landing.to_string());
                    writes.push(lake_uri(with["table"].as_str().expect("table")));
                }
                "parse_json" => {
                    reads.push(lake_uri(with["source"].as_str().expect("source")));
                    for key in ["table", "quarantine"] {
                        writes.push(lake_uri(with[key].as_str().expect(key)));
                    }
                }
                "delta_sql" => {
                    for source in with["tables"].as_object().expect("tables").values() {
                        let location = source.as_str().or(source["table"].as_str());
                        reads.push(lake_uri(location.expect("a table")));
                    }
                    writes.push(lake_uri(with["table"].as_str().expect("table")));
                }
                "load_warehouse" => {
                    reads.push(lake_uri(with["source"].as_str().expect("source")));
                    let conn = with["conn"].as_str().expect("conn");
                    let table = with["table"].as_str().expect("table");
                    writes.push(format!("warehouse://{conn}/{table}"));
                }
                "data_test" | "delta_maintenance" => {}
                other => panic!("a task type this test does not know: {other}"),
            }
            for uri in reads {
                edges.insert((uri, node.clone(), "reads".into()));
            }
            for uri in writes {
                edges.insert((node.clone(), uri, "writes".into()));
            }
        }
    }
    edges
}

/// The edges `updraft asset lineage URI -o json` prints (upstream and downstream of
/// `uri`), in the same form.
fn lineage_recorded(u: &Updraft, uri: &str) -> BTreeSet<(String, String, String)> {
    let out = u.run(&["asset", "lineage", uri, "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let lineage: Value = serde_json::from_slice(&out.stdout).expect("json");
    let label = |node: &Value| match node["kind"].as_str() {
        Some("asset") => node["uri"].as_str().expect("uri").to_string(),
        Some("task") => format!(
            "{}.{}",
            node["dag_id"].as_str().unwrap(),
            node["task_id"].as_str().unwrap()
        ),
        Some("dag") => format!("{} (DAG)", node["dag_id"].as_str().unwrap()),
        other => panic!("node kind {other:?}"),
    };
    lineage["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                label(&e["from"]),
                label(&e["to"]),
                e["kind"].as_str().expect("kind").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_follows_silver_per_event_date_and_the_lineage_is_the_yaml() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    let folder = repo_path("dags/assets");
    u.env
        .push(("UPDRAFT_DAGS_FOLDER".into(), folder.display().to_string()));
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let landing = lake.join("landing");
    generate_tweets(
        &u,
        1_500,
        &format!("file://{}", landing.display()),
        7,
        &[
            "--days",
            "2",
            "--users",
            "300",
            "--bad-ratio",
            "0.05",
            "--start",
            "2026-02-01T06:00:00Z",
        ],
    );
    let server = WebServer::start(&u, "standalone", &[]);
    let store = u.store().await;
    let s = &store;
    // An event counts for the DAGs scheduled on its asset when it is recorded.
    wait_for(
        "the scheduler to read the DAGs",
        Duration::from_secs(20),
        &[],
        move || async move {
            s.scheduled_on_assets()
                .await
                .is_ok_and(|on| on.iter().any(|(_, dag)| dag == "lakehouse_silver"))
        },
    )
    .await;
    // The job that filled the landing folder says so: silver runs, then gold per date.
    let out = u.run(&["asset", "event", "file://lake/landing"]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        "silver's run",
        Duration::from_secs(120),
        &[],
        move || async move {
            let runs = s
                .runs("lakehouse_silver", None, 10)
                .await
                .unwrap_or_default();
            runs.len() == 1 && runs[0].state == "success"
        },
    )
    .await;

    // One gold run per event date silver holds, each for its date.
    let silver = lake.join("silver/tweets");
    let dates: BTreeSet<String> = query_delta(
        &[("silver", silver.as_path())],
        "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d FROM silver",
    )
    .await
    .iter()
    .map(|r| r["d"].as_str().expect("date").to_string())
    .collect();
    assert!(dates.len() >= 2, "{dates:?}");
    let count = dates.len();
    wait_for(
        "a successful gold run per event date",
        Duration::from_secs(180),
        &[],
        move || async move {
            let runs = s
                .runs("lakehouse_gold", None, 100)
                .await
                .unwrap_or_default();
            runs.len() == count && runs.iter().all(|r| r.state == "success")
        },
    )
    .await;
    let runs = store.runs("lakehouse_gold", None, 100).await.expect("runs");
    let partitions: BTreeSet<String> = runs
        .iter()
        .map(|r| {
            let conf: Value = serde_json::from_str(&r.conf).expect("conf");
            assert_eq!(r.run_type, "asset_triggered");
            conf["partition"]["event_date"]
                .as_str()
                .expect("date")
                .to_string()
        })
        .collect();
    assert_eq!(partitions, dates, "one run per date silver's write touched");
    for table in ["active_users_by_day", "tweet_volume_by_region"] {
        let location = lake.join("gold").join(table);
        let gold: BTreeSet<String> = query_delta(
            &[("gold", location.as_path())],
            "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d FROM gold",
        )
        .await
        .iter()
        .map(|r| r["d"].as_str().expect("date").to_string())
        .collect();
        assert_eq!(
            gold, dates,
            "gold {table} holds every date, each built by its run"
        );
    }

    // The lineage recorded is the lineage the YAML implies, across both DAGs.
    assert_eq!(
        lineage_recorded(&u, "delta://lake/silver/tweets"),
        lineage_in_yaml(&folder, "file://lake/landing")
    );
    let out = u.run(&["asset", "lineage", "delta://lake/bronze/tweets"]);
    let (said, _) = text(&out);
    assert!(out.status.success(), "{said}");
    for line in [
        "file://lake/landing => lakehouse_silver (DAG) (triggers)",
        "file://lake/landing -> lakehouse_silver.land -> delta://lake/bronze/tweets",
        "delta://lake/silver/tweets => lakehouse_gold (DAG) (triggers)",
        "delta://lake/gold/active_users_by_day -> lakehouse_gold.load_active_users_by_day -> warehouse://warehouse/gold.active_users_by_day",
    ] {
        assert!(said.lines().any(|l| l == line), "`{line}` in:\n{said}");
    }

    // The assets page draws it, in a real browser.
    let b = Browser::start().await;
    b.open(&format!("{}/assets", server.base)).await;
    b.find("svg.lineage").await;
    let labels = b
        .execute(
            "return [...document.querySelectorAll('svg.lineage title')].map(t => t.textContent)",
        )
        .await;
    for node in [
        "file://lake/landing",
        "lakehouse_silver.silver",
        "delta://lake/silver/tweets",
        "lakehouse_gold (DAG)",
        "warehouse://warehouse/gold.tweet_volume_by_region",
    ] {
        assert!(
            labels.as_array().is_some_and(|l| l.contains(&json!(node))),
            "{node} in {labels}"
        );
    }
    b.screenshot(&repo_path("target/ui-screenshots/assets.png"))
        .await;
    b.click("a[href^='/assets/'] code").await;
    let events = b.text("table.assets").await;
    assert!(events.contains("lakehouse_"), "{events}");
    b.quit().await;
    drop(server);
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_sends_openlineage_events() {
    let u = Updraft::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    u.write_dag(
        "lineage_demo.yaml",
        r#"dag_id: lineage_demo
tasks:
  make:
    type: delta_sql
    with: {query: "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b'", table: "{{ lake }}/src", mode: overwrite}
  copy:
    type: delta_sql
    depends_on: [make]
    with: {tables: {src: "{{ lake }}/src"}, query: "SELECT * FROM src", table: "{{ lake }}/dst", mode: append}
  boom:
    type: shell
    depends_on: [copy]
    with: {command: "echo no; exit 3"}
"#,
    );
    let key = "ol-key-5f2b9c1e7d";
    let out = u
        .command(&["dag", "trigger", "lineage_demo", "--run-id", "r1"])
        .env("UPDRAFT_OPENLINEAGE_URL", &receiver.base)
        .env("UPDRAFT_OPENLINEAGE_API_KEY", key)
        .env("UPDRAFT_LAKE", u.dir.path().join("lake"))
        .output()
        .expect("trigger");
    assert_eq!(out.status.code(), Some(1), "boom fails: {:?}", text(&out));
    let received = receiver.at("/api/v1/lineage");
    assert_eq!(
        received.len(),
        6,
        "a start and an end per attempt: {received:?}"
    );
    assert!(
        received
            .iter()
            .all(|r| r.headers.contains(&format!("Bearer {key}")))
    );
    let events: Vec<Value> = received.iter().map(|r| r.body.clone()).collect();
    let of =
        |job: &str| -> Vec<&Value> { events.iter().filter(|e| e["job"]["name"] == job).collect() };
    for (task, end) in [("make", "COMPLETE"), ("copy", "COMPLETE"), ("boom", "FAIL")] {
        let mine = of(&format!("lineage_demo.{task}"));
        let kinds: Vec<&Value> = mine.iter().map(|e| &e["eventType"]).collect();
        assert_eq!(
            kinds,
            [&json!("START"), &json!(end)],
            "{task}: START before its end"
        );
        assert_eq!(mine[0]["run"]["runId"], mine[1]["run"]["runId"]);
        assert_eq!(
            mine[1]["run"]["facets"]["parent"]["job"]["name"],
            "lineage_demo"
        );
    }
    let copy = of("lineage_demo.copy")[1];
    assert_eq!(copy["inputs"][0]["namespace"], "delta://lake");
    assert_eq!(copy["inputs"][0]["name"], "src");
    assert_eq!(
        copy["inputs"][0]["facets"]["version"]["datasetVersion"],
        "0"
    );
    let output = &copy["outputs"][0];
    assert_eq!(output["name"], "dst");
    assert_eq!(output["outputFacets"]["outputStatistics"]["rowCount"], 2);
    assert_eq!(
        output["facets"]["schema"]["fields"],
        json!([{"name": "id", "type": "long"}, {"name": "name", "type": "string"}])
    );
    let boom = of("lineage_demo.boom")[1];
    assert!(
        boom["run"]["facets"]["errorMessage"]["message"]
            .as_str()
            .is_some_and(|m| m.contains('3')),
        "{boom}"
    );

    // OpenLineage's own client rebuilds every event unchanged.
    let file = u.dir.path().join("events.json");
    std::fs::write(&file, serde_json::to_string(&events).expect("json")).expect("write");
    let python = std::env::var("OPENLINEAGE_PYTHON")
        .expect("OPENLINEAGE_PYTHON (scripts/ensure-openlineage.sh sets it)");
    let checked = std::process::Command::new(python)
        .arg(repo_path("tests/openlineage/validate.py"))
        .arg(&file)
        .output()
        .expect("validate.py");
    let (said, err) = text(&checked);
    assert!(checked.status.success(), "{said}{err}");
    assert_eq!(said.trim(), "ok 6");

    // Recorded like alerts, without the key.
    let out = u.run(&["alerts", "list", "-o", "json"]);
    let (listed, _) = text(&out);
    assert_eq!(listed.matches("\"openlineage\"").count(), 6, "{listed}");
    assert!(!listed.contains(key));
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_asset_alerts_once_per_period() {
    let u = Updraft::new(Backend::Sqlite).await;
    let receiver = Receiver::start().await;
    u.write_dag(
        "watch.yaml",
        &format!(
            r#"dag_id: watch
freshness:
  - asset: "{{{{ lake }}}}/daily"
    max_age: 3s
    on_stale:
      - webhook: {{url: "{}/stale"}}
tasks:
  write:
    type: delta_sql
    with: {{query: "SELECT 1 AS n", table: "{{{{ lake }}}}/daily", mode: append}}
"#,
            receiver.base
        ),
    );
    let env = [("UPDRAFT_LAKE", u.dir.path().join("lake"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.to_str().unwrap())).collect();
    let daemon = Daemon::start(&u, "scheduler", &env);
    let stale = || receiver.at("/stale").len();
    // Never written: stale once max_age after the rule was read, and only once.
    wait_for(
        "the first stale alert",
        Duration::from_secs(20),
        &[&daemon],
        || async { stale() == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(stale(), 1, "one alert per stale period");
    let first = &receiver.at("/stale")[0].body;
    assert_eq!(first["event"], "asset_stale");
    assert_eq!(first["asset"], "delta://lake/daily");
    let listed = u.run(&["asset", "list", "-o", "json"]);
    let assets: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(assets[0]["freshness"], "stale", "{assets}");

    // A write makes it fresh (no alert while fresh); going stale again alerts again.
    let out = u
        .command(&["dag", "trigger", "watch"])
        .envs(env.iter().copied())
        .output()
        .expect("trigger");
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let s = &store;
    wait_for(
        "fresh again",
        Duration::from_secs(10),
        &[&daemon],
        || async {
            s.freshness()
                .await
                .is_ok_and(|f| f[0].state.as_str() == "fresh")
        },
    )
    .await;
    assert_eq!(stale(), 1, "no alert while fresh");
    wait_for(
        "the second stale alert",
        Duration::from_secs(20),
        &[&daemon],
        || async { stale() == 2 },
    )
    .await;
    let rules = store.freshness().await.expect("rules");
    assert_eq!(rules[0].stale_periods, 2);
    assert!(daemon.stop().success());
    u.cleanup().await;
}
