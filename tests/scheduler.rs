//! The scheduler end to end: catchup within max_active_runs, backfill and reprocess,
//! pause and unpause, recovery after kill -9, one scheduler per SQLite file, and three
//! schedulers sharing a 500-task run on PostgreSQL with every attempt run exactly once.

use crate::support::{Backend, Daemon, Updraft, text, wait_for};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::process::Stdio;
use std::time::{Duration, Instant};
use updraft::store::{DagRunRow, Store};

on_both_backends!(
    dag_files_are_reloaded_without_a_restart,
    catchup_creates_each_missed_interval_in_order,
    backfill_creates_each_interval_once,
    a_killed_scheduler_is_recovered_by_the_next,
    pause_holds_runs_and_unpause_resumes_without_a_flood,
    a_foreground_trigger_waits_for_max_active_runs,
    pause_holds_a_running_run_until_unpause,
    no_trigger_waits_for_a_run_nobody_works,
);

/// Waits until `count` schedulers have registered their jobs.
async fn wait_for_schedulers(store: &Store, count: usize, daemons: &[&Daemon]) {
    wait_for(
        &format!("{count} scheduler job(s)"),
        Duration::from_secs(20),
        daemons,
        move || async move {
            store
                .running_jobs(Some("scheduler"))
                .await
                .is_ok_and(|jobs| jobs.len() == count)
        },
    )
    .await;
}

async fn runs(store: &Store, dag_id: &str) -> Vec<DagRunRow> {
    let mut runs = store.runs(dag_id, None, 1000).await.expect("runs");
    runs.sort_by_key(|r| r.logical_date);
    runs
}

async fn all_in(store: &Store, dag_id: &str, count: usize, state: &str) -> bool {
    let runs = runs(store, dag_id).await;
    runs.len() == count && runs.iter().all(|r| r.state == state)
}

/// The most runs that were running at the same moment.
fn max_overlap(runs: &[DagRunRow]) -> usize {
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = runs
        .iter()
        .filter_map(|r| Some((r.started_at?, r.ended_at?)))
        .collect();
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn this_hour() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .expect("truncate")
}

