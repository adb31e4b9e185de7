//! An attempt never runs twice at once after a crash: a `shell` task's processes (the
//! shell and what it started) die within a second of the process running the attempt,
//! whatever killed it, and its retry starts only after. A side file written by every copy
//! of the command shows that no two ever overlapped.

use crate::support::{Daemon, Updraft, text, wait_for};
use std::time::{Duration, Instant};

on_both_backends!(
    a_killed_trigger_takes_its_attempts_processes_with_it,
    a_killed_scheduler_takes_its_attempts_processes_with_it,
);

/// A DAG whose one task records its start and end in `side`, with `marker` in the
/// command line of the process it waits on.
fn write_dag(u: &Updraft, marker: &str) -> std::path::PathBuf {
    let side = u.dir.path().join("side");
    u.write_dag(
        "k.yaml",
        &format!(
            "dag_id: k\nmax_active_runs: 1\ntasks:\n  work:\n    type: shell\n    retries: 1\n    retry_delay: 0s\n    with: {{command: 'echo start $$ >> {side}; sleep {marker}; echo end $$ >> {side}'}}\n",
            side = side.display()
        ),
    );
    side
}

/// A `sleep` argument of about `seconds` that no other test's command line holds.
fn marker(seconds: u32) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{seconds}.{:04}{n:03}", std::process::id() % 10_000)
}

/// Pids of live (not zombie) processes whose command line holds `marker`, this test's own
/// process aside.
fn processes_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            cmdline.contains(marker) && !zombie
        })
        .collect()
}

/// Waits until the side file has `lines` lines.
async fn side_lines(side: &std::path::Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(side).unwrap_or_default();
        let found: Vec<String> = text.lines().map(str::to_string).collect();
        if found.len() >= lines {
            return found;
        }
        assert!(Instant::now() < deadline, "side file: {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Within a second of the kill, nothing with `marker` runs.
fn gone_within_a_second(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !processes_with(marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "still running a second after the kill: {:?}",
            processes_with(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The attempt's first copy started and never ended; the retry started after and ended.
fn no_overlap(lines: &[String]) {
    assert_eq!(lines.len(), 3, "{lines:?}");
    let (first, second) = (&lines[0], &lines[1]);
    assert!(
        first.starts_with("start ") && second.starts_with("start "),
        "{lines:?}"
    );
    assert_ne!(first, second);
    let second_pid = second.trim_start_matches("start ");
    assert_eq!(
        lines[2],
        format!("end {second_pid}"),
        "only the retry ended: {lines:?}"
    );
}

/// kill -9 of a foreground `dag trigger`: its attempt's processes die with it; the next
/// trigger (waiting for the run, `max_active_runs: 1`) retries the attempt, then runs its
/// own. And when the supervisor was killed too, the next trigger
/// kills what survived before it retries, and says so in the attempt's log.
async fn a_killed_trigger_takes_its_attempts_processes_with_it(u: &Updraft) {
    let marker = marker(4);
    let side = write_dag(u, &marker);
    let mut trigger = u
        .command(&["dag", "trigger", "k", "--run-id", "r"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("trigger");
    side_lines(&side, 1).await;
    trigger.kill().expect("kill -9");
    trigger.wait().expect("reap");
    gone_within_a_second(&marker);
    let out = u.run(&["dag", "trigger", "k", "--run-id", "next"]);
    assert!(out.status.success(), "{:?}", text(&out));
    no_overlap(&side_lines(&side, 5).await[..3]);
    let store = u.store().await;
    let tries = store.tries("k", "r", Some("work")).await.expect("tries");
    let states: Vec<&str> = tries.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["failed", "success"]);
    assert!(
        tries[0].error.as_deref().unwrap_or("").contains("died"),
        "{tries:?}"
    );

    // The supervisor killed first: its command survives the trigger, until the next one.
    std::fs::remove_file(&side).expect("reset side");
    let mut trigger = u
        .command(&["dag", "trigger", "k", "--run-id", "s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("trigger");
    side_lines(&side, 1).await;
    let group = wait_for_group(&store, "s").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the supervisor");
    trigger.kill().expect("kill -9");
    trigger.wait().expect("reap");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !processes_with(&marker).is_empty(),
        "without a supervisor the command lives on"
    );
    let out = u.run(&["dag", "trigger", "k", "--run-id", "t"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(processes_with(&marker).is_empty());
    let log = text(&u.run(&["task", "logs", "k", "s", "work", "--try", "1"])).0;
    assert!(
        log.contains("outlived its job: killed before it is retried"),
        "{log}"
    );
    let lines = side_lines(&side, 3).await;
    no_overlap(&lines[..3]);
}

/// The process group an attempt of run `run_id` started, once recorded.
async fn wait_for_group(store: &updraft::store::Store, run_id: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(group) = store
            .attempt_process("k", run_id, ("work", -1))
            .await
            .expect("process")
        {
            return i32::try_from(group).expect("pid");
        }
        assert!(Instant::now() < deadline, "no process group recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// kill -9 of a scheduler: its attempt's processes die with it; the next scheduler
/// retries the attempt after.
async fn a_killed_scheduler_takes_its_attempts_processes_with_it(u: &Updraft) {
    let marker = marker(5);
    let side = write_dag(u, &marker);
    let out = u.run(&["dag", "trigger", "k", "--queue-only", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let first = Daemon::start(u, "first", &[]);
    side_lines(&side, 1).await;
    first.kill9();
    gone_within_a_second(&marker);
    let second = Daemon::start(u, "second", &[]);
    let store = u.store().await;
    wait_for(
        "the retry to succeed",
        Duration::from_secs(60),
        &[&second],
        || async {
            store
                .run("k", "r")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state == "success")
        },
    )
    .await;
    no_overlap(&side_lines(&side, 3).await);
    let log_path = u.dir.path().join("second.log");
    assert!(second.stop().success());
    // Stopped with nothing left running, it says nothing of runs staying.
    let said = std::fs::read_to_string(log_path).expect("log");
    assert!(!said.contains("stay running"), "{said}");
}

/// Two schedulers on one PostgreSQL: the one running the attempt is killed, its processes
/// die with it, and the other retries the attempt after the heartbeat timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_scheduler_retries_after_the_killed_ones_processes_died() {
    let u = Updraft::new(crate::support::Backend::Postgres).await;
    let marker = marker(6);
    let side = write_dag(&u, &marker);
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "3s")];
    let a = Daemon::start(&u, "a", &env);
    let b = Daemon::start(&u, "b", &env);
    let store = u.store().await;
    let out = u.run(&["dag", "trigger", "k", "--queue-only", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    side_lines(&side, 1).await;
    let job = store
        .tries("k", "r", Some("work"))
        .await
        .expect("tries")
        .first()
        .and_then(|t| t.job_id.clone())
        .expect("the attempt's job");
    let jobs = store.running_jobs(Some("scheduler")).await.expect("jobs");
    let pid = jobs
        .iter()
        .find(|j| j.job_id == job)
        .map(|j| j.pid)
        .expect("its scheduler");
    let (victim, survivor) = if i64::from(a.pid().as_raw()) == pid {
        (a, b)
    } else {
        (b, a)
    };
    victim.kill9();
    gone_within_a_second(&marker);
    wait_for(
        "the retry to succeed",
        Duration::from_secs(60),
        &[&survivor],
        || async {
            store
                .run("k", "r")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state == "success")
        },
    )
    .await;
    no_overlap(&side_lines(&side, 3).await);
    assert!(survivor.stop().success());
    u.cleanup().await;
}
