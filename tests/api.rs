//! The REST API as a client meets it: every endpoint on both backends, with the status
//! codes and JSON an Airflow client expects, tokens and roles, and a trigger through the
//! API executed by `updraft standalone` with its log followed while it runs.

use crate::support::{Api, Updraft, WebServer, text};
use chrono::SubsecRound;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

on_both_backends!(every_endpoint_answers_as_documented);

const OPERATOR: &str = "operator-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// extract → boom (fails) → load; and a file that does not load.
fn write_dags(u: &Updraft) {
    u.write_dag(
        "etl.yaml",
        "dag_id: etl\ndescription: three steps\ntasks:\n  extract: { type: shell, with: { command: 'echo extracted' } }\n  boom:\n    type: shell\n    depends_on: [extract]\n    with: { command: 'echo going wrong; exit 3' }\n  load:\n    type: noop\n    depends_on: [boom]\n",
    );
    u.write_dag(
        "broken.yaml",
        "dag_id: broken\ntasks:\n  a:\n    type: noop\n    retrys: 3\n",
    );
}

/// The states of a run's task instances, by task id.
async fn states(api: &Api, run: &str) -> Vec<(String, Value)> {
    let (status, body) = api
        .get(&format!("/api/v2/dags/etl/dagRuns/{run}/taskInstances"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["task_instances"]
        .as_array()
        .expect("task_instances")
        .iter()
        .map(|ti| {
            (
                ti["task_id"].as_str().unwrap_or_default().to_string(),
                ti["state"].clone(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// An error answer: the status code and `{status, title, detail}` that says `words`.
fn assert_error(answer: &(u16, Value), status: u16, words: &str) {
    let (code, body) = answer;
    assert_eq!(*code, status, "{body}");
    assert_eq!(body["status"], json!(status), "{body}");
    assert!(body["title"].is_string(), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "expected `{words}` in {body}");
}

async fn every_endpoint_answers_as_documented(u: &Updraft) {
    write_dags(u);
    let out = u.run(&["dag", "trigger", "etl", "--run-id", "first"]);
    assert!(!out.status.success(), "boom must fail: {:?}", text(&out));
    let tokens = format!("operator:{OPERATOR},viewer:{VIEWER}");
    let server = WebServer::start(u, "webserver", &[("UPDRAFT_API_TOKENS", &tokens)]);
    let (op, viewer) = (server.client(Some(OPERATOR)), server.client(Some(VIEWER)));

    // Who may do what.
    assert_error(
        &server.client(None).get("/api/v2/dags").await,
        401,
        "Bearer",
    );
    assert_error(
        &server
            .client(Some("not-a-token-at-all"))
            .get("/api/v2/dags")
            .await,
        401,
        "not valid",
    );
    let (status, dags) = viewer.get("/api/v2/dags").await;
    assert_eq!(status, 200, "{dags}");
    assert_eq!(dags["total_entries"], json!(1), "{dags}");
    assert_eq!(dags["dags"][0]["dag_id"], json!("etl"));
    assert_eq!(dags["dags"][0]["is_paused"], json!(false));
    assert_eq!(dags["dags"][0]["description"], json!("three steps"));
    let trigger = r#"{"dag_run_id": "from_api", "conf": {"source": "api"}}"#;
    assert_error(
        &viewer
            .call(Method::POST, "/api/v2/dags/etl/dagRuns", trigger)
            .await,
        403,
        "operator",
    );
    assert_error(
        &viewer
            .call(Method::PATCH, "/api/v2/dags/etl", r#"{"is_paused": true}"#)
            .await,
        403,
        "operator",
    );

    // DAGs.
    assert_error(&viewer.get("/api/v2/dags/nope").await, 404, "no DAG `nope`");
    let (status, dag) = viewer.get("/api/v2/dags/etl").await;
    assert_eq!((status, &dag["dag_id"]), (200, &json!("etl")), "{dag}");
    let (status, dag) = op
        .call(Method::PATCH, "/api/v2/dags/etl", r#"{"is_paused": true}"#)
        .await;
    assert_eq!((status, &dag["is_paused"]), (200, &json!(true)), "{dag}");
    let (_, dag) = op
        .call(Method::PATCH, "/api/v2/dags/etl", r#"{"is_paused": false}"#)
        .await;
    assert_eq!(dag["is_paused"], json!(false));
    assert_error(
        &op.call(Method::PATCH, "/api/v2/dags/etl", r#"{"is_paused": "yes"}"#)
            .await,
        400,
        "is_paused",
    );

    // Triggering, and what a bad body gets.
    let (status, run) = op
        .call(Method::POST, "/api/v2/dags/etl/dagRuns", trigger)
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (&run["dag_run_id"], &run["state"], &run["run_type"]),
        (&json!("from_api"), &json!("queued"), &json!("manual"))
    );
    assert_eq!(run["conf"], json!({"source": "api"}));
    let listed = u.run(&["dag", "runs", "etl", "-o", "json"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("from_api"),
        "{:?}",
        text(&listed)
    );
    assert_error(
        &op.call(Method::POST, "/api/v2/dags/etl/dagRuns", trigger)
            .await,
        409,
        "from_api",
    );
    assert_error(
        &op.call(Method::POST, "/api/v2/dags/etl/dagRuns", "{\"conf\": ")
            .await,
        400,
        "JSON",
    );
    assert_error(
        &op.call(Method::POST, "/api/v2/dags/etl/dagRuns", r#"{"conf": [1]}"#)
            .await,
        400,
        "conf",
    );
    assert_error(
        &op.call(Method::POST, "/api/v2/dags/etl/dagRuns", r#"{"run": "x"}"#)
            .await,
        400,
        "unknown field",
    );
    assert_error(
        &op.call(Method::POST, "/api/v2/dags/nope/dagRuns", "{}")
            .await,
        404,
        "nope",
    );

    // A form of another site can post text/plain, never JSON: such bodies are refused.
    let plain = op
        .http
        .post(format!("{}/api/v2/dags/etl/dagRuns", op.base))
        .bearer_auth(OPERATOR)
        .header("content-type", "text/plain")
        .body(r#"{"dag_run_id": "csrf"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(plain.status().as_u16(), 415);

    // Listing runs.
    let (status, page) = viewer.get("/api/v2/dags/etl/dagRuns?state=failed").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total_entries"], json!(1));
    assert_eq!(page["dag_runs"][0]["dag_run_id"], json!("first"));
    let (_, page) = viewer
        .get("/api/v2/dags/etl/dagRuns?order_by=run_id&limit=1")
        .await;
    assert_eq!(
        (&page["total_entries"], &page["dag_runs"][0]["dag_run_id"]),
        (&json!(2), &json!("first")),
        "{page}"
    );
    let (_, page) = viewer
        .get("/api/v2/dags/etl/dagRuns?order_by=-run_id&limit=1&offset=1")
        .await;
    assert_eq!(page["dag_runs"][0]["dag_run_id"], json!("first"), "{page}");
    let (_, page) = viewer.get("/api/v2/dags/etl/dagRuns?offset=5").await;
    assert_eq!(
        (&page["total_entries"], &page["dag_runs"]),
        (&json!(2), &json!([])),
        "a page past the end still counts the runs: {page}"
    );
    let (_, page) = viewer
        .get("/api/v2/dags/etl/dagRuns?state=queued,failed")
        .await;
    assert_eq!(page["total_entries"], json!(2), "{page}");
    assert_error(
        &viewer.get("/api/v2/dags/etl/dagRuns?order_by=conf").await,
        400,
        "order_by",
    );
    assert_error(
        &viewer.get("/api/v2/dags/etl/dagRuns?state=done").await,
        400,
        "state",
    );
    assert_error(
        &viewer.get("/api/v2/dags/etl/dagRuns?limit=0").await,
        400,
        "limit",
    );
    assert_error(
        &viewer.get("/api/v2/dags/etl/dagRuns?colour=red").await,
        400,
        "colour",
    );
    assert_error(&viewer.get("/api/v2/dags/nope/dagRuns").await, 404, "nope");

    // One run, its task instances, tries and logs.
    let (status, run) = viewer.get("/api/v2/dags/etl/dagRuns/first").await;
    assert_eq!((status, &run["state"]), (200, &json!("failed")), "{run}");
    assert_error(
        &viewer.get("/api/v2/dags/etl/dagRuns/zzz").await,
        404,
        "zzz",
    );
    assert_eq!(
        states(&viewer, "first").await,
        pairs(&[
            ("boom", json!("failed")),
            ("extract", json!("success")),
            ("load", json!("upstream_failed"))
        ])
    );
    let (status, ti) = viewer
        .get("/api/v2/dags/etl/dagRuns/first/taskInstances/boom")
        .await;
    assert_eq!((status, &ti["try_number"]), (200, &json!(1)), "{ti}");
    assert_error(
        &viewer
            .get("/api/v2/dags/etl/dagRuns/first/taskInstances/nope")
            .await,
        404,
        "nope",
    );
    let (status, tries) = viewer
        .get("/api/v2/dags/etl/dagRuns/first/taskInstances/boom/tries")
        .await;
    assert_eq!(
        (status, &tries["total_entries"]),
        (200, &json!(1)),
        "{tries}"
    );
    assert_eq!(tries["task_instances"][0]["state"], json!("failed"));
    assert!(
        tries["task_instances"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains('3'),
        "{tries}"
    );
    // The log: Airflow's structured lines in pages, or text with `Accept: text/plain`.
    let log_url = "/api/v2/dags/etl/dagRuns/first/taskInstances/boom/logs/1";
    let (status, page) = viewer.get(log_url).await;
    assert_eq!(status, 200, "{page}");
    let events: Vec<&str> = page["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|line| line["event"].as_str())
        .collect();
    assert!(events.iter().any(|e| e.contains("going wrong")), "{page}");
    assert!(page["content"][0]["timestamp"].is_string(), "{page}");
    let token = page["continuation_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (_, rest) = viewer.get(&format!("{log_url}?token={token}")).await;
    assert_eq!(
        rest["content"],
        json!([]),
        "nothing after the last page: {rest}"
    );
    let (_, again) = viewer
        .get(&format!("{log_url}?token={token}&full_content=true"))
        .await;
    assert_eq!(
        again["content"], page["content"],
        "full_content starts again"
    );
    let (status, log) = viewer.get_as(log_url, "text/plain").await;
    assert_eq!(status, 200, "{log}");
    assert!(log.contains("going wrong") && log.starts_with('['), "{log}");
    assert_error(
        &viewer.get(&format!("{log_url}?map_index=2")).await,
        404,
        "map_index",
    );
    assert_error(
        &viewer
            .get("/api/v2/dags/etl/dagRuns/first/taskInstances/boom/logs/7")
            .await,
        404,
        "attempt 7",
    );
    assert_error(
        &viewer
            .get("/api/v2/dags/etl/dagRuns/first/taskInstances/boom/logs/x")
            .await,
        400,
        "",
    );
    let (status, results) = viewer
        .get("/api/v2/dags/etl/dagRuns/first/testResults")
        .await;
    assert_eq!(
        (status, &results["total_entries"]),
        (200, &json!(0)),
        "{results}"
    );

    // Clearing: a dry run by default (as Airflow), then for real.
    let clear = "/api/v2/dags/etl/dagRuns/first/clear";
    assert_error(
        &viewer.call(Method::POST, clear, "{}").await,
        403,
        "operator",
    );
    let (status, would) = op
        .call(Method::POST, clear, r#"{"only_failed": true}"#)
        .await;
    assert_eq!(status, 200, "{would}");
    let ids: Vec<&Value> = would["task_instances"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| &t["task_id"])
        .collect();
    assert_eq!(ids, [&json!("boom"), &json!("load")], "{would}");
    assert_eq!(
        viewer.get("/api/v2/dags/etl/dagRuns/first").await.1["state"],
        json!("failed")
    );
    // As Airflow: a clear answers with the run, queued again.
    let (status, cleared) = op
        .call(
            Method::POST,
            clear,
            r#"{"dry_run": false, "task_ids": ["boom"], "only_new": false, "note": null}"#,
        )
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(
        (&cleared["dag_run_id"], &cleared["state"]),
        (&json!("first"), &json!("queued")),
        "{cleared}"
    );
    assert_eq!(
        viewer.get("/api/v2/dags/etl/dagRuns/first").await.1["state"],
        json!("queued")
    );
    assert_eq!(
        states(&viewer, "first").await,
        pairs(&[
            ("boom", Value::Null),
            ("extract", json!("success")),
            ("load", Value::Null)
        ])
    );
    assert_error(
        &op.call(Method::POST, clear, r#"{"task_ids": ["nope"]}"#)
            .await,
        400,
        "nope",
    );

    // Marking a task with what is downstream, then the whole run.
    let (status, marked) = op
        .call(
            Method::PATCH,
            "/api/v2/dags/etl/dagRuns/first/taskInstances/boom",
            r#"{"new_state": "failed", "include_downstream": true}"#,
        )
        .await;
    assert_eq!(
        (status, &marked["total_entries"]),
        (200, &json!(2)),
        "{marked}"
    );
    assert_eq!(
        states(&viewer, "first").await,
        pairs(&[
            ("boom", json!("failed")),
            ("extract", json!("success")),
            ("load", json!("failed"))
        ])
    );
    let (status, run) = op
        .call(
            Method::PATCH,
            "/api/v2/dags/etl/dagRuns/from_api",
            r#"{"state": "success"}"#,
        )
        .await;
    assert_eq!((status, &run["state"]), (200, &json!("success")), "{run}");
    assert_eq!(
        states(&viewer, "from_api").await,
        pairs(&[
            ("boom", json!("success")),
            ("extract", json!("success")),
            ("load", json!("success"))
        ])
    );
    assert_error(
        &op.call(
            Method::PATCH,
            "/api/v2/dags/etl/dagRuns/from_api",
            r#"{"state": "running"}"#,
        )
        .await,
        400,
        "success or failed",
    );
    // A note is kept with the run, shown in its answers, and limited as in Airflow.
    let (status, run) = op
        .call(
            Method::PATCH,
            "/api/v2/dags/etl/dagRuns/from_api?update_mask=note",
            r#"{"note": "marked by hand after the outage", "state": "failed"}"#,
        )
        .await;
    assert_eq!(
        (status, &run["note"], &run["state"]),
        (
            200,
            &json!("marked by hand after the outage"),
            &json!("success")
        ),
        "the mask leaves the state alone: {run}"
    );
    let (_, listed) = viewer
        .get("/api/v2/dags/etl/dagRuns?run_id_pattern=API")
        .await;
    assert_eq!(
        listed["dag_runs"][0]["note"],
        json!("marked by hand after the outage")
    );
    let long = json!({ "note": "x".repeat(1001) }).to_string();
    assert_error(
        &op.call(Method::PATCH, "/api/v2/dags/etl/dagRuns/from_api", &long)
            .await,
        400,
        "at most 1000",
    );
    // The run's last change is the note: it alone changed after the note's time.
    let noted_at = chrono::Utc::now();
    let (status, _) = op
        .call(
            Method::PATCH,
            "/api/v2/dags/etl/dagRuns/from_api",
            r#"{"note": "noted again"}"#,
        )
        .await;
    assert_eq!(status, 200);
    // SQLite keeps updated_at to the millisecond (its clock's precision).
    let since = noted_at
        .trunc_subsecs(3)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, changed) = viewer
        .get(&format!(
            "/api/v2/dags/~/dagRuns?updated_at_gte={since}&order_by=-updated_at"
        ))
        .await;
    assert_eq!(status, 200, "{changed}");
    let ids: Vec<&Value> = changed["dag_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| &r["dag_run_id"])
        .collect();
    assert_eq!(ids, [&json!("from_api")], "{changed}");
    assert_error(
        &viewer
            .get("/api/v2/dags/etl/dagRuns?triggering_user_name_pattern=ann")
            .await,
        400,
        "run_after_gte",
    );

    // Passwords in a conf are masked in every answer; an oversized body is refused.
    let secret = r#"{"dag_run_id": "with_secret", "conf": {"source": "postgres://etl:hunter2secret@db:5432/x"}}"#;
    let (status, run) = op
        .call(Method::POST, "/api/v2/dags/etl/dagRuns", secret)
        .await;
    assert_eq!(status, 200, "{run}");
    let (_, listed) = viewer.get("/api/v2/dags/etl/dagRuns?limit=100").await;
    for answer in [run.to_string(), listed.to_string()] {
        assert!(
            !answer.contains("hunter2secret") && answer.contains("etl:***@db"),
            "{answer}"
        );
    }
    let huge = format!(r#"{{"conf": {{"blob": "{}"}}}}"#, "x".repeat(300 * 1024));
    let (status, _) = op
        .send(Method::POST, "/api/v2/dags/etl/dagRuns", Some(&huge))
        .await;
    assert_eq!(status, 413);

    // Import errors, health, and the document.
    let (status, errors) = viewer.get("/api/v2/importErrors").await;
    assert_eq!(
        (status, &errors["total_entries"]),
        (200, &json!(1)),
        "{errors}"
    );
    let error = &errors["import_errors"][0];
    assert!(
        error["filename"]
            .as_str()
            .unwrap_or_default()
            .ends_with("broken.yaml"),
        "{error}"
    );
    assert_eq!(
        (&error["line"], &error["column"]),
        (&json!(5), &json!(5)),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("retrys"),
        "{error}"
    );
    let (status, health) = server.client(None).get("/api/v2/monitor/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["metadatabase"]["status"], json!("healthy"));
    assert_eq!(
        health["scheduler"]["status"],
        json!("unhealthy"),
        "no scheduler runs: {health}"
    );
    // An asset for the asset endpoints to name (id 1).
    let out = u.run(&["asset", "event", "delta://lake/doc_check"]);
    assert!(out.status.success(), "{:?}", text(&out));
    every_documented_operation_exists(&server.client(None), &op).await;
    // The CLI marks through the same use-case.
    let out = u.run(&["task", "mark", "etl", "doc_check", "failed"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (_, run) = viewer.get("/api/v2/dags/etl/dagRuns/doc_check").await;
    assert_eq!(run["state"], json!("failed"), "{run}");
    assert_eq!(
        states(&viewer, "doc_check").await,
        pairs(&[
            ("boom", json!("skipped")),
            ("extract", json!("skipped")),
            ("load", json!("skipped"))
        ])
    );
    drop(server);
}

/// Each operation of `/api/v2/openapi.json` is routed: called with ids that exist, it
/// answers with neither 405 nor a 404 of the router (which has no JSON error body).
async fn every_documented_operation_exists(public: &Api, op: &Api) {
    let (status, doc) = public.get("/api/v2/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 31, "{:?}", paths.keys().collect::<Vec<_>>());
    // The login has a test of its own (tests/airflow_client.rs): this server has no users.
    for (path, ops) in paths.iter().filter(|(path, _)| *path != "/auth/token") {
        // Airflow's batch listings take `~` for their ids.
        let batch = path.ends_with("/list");
        let concrete = path
            .replace("{dag_id}", if batch { "~" } else { "etl" })
            .replace("{dag_run_id}", if batch { "~" } else { "first" })
            .replace("{task_id}", "boom")
            .replace("{try_number}", "1")
            .replace("{version_number}", "1")
            .replace("{asset_id}", "1")
            .replace("{xcom_key}", "return_value")
            .replace("{map_index}", "-1");
        for method in ops.as_object().expect("operations").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // Bodies that are valid but change nothing new: a dry-run clear, marks as now.
            let body = match (method.as_str(), path.as_str()) {
                ("PATCH", "/api/v2/dags/{dag_id}") => Some(r#"{"is_paused": false}"#),
                ("PATCH", p) if p.ends_with("{task_id}") || p.ends_with("{map_index}") => {
                    Some(r#"{"new_state": "failed"}"#)
                }
                ("PATCH", _) => Some(r#"{"state": "failed"}"#),
                ("POST", p) if p.ends_with("/clear") => Some("{}"),
                ("POST", p) if p.ends_with("/list") => Some(r#"{"page_limit": 5}"#),
                ("POST", "/api/v2/assets/events") => Some(r#"{"asset_id": 1}"#),
                ("POST", _) => Some(r#"{"dag_run_id": "doc_check"}"#),
                _ => None,
            };
            let (status, text) = op.send(method.clone(), &concrete, body).await;
            assert!(status == 200, "{method} {concrete}: {status} {text}");
        }
    }
}

/// A run triggered through the API is executed by the scheduler of `updraft standalone`;
/// its running attempt's log is followed to the end; SIGTERM stops the server cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_runs_what_the_api_triggers_and_follows_its_log() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "slow.yaml",
        "dag_id: slow\ntasks:\n  count:\n    type: shell\n    with: { command: 'for i in 1 2 3 4; do echo line $i; sleep 0.5; done' }\n",
    );
    let server = WebServer::start(&u, "standalone", &[]);
    let api = server.client(None);
    api.trigger("slow", "r1").await;
    api.wait_until(
        "/api/v2/dags/slow/dagRuns/r1/taskInstances/count",
        "state",
        &json!("running"),
        Duration::from_secs(30),
    )
    .await;
    let (status, refused) = api
        .call(
            Method::PATCH,
            "/api/v2/dags/slow/dagRuns/r1",
            r#"{"state": "failed"}"#,
        )
        .await;
    assert_eq!(status, 409, "a running run is not marked: {refused}");
    let started = Instant::now();
    let (status, log) = api
        .send(
            Method::GET,
            "/api/v2/dags/slow/dagRuns/r1/taskInstances/count/logs/1?follow=true",
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    for i in 1..=4 {
        assert!(
            log.contains(&format!("line {i}")),
            "line {i} missing from the followed log: {log}"
        );
    }
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "the log was not followed, it was read at once"
    );
    let (_, run) = api.get("/api/v2/dags/slow/dagRuns/r1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut run = run;
    while run["state"] != json!("success") {
        assert!(Instant::now() < deadline, "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        run = api.get("/api/v2/dags/slow/dagRuns/r1").await.1;
    }
    let (_, health) = api.get("/api/v2/monitor/health").await;
    assert_eq!(health["scheduler"]["status"], json!("healthy"), "{health}");
    assert!(
        server.stop().success(),
        "SIGTERM must stop the server cleanly"
    );
    u.cleanup().await;
}

/// Anywhere but loopback, no tokens means no server, and the message says why.
#[tokio::test]
async fn an_open_server_is_refused_off_loopback() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    let out = u.run(&["webserver", "--bind", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("without tokens"), "{:?}", text(&out));
    let out = u
        .command(&["webserver", "--bind", "127.0.0.1:0"])
        .env("UPDRAFT_API_TOKENS", "viewer:short")
        .output()
        .expect("run updraft");
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("shorter than 16"), "{:?}", text(&out));
    u.cleanup().await;
}
