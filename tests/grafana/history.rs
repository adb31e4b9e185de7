//! A real history for the dashboards to read, made by the engine on PostgreSQL: the
//! lakehouse DAG from files into the PostgreSQL warehouse (gold tables and data tests),
//! the user-events speed layer and batch (realtime.* and gold.*),
//! the shipped flaky DAG (two failed tries, then success), a DAG whose data test and
//! task fail, and a scheduler working an hourly DAG that is behind (a running run, a
//! running task, a late next run, a live heartbeat).

use crate::support::{
    Backend, Updraft, create_database, drop_database, generate_tweets, repo_path, text,
};
use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use std::process::Child;

/// The history's installation and the scheduler working on it.
pub struct History {
    pub updraft: Updraft,
    /// The warehouse's database (the gold tables), apart from the history's.
    pub warehouse_url: String,
    warehouse: String,
    scheduler: Scheduler,
}

impl History {
    /// Stops the scheduler and drops the database.
    pub async fn finish(self) {
        let History {
            updraft,
            warehouse,
            scheduler,
            ..
        } = self;
        drop(scheduler);
        updraft.cleanup().await;
        drop_database(&warehouse).await;
    }
}

/// An `updraft scheduler` process, stopped with SIGTERM when dropped.
struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = self.0.wait();
        }
    }
}

/// Runs the DAGs and starts the scheduler; returns once the scheduler works on its run.
pub async fn make(now: DateTime<Utc>) -> History {
    let mut u = Updraft::new(Backend::Postgres).await;
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let (warehouse_url, warehouse) = create_database().await;
    u.env
        .push(("UPDRAFT_CONN_WAREHOUSE".into(), warehouse_url.clone()));

    // Tweets from 20 hours ago on, 5 % malformed, through the shipped lakehouse DAG.
    let start = (now - Duration::hours(20)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let landing = format!("file://{}", lake.join("landing").display());
    let options = ["--start", &start, "--days", "1", "--bad-ratio", "0.05"];
    generate_tweets(&u, 3_000, &landing, 7, &options);
    shipped(&u, &["dag", "trigger", "lakehouse_bronze_to_gold"], true);
    // User events of the last two hours through the speed layer, and today's batch.
    let start = (now - Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let generate = [
        "generate",
        "user-events",
        "--count",
        "4000",
        "--seed",
        "9",
        "--start",
        &start,
        "--hours",
        "2",
    ];
    shipped(&u, &generate, true);
    shipped(&u, &["dag", "trigger", "user_events_realtime"], true);
    let today = now.date_naive().to_string();
    let batch = [
        "dag",
        "trigger",
        "user_events_bronze_to_gold",
        "--logical-date",
        &today,
    ];
    shipped(&u, &batch, true);
    // Fails twice, then succeeds.
    shipped(&u, &["dag", "trigger", "example_retries"], true);

    u.write_dag("quality_gate.yaml", QUALITY_GATE);
    run(&u, &["dag", "trigger", "quality_gate"], false);

    let hour = now.duration_trunc(Duration::hours(1)).expect("hour");
    let start_date = (hour - Duration::hours(3)).to_rfc3339_opts(SecondsFormat::Secs, true);
    u.write_dag(
        "behind_hourly.yaml",
        &BEHIND_HOURLY.replace("START", &start_date),
    );
    let log = std::fs::File::create(u.dir.path().join("scheduler.log")).expect("log file");
    let scheduler = u
        .command(&["scheduler"])
        .stderr(log)
        .spawn()
        .expect("start scheduler");
    let history = History {
        updraft: u,
        warehouse_url,
        warehouse,
        scheduler: Scheduler(scheduler),
    };
    wait_until_working(&history.updraft).await;
    history
}

/// A data test that fails and one that warns on the warehouse's gold table, and a task
/// that fails on both of its tries, with an alert sent and one that cannot be.
const QUALITY_GATE: &str = r#"
dag_id: quality_gate
schedule: null
tasks:
  check_gold:
    type: data_test
    with:
      conn: warehouse
      models:
        - name: gold.active_users_by_day
          columns:
            - name: active_users
              data_tests:
                - dbt_utils.accepted_range:
                    arguments: {min_value: 1000000}
                - not_null
            - name: tweets_per_user
              data_tests:
                - dbt_utils.accepted_range:
                    arguments: {max_value: 0.5}
                    config: {severity: warn}
  publish:
    type: shell
    retries: 1
    retry_delay: 1s
    on_failure:
      - shell: {command: 'true'}
      - slack: {conn: not_configured}
    with:
      command: echo "the publisher is down" >&2; exit 3
"#;

/// Hourly since three hours ago, one run at a time, a task that outlasts the test: its
/// first run keeps running and the next ones are due but not created.
const BEHIND_HOURLY: &str = r#"
dag_id: behind_hourly
schedule: "0 * * * *"
start_date: "START"
catchup: true
max_active_runs: 1
tasks:
  crunch:
    type: shell
    retries: 0
    with:
      command: sleep 600
"#;

/// Runs a command with the shipped DAGs folder.
fn shipped(u: &Updraft, args: &[&str], ok: bool) {
    let out = u
        .command(args)
        .env("UPDRAFT_DAGS_FOLDER", repo_path("dags"))
        .output()
        .expect("run updraft");
    assert_eq!(out.status.success(), ok, "{args:?}: {:?}", text(&out));
}

fn run(u: &Updraft, args: &[&str], ok: bool) {
    let out = u.run(args);
    assert_eq!(out.status.success(), ok, "{args:?}: {:?}", text(&out));
}

/// Waits until the scheduler runs `crunch` and has recorded when the next run was due.
async fn wait_until_working(u: &Updraft) {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&u.database_url)
        .await
        .expect("history");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (running, due): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM task_instance WHERE dag_id = 'behind_hourly' AND state = 'running'),
                    (SELECT count(*) FROM dag WHERE dag_id = 'behind_hourly' AND next_run_after IS NOT NULL)",
        )
        .fetch_one(&mut db)
        .await
        .expect("poll");
        if running == 1 && due == 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler did not start behind_hourly's task within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
