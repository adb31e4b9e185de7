//! `trigger_dag`: a task creates a run of another DAG with a conf made of its upstreams'
//! outputs, exactly once — a retry of the task finds its run instead of making a second;
//! a run it did not create is refused unless `reset: true` clears it to run again — and
//! the UI links the two runs both ways.

use crate::support::{Backend, Daemon, Updraft, WebServer, text, wait_for, wait_for_success};
use serde_json::Value;
use std::time::Duration;

on_both_backends!(a_task_triggers_another_dag_once);

const PARENT: &str = r#"dag_id: parent
tasks:
  list:
    type: shell
    with: {command: "echo 'files=[\"a.json\", \"b.json\"]' >> \"$UPDRAFT_OUTPUT\""}
  start_child:
    type: trigger_dag
    depends_on: [list]
    with:
      dag_id: child
      conf: "{{ {'files': outputs.list.files} | tojson }}"
"#;

const CHILD: &str = r#"dag_id: child
tasks:
  show:
    type: shell
    with: {command: "echo '{{ run_id }} {{ conf.files | join(',') }}' >> '{{ dag_folder }}/child.txt'"}
"#;

const CLASHER: &str = r#"dag_id: clasher
tasks:
  refused:
    type: trigger_dag
    with: {dag_id: child, run_id: fixed}
  reset:
    type: trigger_dag
    depends_on: [refused]
    trigger_rule: all_done
    with: {dag_id: child, run_id: fixed, reset: true, conf: {files: [again]}}
"#;

/// What `start_child` of run p1 handed on.
fn start_child_outputs(u: &Updraft) -> Value {
    let out = u.run(&[
        "task",
        "outputs",
        "parent",
        "p1",
        "start_child",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The lines the child's runs wrote.
fn child_lines(u: &Updraft) -> Vec<String> {
    std::fs::read_to_string(u.dags().join("child.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn a_task_triggers_another_dag_once(u: &Updraft) {
    u.write_dag("parent.yaml", PARENT);
    u.write_dag("child.yaml", CHILD);
    u.write_dag("clasher.yaml", CLASHER);
    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;

    let out = u.run(&["dag", "trigger", "parent", "--run-id", "p1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let started = start_child_outputs(u);
    assert_eq!(started["dag_id"], "child", "{started}");
    assert_eq!(started["created"], true, "{started}");
    let child_run = started["run_id"].as_str().expect("run id").to_string();
    let parent_run = store.run("parent", "p1").await.expect("run").expect("p1");
    assert_eq!(
        store
            .run("child", &child_run)
            .await
            .expect("run")
            .expect("child run")
            .logical_date,
        parent_run.logical_date,
        "the child runs for the parent's logical date"
    );
    wait_for_success(
        &store,
        ("child", &child_run),
        Duration::from_secs(30),
        &[&daemon],
    )
    .await;
    assert_eq!(child_lines(u), [format!("{child_run} a.json,b.json")]);

    // The task again (a retry, a clear): it finds its run and makes no second one.
    let out = u.run(&["task", "clear", "parent", "p1", "--task", "^start_child$"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let again = start_child_outputs(u);
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["run_id"], child_run.as_str());
    assert_eq!(store.runs("child", None, 10).await.expect("runs").len(), 1);

    // A run it did not create: refused, unless `reset: true` clears it to run again.
    let out = u.run(&["dag", "trigger", "child", "--run-id", "fixed"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // (The run succeeds: its one leaf, `reset`, does.)
    let out = u.run(&["dag", "trigger", "clasher", "--run-id", "c1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let tries = store
        .tries("clasher", "c1", Some("refused"))
        .await
        .expect("tries");
    let error = tries[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("did not create it") && error.contains("reset: true"),
        "{error}"
    );
    let reset = store.task_instances("clasher", "c1").await.expect("ti");
    assert!(
        reset
            .iter()
            .any(|t| t.task_id == "reset" && t.state.as_str() == "success"),
        "{reset:?}"
    );
    wait_for(
        "the cleared run to run again",
        Duration::from_secs(30),
        &[&daemon],
        || async {
            child_lines(u)
                .iter()
                .filter(|l| l.starts_with("fixed"))
                .count()
                == 2
        },
    )
    .await;
    wait_for_success(
        &store,
        ("child", "fixed"),
        Duration::from_secs(30),
        &[&daemon],
    )
    .await;
    assert_eq!(store.runs("child", None, 10).await.expect("runs").len(), 2);

    // The UI links the two runs both ways.
    let server = WebServer::start(u, "webserver", &[]);
    let api = server.client(None);
    let (_, child_page) = api
        .get_as(
            &format!("/dags/child/runs/{}", urlencoding(&child_run)),
            "text/html",
        )
        .await;
    assert!(
        child_page.contains("Triggered by task") && child_page.contains("/dags/parent/runs/p1"),
        "{child_page}"
    );
    let (_, parent_task) = api
        .get_as("/dags/parent/runs/p1/tasks/start_child", "text/html")
        .await;
    assert!(
        parent_task.contains("Triggered run") && parent_task.contains("/dags/child/runs/"),
        "{parent_task}"
    );
    drop(server);
    assert!(daemon.stop().success());
}

/// Two schedulers on one PostgreSQL, each free to take the parent's tasks: the child
/// run is created once, and run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_trigger_once() {
    let u = Updraft::new(Backend::Postgres).await;
    u.write_dag("parent.yaml", PARENT);
    u.write_dag("child.yaml", CHILD);
    let first = Daemon::start(&u, "first", &[]);
    let second = Daemon::start(&u, "second", &[]);
    let store = u.store().await;
    let runs = [
        ("q1", "2026-01-01T00:00:00Z"),
        ("q2", "2026-01-02T00:00:00Z"),
        ("q3", "2026-01-03T00:00:00Z"),
    ];
    for (run_id, at) in runs {
        let out = u.run(&[
            "dag",
            "trigger",
            "parent",
            "--run-id",
            run_id,
            "--logical-date",
            at,
            "--queue-only",
        ]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    for (run_id, _) in runs {
        wait_for_success(
            &store,
            ("parent", run_id),
            Duration::from_secs(60),
            &[&first, &second],
        )
        .await;
        let by = updraft::store::triggered_by("parent", run_id, "start_child");
        let created = store.runs_created_by(&by).await.expect("runs");
        assert_eq!(created.len(), 1, "{run_id}: {created:?}");
        wait_for_success(
            &store,
            ("child", &created[0].1),
            Duration::from_secs(60),
            &[&first, &second],
        )
        .await;
    }
    assert_eq!(store.runs("child", None, 10).await.expect("runs").len(), 3);
    assert_eq!(
        child_lines(&u).len(),
        3,
        "each child run ran once: {:?}",
        child_lines(&u)
    );
    assert!(first.stop().success());
    assert!(second.stop().success());
    u.cleanup().await;
}

/// A run id as a URL path segment.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
