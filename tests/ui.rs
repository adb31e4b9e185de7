//! The web UI in a real browser (headless Chromium through WebDriver) against
//! `updraft standalone`: the DAG list, a grid, a failed task's log, triggering a run
//! with a conf, clearing a task and seeing it run again, the graph, and logging in with
//! a token. Screenshots of the list, grid and graph are kept in `target/ui-screenshots/`.

use crate::support::{Browser, Updraft, WebServer, repo_path, text};
use serde_json::json;
use std::time::Duration;

/// Where the screenshots go (kept after the test as artifacts).
fn shot(name: &str) -> std::path::PathBuf {
    repo_path("target/ui-screenshots").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_finds_a_failure_reads_its_log_triggers_and_clears() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "etl.yaml",
        "dag_id: etl\ndescription: extract, a step that fails, load\ntasks:\n  extract: { type: shell, with: { command: 'echo extracted' } }\n  boom:\n    type: shell\n    depends_on: [extract]\n    with: { command: 'echo going wrong at {{ run_id }}; exit 3' }\n  load: { type: noop, depends_on: [boom] }\n",
    );
    u.write_dag(
        "hello.yaml",
        "dag_id: hello\ndisplay_name: Hello world\ntasks:\n  hi: { type: shell, with: { command: 'echo hi' } }\n  load_the_gold_sensor_statistics_by_hour_into_the_warehouse: { type: noop, depends_on: [hi] }\n",
    );
    u.write_dag(
        "broken.yaml",
        "dag_id: broken\ntasks:\n  a:\n    type: noop\n    retrys: 3\n",
    );
    let out = u.run(&["dag", "trigger", "etl", "--run-id", "first"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let server = WebServer::start(&u, "standalone", &[]);
    let api = server.client(None);
    let b = Browser::start().await;

    // The DAG list: both DAGs (by the names people gave them, ids beside), the broken
    // file, the failed run's square.
    b.open(&format!("{}/", server.base)).await;
    let list = b.text("main").await;
    assert!(
        list.contains("etl") && list.contains("Hello world hello"),
        "{list}"
    );
    assert!(list.contains("extract, a step that fails, load"), "{list}");
    let banner = b.text(".banner").await;
    assert!(
        banner.contains("broken.yaml:5:5") && banner.contains("retrys"),
        "{banner}"
    );
    b.find("a[title='first: failed']").await;
    let last_runs = b
        .execute(
            "return [...document.querySelectorAll('tbody tr')].map(r => r.cells[0].innerText.split('\\n')[0] + ': ' + r.querySelector('td.last-run').innerText.split('\\n')[0].trim())",
        )
        .await;
    assert_eq!(
        last_runs,
        json!(["etl: failed", "Hello world hello: never ran"]),
        "a DAG that never ran is not shown as failed"
    );
    let header = b.text("header").await;
    assert!(
        !header.contains("Log out"),
        "an open server has no one to log out: {header}"
    );
    b.screenshot(&shot("dag-list.png")).await;

    // The grid, and the failed task's log.
    b.click("a[href='/dags/etl']").await;
    b.find("a[aria-label='boom in first: failed']").await;
    b.find("a[aria-label='load in first: upstream_failed']")
        .await;
    b.screenshot(&shot("grid.png")).await;
    b.click("a[aria-label='boom in first: failed']").await;
    let log = b.text("pre#log").await;
    assert!(log.contains("going wrong at first"), "{log}");
    assert!(b.text("td.error").await.contains('3'), "the try's error");

    // Clear the failed task: the scheduler runs it (and load) again, as try 2.
    b.click("form[data-url$='/clear'] button").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, tries) = api
            .get("/api/v2/dags/etl/dagRuns/first/taskInstances/boom/tries")
            .await;
        let states: Vec<&serde_json::Value> = tries["task_instances"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["state"]).collect())
            .unwrap_or_default();
        if states == [&json!("failed"), &json!("failed")] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "boom never ran again: {tries}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.open(&format!("{}/dags/etl/runs/first/tasks/boom", server.base))
        .await;
    b.find("a[href$='?try=2']").await;

    // A conf that is not JSON is refused in the page; a good one triggers a run that the
    // scheduler runs and the grid shows.
    b.open(&format!("{}/dags/etl", server.base)).await;
    b.type_into("textarea[name=conf]", "{not json").await;
    b.click("form[data-url$='/dagRuns'] button").await;
    assert!(
        b.wait_for_text(
            "form[data-url$='/dagRuns'] .error",
            "Not valid JSON",
            Duration::from_secs(5)
        )
        .await
        .contains("JSON")
    );
    b.type_into("textarea[name=conf]", r#"{"region": "eu"}"#)
        .await;
    b.type_into("input[name=dag_run_id]", "from_ui").await;
    b.click("form[data-url$='/dagRuns'] button").await;
    b.find("a[aria-label='extract in from_ui: success']").await;
    let (_, run) = api.get("/api/v2/dags/etl/dagRuns/from_ui").await;
    assert_eq!(run["conf"], json!({"region": "eu"}), "{run}");
    assert_eq!(run["run_type"], json!("manual"));
    b.open(&format!("{}/dags/etl", server.base)).await;
    b.find("a[aria-label='boom in from_ui: failed']").await;
    b.screenshot(&shot("grid.png")).await;

    // The graph of the newest run.
    b.open(&format!("{}/dags/etl/graph", server.base)).await;
    let svg = b.source().await;
    assert!(
        svg.contains("<svg") && svg.contains(">boom<") && svg.contains("node s-"),
        "{svg}"
    );
    b.screenshot(&shot("graph.png")).await;

    // Every task id fits its box, however long.
    b.open(&format!("{}/dags/hello/graph", server.base)).await;
    b.find("svg text").await;
    let overflowing = b
        .execute(
            "return [...document.querySelectorAll('svg a')].filter(a => { const t = a.querySelector('text'), r = a.querySelector('rect'); return t.getBBox().x + t.getBBox().width > r.getBBox().x + r.getBBox().width - 4; }).map(a => a.querySelector('text').textContent)",
        )
        .await;
    assert_eq!(overflowing, json!([]), "labels wider than their boxes");
    assert!(
        b.source()
            .await
            .contains("load_the_gold_sensor_statistics_by_hour")
    );

    b.quit().await;
    assert!(server.stop().success());
    u.cleanup().await;
}

