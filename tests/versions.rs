//! DAG versions end to end: a run keeps the DAG it started with across deploys, crashes,
//! hosts with stale folders, clears and deleted files; a queued run starts on the newest;
//! only real changes make versions; a version whose files were kept by hash only refuses
//! changed files; the API answers in Airflow's `DagVersionResponse` shape, checked with
//! Airflow's own client.

use crate::support::{Daemon, Updraft, WebServer, text, wait_for};
use serde_json::{Value, json};
use std::time::Duration;
use updraft::store::Store;

on_both_backends!(
    a_queued_run_starts_on_the_new_version,
    a_run_finishes_on_its_version_after_a_crash_and_an_edit,
    clear_keeps_the_version_or_moves_to_the_newest,
    a_deleted_dag_file_finishes_its_runs,
    only_real_changes_make_versions,
);

/// `task_id: state` of a run's instances, sorted.
async fn states(store: &Store, dag_id: &str, run_id: &str) -> Vec<String> {
    store
        .task_instances(dag_id, run_id)
        .await
        .expect("instances")
        .iter()
        .map(|ti| format!("{}: {}", ti.task_id, ti.state.stored().unwrap_or("none")))
        .collect()
}

/// The run's state now.
async fn run_state(store: &Store, dag_id: &str, run_id: &str) -> String {
    store
        .run(dag_id, run_id)
        .await
        .expect("run")
        .map(|r| r.state.to_string())
        .unwrap_or_default()
}

/// Waits until the run has ended in `state`.
async fn wait_for_run(
    store: &Store,
    (dag_id, run_id): (&str, &str),
    state: &str,
    daemons: &[&Daemon],
) {
    wait_for(
        &format!("run {run_id} of {dag_id} to be {state}"),
        Duration::from_secs(60),
        daemons,
        || async { run_state(store, dag_id, run_id).await == state },
    )
    .await;
}

/// The numbers of the DAG's versions.
async fn version_numbers(store: &Store, dag_id: &str) -> Vec<i64> {
    store
        .dag_versions(dag_id)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version_number)
        .collect()
}

/// Defect 1 of the issue: a queued run of a DAG that then gains a task runs it, on the
/// new version, instead of staying `running` forever.
async fn a_queued_run_starts_on_the_new_version(u: &Updraft) {
    let one =
        "dag_id: v\nmax_active_runs: 1\ntasks:\n  a: {type: shell, with: {command: 'echo a'}}\n";
    u.write_dag("v.yaml", one);
    let out = u.run(&["dag", "trigger", "v", "--queue-only", "--run-id", "queued"]);
    assert!(out.status.success(), "{:?}", text(&out));
    u.write_dag(
        "v.yaml",
        &format!("{one}  c: {{type: shell, depends_on: [a], with: {{command: 'echo c'}}}}\n"),
    );
    let store = u.store().await;
    let scheduler = Daemon::start(u, "scheduler", &[]);
    wait_for_run(&store, ("v", "queued"), "success", &[&scheduler]).await;
    assert_eq!(
        states(&store, "v", "queued").await,
        ["a: success", "c: success"]
    );
    let run = store
        .run("v", "queued")
        .await
        .expect("run")
        .expect("exists");
    assert_eq!(run.dag_version, Some(2));
    assert_eq!(version_numbers(&store, "v").await, [1, 2]);
    // A second run is not held back by the first (max_active_runs: 1).
    let out = u.run(&["dag", "trigger", "v", "--queue-only", "--run-id", "next"]);
    assert!(out.status.success());
    wait_for_run(&store, ("v", "next"), "success", &[&scheduler]).await;
    assert!(scheduler.stop().success());
    let out = u.run(&["dag", "versions", "v"]);
    let (listing, _) = text(&out);
    assert!(
        listing.contains("first version") && listing.contains("+c"),
        "{listing}"
    );
}

