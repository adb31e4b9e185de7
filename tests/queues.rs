//! Queues on PostgreSQL: each task runs on a scheduler serving its queue, a task of a
//! queue nobody serves waits (and says so), a killed scheduler's queue is taken over by
//! its replacement, a queue's limit holds across schedulers, and a draining scheduler
//! finishes its attempts but starts nothing new.

use crate::support::{Backend, Daemon, Updraft, text, wait_for, wait_for_success};
use std::time::Duration;
use updraft::store::{Store, TaskState, TaskTryRow};

/// The job id a scheduler's log announces.
fn job_of(daemon: &Daemon) -> String {
    let log = daemon.log();
    log.split("scheduler ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .filter(|id| id.starts_with("scheduler-"))
        .unwrap_or_else(|| panic!("no job id in:\n{log}"))
        .to_string()
}

async fn wait_for_job(store: &Store, daemon: &Daemon) -> String {
    wait_for(
        "the scheduler's job",
        Duration::from_secs(20),
        &[daemon],
        || async { daemon.log().contains(" started: ") },
    )
    .await;
    let job = job_of(daemon);
    wait_for("its row", Duration::from_secs(20), &[daemon], || async {
        store
            .running_jobs(Some("scheduler"))
            .await
            .is_ok_and(|jobs| jobs.iter().any(|j| j.job_id == job))
    })
    .await;
    job
}

async fn tries(store: &Store, run_id: &str, task_id: &str) -> Vec<TaskTryRow> {
    store
        .tries("mixed", run_id, Some(task_id))
        .await
        .expect("tries")
}

async fn state(store: &Store, dag_id: &str, run_id: &str, task_id: &str) -> TaskState {
    store
        .task_instances(dag_id, run_id)
        .await
        .expect("instances")
        .into_iter()
        .find(|t| t.task_id == task_id)
        .map(|t| t.state)
        .expect("instance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_runs_where_its_queue_is_served() {
    let u = Updraft::new(Backend::Postgres).await;
    u.write_dag(
        "mixed.yaml",
        r#"dag_id: mixed
default_args: {retries: 2, retry_delay: 0s}
tasks:
  plain: {type: shell, with: {command: "echo plain"}}
  heavy: {type: shell, queue: spark, with: {command: "sleep 3"}}
  gpu_only:
    type: shell
    queue: gpu
    depends_on: [plain]
    with: {command: "echo gpu"}
"#,
    );
    let fast = [("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")];
    let default = Daemon::start(&u, "default", &[fast[0], ("UPDRAFT_QUEUES", "default")]);
    let spark = Daemon::start(&u, "spark", &[fast[0], ("UPDRAFT_QUEUES", "spark")]);
    let store = u.store().await;
    let default_job = wait_for_job(&store, &default).await;
    let spark_job = wait_for_job(&store, &spark).await;
    let out = u.run(&["dag", "trigger", "mixed", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));

    // `plain` runs on the default scheduler; `heavy` starts on the spark one.
    let s = &store;
    wait_for(
        "plain done and heavy running",
        Duration::from_secs(30),
        &[&default, &spark],
        move || async move {
            state(s, "mixed", "r1", "plain").await == TaskState::Success
                && state(s, "mixed", "r1", "heavy").await == TaskState::Running
        },
    )
    .await;
    assert_eq!(
        tries(&store, "r1", "plain").await[0].job_id.as_deref(),
        Some(default_job.as_str())
    );
    assert_eq!(
        tries(&store, "r1", "heavy").await[0].job_id.as_deref(),
        Some(spark_job.as_str())
    );
    // Nobody serves gpu: its task waits, and says so everywhere.
    wait_for(
        "gpu_only to wait",
        Duration::from_secs(10),
        &[&default],
        || async { state(s, "mixed", "r1", "gpu_only").await == TaskState::Scheduled },
    )
    .await;
    assert_eq!(
        store.tasks_waiting_for_queue().await.expect("waiting"),
        [("gpu".to_string(), 1)]
    );
    let out = u.run(&["task", "states", "mixed", "r1"]);
    let (listed, said) = text(&out);
    assert!(
        said.contains("waiting for a queue") && said.contains("gpu_only"),
        "{said}"
    );
    assert!(
        listed.contains("spark") && listed.contains("gpu"),
        "{listed}"
    );

    // The spark scheduler dies mid-attempt: its replacement, serving spark and gpu,
    // retries heavy and runs gpu_only; the default scheduler touches neither.
    spark.kill9();
    let replacement = Daemon::start(
        &u,
        "replacement",
        &[fast[0], ("UPDRAFT_QUEUES", "spark,gpu")],
    );
    let replacement_job = wait_for_job(&store, &replacement).await;
    wait_for_success(
        &store,
        ("mixed", "r1"),
        Duration::from_secs(60),
        &[&default, &replacement],
    )
    .await;
    let heavy = tries(&store, "r1", "heavy").await;
    assert_eq!(heavy.len(), 2, "{heavy:?}");
    assert_eq!(heavy[0].job_id.as_deref(), Some(spark_job.as_str()));
    assert_eq!(heavy[1].job_id.as_deref(), Some(replacement_job.as_str()));
    assert_eq!(heavy[1].state, TaskState::Success);
    let gpu = tries(&store, "r1", "gpu_only").await;
    assert_eq!(gpu.len(), 1);
    assert_eq!(gpu[0].job_id.as_deref(), Some(replacement_job.as_str()));
    assert!(
        store
            .tasks_waiting_for_queue()
            .await
            .expect("waiting")
            .is_empty()
    );
    assert!(default.stop().success());
    assert!(replacement.stop().success());
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_limit_holds_across_schedulers() {
    let u = Updraft::new(Backend::Postgres).await;
    let mut yaml = String::from("dag_id: capped\nmax_active_tasks: 16\ntasks:\n");
    for i in 0..6 {
        yaml.push_str(&format!(
            "  t{i}: {{type: shell, queue: spark, with: {{command: 'sleep 0.4'}}}}\n"
        ));
    }
    u.write_dag("capped.yaml", &yaml);
    let config = u.dir.path().join("updraft.toml");
    std::fs::write(&config, "[queues]\nmax_active_tasks = { spark = 2 }\n").expect("config");
    let env = [
        ("UPDRAFT_QUEUES", "spark"),
        ("UPDRAFT_CONFIG", config.to_str().expect("utf-8")),
    ];
    let first = Daemon::start(&u, "first", &env);
    let second = Daemon::start(&u, "second", &env);
    let store = u.store().await;
    wait_for_job(&store, &first).await;
    wait_for_job(&store, &second).await;
    let out = u.run(&["dag", "trigger", "capped", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for_success(
        &store,
        ("capped", "r1"),
        Duration::from_secs(60),
        &[&first, &second],
    )
    .await;
    let all = store.tries("capped", "r1", None).await.expect("tries");
    assert_eq!(all.len(), 6);
    // At no moment were more than two attempts running.
    for t in &all {
        let at = t.started_at;
        let overlapping = all
            .iter()
            .filter(|o| o.started_at <= at && o.ended_at.is_some_and(|end| end > at))
            .count();
        assert!(overlapping <= 2, "{overlapping} running at {at}: {all:?}");
    }
    assert!(first.stop().success());
    assert!(second.stop().success());
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_scheduler_finishes_its_attempts_and_starts_nothing_new() {
    let u = Updraft::new(Backend::Postgres).await;
    u.write_dag(
        "drained.yaml",
        "dag_id: drained\ntasks:\n  long: {type: shell, with: {command: 'sleep 2; echo finished'}}\n  after: {type: noop, depends_on: [long]}\n",
    );
    let mut daemon = Daemon::start(&u, "draining", &[("UPDRAFT_DRAIN_TIMEOUT", "30s")]);
    let store = u.store().await;
    wait_for_job(&store, &daemon).await;
    let out = u.run(&[
        "dag",
        "trigger",
        "drained",
        "--run-id",
        "r1",
        "--queue-only",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let s = &store;
    wait_for(
        "long to run",
        Duration::from_secs(20),
        &[&daemon],
        move || async move { state(s, "drained", "r1", "long").await == TaskState::Running },
    )
    .await;
    let status = daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "{status:?}");
    let log = daemon.log();
    assert!(log.contains("draining"), "{log}");
    assert_eq!(
        state(&store, "drained", "r1", "long").await,
        TaskState::Success
    );
    let long = store
        .tries("drained", "r1", Some("long"))
        .await
        .expect("tries");
    assert_eq!(long.len(), 1, "finished, not retried: {long:?}");
    assert_ne!(
        state(&store, "drained", "r1", "after").await,
        TaskState::Success,
        "nothing new starts on a draining scheduler"
    );
    assert!(
        store
            .tries("drained", "r1", Some("after"))
            .await
            .expect("tries")
            .is_empty()
    );
    u.cleanup().await;
}