/// With tokens, a page sends the browser to the login page, which lets a valid token in
/// and keeps it in a cookie; a viewer's click on an operator's button is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_token_and_a_viewer_cannot_trigger() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "hello.yaml",
        "dag_id: hello\ntasks:\n  hi: { type: shell, with: { command: 'echo hi' } }\n",
    );
    let server = WebServer::start(
        &u,
        "webserver",
        &[(
            "UPDRAFT_API_TOKENS",
            "viewer:viewer-token-0123456789,operator:operator-token-0123456789",
        )],
    );
    let b = Browser::start().await;
    b.open(&format!("{}/dags/hello", server.base)).await;
    b.find("input[name=token]").await;
    assert!(
        b.url().await.contains("/login?next=%2Fdags%2Fhello"),
        "{}",
        b.url().await
    );
    b.type_into("input[name=token]", "wrong-token-0123456789")
        .await;
    b.click("main button[type=submit]").await;
    b.find("p.error").await;
    b.type_into("input[name=token]", "viewer-token-0123456789")
        .await;
    b.click("main button[type=submit]").await;
    b.find("form[data-url$='/dagRuns']").await;
    assert!(
        b.url().await.ends_with("/dags/hello"),
        "back where the user was going"
    );
    b.click("form[data-url$='/dagRuns'] button").await;
    let refused = b
        .wait_for_text(
            "form[data-url$='/dagRuns'] .error",
            "operator",
            Duration::from_secs(5),
        )
        .await;
    assert!(refused.contains("operator token"), "{refused}");
    let (_, runs) = server
        .client(Some("viewer-token-0123456789"))
        .get("/api/v2/dags/hello/dagRuns")
        .await;
    assert_eq!(runs["total_entries"], json!(0), "{runs}");

    // Logging out forgets the token: the next page asks for one again.
    b.click("header form[action='/logout'] button").await;
    b.find("input[name=token]").await;
    b.open(&format!("{}/dags/hello", server.base)).await;
    b.find("input[name=token]").await;
    assert!(b.url().await.contains("/login?next="), "{}", b.url().await);
    b.quit().await;
    drop(server);
    u.cleanup().await;
}

/// A DAG's versions in the browser: listed with what changed, compared line by line; a
/// run shows its version, and an old run is drawn with the tasks it had (a removed task
/// still shows in the grid for the runs that had it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_listed_compared_and_drawn() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "v.yaml",
        "dag_id: v\ntasks:\n  a: {type: noop}\n  old_step: {type: noop, depends_on: [a]}\n",
    );
    assert!(
        u.run(&["dag", "trigger", "v", "--run-id", "r1"])
            .status
            .success()
    );
    u.write_dag(
        "v.yaml",
        "dag_id: v\ntasks:\n  a: {type: noop}\n  new_step: {type: noop, depends_on: [a]}\n",
    );
    assert!(
        u.run(&["dag", "trigger", "v", "--run-id", "r2"])
            .status
            .success()
    );
    let server = WebServer::start(&u, "webserver", &[]);
    let b = Browser::start().await;

    b.open(&format!("{}/dags/v/versions", server.base)).await;
    let table = b.text("table").await;
    assert!(table.contains("first version"), "{table}");
    assert!(table.contains("+new_step -old_step"), "{table}");
    let removed = b.text("pre.diff del").await;
    assert!(removed.contains("old_step"), "{removed}");
    let added = b.text("pre.diff ins").await;
    assert!(added.contains("new_step"), "{added}");
    b.screenshot(&shot("versions.png")).await;

    // The grid keeps the removed task's row for the run that had it.
    b.open(&format!("{}/dags/v", server.base)).await;
    b.find("a[aria-label='old_step in r1: success']").await;
    b.find("a[aria-label='old_step in r2: none']").await;
    b.find("a[aria-label='new_step in r2: success']").await;

    // The old run is drawn with its own tasks, and says which version it ran.
    b.open(&format!("{}/dags/v/graph?run_id=r1", server.base))
        .await;
    let graph = b.source().await;
    assert!(
        graph.contains(">old_step<") && !graph.contains(">new_step<"),
        "{graph}"
    );
    b.open(&format!("{}/dags/v/runs/r1", server.base)).await;
    assert!(b.text("main").await.contains("DAG version 1"));
    b.quit().await;
    assert!(server.stop().success());
    u.cleanup().await;
}
