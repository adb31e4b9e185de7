//! Tasks that wait: `type: wait` sensors checked against real things (files appearing, a
//! row inserted, a local HTTP server, a Delta commit, another DAG's run, the clock) and
//! `trigger_dag` with `wait`. Between checks a task is `up_for_reschedule` and holds no
//! slot; a check goes on in the same try, whose timeout counts from its first check —
//! also across a `kill -9` of the scheduler.

use crate::support::{
    Daemon, Receiver, S3Server, Updraft, WebServer, text, wait_for, wait_for_success,
};
use serde_json::Value;
use sqlx::Connection;
use std::time::Duration;
use updraft::store::{Store, TaskState};

on_both_backends!(
    sensors_wait_for_real_things_without_holding_a_slot,
    trigger_dag_waits_for_the_run_it_starts,
    a_waiting_sensor_keeps_its_try_and_timeout_through_a_kill_9,
    delta_sensors_wait_for_a_newer_commit_and_a_partition,
);

const WATCH: &str = r#"dag_id: watch
max_active_tasks: 1
tasks:
  files:
    type: wait
    with: {for: file, path: "landing/*.json", min_files: 2, poke_interval: 1s, timeout: 5m}
  row:
    type: wait
    with:
      for: sql
      conn: arrivals
      sql: "SELECT count(*) FROM arrivals WHERE day = '{{ ds }}'"
      poke_interval: 1s
      timeout: 5m
  service:
    type: wait
    with:
      for: http
      url: "{{ conf.url }}"
      condition: "response.json.ready"
      poke_interval: 1s
      timeout: 5m
  later:
    type: wait
    with: {for: time, at: "{{ conf.at }}", timeout: 5m}
  sibling:
    type: shell
    with: {command: "echo the sibling ran"}
  after:
    type: shell
    depends_on: [files]
    with:
      command: "echo '{{ outputs.files.count }} {{ outputs.files.files | join(\",\") }}' > '{{ dag_folder }}/after.txt'"
"#;

/// The states of a run's task instances, by task.
async fn states(store: &Store, dag_id: &str, run_id: &str) -> Vec<(String, TaskState)> {
    store
        .task_instances(dag_id, run_id)
        .await
        .expect("instances")
        .into_iter()
        .map(|t| (t.task_id, t.state))
        .collect()
}

fn state_of(states: &[(String, TaskState)], task: &str) -> TaskState {
    states
        .iter()
        .find(|(t, _)| t == task)
        .map_or(TaskState::None, |(_, s)| *s)
}

