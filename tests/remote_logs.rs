//! Task logs in the object store (moto's S3), on "three hosts": two schedulers with
//! homes of their own on one PostgreSQL and a web server with a third. A log is followed
//! live from the web server while the other host's scheduler writes it, read by the CLI of
//! a host that did not run it, shown cut after its writer was killed with SIGKILL, and
//! deleted with its run by `db clean`.

use crate::support::{Backend, Daemon, S3Server, Updraft, WebServer, text, wait_for};
use std::time::{Duration, Instant};
use updraft::store::{Store, TaskState};

const DAG: &str = r#"dag_id: chatty
tasks:
  slow:
    type: shell
    queue: far
    with: {command: "for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done"}
"#;

const KILLED: &str = r#"dag_id: killed
default_args: {retries: 0}
tasks:
  long:
    type: shell
    queue: far
    with: {command: "for i in $(seq 1 30); do echo tick $i; sleep 1; done"}
"#;

fn host(u: &Updraft, s3: &S3Server) -> Updraft {
    let mut h = u.sibling();
    h.env.extend(s3.env());
    h.env
        .push(("UPDRAFT_LOGS_URL".into(), "s3://logs/updraft".into()));
    h.write_dag("chatty.yaml", DAG);
    h.write_dag("killed.yaml", KILLED);
    h
}

async fn state(store: &Store, dag_id: &str, task_id: &str) -> TaskState {
    store
        .task_instances(dag_id, "r1")
        .await
        .ok()
        .and_then(|t| t.into_iter().find(|t| t.task_id == task_id))
        .map_or(TaskState::None, |t| t.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_is_followed_from_another_host_and_survives_its_writer() {
    let u = Updraft::new(Backend::Postgres).await;
    let s3 = S3Server::start("logs");
    let (near, far, web) = (host(&u, &s3), host(&u, &s3), host(&u, &s3));
    let fast = ("UPDRAFT_HEARTBEAT_TIMEOUT", "2s");
    let near_scheduler = Daemon::start(&near, "near", &[fast, ("UPDRAFT_QUEUES", "default")]);
    let far_scheduler = Daemon::start(&far, "far", &[fast, ("UPDRAFT_QUEUES", "far")]);
    let server = WebServer::start(&web, "webserver", &[]);
    let store = u.store().await;
    let out = near.run(&["dag", "trigger", "chatty", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let s = &store;
    wait_for(
        "slow to run on the far host",
        Duration::from_secs(30),
        &[&near_scheduler, &far_scheduler],
        || async { state(s, "chatty", "slow").await == TaskState::Running },
    )
    .await;

    // Followed live from the web server's host, which has no file of it.
    let url = format!(
        "{}/api/v2/dags/chatty/dagRuns/r1/taskInstances/slow/logs/1?follow=true",
        server.base
    );
    let mut response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/plain")
        .send()
        .await
        .expect("follow");
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let mut body = String::new();
    let mut first_line_while_running = None;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        body.push_str(&String::from_utf8_lossy(&chunk));
        if first_line_while_running.is_none() && body.contains("line 1") {
            first_line_while_running = Some(state(&store, "chatty", "slow").await);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never ended: {body}"
        );
    }
    assert_eq!(
        first_line_while_running,
        Some(TaskState::Running),
        "the first lines arrive while the task runs: {body}"
    );
    assert!(
        body.contains("line 6"),
        "the whole log once it ends: {body}"
    );
    assert!(!body.contains("the log ends here"), "{body}");
    // The far host kept no copy: the object store has it.
    assert!(
        !far.home()
            .join("logs/dag_id=chatty")
            .join("run_id=r1/task_id=slow/attempt=1.log")
            .exists()
    );
    let tries = store
        .tries("chatty", "r1", Some("slow"))
        .await
        .expect("tries");
    assert_eq!(
        tries[0].log_path.as_deref(),
        Some("s3://logs/updraft/dag_id=chatty/run_id=r1/task_id=slow/attempt=1/")
    );
    // The CLI of the near host, which did not run it, reads it too.
    let out = near.run(&["task", "logs", "chatty", "r1", "slow"]);
    let (printed, _) = text(&out);
    assert!(
        out.status.success() && printed.contains("line 6"),
        "{printed}"
    );

    // SIGKILL of the far scheduler mid-attempt: the log keeps what reached the store
    // (all but the last seconds) and says it was cut.
    let out = near.run(&["dag", "trigger", "killed", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let web_host = &web;
    wait_for(
        "ticks in the store",
        Duration::from_secs(40),
        &[&far_scheduler],
        || async move {
            let out = web_host.run(&["task", "logs", "killed", "r1", "long"]);
            text(&out).0.contains("tick 4")
        },
    )
    .await;
    far_scheduler.kill9();
    wait_for(
        "the killed attempt to be failed",
        Duration::from_secs(30),
        &[&near_scheduler],
        || async { state(s, "killed", "long").await == TaskState::Failed },
    )
    .await;
    let out = web.run(&["task", "logs", "killed", "r1", "long"]);
    let (printed, _) = text(&out);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(printed.contains("tick 4"), "{printed}");
    assert!(!printed.contains("tick 30"), "{printed}");
    assert!(
        printed
            .trim_end()
            .ends_with("its last seconds may be missing)"),
        "{printed}"
    );

    wait_for(
        "the killed run to end",
        Duration::from_secs(30),
        &[&near_scheduler],
        || async {
            s.run("killed", "r1")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state == "failed")
        },
    )
    .await;
    // `db clean` takes the logs with the runs.
    let out = near.run(&[
        "db",
        "clean",
        "--older-than",
        "0s",
        "--keep-last",
        "0",
        "-y",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["log_files"], 2, "{report}");
    let listing = reqwest::get(format!("{}/logs?list-type=2&prefix=updraft/", s3.endpoint))
        .await
        .expect("list the bucket")
        .text()
        .await
        .expect("listing");
    assert!(!listing.contains("<Key>"), "objects left: {listing}");
    drop(server);
    assert!(near_scheduler.stop().success());
    u.cleanup().await;
}