async fn catchup_creates_each_missed_interval_in_order(u: &Updraft) {
    let hour = this_hour();
    let iso = |t: DateTime<Utc>| t.to_rfc3339();
    // end_date keeps an hour boundary during the test from adding a sixth run.
    u.write_dag(
        "hourly.yaml",
        &format!(
            r#"
dag_id: hourly
schedule: "0 * * * *"
start_date: "{}"
end_date: "{}"
catchup: true
max_active_runs: 2
tasks:
  work: {{ type: shell, with: {{ command: "sleep 1" }} }}
"#,
            iso(hour - TimeDelta::hours(5)),
            iso(hour - TimeDelta::hours(1))
        ),
    );
    let out = u.run(&["dag", "next", "hourly", "-n", "2", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let next: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first_start =
        DateTime::parse_from_rfc3339(next[0]["data_interval_start"].as_str().unwrap()).unwrap();
    let first_end = DateTime::parse_from_rfc3339(next[0]["run_after"].as_str().unwrap()).unwrap();
    assert_eq!(first_start, hour - TimeDelta::hours(5));
    assert_eq!(first_end, hour - TimeDelta::hours(4));

    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;
    wait_for(
        "five successful runs",
        Duration::from_secs(60),
        &[&daemon],
        || all_in(&store, "hourly", 5, "success"),
    )
    .await;
    let runs = runs(&store, "hourly").await;
    let starts: Vec<DateTime<Utc>> = runs.iter().map(|r| r.data_interval_start).collect();
    let expected: Vec<DateTime<Utc>> = (1..=5).rev().map(|h| hour - TimeDelta::hours(h)).collect();
    assert_eq!(starts, expected);
    for r in &runs {
        assert_eq!(r.run_type, "scheduled");
        assert_eq!(r.logical_date, r.data_interval_start);
        assert_eq!(
            r.data_interval_end - r.data_interval_start,
            TimeDelta::hours(1)
        );
    }
    // Oldest first, and never more than max_active_runs at once.
    let mut by_start = runs.clone();
    by_start.sort_by_key(|r| r.started_at);
    assert_eq!(
        by_start.iter().map(|r| r.logical_date).collect::<Vec<_>>(),
        expected
    );
    let overlap = max_overlap(&runs);
    assert!((1..=2).contains(&overlap), "{overlap} runs ran at once");
    let status = daemon.stop();
    assert!(status.success(), "scheduler exit {status:?}");
    // A clean stop is recorded, so no one will take this scheduler for dead.
    let jobs = store.running_jobs(None).await.unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
}

async fn backfill_creates_each_interval_once(u: &Updraft) {
    let flag = u.dir.path().join("fail-the-15th");
    u.write_dag(
        "daily.yaml",
        &format!(
            r#"
dag_id: daily
schedule: "@daily"
start_date: "2025-12-01"
tasks:
  work:
    type: shell
    with:
      command: 'if [ "{{{{ ds }}}}" = 2026-01-15 ] && [ -e {} ]; then exit 1; fi'
"#,
            flag.display()
        ),
    );
    let range = ["--from", "2026-01-01", "--to", "2026-01-30"];
    let backfill = |extra: &[&str]| {
        let mut args = vec!["dag", "backfill", "daily"];
        args.extend(range);
        args.extend(extra);
        u.run(&args)
    };
    let out = backfill(&["--dry-run", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.len(), 30);
    assert!(plan.iter().all(|p| p["action"] == "create"));
    assert_eq!(plan[0]["logical_date"], "2026-01-01T00:00:00+00:00");
    assert_eq!(plan[29]["data_interval_end"], "2026-01-31T00:00:00+00:00");
    let store = u.store().await;
    assert!(
        runs(&store, "daily").await.is_empty(),
        "a dry run created runs"
    );

    std::fs::write(&flag, "").unwrap();
    let out = backfill(&["--max-active-runs", "4"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one run fails: {:?}",
        text(&out)
    );
    let (_, err) = text(&out);
    assert!(err.contains("29 succeeded, 1 failed, 0 skipped"), "{err}");
    let all = runs(&store, "daily").await;
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|r| r.run_type == "backfill"));
    let failed: Vec<&DagRunRow> = all.iter().filter(|r| r.state == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].logical_date.to_rfc3339(),
        "2026-01-15T00:00:00+00:00"
    );
    let overlap = max_overlap(&all);
    assert!((1..=4).contains(&overlap), "{overlap} runs at once");

    let out = backfill(&[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(
        err.contains("0 to create, 0 to re-run, 30 to skip"),
        "{err}"
    );
    assert_eq!(runs(&store, "daily").await.len(), 30);

    std::fs::remove_file(&flag).unwrap();
    let out = backfill(&["--reprocess", "failed"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(
        err.contains("0 to create, 1 to re-run, 29 to skip"),
        "{err}"
    );
    assert!(all_in(&store, "daily", 30, "success").await);
    let tis = store
        .task_instances("daily", &failed[0].run_id)
        .await
        .unwrap();
    assert_eq!(tis[0].try_number, 2, "the re-run is the task's second try");

    let out = backfill(&["--reprocess", "completed", "--dry-run", "-o", "json"]);
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan.iter().all(|p| p["action"] == "rerun"), "{plan:?}");
}

async fn a_killed_scheduler_is_recovered_by_the_next(u: &Updraft) {
    let hour = this_hour();
    let side = u.dir.path().join("side-effects.txt");
    u.write_dag(
        "slow.yaml",
        &format!(
            r#"
dag_id: slow
schedule: "0 * * * *"
start_date: "{}"
end_date: "{}"
catchup: true
tasks:
  work:
    type: shell
    retries: 1
    retry_delay: 0s
    with:
      command: 'if [ {{{{ try_number }}}} = 1 ]; then sleep 300; fi; echo {{{{ ts }}}} >> {}'
"#,
            (hour - TimeDelta::hours(2)).to_rfc3339(),
            (hour - TimeDelta::hours(1)).to_rfc3339(),
            side.display()
        ),
    );
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "3s")];
    // Migrated before the scheduler starts, so this test can read the tables at once.
    assert!(u.run(&["db", "migrate"]).status.success());
    let first = Daemon::start(u, "first", &env);
    let store = u.store().await;
    let s = &store;
    wait_for(
        "both first attempts running",
        Duration::from_secs(30),
        &[&first],
        move || async move {
            let mut running = 0;
            for r in runs(s, "slow").await {
                let store = s;
                let tis = store.task_instances("slow", &r.run_id).await.unwrap();
                running += tis
                    .iter()
                    .filter(|t| t.state.stored() == Some("running"))
                    .count();
            }
            running == 2
        },
    )
    .await;
    first.kill9();
    let killed_at = Instant::now();
    let second = Daemon::start(u, "second", &env);
    wait_for(
        "both runs to succeed",
        Duration::from_secs(60),
        &[&second],
        || all_in(&store, "slow", 2, "success"),
    )
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(30),
        "recovery took {:?}",
        killed_at.elapsed()
    );
    for r in runs(&store, "slow").await {
        let tries = store.tries("slow", &r.run_id, Some("work")).await.unwrap();
        let states: Vec<(i64, &str)> = tries
            .iter()
            .map(|t| (t.try_number, t.state.as_str()))
            .collect();
        assert_eq!(states, [(1, "failed"), (2, "success")], "{tries:?}");
        let reason = tries[0].error.as_deref().unwrap_or_default();
        assert!(
            reason.contains("died") && reason.contains("heartbeat"),
            "{reason}"
        );
        let ti = &store.task_instances("slow", &r.run_id).await.unwrap()[0];
        assert_eq!((ti.try_number, ti.max_tries), (2, 2));
    }
    let lines = std::fs::read_to_string(&side).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(second.stop().success());
    // The killed scheduler's task processes were orphaned, not stopped; tidy them up.
    for p in crate::support::live_processes_with("sleep 300") {
        if let Some(pid) = p.strip_prefix("/proc/").and_then(|p| p.split(':').next()) {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid)
                .status();
        }
    }
}

