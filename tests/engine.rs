//! The run engine end to end: retries and backoff, timeouts, parallelism, trigger rules,
//! shutdown, clear — each checked in the history tables, on SQLite and PostgreSQL.

use crate::support::{Updraft, live_processes_with, only_run, text};
use updraft::store::TaskTryRow;

on_both_backends!(
    retries_follow_the_backoff,
    timeout_kills_the_whole_process_group,
    independent_tasks_run_in_parallel,
    trigger_rules_decide_after_a_failure,
    sigterm_leaves_nothing_running,
    config_errors_spend_no_retries,
    clear_reruns_failed_tasks_and_downstream,
);

fn gap(a: &TaskTryRow, b: &TaskTryRow) -> f64 {
    let end = a.ended_at.expect("ended");
    (b.started_at - end).num_milliseconds() as f64 / 1000.0
}

async fn retries_follow_the_backoff(u: &Updraft) {
    u.write_dag(
        "flaky.yaml",
        r#"
dag_id: flaky
default_args: { retries: 4, retry_delay: 1s, retry_exponential_backoff: true, max_retry_delay: 10m }
tasks:
  flaky:
    type: shell
    with: { command: "test {{ try_number }} -ge 3" }
"#,
    );
    let out = u.run(&["dag", "trigger", "flaky"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let run = only_run(&store, "flaky").await;
    assert_eq!(run.state, "success");
    let tries = store
        .tries("flaky", &run.run_id, Some("flaky"))
        .await
        .unwrap();
    let states: Vec<&str> = tries.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["failed", "failed", "success"]);
    assert_eq!(
        tries.iter().map(|t| t.try_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // retry_delay × 2^(try−1): 1s after the first failure, 2s after the second (not 1s,
    // not 4s: the bounds tell the three apart with room for a loaded machine).
    let (g1, g2) = (gap(&tries[0], &tries[1]), gap(&tries[1], &tries[2]));
    assert!((1.0..1.9).contains(&g1), "first gap {g1}s");
    assert!((2.0..3.5).contains(&g2), "second gap {g2}s");
    let ti = &store.task_instances("flaky", &run.run_id).await.unwrap()[0];
    assert_eq!(
        (ti.try_number, ti.max_tries, ti.state.stored()),
        (3, 5, Some("success"))
    );
    assert!(
        tries[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("exited with code 1")
    );
}

async fn timeout_kills_the_whole_process_group(u: &Updraft) {
    // A unique sleep length identifies this test's processes; the background one is a
    // grandchild that only a process-group kill reaches.
    let marker = format!("60.{}{}", std::process::id(), u.database_url.len());
    u.write_dag(
        "slow.yaml",
        &format!(
            r#"
dag_id: slow
tasks:
  slow:
    type: shell
    execution_timeout: 2s
    with: {{ command: "sleep {marker} & sleep {marker}" }}
"#
        ),
    );
    let started = std::time::Instant::now();
    let out = u.run(&["dag", "trigger", "slow"]);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(elapsed < 5.0, "the run took {elapsed}s");
    let store = u.store().await;
    let run = only_run(&store, "slow").await;
    let tries = store.tries("slow", &run.run_id, None).await.unwrap();
    assert_eq!(tries.len(), 1);
    let t = &tries[0];
    assert_eq!(t.state, "failed");
    assert!(
        t.error
            .as_deref()
            .unwrap_or_default()
            .contains("execution_timeout of 2s exceeded"),
        "{t:?}"
    );
    let d = t.duration.unwrap();
    assert!((1.9..3.5).contains(&d), "attempt lasted {d}s");
    assert_eq!(
        live_processes_with(&format!("sleep {marker}")),
        Vec::<String>::new()
    );
}

async fn independent_tasks_run_in_parallel(u: &Updraft) {
    let tasks: String = (1..=4)
        .map(|i| format!("  t{i}:\n    type: shell\n    with: {{ command: \"sleep 1\" }}\n"))
        .collect();
    u.write_dag(
        "par.yaml",
        &format!("dag_id: par\nmax_active_tasks: 4\ntasks:\n{tasks}"),
    );
    let out = u.run(&["dag", "trigger", "par"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let run = only_run(&store, "par").await;
    let tries = store.tries("par", &run.run_id, None).await.unwrap();
    assert_eq!(tries.len(), 4);
    let last_start = tries.iter().map(|t| t.started_at).max().unwrap();
    let first_end = tries.iter().filter_map(|t| t.ended_at).min().unwrap();
    assert!(last_start < first_end, "all four must overlap");
    let wall = (run.ended_at.unwrap() - run.started_at.unwrap()).num_milliseconds();
    assert!(wall < 2500, "four 1s tasks took {wall} ms");
}

async fn trigger_rules_decide_after_a_failure(u: &Updraft) {
    u.write_dag(
        "rules.yaml",
        r#"
dag_id: rules
tasks:
  ok: { type: noop }
  boom: { type: shell, with: { command: "exit 3" } }
  strict: { type: noop, depends_on: [ok, boom] }
  after_strict: { type: noop, depends_on: [strict] }
  done: { type: noop, depends_on: [ok, boom], trigger_rule: all_done }
  on_failure: { type: noop, depends_on: [ok, boom], trigger_rule: one_failed }
  all_failed: { type: noop, depends_on: [boom], trigger_rule: all_failed }
  none_failed: { type: noop, depends_on: [ok, boom], trigger_rule: none_failed }
  one_success: { type: noop, depends_on: [ok, boom], trigger_rule: one_success }
"#,
    );
    let out = u.run(&["dag", "trigger", "rules"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let store = u.store().await;
    let run = only_run(&store, "rules").await;
    assert_eq!(run.state, "failed");
    let states: std::collections::BTreeMap<String, Option<String>> = store
        .task_instances("rules", &run.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.task_id, t.state.stored().map(String::from)))
        .collect();
    let expect = [
        ("ok", "success"),
        ("boom", "failed"),
        ("strict", "upstream_failed"),
        ("after_strict", "upstream_failed"),
        ("done", "success"),
        ("on_failure", "success"),
        ("all_failed", "success"),
        ("none_failed", "upstream_failed"),
        ("one_success", "success"),
    ];
    for (task, state) in expect {
        assert_eq!(states[task].as_deref(), Some(state), "{task}: {states:?}");
    }
    let tries = store
        .tries("rules", &run.run_id, Some("strict"))
        .await
        .unwrap();
    assert!(tries.is_empty(), "an upstream_failed task never runs");
}

async fn sigterm_leaves_nothing_running(u: &Updraft) {
    u.write_dag(
        "long.yaml",
        r#"
dag_id: long
tasks:
  a: { type: shell, with: { command: "sleep 30" } }
  b: { type: shell, with: { command: "trap '' TERM; sleep 30" } }
  c: { type: noop, depends_on: [a, b] }
"#,
    );
    let mut child = u
        .command(&["dag", "trigger", "long"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store = u.store().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let runs = store.runs("long", None, 1).await.unwrap_or_default();
        if let Some(r) = runs.first() {
            let running = store
                .tries("long", &r.run_id, None)
                .await
                .unwrap()
                .iter()
                .filter(|t| t.state == "running")
                .count();
            if running == 2 {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "tasks never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let run = only_run(&store, "long").await;
    assert_eq!(run.state, "failed");
    let tis = store.task_instances("long", &run.run_id).await.unwrap();
    let states: Vec<(&str, Option<&str>)> = tis
        .iter()
        .map(|t| (t.task_id.as_str(), t.state.stored()))
        .collect();
    assert_eq!(
        states,
        [
            ("a", Some("failed")),
            ("b", Some("failed")),
            ("c", Some("skipped"))
        ]
    );
    for t in store.tries("long", &run.run_id, None).await.unwrap() {
        assert_eq!(t.state, "failed");
        assert!(
            t.error.as_deref().unwrap_or_default().contains("stopped"),
            "{t:?}"
        );
        assert!(t.ended_at.is_some());
    }
}

async fn config_errors_spend_no_retries(u: &Updraft) {
    u.write_dag(
        "tmpl.yaml",
        r#"
dag_id: tmpl
default_args: { retries: 3, retry_delay: 1s }
tasks:
  bad: { type: shell, with: { command: "echo {{ not_a_variable }}" } }
"#,
    );
    let out = u.run(&["dag", "trigger", "tmpl"]);
    assert_eq!(out.status.code(), Some(1));
    let store = u.store().await;
    let run = only_run(&store, "tmpl").await;
    let tries = store.tries("tmpl", &run.run_id, None).await.unwrap();
    assert_eq!(tries.len(), 1, "no retry for a template error");
    let error = tries[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("undefined") && error.contains("with.command"),
        "{error}"
    );
}

async fn clear_reruns_failed_tasks_and_downstream(u: &Updraft) {
    let flag = u.dir.path().join("fixed");
    u.write_dag(
        "fix.yaml",
        &format!(
            r#"
dag_id: fix
tasks:
  first: {{ type: noop }}
  needs_fix: {{ type: shell, depends_on: [first], with: {{ command: "test -e {}" }} }}
  after: {{ type: noop, depends_on: [needs_fix] }}
"#,
            flag.display()
        ),
    );
    let out = u.run(&["dag", "trigger", "fix", "--run-id", "r1"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(&flag, "").unwrap();
    let out = u.run(&["task", "clear", "fix", "r1", "--only-failed"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let run = store.run("fix", "r1").await.unwrap().unwrap();
    assert_eq!(run.state, "success");
    let first = store.tries("fix", "r1", Some("first")).await.unwrap();
    assert_eq!(
        first.len(),
        1,
        "a successful task outside the clear is not re-run"
    );
    let fixed = store.tries("fix", "r1", Some("needs_fix")).await.unwrap();
    assert_eq!(
        fixed
            .iter()
            .map(|t| (t.try_number, t.state.as_str()))
            .collect::<Vec<_>>(),
        [(1, "failed"), (2, "success")]
    );
    assert_eq!(
        store.tries("fix", "r1", Some("after")).await.unwrap().len(),
        1
    );
}