/// Defect 2: a scheduler killed mid-run, the YAML edited (`b` renamed `b2`), a new
/// scheduler: the run finishes on its own version — `b` runs, `b2` never exists — and the
/// interrupted `a` is retried by its policy.
async fn a_run_finishes_on_its_version_after_a_crash_and_an_edit(u: &Updraft) {
    let dag = "dag_id: v\ntasks:\n  a: {type: shell, retries: 1, retry_delay: 1s, with: {command: 'sleep 3; echo a'}}\n  b: {type: shell, depends_on: [a], with: {command: 'echo b'}}\n  c: {type: shell, depends_on: [b], with: {command: 'echo c'}}\n";
    u.write_dag("v.yaml", dag);
    let out = u.run(&["dag", "trigger", "v", "--queue-only", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let first = Daemon::start(u, "first", &[]);
    wait_for("a to run", Duration::from_secs(30), &[&first], || async {
        states(&store, "v", "r")
            .await
            .contains(&"a: running".to_string())
    })
    .await;
    first.kill9();
    u.write_dag(
        "v.yaml",
        &dag.replace("  b: ", "  b2: ").replace("[b]", "[b2]"),
    );
    let second = Daemon::start(u, "second", &[("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")]);
    wait_for_run(&store, ("v", "r"), "success", &[&second]).await;
    assert_eq!(
        states(&store, "v", "r").await,
        ["a: success", "b: success", "c: success"]
    );
    let tries = store.tries("v", "r", Some("a")).await.expect("tries");
    let ended: Vec<&str> = tries.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(ended, ["failed", "success"], "a retried by its policy");
    let run = store.run("v", "r").await.expect("run").expect("exists");
    assert_eq!(run.dag_version, Some(1));
    assert_eq!(version_numbers(&store, "v").await, [1, 2]);
    assert!(second.stop().success());
}

/// A clear keeps the run's version; `--latest-version` (and the API's
/// `run_on_latest_version`) re-plans it on the newest: new tasks run, tasks gone become
/// `removed`, changed ones run as they are now.
async fn clear_keeps_the_version_or_moves_to_the_newest(u: &Updraft) {
    u.write_dag(
        "v.yaml",
        "dag_id: v\ntasks:\n  a: {type: shell, with: {command: 'echo first a'}}\n  b: {type: shell, depends_on: [a], with: {command: 'echo b'}}\n",
    );
    for run in ["r", "s"] {
        let out = u.run(&["dag", "trigger", "v", "--run-id", run]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    u.write_dag(
        "v.yaml",
        "dag_id: v\ntasks:\n  a: {type: shell, queue: q2, with: {command: 'echo second a'}}\n  c: {type: shell, depends_on: [a], with: {command: 'echo c'}}\n",
    );
    let store = u.store().await;

    // Kept: b runs again, c does not exist, a runs as version 1 had it.
    let out = u.run(&["task", "clear", "v", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(states(&store, "v", "r").await, ["a: success", "b: success"]);
    let log = text(&u.run(&["task", "logs", "v", "r", "a", "--try", "2"])).0;
    assert!(log.contains("first a"), "{log}");
    assert_eq!(version_numbers(&store, "v").await, [1, 2]);

    // Moved to the newest: c runs, b is removed, a runs with its new command.
    let out = u.run(&["task", "clear", "v", "r", "--latest-version"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        states(&store, "v", "r").await,
        ["a: success", "b: removed", "c: success"]
    );
    let log = text(&u.run(&["task", "logs", "v", "r", "a", "--try", "3"])).0;
    assert!(log.contains("second a"), "{log}");
    let run = store.run("v", "r").await.expect("run").expect("exists");
    assert_eq!(run.dag_version, Some(2));
    let queues: Vec<(String, String)> = store
        .task_instances("v", "r")
        .await
        .expect("ti")
        .into_iter()
        .map(|t| (t.task_id, t.queue))
        .collect();
    assert!(
        queues.contains(&("a".to_string(), "q2".to_string())),
        "a moved to the queue the new version gives it: {queues:?}"
    );

    // Through the API, run by a scheduler (serving the queue a moved to).
    let server = WebServer::start(u, "standalone", &[("UPDRAFT_QUEUES", "default,q2")]);
    let api = server.client(None);
    let (status, cleared) = api
        .call(
            reqwest::Method::POST,
            "/api/v2/dags/v/dagRuns/s/clear",
            r#"{"dry_run": false, "run_on_latest_version": true}"#,
        )
        .await;
    assert_eq!(status, 200, "{cleared}");
    api.wait_until(
        "/api/v2/dags/v/dagRuns/s",
        "state",
        &json!("success"),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        states(&store, "v", "s").await,
        ["a: success", "b: removed", "c: success"]
    );
    let (_, run) = api.get("/api/v2/dags/v/dagRuns/s").await;
    let numbers: Vec<&Value> = run["dag_versions"]
        .as_array()
        .expect("dag_versions")
        .iter()
        .map(|v| &v["version_number"])
        .collect();
    assert_eq!(
        numbers,
        [&json!(1), &json!(2)],
        "b ran on 1, the rest on 2: {run}"
    );
    let (_, c) = api.get("/api/v2/dags/v/dagRuns/s/taskInstances/c").await;
    assert_eq!(c["dag_version"]["version_number"], json!(2), "{c}");
    assert!(server.stop().success());
}

/// A DAG file deleted while its runs run or wait: they finish on their version.
async fn a_deleted_dag_file_finishes_its_runs(u: &Updraft) {
    let file = u.write_dag(
        "gone.yaml",
        "dag_id: gone
max_active_runs: 1
tasks:
  a: {type: shell, with: {command: 'sleep 2'}}
  b: {type: shell, depends_on: [a], with: {command: 'echo b'}}
",
    );
    for run in ["r", "waits"] {
        let out = u.run(&["dag", "trigger", "gone", "--queue-only", "--run-id", run]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let store = u.store().await;
    let scheduler = Daemon::start(u, "scheduler", &[]);
    wait_for(
        "a to run",
        Duration::from_secs(30),
        &[&scheduler],
        || async {
            states(&store, "gone", "r")
                .await
                .contains(&"a: running".to_string())
        },
    )
    .await;
    assert_eq!(run_state(&store, "gone", "waits").await, "queued");
    std::fs::remove_file(file).expect("remove the DAG file");
    for run in ["r", "waits"] {
        wait_for_run(&store, ("gone", run), "success", &[&scheduler]).await;
        assert_eq!(
            states(&store, "gone", run).await,
            ["a: success", "b: success"]
        );
    }
    assert!(scheduler.stop().success());
}

/// Re-reading an unchanged folder, comments and formatting make no version; a changed
/// task does.
async fn only_real_changes_make_versions(u: &Updraft) {
    let dag = "dag_id: v\ntasks:\n  a: {type: shell, with: {command: 'echo a'}}\n  b: {type: noop, depends_on: [a]}\n";
    u.write_dag("v.yaml", dag);
    let store = u.store().await;
    for run in ["r1", "r2"] {
        assert!(
            u.run(&["dag", "trigger", "v", "--run-id", run])
                .status
                .success()
        );
    }
    u.write_dag(
        "v.yaml",
        "# the same DAG, commented and laid out differently\ntasks:\n  a:\n    type: shell   # says a\n    with:\n      command: 'echo a'\n  b:\n    depends_on: [a]\n    type: noop\ndag_id: v\n",
    );
    assert!(
        u.run(&["dag", "trigger", "v", "--run-id", "r3"])
            .status
            .success()
    );
    let scheduler = Daemon::start(u, "scheduler", &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        version_numbers(&store, "v").await,
        [1],
        "{}",
        scheduler.log()
    );
    u.write_dag("v.yaml", &dag.replace("echo a", "echo A"));
    wait_for(
        "a second version",
        Duration::from_secs(10),
        &[&scheduler],
        || async { version_numbers(&store, "v").await == [1, 2] },
    )
    .await;
    let out = u.run(&["dag", "versions", "v"]);
    assert!(text(&out).0.contains("~a"), "{:?}", text(&out));
    let out = u.run(&["dag", "versions", "v", "--diff", "1", "2"]);
    let (diff, _) = text(&out);
    assert!(
        diff.contains("- ")
            && diff.contains("echo a")
            && diff.contains("+ ")
            && diff.contains("echo A"),
        "{diff}"
    );
    let out = u.run(&["dag", "show", "v", "--version", "1", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(scheduler.stop().success());
}

/// Two schedulers on one PostgreSQL with their own homes and DAG folders, one folder a
/// version behind: every run is worked with its own version whichever scheduler claims
/// it, and the stale folder makes no version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_with_a_stale_folder_works_runs_with_their_versions() {
    let u = Updraft::new(crate::support::Backend::Postgres).await;
    let stale = u.sibling();
    let v1 = "dag_id: v\nmax_active_runs: 8\ntasks:\n  a: {type: shell, with: {command: 'sleep 0.3'}}\n  b: {type: shell, depends_on: [a], with: {command: 'sleep 0.3'}}\n";
    u.write_dag("v.yaml", v1);
    stale.write_dag("v.yaml", v1);
    let out = u.run(&["dag", "trigger", "v", "--run-id", "before"]);
    assert!(out.status.success(), "{:?}", text(&out));
    u.write_dag(
        "v.yaml",
        &format!("{v1}  x: {{type: shell, depends_on: [b], with: {{command: 'echo x'}}}}\n"),
    );
    let store = u.store().await;
    let queue = |first: usize| {
        for i in first..first + 3 {
            let run = format!("r{i}");
            let out = u.run(&["dag", "trigger", "v", "--queue-only", "--run-id", &run]);
            assert!(out.status.success(), "{:?}", text(&out));
        }
    };
    // The stale scheduler alone first: it starts the runs on the newest version, which
    // its folder does not have.
    queue(0);
    let behind = Daemon::start(&stale, "behind", &[]);
    for i in 0..3 {
        wait_for_run(&store, ("v", &format!("r{i}")), "success", &[&behind]).await;
    }
    let current = Daemon::start(&u, "current", &[]);
    queue(3);
    for i in 3..6 {
        wait_for_run(
            &store,
            ("v", &format!("r{i}")),
            "success",
            &[&behind, &current],
        )
        .await;
    }
    for i in 0..6 {
        let run = format!("r{i}");
        assert_eq!(
            states(&store, "v", &run).await,
            ["a: success", "b: success", "x: success"],
            "{run}"
        );
        let row = store.run("v", &run).await.expect("run").expect("exists");
        assert_eq!(row.dag_version, Some(2), "{run}");
    }
    assert_eq!(
        states(&store, "v", "before").await,
        ["a: success", "b: success"]
    );
    assert_eq!(
        version_numbers(&store, "v").await,
        [1, 2],
        "{}",
        behind.log()
    );
    assert!(
        behind
            .log()
            .contains("holds version 1 of DAG v, not its newest (2)"),
        "{}",
        behind.log()
    );
    assert!(behind.stop().success() && current.stop().success());
    u.cleanup().await;
}

/// A version whose files are over 10 MB keeps them by hash only: a run of it works while
/// the file is the same, and is refused with a clear error once the file changed; the
/// newest version runs the file as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_kept_by_hash_only_refuse_other_code() {
    let mut u = Updraft::new(crate::support::Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let padding = |c: char| c.to_string().repeat(11 * 1024 * 1024);
    let sql = u.dags().join("big.sql");
    std::fs::write(&sql, format!("SELECT 1 AS x /* {} */", padding('a'))).expect("sql");
    u.write_dag(
        "big.yaml",
        "dag_id: big\ntasks:\n  q:\n    type: delta_sql\n    with: {sql_file: big.sql, table: '{{ lake }}/gold/x', mode: overwrite}\n",
    );
    let out = u.run(&["dag", "trigger", "big", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let files = store.version_files("big", 1).await.expect("files");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, "big.sql");
    assert!(files[0].content.is_none(), "kept by hash only");
    std::fs::write(&sql, format!("SELECT 2 AS x /* {} */", padding('b'))).expect("sql");
    let out = u.run(&["task", "clear", "big", "r"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let tries = store.tries("big", "r", Some("q")).await.expect("tries");
    let error = tries
        .last()
        .and_then(|t| t.error.clone())
        .unwrap_or_default();
    assert!(
        error.contains("kept by hash only") && error.contains("big.sql"),
        "{error}"
    );
    let out = u.run(&["task", "clear", "big", "r", "--latest-version"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["lake", "query", "SELECT x FROM gold.x"]);
    assert!(text(&out).0.contains('2'), "{:?}", text(&out));
    u.cleanup().await;
}

/// Airflow's own client (apache-airflow-client 3.3) reads `dagVersions`, one version, a
/// run's `dag_versions` and a task instance's `dag_version` with its models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airflows_client_reads_the_versions() {
    let Ok(python) = std::env::var("AIRFLOW_CLIENT_PYTHON") else {
        panic!(
            "AIRFLOW_CLIENT_PYTHON is not set: scripts/ensure-airflow-client.sh installs it (scripts/test-all sources it)"
        );
    };
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag("v.yaml", "dag_id: v\ntasks:\n  a: {type: noop}\n");
    assert!(
        u.run(&["dag", "trigger", "v", "--run-id", "r"])
            .status
            .success()
    );
    u.write_dag(
        "v.yaml",
        "dag_id: v\ntasks:\n  a: {type: noop}\n  b: {type: noop}\n",
    );
    assert!(
        u.run(&["task", "clear", "v", "r", "--latest-version"])
            .status
            .success()
    );
    let token = "operator-token-0123456789";
    let server = WebServer::start(
        &u,
        "webserver",
        &[("UPDRAFT_API_TOKENS", &format!("operator:{token}"))],
    );
    let script = r#"
import json, sys, urllib.request
import airflow_client.client as client
from airflow_client.client.api.dag_version_api import DagVersionApi
from airflow_client.client.models.dag_version_response import DagVersionResponse
base, token = sys.argv[1], sys.argv[2]
api = client.ApiClient(client.Configuration(host=base, access_token=token))
versions = DagVersionApi(api).get_dag_versions("v")
assert versions.total_entries == 2, versions
assert [v.version_number for v in versions.dag_versions] == [1, 2], versions
one = DagVersionApi(api).get_dag_version("v", 2)
assert one.version_number == 2 and one.dag_id == "v", one
def get(path):
    request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(request))
run = get("/api/v2/dags/v/dagRuns/r")
shown = [DagVersionResponse.from_dict(v).version_number for v in run["dag_versions"]]
assert shown == [2], run
ti = get("/api/v2/dags/v/dagRuns/r/taskInstances/b")
assert DagVersionResponse.from_dict(ti["dag_version"]).version_number == 2, ti
print("ok")
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &server.base, token])
        .output()
        .expect("python");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(server.stop().success());
    u.cleanup().await;
}