async fn pause_holds_runs_and_unpause_resumes_without_a_flood(u: &Updraft) {
    let start = (Utc::now() - TimeDelta::days(10)).to_rfc3339();
    u.write_dag(
        "minutely.yaml",
        &format!(
            r#"
dag_id: minutely
schedule: "* * * * *"
start_date: "{start}"
catchup: false
tasks:
  work: {{ type: noop }}
"#
        ),
    );
    let out = u.run(&["dag", "pause", "minutely"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["dag", "trigger", "minutely"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).1.contains("paused"), "{:?}", text(&out));
    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = runs(&store, "minutely").await;
    assert_eq!(held.len(), 1, "a paused DAG got scheduled runs: {held:?}");
    assert_eq!(
        (held[0].run_type.as_str(), held[0].state.as_str()),
        ("manual", "queued")
    );

    let unpaused_at = Utc::now();
    let out = u.run(&["dag", "unpause", "minutely"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let s = &store;
    wait_for(
        "the held run and one scheduled run",
        Duration::from_secs(30),
        &[&daemon],
        move || async move {
            let runs = runs(s, "minutely").await;
            runs.iter()
                .any(|r| r.run_type == "manual" && r.state == "success")
                && runs
                    .iter()
                    .any(|r| r.run_type == "scheduled" && r.state == "success")
        },
    )
    .await;
    let scheduled: Vec<DagRunRow> = runs(&store, "minutely")
        .await
        .into_iter()
        .filter(|r| r.run_type == "scheduled")
        .collect();
    // catchup: false means the latest interval only, not ten days of minutes (a minute
    // boundary during the test may add one more).
    assert!((1..=2).contains(&scheduled.len()), "{scheduled:?}");
    assert!(scheduled[0].data_interval_end > unpaused_at - TimeDelta::minutes(2));
    assert!(daemon.stop().success());
}

async fn pause_holds_a_running_run_until_unpause(u: &Updraft) {
    u.write_dag(
        "held.yaml",
        "dag_id: held\ntasks:\n  first: {type: shell, with: {command: sleep 2}}\n  second: {type: noop, depends_on: [first]}\n",
    );
    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;
    let s = &store;
    let state_of = |task: &'static str| async move {
        s.task_instances("held", "manual")
            .await
            .expect("task instances")
            .into_iter()
            .find(|t| t.task_id == task)
            .and_then(|t| t.state.stored().map(String::from))
    };
    let out = u.run(&[
        "dag",
        "trigger",
        "held",
        "--queue-only",
        "--run-id",
        "manual",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        "`first` to run",
        Duration::from_secs(20),
        &[&daemon],
        || async { state_of("first").await.as_deref() == Some("running") },
    )
    .await;
    let out = u.run(&["dag", "pause", "held"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // The running attempt finishes; its downstream task does not start while paused.
    wait_for(
        "`first` to succeed",
        Duration::from_secs(20),
        &[&daemon],
        || async { state_of("first").await.as_deref() == Some("success") },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = state_of("second").await;
    assert!(
        second.as_deref() != Some("success") && second.as_deref() != Some("running"),
        "`second` ran while the DAG was paused: {second:?}\n{}",
        daemon.log()
    );
    let run = store
        .run("held", "manual")
        .await
        .expect("run")
        .expect("run");
    assert_eq!(run.state, "running");

    let out = u.run(&["dag", "unpause", "held"]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        "the run to succeed",
        Duration::from_secs(20),
        &[&daemon],
        || async { matches!(s.run("held", "manual").await, Ok(Some(r)) if r.state == "success") },
    )
    .await;
    assert!(daemon.stop().success());
}

async fn a_foreground_trigger_waits_for_max_active_runs(u: &Updraft) {
    u.write_dag(
        "single.yaml",
        "dag_id: single\nmax_active_runs: 1\ntasks:\n  work: {type: shell, with: {command: sleep 2}}\n",
    );
    let trigger = |run_id: &str, day: &str| {
        u.command(&[
            "dag",
            "trigger",
            "single",
            "--run-id",
            run_id,
            "--logical-date",
            day,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trigger")
    };
    let first = trigger("first", "2026-01-01T00:00:00Z");
    let store = u.store().await;
    let s = &store;
    wait_for(
        "the first run to start",
        Duration::from_secs(20),
        &[],
        move || async move {
            matches!(s.run("single", "first").await, Ok(Some(r)) if r.state == "running")
        },
    )
    .await;
    let second = trigger("second", "2026-01-02T00:00:00Z");
    let second = second.wait_with_output().expect("second trigger");
    let first = first.wait_with_output().expect("first trigger");
    assert!(first.status.success(), "{:?}", text(&first));
    assert!(second.status.success(), "{:?}", text(&second));
    // The wait says what it waits for, who works on it, and how to end it.
    let err = text(&second).1;
    assert!(err.contains("waiting"), "{err}");
    assert!(err.contains("first (worked by trigger trigger-"), "{err}");
    assert!(err.contains("Ctrl-C stops waiting"), "{err}");
    let runs = runs(&store, "single").await;
    assert!(runs.iter().all(|r| r.state == "success"), "{runs:?}");
    assert_eq!(max_overlap(&runs), 1, "both runs ran at once: {runs:?}");
}

/// A run left `running` by a killed foreground trigger, or by a scheduler stopped with
/// SIGTERM, does not make the next foreground trigger wait forever: with no scheduler
/// alive, it finishes the left run (its killed attempt failed, as the retry policy says)
/// and then its own, and says what it waited for.
async fn no_trigger_waits_for_a_run_nobody_works(u: &Updraft) {
    u.write_dag(
        "single.yaml",
        "dag_id: single\nmax_active_runs: 1\ntasks:\n  work: {type: shell, with: {command: sleep 60}}\n  after: {type: noop, depends_on: [work]}\n",
    );
    let store = u.store().await;
    let s = &store;
    let work_running = |run: &'static str| async move {
        s.task_instances("single", run).await.is_ok_and(|tis| {
            tis.iter()
                .any(|t| t.task_id == "work" && t.state.stored() == Some("running"))
        })
    };
    // kill -9 of a foreground trigger in the middle of its run.
    let mut killed = u
        .command(&[
            "dag",
            "trigger",
            "single",
            "--run-id",
            "killed",
            "--logical-date",
            "2026-01-01",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trigger");
    wait_for(
        "the killed trigger's task to run",
        Duration::from_secs(30),
        &[],
        || work_running("killed"),
    )
    .await;
    killed.kill().expect("kill -9");
    killed.wait().expect("reap");
    let quick = "dag_id: single\nmax_active_runs: 1\ntasks:\n  work: {type: shell, with: {command: 'true'}}\n  after: {type: noop, depends_on: [work]}\n";
    u.write_dag("single.yaml", quick);
    let next = u
        .command(&[
            "dag",
            "trigger",
            "single",
            "--run-id",
            "next",
            "--logical-date",
            "2026-01-02",
        ])
        .output()
        .expect("next trigger");
    assert!(next.status.success(), "{:?}", text(&next));
    let err = text(&next).1;
    assert!(
        err.contains("run killed of single was left running"),
        "{err}"
    );
    let states: Vec<(String, String)> = runs(&store, "single")
        .await
        .into_iter()
        .map(|r| (r.run_id, r.state.to_string()))
        .collect();
    assert_eq!(
        states,
        [
            ("killed".into(), "failed".into()),
            ("next".into(), "success".into())
        ]
    );
    let tries = store.tries("single", "killed", Some("work")).await.unwrap();
    assert!(
        tries[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("died"),
        "{tries:?}"
    );

    // SIGTERM of a scheduler in the middle of a run.
    u.write_dag(
        "single.yaml",
        "dag_id: single\nmax_active_runs: 1\ntasks:\n  work: {type: shell, with: {command: sleep 60}}\n  after: {type: noop, depends_on: [work]}\n",
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "single",
        "--run-id",
        "scheduled",
        "--logical-date",
        "2026-01-03",
        "--queue-only",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let daemon = Daemon::start(u, "scheduler", &[]);
    wait_for(
        "the scheduler's task to run",
        Duration::from_secs(30),
        &[&daemon],
        || work_running("scheduled"),
    )
    .await;
    assert!(daemon.stop().success());
    u.write_dag("single.yaml", quick);
    let after = u
        .command(&[
            "dag",
            "trigger",
            "single",
            "--run-id",
            "after",
            "--logical-date",
            "2026-01-04",
        ])
        .output()
        .expect("trigger after the scheduler");
    assert!(after.status.success(), "{:?}", text(&after));
    let err = text(&after).1;
    assert!(
        err.contains("run scheduled of single was left running"),
        "{err}"
    );
    let run = store.run("single", "scheduled").await.unwrap().unwrap();
    assert_eq!(run.state, "failed", "the interrupted run was finished");
    assert_eq!(
        store.run("single", "after").await.unwrap().unwrap().state,
        "success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scheduler_on_sqlite_is_refused() {
    let u = Updraft::new(Backend::Sqlite).await;
    let first = Daemon::start(&u, "first", &[]);
    let store = u.store().await;
    wait_for_schedulers(&store, 1, &[&first]).await;
    let mut second = u
        .command(&["scheduler"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second scheduler kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("SQLite supports one scheduler"), "{err}");
    assert!(first.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_run_each_of_500_tasks_exactly_once() {
    let u = Updraft::new(Backend::Postgres).await;
    let out_file = u.dir.path().join("ran.txt");
    let mut yaml = String::from("dag_id: wide\nmax_active_tasks: 500\ntasks:\n");
    for i in 0..500 {
        yaml.push_str(&format!(
            "  t{i:03}: {{ type: shell, with: {{ command: 'sleep 0.02; echo {{{{ task_id }}}} >> {}' }} }}\n",
            out_file.display()
        ));
    }
    u.write_dag("wide.yaml", &yaml);
    let daemons: Vec<Daemon> = (0..3)
        .map(|i| {
            Daemon::start(
                &u,
                &format!("scheduler{i}"),
                &[("UPDRAFT_PARALLELISM", "16")],
            )
        })
        .collect();
    let store = u.store().await;
    wait_for_schedulers(&store, 3, &daemons.iter().collect::<Vec<_>>()).await;
    let out = u.run(&["dag", "trigger", "wide", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        "the 500-task run",
        Duration::from_secs(120),
        &daemons.iter().collect::<Vec<_>>(),
        || all_in(&store, "wide", 1, "success"),
    )
    .await;
    // Side effects, not only rows: each task wrote its line exactly once.
    let ran = std::fs::read_to_string(&out_file).unwrap();
    let mut lines: Vec<&str> = ran.lines().collect();
    assert_eq!(
        lines.len(),
        500,
        "{} side effects for 500 tasks",
        lines.len()
    );
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 500, "some task ran twice");
    let pool = sqlx::PgPool::connect(&u.database_url).await.unwrap();
    let (tries, first_tries, jobs): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE try_number = 1 AND state = 'success'),
                COUNT(DISTINCT job_id) FROM task_try WHERE dag_id = 'wide'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((tries, first_tries), (500, 500));
    assert!(
        jobs >= 2,
        "the work was not shared: {jobs} scheduler(s) ran attempts"
    );
    pool.close().await;
    for d in daemons {
        assert!(d.stop().success());
    }
    u.cleanup().await;
}

/// Queues a manual run and waits for it to succeed; returns it.
async fn queue_and_wait(
    u: &Updraft,
    store: &Store,
    dag_id: &str,
    run_id: &str,
    d: &Daemon,
) -> DagRunRow {
    let out = u.run(&["dag", "trigger", dag_id, "--queue-only", "--run-id", run_id]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        &format!("{dag_id} {run_id}"),
        Duration::from_secs(30),
        &[d],
        move || async move {
            matches!(store.run(dag_id, run_id).await, Ok(Some(r)) if r.state == "success")
        },
    )
    .await;
    store.run(dag_id, run_id).await.unwrap().unwrap()
}

async fn dag_files_are_reloaded_without_a_restart(u: &Updraft) {
    assert!(u.run(&["db", "migrate"]).status.success());
    u.write_dag("a.yaml", "dag_id: a\ntasks:\n  one: { type: noop }\n");
    let daemon = Daemon::start(u, "scheduler", &[]);
    let store = u.store().await;
    queue_and_wait(u, &store, "a", "first", &daemon).await;

    // A broken file is reported with its position; the other DAGs keep running.
    u.write_dag(
        "broken.yaml",
        "dag_id: broken\ntasks:\n  x: { type: nope }\n",
    );
    u.write_dag(
        "a.yaml",
        "dag_id: a\ntasks:\n  one: { type: noop }\n  two: { type: noop, depends_on: [one] }\n",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let run = queue_and_wait(u, &store, "a", "second", &daemon).await;
    let tasks: Vec<String> = store
        .task_instances("a", &run.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(tasks, ["one", "two"], "the changed file was not picked up");
    let log = daemon.log();
    assert!(log.contains("broken.yaml:3:"), "{log}");

    // A DAG added while the scheduler runs gets its runs too.
    u.write_dag("b.yaml", "dag_id: b\ntasks:\n  one: { type: noop }\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    queue_and_wait(u, &store, "b", "first", &daemon).await;

    // A removed DAG is dropped (it gets no more runs), and the scheduler says so.
    std::fs::remove_file(u.dags().join("b.yaml")).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = daemon.log();
    assert!(log.contains("DAG b is no longer in"), "{log}");
    assert!(daemon.stop().success());
}

/// A scheduler that stops heartbeating while alive (here: frozen with SIGSTOP) loses its
/// attempts to another scheduler; when it wakes up it stops them and records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_scheduler_loses_its_attempt_and_does_not_record_it() {
    let u = Updraft::new(Backend::Postgres).await;
    assert!(u.run(&["db", "migrate"]).status.success());
    let side = u.dir.path().join("side-effects.txt");
    u.write_dag(
        "slow.yaml",
        &format!(
            r#"
dag_id: slow
tasks:
  work:
    type: shell
    retries: 1
    retry_delay: 0s
    with:
      command: 'if [ {{{{ try_number }}}} = 1 ]; then sleep 15; fi; echo {{{{ try_number }}}} >> {}'
"#,
            side.display()
        ),
    );
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")];
    let mut frozen = Daemon::start(&u, "frozen", &env);
    let store = u.store().await;
    let out = u.run(&["dag", "trigger", "slow", "--queue-only", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let s = &store;
    wait_for(
        "the first attempt",
        Duration::from_secs(30),
        &[&frozen],
        move || async move {
            let tis = s.task_instances("slow", "r").await.unwrap_or_default();
            tis.first()
                .is_some_and(|t| t.state.stored() == Some("running"))
        },
    )
    .await;
    // Its process group recorded, as it is as soon as the command starts.
    wait_for(
        "the attempt's process group",
        Duration::from_secs(30),
        &[&frozen],
        move || async move {
            s.attempt_process("slow", "r", ("work", -1))
                .await
                .is_ok_and(|g| g.is_some())
        },
    )
    .await;
    let attempt_started = Instant::now();
    let pid = frozen.pid();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let other = Daemon::start(&u, "other", &env);
    wait_for(
        "the run to succeed elsewhere",
        Duration::from_secs(30),
        &[&other],
        || all_in(&store, "slow", 1, "success"),
    )
    .await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    // Past the end of the frozen attempt's `sleep 15`, had it not been stopped.
    let end = attempt_started + Duration::from_secs(16);
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    let tries = store.tries("slow", "r", Some("work")).await.unwrap();
    let states: Vec<(i64, &str)> = tries
        .iter()
        .map(|t| (t.try_number, t.state.as_str()))
        .collect();
    assert_eq!(states, [(1, "failed"), (2, "success")]);
    assert_eq!(
        std::fs::read_to_string(&side).unwrap(),
        "2\n",
        "the taken-over attempt ran on"
    );
    // The frozen job's processes were killed by the job that recovered its attempt
    // before it retried it; the frozen job, resumed, recorded nothing of it.
    assert!(
        other
            .log()
            .contains("outlived its job: killed before it is retried"),
        "{}",
        other.log()
    );
    let log = frozen.log();
    assert!(log.contains("its result was not recorded"), "{log}");
    assert!(frozen.signal(nix::sys::signal::Signal::SIGTERM).success());
    assert!(other.stop().success());
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_runs_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dags")).unwrap();
    std::fs::write(
        dir.path().join("dags/hello.yaml"),
        "dag_id: hello\ntasks:\n  hi: { type: shell, with: { command: 'echo hi' } }\n  one:\n    type: delta_sql\n    depends_on: [hi]\n    with: { tables: {}, query: 'SELECT 1 AS x', table: '{{ lake }}/gold/one', mode: overwrite }\n",
    )
    .unwrap();
    let updraft = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_updraft"));
        cmd.args(args).current_dir(dir.path());
        for var in [
            "UPDRAFT_HOME",
            "UPDRAFT_DAGS_FOLDER",
            "UPDRAFT_DATABASE_URL",
            "UPDRAFT_CONFIG",
            "UPDRAFT_LAKE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    };
    assert!(updraft(&["db", "migrate"]).status().unwrap().success());
    let log = dir.path().join("standalone.log");
    let mut child = updraft(&["standalone"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let out = updraft(&["dag", "trigger", "hello", "--queue-only", "--run-id", "r"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join(".updraft/updraft.db").display()
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(store.run("hello", "r").await, Ok(Some(r)) if r.state == "success") {
        let banner = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the queued run never ran: {banner}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let banner = std::fs::read_to_string(&log).unwrap();
    assert!(
        banner.contains("sqlite://.updraft/updraft.db") && banner.contains("dags"),
        "{banner}"
    );
    // A file gets Updraft's own lines: no colour codes, no libraries' INFO chatter, and
    // no claim of ending tasks when none was running.
    assert!(!banner.contains('\x1b'), "colour codes in a file: {banner}");
    for line in banner.lines().filter(|l| l.contains(" INFO ")) {
        assert!(line.contains(" updraft"), "a library's INFO line: {line}");
    }
    assert!(banner.contains("hello r: success"), "{banner}");
    assert!(!banner.contains("ending"), "{banner}");
}

/// An interval schedule (`schedule: 2s`): `dag next` lists intervals of that length back
/// to back, and the scheduler starts each run less than a second after its interval ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_runs_start_within_a_second_of_their_due_time() {
    let u = Updraft::new(Backend::Sqlite).await;
    u.write_dag(
        "every2s.yaml",
        r#"
dag_id: every2s
schedule: 2s
start_date: 2026-01-01
catchup: false
tasks:
  work: { type: noop }
"#,
    );
    let out = u.run(&["dag", "next", "every2s", "-n", "3", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let next: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let at = |v: &serde_json::Value, key: &str| {
        DateTime::parse_from_rfc3339(v[key].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    for pair in next.windows(2) {
        assert_eq!(
            at(&pair[0], "data_interval_end"),
            at(&pair[1], "data_interval_start")
        );
    }
    for run in &next {
        let length = at(run, "data_interval_end") - at(run, "data_interval_start");
        assert_eq!(length, TimeDelta::seconds(2), "{run}");
        assert_eq!(at(run, "run_after"), at(run, "data_interval_end"));
    }
    // Without catchup the first is the latest complete interval: due now or just before.
    let first_due = at(&next[0], "run_after");
    assert!(first_due <= Utc::now() && Utc::now() - first_due < TimeDelta::seconds(4));

    let daemon = Daemon::start(&u, "scheduler", &[]);
    let store = u.store().await;
    wait_for(
        "five successful runs",
        Duration::from_secs(40),
        &[&daemon],
        || async {
            let runs = runs(&store, "every2s").await;
            runs.iter().filter(|r| r.state == "success").count() >= 5
        },
    )
    .await;
    let status = daemon.stop();
    assert!(status.success(), "scheduler exit {status:?}");
    let runs = runs(&store, "every2s").await;
    for pair in runs.windows(2) {
        assert_eq!(pair[0].data_interval_end, pair[1].data_interval_start);
    }
    // The first run may be created late (its interval ended before the scheduler began).
    for run in &runs[1..] {
        let started = run.started_at.expect("started");
        let late = started - run.data_interval_end;
        assert!(
            late >= TimeDelta::zero() && late < TimeDelta::seconds(1),
            "{} started {late} after its interval ended",
            run.run_id
        );
    }
}