/// Records a run of `dag_id` with `conf` for a scheduler to run.
fn queue_run(u: &Updraft, dag_id: &str, run_id: &str, conf: &Value) {
    let conf = conf.to_string();
    let out = u.run(&[
        "dag",
        "trigger",
        dag_id,
        "--run-id",
        run_id,
        "--queue-only",
        "--conf",
        &conf,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
}

/// A database the `sql` condition reads: the test's PostgreSQL database, or a SQLite file.
fn arrivals_url(u: &Updraft) -> String {
    if u.on_postgres() {
        u.database_url.clone()
    } else {
        format!("sqlite://{}/arrivals.db?mode=rwc", u.dir.path().display())
    }
}

async fn arrivals_sql(u: &Updraft, sql: &str) {
    let url = arrivals_url(u);
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if u.on_postgres() {
        let mut db = sqlx::PgConnection::connect(&url).await.expect("pg");
        sqlx::raw_sql(sql).execute(&mut db).await.expect("sql");
    } else {
        let mut db = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
        sqlx::raw_sql(sql).execute(&mut db).await.expect("sql");
    }
}

async fn sensors_wait_for_real_things_without_holding_a_slot(u: &Updraft) {
    u.write_dag("watch.yaml", WATCH);
    arrivals_sql(u, "CREATE TABLE arrivals (day TEXT NOT NULL)").await;
    let receiver = Receiver::start().await;
    receiver.answer_with("/ready", serde_json::json!({"ready": false}));
    let conn = arrivals_url(u);
    let daemon = Daemon::start(u, "scheduler", &[("UPDRAFT_CONN_ARRIVALS", &conn)]);
    let store = u.store().await;
    let at = chrono::Utc::now() + chrono::TimeDelta::seconds(6);
    let conf = serde_json::json!({
        "url": format!("{}/ready", receiver.base),
        "at": at.to_rfc3339(),
    });
    queue_run(u, "watch", "w1", &conf);

    // With one slot, four sensors wait and the sibling still runs.
    wait_for(
        "the sensors to wait and the sibling to run",
        Duration::from_secs(60),
        &[&daemon],
        || async {
            let now = states(&store, "watch", "w1").await;
            state_of(&now, "sibling") == TaskState::Success
                && ["files", "row", "service"]
                    .iter()
                    .all(|t| state_of(&now, t) == TaskState::UpForReschedule)
        },
    )
    .await;
    let out = u.run(&["task", "states", "watch", "w1", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    let waiting = |task: &str| -> String {
        shown
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["task_id"] == task))
            .and_then(|r| r["waiting"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        waiting("files").starts_with("2 file(s) matching `landing/*.json` (0 so far) since "),
        "{shown}"
    );
    assert!(waiting("row").contains("(got 0)"), "{shown}");
    assert!(waiting("service").contains("(it was false)"), "{shown}");
    // The task's page says it too, and that it holds no slot meanwhile.
    let server = WebServer::start(u, "webserver", &[]);
    let (status, page) = server
        .client(None)
        .get_as("/dags/watch/runs/w1/tasks/files", "text/html")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("up_for_reschedule")
            && page.contains("Waiting for 2 file(s) matching `landing/*.json` (0 so far) since"),
        "{page}"
    );
    drop(server);

    // Each condition comes true.
    let landing = u.dags().join("landing");
    std::fs::create_dir_all(&landing).expect("landing");
    for name in ["a.json", "b.json", "c.csv"] {
        std::fs::write(landing.join(name), "{}").expect("file");
    }
    let ds = store
        .run("watch", "w1")
        .await
        .expect("run")
        .expect("w1")
        .logical_date
        .format("%Y-%m-%d")
        .to_string();
    arrivals_sql(u, &format!("INSERT INTO arrivals VALUES ('{ds}')")).await;
    receiver.answer_with("/ready", serde_json::json!({"ready": true}));
    wait_for_success(&store, ("watch", "w1"), Duration::from_secs(60), &[&daemon]).await;

    // Each sensor waited in one try, and said so in its log.
    for task in ["files", "row", "service", "later"] {
        let tries = store.tries("watch", "w1", Some(task)).await.expect("tries");
        assert_eq!(tries.len(), 1, "{task}: {tries:?}");
        assert_eq!(tries[0].try_number, 1, "{task}");
        assert_eq!(tries[0].state, TaskState::Success, "{task}");
        let log = std::fs::read_to_string(tries[0].log_path.as_deref().expect("log")).expect("log");
        assert!(log.contains("not yet: waiting for"), "{task}: {log}");
    }
    let later = store
        .tries("watch", "w1", Some("later"))
        .await
        .expect("tries");
    assert!(
        later[0].ended_at.is_some_and(|end| end >= at),
        "`later` ended before its time {at}: {later:?}"
    );
    let after = std::fs::read_to_string(u.dags().join("after.txt")).expect("after.txt");
    let files = format!("2 {0}/a.json,{0}/b.json", landing.display());
    assert_eq!(after.trim(), files);
    assert!(
        receiver.at("/ready").len() >= 2,
        "{:?}",
        receiver.received()
    );
    daemon.stop();
}

const PARENT: &str = r#"dag_id: parent
max_active_tasks: 1
tasks:
  start:
    type: trigger_dag
    with:
      dag_id: child
      conf: "{{ {'fail': conf.fail} | tojson }}"
      wait: true
      poke_interval: 1s
  follow:
    type: wait
    with: {for: dag_run, dag_id: child, poke_interval: 1s, failed_states: [failed]}
"#;

const CHILD: &str = r#"dag_id: child
tasks:
  work:
    type: shell
    with: {command: "sleep 2{% if conf.fail %}; exit 3{% endif %}"}
"#;

async fn trigger_dag_waits_for_the_run_it_starts(u: &Updraft) {
    u.write_dag("parent.yaml", PARENT);
    u.write_dag("child.yaml", CHILD);
    // On PostgreSQL two schedulers share the runs: still one child run per parent run.
    let first = Daemon::start(u, "first", &[]);
    let second = u.on_postgres().then(|| Daemon::start(u, "second", &[]));
    let logs: Vec<&Daemon> = std::iter::once(&first).chain(second.as_ref()).collect();
    let store = u.store().await;
    for (run, fail) in [("ok", false), ("bad", true)] {
        queue_run(u, "parent", run, &serde_json::json!({ "fail": fail }));
    }
    wait_for(
        "both parent runs to end",
        Duration::from_secs(90),
        &logs,
        || async {
            let mut ended = 0;
            for run in ["ok", "bad"] {
                let found = store.run("parent", run).await.ok().flatten();
                ended +=
                    usize::from(found.is_some_and(|r| r.state == "success" || r.state == "failed"));
            }
            ended == 2
        },
    )
    .await;

    let ok = states(&store, "parent", "ok").await;
    assert_eq!(state_of(&ok, "start"), TaskState::Success, "{ok:?}");
    assert_eq!(state_of(&ok, "follow"), TaskState::Success, "{ok:?}");
    let out = u.run(&["task", "outputs", "parent", "ok", "start", "-o", "json"]);
    let started: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(started["state"], "success", "{started}");
    let child_run = started["run_id"].as_str().expect("run id").to_string();
    let child = store
        .run("child", &child_run)
        .await
        .expect("run")
        .expect("child");
    assert_eq!(child.state, "success");

    let bad = states(&store, "parent", "bad").await;
    assert_eq!(state_of(&bad, "start"), TaskState::Failed, "{bad:?}");
    assert_eq!(state_of(&bad, "follow"), TaskState::Failed, "{bad:?}");
    let tries = store.tries("parent", "bad", None).await.expect("tries");
    let errors: Vec<&str> = tries.iter().filter_map(|t| t.error.as_deref()).collect();
    assert!(
        errors.iter().any(|e| e.contains("of child failed")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("one of failed_states")),
        "{errors:?}"
    );
    // One try each (waiting is not retrying), and one child run per parent run.
    assert!(tries.iter().all(|t| t.try_number == 1), "{tries:?}");
    assert_eq!(store.runs("child", None, 10).await.expect("runs").len(), 2);
    drop(second);
    first.stop();
}

const PATIENT: &str = r#"dag_id: patient
tasks:
  never:
    type: wait
    with: {for: file, path: "never/*.json", poke_interval: 1s, timeout: 10s}
  soft:
    type: wait
    with: {for: file, path: "never/*.csv", poke_interval: 1s, timeout: 10s, soft_fail: true}
"#;

async fn a_waiting_sensor_keeps_its_try_and_timeout_through_a_kill_9(u: &Updraft) {
    u.write_dag("patient.yaml", PATIENT);
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")];
    let first = Daemon::start(u, "first", &env);
    let store = u.store().await;
    queue_run(u, "patient", "p1", &serde_json::json!({}));
    wait_for(
        "both sensors to wait",
        Duration::from_secs(30),
        &[&first],
        || async {
            let now = states(&store, "patient", "p1").await;
            ["never", "soft"]
                .iter()
                .all(|t| state_of(&now, t) == TaskState::UpForReschedule)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill9();
    // A replacement (on PostgreSQL, two: each check is still made by one).
    let second = Daemon::start(u, "second", &env);
    let third = u.on_postgres().then(|| Daemon::start(u, "third", &env));
    wait_for(
        "the run to end",
        Duration::from_secs(60),
        &[&second],
        || async {
            store
                .run("patient", "p1")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state == "failed")
        },
    )
    .await;
    let never = store
        .tries("patient", "p1", Some("never"))
        .await
        .expect("tries");
    assert_eq!(never.len(), 1, "one try, through the crash: {never:?}");
    assert_eq!(never[0].state, TaskState::Failed);
    let error = never[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("timed out after 10s waiting for 1 file(s) matching"),
        "{error}"
    );
    // The timeout counted from the first check, before the crash: a timeout that started
    // again with the replacement would have ended at least 13 s after it.
    let waited = never[0].duration.expect("duration");
    assert!((10.0..13.0).contains(&waited), "waited {waited} s");
    let log = std::fs::read_to_string(never[0].log_path.as_deref().expect("log")).expect("log");
    let checks = log.matches("not yet: waiting for").count();
    assert!(
        (6..=13).contains(&checks),
        "{checks} checks in 10 s at 1 s:\n{log}"
    );
    let soft = states(&store, "patient", "p1").await;
    assert_eq!(state_of(&soft, "soft"), TaskState::Skipped, "{soft:?}");
    drop(third);
    second.stop();
}

/// `task test` of a sensor checks in the foreground until the condition holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_test_checks_a_sensor_until_it_holds() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag("patient.yaml", PATIENT);
    let child = u
        .command(&["task", "test", "patient", "never"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("task test");
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::create_dir_all(u.dags().join("never")).expect("folder");
    std::fs::write(u.dags().join("never/x.json"), "{}").expect("file");
    let out = child.wait_with_output().expect("task test");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("not yet: waiting for 1 file(s) matching"),
        "{shown}"
    );
    assert!(shown.contains("success"), "{shown}");
    u.cleanup().await;
}

/// A sensor's or a waiting trigger's mistakes are found by `dag validate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_mistakes_are_found_at_load() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    let cases = [
        ("with: {for: email}", "unknown variant `email`"),
        ("with: {path: x}", "`for:` is missing"),
        ("with: {for: file}", "missing field `path`"),
        (
            "with: {for: http, url: 'http://x', condition: '{{ response.ok }}'}",
            "written without {{ }}",
        ),
        (
            "with: {for: dag_run, dag_id: x, states: [done]}",
            "`done` is not a run state",
        ),
        ("with: {for: file, path: x, timeout: soon}", "`timeout`"),
    ];
    for (with, expected) in cases {
        let dag = format!("dag_id: bad\ntasks:\n  w:\n    type: wait\n    {with}\n");
        u.write_dag("bad.yaml", &dag);
        let out = u.run(&["dag", "validate"]);
        let said = text(&out);
        assert!(!out.status.success(), "{with}: {said:?}");
        assert!(
            said.1.contains(expected) && said.1.contains("bad.yaml"),
            "{with}: {said:?}"
        );
    }
    u.write_dag(
        "bad.yaml",
        "dag_id: bad\ntasks:\n  t:\n    type: trigger_dag\n    with: {dag_id: x, poke_interval: 5s}\n",
    );
    let out = u.run(&["dag", "validate"]);
    assert!(
        text(&out).1.contains("give `wait: true` too"),
        "{:?}",
        text(&out)
    );
    u.cleanup().await;
}

const WRITE: &str = r#"dag_id: write
tasks:
  append:
    type: delta_sql
    with:
      query: "SELECT '{{ conf.day }}' AS day, 1 AS n"
      table: "{{ lake }}/silver/t"
      mode: append
      partition_by: [day]
"#;

const FRESH: &str = r#"dag_id: fresh
tasks:
  new_commit:
    type: wait
    with: {for: delta, table: "{{ lake }}/silver/t", poke_interval: 1s, timeout: 2m}
  day:
    type: wait
    with:
      for: delta
      table: "{{ lake }}/silver/t"
      partition: {day: "{{ conf.day }}"}
      poke_interval: 1s
      timeout: 2m
"#;

/// Whether the log of `task`'s (only) try in `run` of `fresh` says it waited.
async fn waited(store: &Store, run: &str, task: &str) -> bool {
    let tries = store.tries("fresh", run, Some(task)).await.expect("tries");
    assert_eq!(tries.len(), 1, "{tries:?}");
    let log = std::fs::read_to_string(tries[0].log_path.as_deref().expect("log")).expect("log");
    log.contains("not yet: waiting for")
}

async fn delta_sensors_wait_for_a_newer_commit_and_a_partition(u: &Updraft) {
    u.write_dag("write.yaml", WRITE);
    u.write_dag("fresh.yaml", FRESH);
    let write = |day: &str| {
        let conf = serde_json::json!({ "day": day }).to_string();
        let out = u.run(&["dag", "trigger", "write", "--conf", &conf]);
        assert!(out.status.success(), "{:?}", text(&out));
    };
    let fresh = |run: &str, day: &str| {
        queue_run(u, "fresh", run, &serde_json::json!({ "day": day }));
    };
    write("2026-12-01");
    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;

    // The first run: any commit is new; the partition is not there yet.
    fresh("f1", "2026-12-02");
    wait_for(
        "f1's partition sensor to wait",
        Duration::from_secs(30),
        &[&daemon],
        || async {
            let now = states(&store, "fresh", "f1").await;
            state_of(&now, "new_commit") == TaskState::Success
                && state_of(&now, "day") == TaskState::UpForReschedule
        },
    )
    .await;
    write("2026-12-02");
    wait_for_success(&store, ("fresh", "f1"), Duration::from_secs(30), &[&daemon]).await;
    assert!(!waited(&store, "f1", "new_commit").await);
    assert!(waited(&store, "f1", "day").await);

    // The second: a commit came after what f1 saw, and its partition is there.
    fresh("f2", "2026-12-01");
    wait_for_success(&store, ("fresh", "f2"), Duration::from_secs(30), &[&daemon]).await;
    assert!(!waited(&store, "f2", "new_commit").await);
    assert!(!waited(&store, "f2", "day").await);

    // The third: nothing new since f2 saw the table; it waits for the next commit.
    fresh("f3", "2026-12-01");
    wait_for(
        "f3 to wait for a commit",
        Duration::from_secs(30),
        &[&daemon],
        || async {
            let now = states(&store, "fresh", "f3").await;
            state_of(&now, "new_commit") == TaskState::UpForReschedule
        },
    )
    .await;
    write("2026-12-03");
    wait_for_success(&store, ("fresh", "f3"), Duration::from_secs(30), &[&daemon]).await;
    assert!(waited(&store, "f3", "new_commit").await);
    let out = u.run(&["task", "outputs", "fresh", "f3", "new_commit", "-o", "json"]);
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["version"], 2, "{seen}");
    daemon.stop();
}

/// `for: file` on an object store: objects that arrive under a prefix (moto's S3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sensor_finds_objects_on_s3() {
    let s3 = S3Server::start("landing");
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "s3.yaml",
        "dag_id: s3\ntasks:\n  objects:\n    type: wait\n    with: {for: file, path: 's3://landing/in/*.json', min_files: 2, poke_interval: 1s, timeout: 1m}\n",
    );
    let mut command = u.command(&["task", "test", "s3", "objects"]);
    command.envs(s3.env()).stdout(std::process::Stdio::piped());
    let child = command.spawn().expect("task test");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for key in ["in/a.json", "in/b.json", "in/deeper/c.json", "in/d.csv"] {
        let put = std::process::Command::new("curl")
            .args([
                "-sf",
                "-X",
                "PUT",
                "--data",
                "{}",
                &format!("{}/landing/{key}", s3.endpoint),
            ])
            .status()
            .expect("curl");
        assert!(put.success(), "{key}");
    }
    let out = child.wait_with_output().expect("task test");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("(0 so far)"), "{shown}");
    assert!(
        shown.contains("2 file(s) match `s3://landing/in/*.json`"),
        "{shown}"
    );
    u.cleanup().await;
}
