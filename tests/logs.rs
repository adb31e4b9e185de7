//! Attempt logs that stay bounded whatever a task prints: a chatty task's log keeps its
//! head and tail under the cap, a 200 MB line never sits in memory, `updraft task logs`
//! streams a 500 MB log in constant memory (and stops at once when its reader goes away),
//! shows the last lines and follows a running attempt; an execution timeout holds when a
//! process that left the task's group keeps its output open.

use crate::support::{Updraft, text};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Starts `updraft <args>` with its output thrown away.
fn quietly(u: &Updraft, args: &[&str]) -> std::process::Child {
    u.command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("updraft")
}

/// The largest resident size (kB) a process reached, polled until it exits.
fn peak_rss_kb(child: &mut std::process::Child) -> u64 {
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            peak = peak.max(hwm);
        }
        if child.try_wait().expect("wait").is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_task_keeps_the_head_and_tail_of_its_log() {
    let mut u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.env
        .push(("UPDRAFT_LOGS_MAX_BYTES_PER_ATTEMPT".into(), "1MiB".into()));
    u.write_dag(
        "chatty.yaml",
        "dag_id: chatty\ntasks:\n  talk:\n    type: shell\n    with: {command: 'seq 1 1000000; echo the last words'}\n",
    );
    let out = u.run(&["dag", "trigger", "chatty", "--run-id", "r"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let log = u
        .home()
        .join("logs/dag_id=chatty/run_id=r/task_id=talk/attempt=1.log");
    let size = std::fs::metadata(&log).expect("log").len();
    assert!(size < 1_100_000, "the log is {size} bytes for a 1 MiB cap");
    let body = std::fs::read_to_string(&log).expect("read");
    assert!(body.contains("] 1\n") && body.contains("] 2\n"), "the head");
    assert!(
        body.contains("] 999999\n") && body.contains("the last words"),
        "the tail"
    );
    assert!(!body.contains("] 500000\n"), "not the middle");
    assert!(body.contains("of output dropped here"), "says so");
    assert!(
        body.contains("command exited with code 0"),
        "the end of the attempt"
    );

    // The last lines only, and a reader that goes away at once.
    let out = u.run(&["task", "logs", "chatty", "r", "talk", "--tail", "2"]);
    let (last, _) = text(&out);
    assert_eq!(last.lines().count(), 2, "{last}");
    assert!(last.contains("command exited with code 0"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_line_never_sits_in_memory() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "wide.yaml",
        "dag_id: wide\ntasks:\n  dump:\n    type: shell\n    with: {command: 'sleep 1; head -c 200000000 /dev/zero | tr \"\\\\0\" x'}\n",
    );
    let mut trigger = quietly(&u, &["dag", "trigger", "wide", "--run-id", "r"]);
    // Its size before the line comes (the task sleeps a second first).
    std::thread::sleep(Duration::from_millis(700));
    let baseline = std::fs::read_to_string(format!("/proc/{}/status", trigger.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .expect("baseline");
    let peak = peak_rss_kb(&mut trigger);
    assert!(trigger.wait().expect("wait").success());
    assert!(
        peak < baseline + 100 * 1024,
        "{peak} kB at the peak, {baseline} kB before the line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_logs_streams_a_500_mb_log_in_constant_memory() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "hello.yaml",
        "dag_id: hello\ntasks:\n  hi: {type: shell, with: {command: 'echo hi'}}\n",
    );
    for run in ["big", "medium"] {
        assert!(
            u.run(&["dag", "trigger", "hello", "--run-id", run])
                .status
                .success()
        );
    }
    let log_of = |run: &str| {
        u.home().join(format!(
            "logs/dag_id=hello/run_id={run}/task_id=hi/attempt=1.log"
        ))
    };
    let line = format!("{}\n", "x".repeat(99));
    for (run, lines) in [("big", 5_000_000), ("medium", 500_000)] {
        let mut file = std::io::BufWriter::new(std::fs::File::create(log_of(run)).expect("log"));
        for _ in 0..lines {
            file.write_all(line.as_bytes()).expect("write");
        }
        writeln!(file, "the last line").expect("write");
    }
    // Constant memory: a log ten times as large takes no more (a process that held the
    // log would need 450 MB more). Both run long enough to reach their working size.
    let mut medium = quietly(&u, &["task", "logs", "hello", "medium", "hi"]);
    let baseline = peak_rss_kb(&mut medium);
    let mut whole = quietly(&u, &["task", "logs", "hello", "big", "hi"]);
    let peak = peak_rss_kb(&mut whole);
    assert!(whole.wait().expect("wait").success());
    assert!(
        peak < baseline + 16 * 1024,
        "task logs peaked at {peak} kB for a 500 MB log, {baseline} kB for a 50 MB one"
    );

    // `| head -c 300`: the reader goes away, the command stops at once.
    let started = Instant::now();
    let mut head = u
        .command(&["task", "logs", "hello", "big", "hi"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("task logs");
    let mut first = [0u8; 300];
    head.stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("300 bytes");
    drop(head.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(3);
    while head.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "task logs kept going without a reader"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let out = u.run(&["task", "logs", "hello", "big", "hi", "--tail", "1"]);
    assert_eq!(text(&out).0, "the last line\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_log_ends_with_its_attempt() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "slow.yaml",
        "dag_id: slow\ntasks:\n  count: {type: shell, with: {command: 'for i in 1 2 3; do echo line $i; sleep 0.5; done'}}\n",
    );
    let mut trigger = quietly(&u, &["dag", "trigger", "slow", "--run-id", "r"]);
    let log = u
        .home()
        .join("logs/dag_id=slow/run_id=r/task_id=count/attempt=1.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("line 1")
    {
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = u.run(&["task", "logs", "slow", "r", "count", "--follow"]);
    let (followed, _) = text(&out);
    assert!(
        followed.contains("line 3") && followed.contains("exited with code 0"),
        "{followed}"
    );
    assert!(trigger.wait().expect("wait").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_timeout_holds_when_a_stray_process_keeps_the_output_open() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "stray.yaml",
        "dag_id: stray\ntasks:\n  stuck:\n    type: shell\n    execution_timeout: 2s\n    with: {command: 'setsid sleep 7.321 & echo started; sleep 30'}\n",
    );
    let started = Instant::now();
    let out = u.run(&["dag", "trigger", "stray", "--run-id", "r"]);
    let took = started.elapsed();
    assert!(!out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    let tries = store
        .tries("stray", "r", Some("stuck"))
        .await
        .expect("tries");
    let duration = tries[0].duration.unwrap_or(f64::MAX);
    assert!(
        duration < 3.0,
        "the attempt took {duration} s for a 2 s timeout"
    );
    assert!(took < Duration::from_secs(6), "the trigger took {took:?}");
    let log = text(&u.run(&["task", "logs", "stray", "r", "stuck"])).0;
    assert!(log.contains("execution_timeout of 2s exceeded"), "{log}");
    assert!(log.contains("not waiting for it"), "{log}");
}
