//! Fan-out: `for_each` over a list an upstream task found (or written in the DAG, or
//! computed by a template) runs one instance per item with `{{ item }}` and
//! `{{ map_index }}`; each instance has its own tries, retries, log and clear; downstream
//! tasks see the instances' outputs as a list in map order and wait for all of them; an
//! empty list skips the task, a list longer than `max_items` fails it before any instance
//! runs; `max_active` caps the instances running at once; a `for_each` that is not a list
//! is an error at load.

use crate::support::{Daemon, Updraft, WebServer, text, wait_for, wait_for_success};
use serde_json::Value;
use std::time::Duration;

on_both_backends!(
    instances_run_per_item_and_hand_on_a_list,
    an_instance_retries_and_clears_alone,
    empty_and_too_long_lists_skip_and_fail,
    max_active_caps_the_instances_running_at_once,
    a_mapped_run_survives_a_kill_9_of_its_scheduler,
    the_fan_out_example_runs_as_its_comment_says
);

/// The task instances of a run as `task states -o json` shows them.
fn states(u: &Updraft, dag_id: &str, run_id: &str) -> Vec<Value> {
    let out = u.run(&["task", "states", dag_id, run_id, "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("json")
}

/// (map_index, state, try_number) of each instance of `task_id`, in map order.
fn instances(u: &Updraft, dag_id: &str, run_id: &str, task_id: &str) -> Vec<(i64, String, i64)> {
    states(u, dag_id, run_id)
        .iter()
        .filter(|t| t["task_id"] == task_id)
        .map(|t| {
            (
                t["map_index"].as_i64().unwrap_or(i64::MIN),
                t["state"].as_str().unwrap_or_default().to_string(),
                t["try_number"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

const FILES: &str = r#"dag_id: files
tasks:
  list:
    type: shell
    with:
      command: echo 'files=["a.csv", "b.csv", "c.csv"]' >> "$UPDRAFT_OUTPUT"
  process:
    type: shell
    depends_on: [list]
    for_each: "{{ outputs.list.files }}"
    with:
      command: |
        echo "{{ map_index }} {{ item }}" > "{{ dag_folder }}/done-{{ item }}"
        echo "name={{ item | upper }}" >> "$UPDRAFT_OUTPUT"
  report:
    type: shell
    depends_on: [process]
    with:
      command: >-
        echo "{{ outputs.process | length }} {{ outputs.process | map(attribute='name') | join(',') }}"
        > "{{ dag_folder }}/report.txt"
"#;

async fn instances_run_per_item_and_hand_on_a_list(u: &Updraft) {
    u.write_dag("files.yaml", FILES);
    let out = u.run(&["dag", "trigger", "files", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    for (i, name) in ["a.csv", "b.csv", "c.csv"].iter().enumerate() {
        let done = std::fs::read_to_string(u.dags().join(format!("done-{name}"))).expect("ran");
        assert_eq!(done.trim(), format!("{i} {name}"));
    }
    let report = std::fs::read_to_string(u.dags().join("report.txt")).expect("report ran");
    assert_eq!(report.trim(), "3 A.CSV,B.CSV,C.CSV");
    assert_eq!(
        instances(u, "files", "r1", "process"),
        [
            (0, "success".into(), 1),
            (1, "success".into(), 1),
            (2, "success".into(), 1)
        ]
    );
    // Each instance has its own log and outputs.
    let out = u.run(&["task", "logs", "files", "r1", "process", "--map-index", "2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("process[2]"), "{:?}", text(&out));
    let out = u.run(&[
        "task",
        "outputs",
        "files",
        "r1",
        "process",
        "--map-index",
        "1",
        "-o",
        "json",
    ]);
    let outputs: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(outputs["name"], "B.CSV", "{outputs}");
    // The table shows the index column once a run has mapped instances.
    let out = u.run(&["task", "states", "files", "r1"]);
    assert!(text(&out).0.contains("map_index"), "{:?}", text(&out));

    // The UI: one row for the mapped task, opening to its instances, each with its item.
    let server = WebServer::start(u, "webserver", &[]);
    let client = server.client(None);
    let (status, page) = client.get_as("/dags/files/runs/r1", "text/html").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("mapped · 3 instances: 3 success"), "{page}");
    let (status, page) = client
        .get_as("/dags/files/runs/r1/tasks/process", "text/html")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Mapped over 3 items"), "{page}");
    assert!(page.contains("?map_index=2"), "{page}");
    let (status, page) = client
        .get_as("/dags/files/runs/r1/tasks/process?map_index=1", "text/html")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("process[1]") && page.contains("b.csv"),
        "{page}"
    );
    // And the API, in Airflow's shapes.
    let (status, listed) = client
        .get("/api/v2/dags/files/dagRuns/r1/taskInstances/process/listMapped")
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["total_entries"], 3, "{listed}");
    let indexes: Vec<i64> = listed["task_instances"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["map_index"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(indexes, [0, 1, 2]);
    let (status, one) = client
        .get("/api/v2/dags/files/dagRuns/r1/taskInstances/process/2")
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (one["map_index"].as_i64(), one["state"].as_str()),
        (Some(2), Some("success"))
    );
    let (status, whole) = client
        .get("/api/v2/dags/files/dagRuns/r1/taskInstances/process")
        .await;
    assert_eq!(status, 404, "{whole}");
}

const FLAKY: &str = r#"dag_id: flaky_items
tasks:
  work:
    type: shell
    for_each: [x, y, z]
    retries: 1
    retry_delay: 0s
    with:
      command: |
        echo "{{ item }} try {{ try_number }}" >> "{{ dag_folder }}/ran.txt"
        if [ "{{ item }}" = y ] && [ ! -f "{{ dag_folder }}/y-failed" ]; then
          touch "{{ dag_folder }}/y-failed"; exit 1
        fi
  after:
    type: shell
    depends_on: [work]
    with:
      command: echo after >> "{{ dag_folder }}/ran.txt"
"#;

async fn an_instance_retries_and_clears_alone(u: &Updraft) {
    u.write_dag("flaky_items.yaml", FLAKY);
    let out = u.run(&["dag", "trigger", "flaky_items", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "flaky_items", "r1", "work"),
        [
            (0, "success".into(), 1),
            (1, "success".into(), 2),
            (2, "success".into(), 1)
        ],
        "only the failed instance was tried again"
    );
    let ran = || -> Vec<String> {
        let text = std::fs::read_to_string(u.dags().join("ran.txt")).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        ran(),
        ["after", "x try 1", "y try 1", "y try 2", "z try 1"],
        "after ran once, when every instance had succeeded"
    );
    // Clearing one instance runs it (and what is downstream) again, nothing else.
    let out = u.run(&[
        "task",
        "clear",
        "flaky_items",
        "r1",
        "--task",
        "^work$",
        "--map-index",
        "2",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "flaky_items", "r1", "work"),
        [
            (0, "success".into(), 1),
            (1, "success".into(), 2),
            (2, "success".into(), 2)
        ]
    );
    assert_eq!(
        ran(),
        [
            "after", "after", "x try 1", "y try 1", "y try 2", "z try 1", "z try 2"
        ]
    );
    // Marking one instance marks it alone.
    let out = u.run(&[
        "task",
        "mark",
        "flaky_items",
        "r1",
        "failed",
        "--task",
        "work",
        "--map-index",
        "0",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "flaky_items", "r1", "work"),
        [
            (0, "failed".into(), 1),
            (1, "success".into(), 2),
            (2, "success".into(), 2)
        ]
    );
    // The grid's cell of the mapped task shows the failed instance.
    let server = WebServer::start(u, "webserver", &[]);
    let (status, grid) = server
        .client(None)
        .get_as("/dags/flaky_items", "text/html")
        .await;
    assert_eq!(status, 200, "{grid}");
    assert!(grid.contains("aria-label=\"work in r1: failed\""), "{grid}");
}

async fn empty_and_too_long_lists_skip_and_fail(u: &Updraft) {
    let trigger = |run_id: &str, n: u32| {
        u.run(&[
            "dag",
            "trigger",
            "lists",
            "--run-id",
            run_id,
            "--conf",
            &format!(r#"{{"n": {n}}}"#),
        ])
    };
    u.write_dag(
        "lists.yaml",
        r#"dag_id: lists
tasks:
  each:
    type: noop
    for_each: "{{ range(conf.n) | list }}"
    on_failure:
      - shell: {command: 'echo "$UPDRAFT_TASK_ID $UPDRAFT_STATE $UPDRAFT_ERROR" >> "$UPDRAFT_DAGS_FOLDER/alerted.txt"'}
  after:
    type: noop
    depends_on: [each]
"#,
    );
    let out = trigger("empty", 0);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "lists", "empty", "each"),
        [(-1, "skipped".into(), 0)]
    );
    assert_eq!(
        instances(u, "lists", "empty", "after"),
        [(-1, "skipped".into(), 0)]
    );

    let out = trigger("one", 1);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "lists", "one", "each"),
        [(0, "success".into(), 1)]
    );

    let out = trigger("full", 1024);
    assert!(out.status.success(), "{:?}", text(&out));
    let full = instances(u, "lists", "full", "each");
    assert_eq!(full.len(), 1024);
    assert!(full.iter().all(|(_, s, _)| s == "success"), "{full:?}");
    assert_eq!(full.last().map(|i| i.0), Some(1023));

    let out = trigger("over", 1025);
    assert!(!out.status.success(), "{:?}", text(&out));
    assert_eq!(
        instances(u, "lists", "over", "each"),
        [(-1, "failed".into(), 1)],
        "no instance was made"
    );
    assert_eq!(
        instances(u, "lists", "over", "after"),
        [(-1, "upstream_failed".into(), 0)]
    );
    let each = states(u, "lists", "over")
        .into_iter()
        .find(|t| t["task_id"] == "each")
        .expect("each");
    let error = each["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("1025 items, more than max_items (1024)"),
        "{each}"
    );
    // Its on_failure message went out once, saying why.
    let alerted = std::fs::read_to_string(u.dags().join("alerted.txt")).unwrap_or_default();
    assert_eq!(alerted.lines().count(), 1, "{alerted}");
    assert!(
        alerted.starts_with("each failed for_each gave 1025 items"),
        "{alerted}"
    );
}

async fn max_active_caps_the_instances_running_at_once(u: &Updraft) {
    u.write_dag(
        "capped.yaml",
        r#"dag_id: capped
max_active_tasks: 8
tasks:
  slow:
    type: shell
    for_each: [1, 2, 3, 4, 5, 6]
    max_active: 2
    with:
      command: sleep 0.4
"#,
    );
    let out = u.run(&["dag", "trigger", "capped", "--run-id", "r1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let tries = store
        .tries("capped", "r1", Some("slow"))
        .await
        .expect("tries");
    assert_eq!(tries.len(), 6);
    // At no attempt's start were two others running.
    for t in &tries {
        let overlapping = tries
            .iter()
            .filter(|o| {
                o.started_at <= t.started_at && o.ended_at.is_some_and(|end| end > t.started_at)
            })
            .count();
        assert!(overlapping <= 2, "{overlapping} ran at once: {tries:?}");
    }
}

/// `for_each` that can never be a list, and limits without it, are errors at load with
/// their line and column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_each_that_is_not_a_list_is_an_error_at_load() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "bad.yaml",
        "dag_id: bad\ntasks:\n  a:\n    type: noop\n    for_each: {x: 1}\n  b:\n    type: noop\n    max_active: 2\n",
    );
    let out = u.run(&["dag", "validate"]);
    assert!(!out.status.success());
    let (_, err) = text(&out);
    assert!(err.contains("bad.yaml:5:"), "{err}");
    assert!(err.contains("must be a list"), "{err}");
    assert!(err.contains("bad.yaml:8:"), "{err}");
    assert!(err.contains("needs `for_each`"), "{err}");
    u.cleanup().await;
}

const SLOW: &str = r#"dag_id: slow_items
tasks:
  work:
    type: shell
    for_each: [a, b, c, d, e, f]
    max_active: 2
    retries: 2
    retry_delay: 0s
    with:
      command: |
        echo "{{ item }} start" >> "{{ dag_folder }}/ran.txt"
        sleep 2
        echo "{{ item }} done" >> "{{ dag_folder }}/ran.txt"
"#;

/// A scheduler killed while instances run: its replacements (two on PostgreSQL) finish
/// the run; every item is done exactly once, no instance is made twice, and the
/// instances that were cut short are tried again alone.
async fn a_mapped_run_survives_a_kill_9_of_its_scheduler(u: &Updraft) {
    u.write_dag("slow_items.yaml", SLOW);
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")];
    let first = Daemon::start(u, "first", &env);
    let out = u.run(&[
        "dag",
        "trigger",
        "slow_items",
        "--run-id",
        "k1",
        "--queue-only",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let ran = || std::fs::read_to_string(u.dags().join("ran.txt")).unwrap_or_default();
    wait_for(
        "two items to start",
        Duration::from_secs(30),
        &[&first],
        || async { ran().matches(" start").count() >= 2 },
    )
    .await;
    first.kill9();
    let second = Daemon::start(u, "second", &env);
    let third = u.on_postgres().then(|| Daemon::start(u, "third", &env));
    let store = u.store().await;
    wait_for_success(
        &store,
        ("slow_items", "k1"),
        Duration::from_secs(90),
        &[&second],
    )
    .await;
    let text = ran();
    for item in ["a", "b", "c", "d", "e", "f"] {
        let done = text.matches(&format!("{item} done")).count();
        assert_eq!(done, 1, "{item} done {done} times:\n{text}");
    }
    let instances = instances(u, "slow_items", "k1", "work");
    assert_eq!(
        instances.iter().map(|i| i.0).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5],
        "one instance per item: {instances:?}"
    );
    assert!(
        instances.iter().filter(|i| i.2 == 2).count() >= 1,
        "the instances cut short were tried again: {instances:?}"
    );
    let _ = second.stop();
    if let Some(third) = third {
        let _ = third.stop();
    }
}

/// The shipped `example_fan_out`, as its comment says to run it: queued while a scheduler
/// runs, it waits for order files, loads each in an instance, counts the rows in the
/// warehouse and has the report DAG run and finish.
async fn the_fan_out_example_runs_as_its_comment_says(u: &Updraft) {
    for name in ["example_fan_out.yaml", "example_fan_out_report.yaml"] {
        let text = std::fs::read_to_string(crate::support::repo_path(&format!("dags/{name}")))
            .expect("shipped example");
        u.write_dag(name, &text);
    }
    let scheduler = Daemon::start(u, "scheduler", &[]);
    let out = u.run(&[
        "dag",
        "trigger",
        "example_fan_out",
        "--run-id",
        "w1",
        "--queue-only",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    wait_for(
        "the sensor to wait",
        Duration::from_secs(30),
        &[&scheduler],
        || async {
            store
                .task_instances("example_fan_out", "w1")
                .await
                .is_ok_and(|t| {
                    t.iter().any(|i| {
                        i.task_id == "wait_for_files" && i.state.as_str() == "up_for_reschedule"
                    })
                })
        },
    )
    .await;
    let landing = u.dags().join("landing/orders");
    std::fs::create_dir_all(&landing).expect("landing");
    std::fs::write(landing.join("a.csv"), "id,amount\n1,9.5\n2,3\n").expect("a");
    std::fs::write(landing.join("b o'k.csv"), "id,amount\n3,1\n").expect("b");
    wait_for_success(
        &store,
        ("example_fan_out", "w1"),
        Duration::from_secs(60),
        &[&scheduler],
    )
    .await;
    assert_eq!(
        instances(u, "example_fan_out", "w1", "load"),
        [(0, "success".into(), 1), (1, "success".into(), 1)]
    );
    let out = u.run(&[
        "task",
        "outputs",
        "example_fan_out",
        "w1",
        "count_new",
        "-o",
        "json",
    ]);
    let counted: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(counted["new_rows"], 3, "{counted}");
    let child = store
        .runs_created_by(&updraft::store::triggered_by(
            "example_fan_out",
            "w1",
            "report",
        ))
        .await
        .expect("children");
    assert_eq!(child.len(), 1, "{child:?}");
    let out = u.run(&[
        "task",
        "logs",
        "example_fan_out_report",
        &child[0].1,
        "report",
    ]);
    assert!(
        text(&out).0.contains("3 order rows arrived in 2 files"),
        "{:?}",
        text(&out)
    );
    let _ = scheduler.stop();
}
