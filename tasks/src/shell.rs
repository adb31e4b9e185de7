//! `shell`: runs a command with `sh -c` in its own process group, its output read line by
//! line into the attempt log (so secrets it prints are masked). A non-zero exit fails the
//! attempt; exit code 99 (by default) marks it skipped, as in Airflow's BashOperator.
//! Cancellation (timeout, shutdown) kills the whole process group. What the command
//! appends to `$UPDRAFT_OUTPUT` are its outputs (shell_output.rs).

use crate::{TaskContext, TaskError, TaskLog, TaskOutcome, parse_config};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long the output of a command that has ended is still read.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellConfig {
    command: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    #[serde(default = "default_skip_code")]
    skip_on_exit_code: Option<i32>,
}

fn default_skip_code() -> Option<i32> {
    Some(99)
}
updraft_core::declare_task_type!(Shell, "shell", |config, _| validate(config));

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: ShellConfig = parse_config(config)?;
    if cfg.command.trim().is_empty() {
        return Err(TaskError::Config("`command` is empty".into()));
    }
    Ok(())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: ShellConfig = parse_config(config)?;
    let supervised = ctx.processes.supervisor.as_ref();
    let mut command = match supervised {
        Some((supervisor, arg)) => {
            let mut command = tokio::process::Command::new(supervisor);
            command.arg(arg).arg("sh");
            command
        }
        None => tokio::process::Command::new("sh"),
    };
    let outputs = crate::shell_output::OutputFile::create()?;
    command
        .arg("-c")
        .arg(&cfg.command)
        .envs(&cfg.env)
        .env("UPDRAFT_OUTPUT", outputs.path())
        // The supervisor's stdin is the pipe it watches; the command's own is null.
        .stdin(if supervised.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .process_group(0)
        // If the attempt is dropped without being cancelled, the shell must not outlive it.
        .kill_on_drop(true);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(dir) = &cfg.cwd {
        command.current_dir(dir);
    }
    ctx.log.line(format!("running: {}", cfg.command));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| TaskError::Retryable(format!("could not start `sh -c`: {e}")))?;
    // Held until the command ended: when this process dies, the kernel closes it and the
    // supervisor kills the group.
    let _watched = child.stdin.take();
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    if let (Some(report), Some(id)) = (&ctx.processes.on_start, child.id()) {
        report(id).await;
    }
    let output = [
        child.stdout.take().map(|o| copy_lines(o, ctx.log.clone())),
        child.stderr.take().map(|e| copy_lines(e, ctx.log.clone())),
    ];

    let status = tokio::select! {
        status = child.wait() => status,
        _ = ctx.cancel.cancelled() => {
            ctx.log.line("cancelled: stopping the command's process group");
            stop_group(pgid, &mut child).await;
            drain(output, &ctx.log).await;
            return Err(TaskError::Cancelled("the command was killed".into()));
        }
    };
    // Whatever the command left running in its group would outlive the task: end it.
    kill_group(pgid, Signal::SIGKILL);
    drain(output, &ctx.log).await;
    let status = status.map_err(|e| TaskError::Retryable(format!("waiting for command: {e}")))?;
    let secs = started.elapsed().as_secs_f64();
    let outcome = TaskOutcome::default().with("seconds", secs);
    match status.code() {
        Some(0) => {
            ctx.log.line("command exited with code 0");
            Ok(TaskOutcome {
                outputs: outputs.read()?,
                ..outcome.with("exit_code", 0)
            })
        }
        Some(code) if Some(code) == cfg.skip_on_exit_code => {
            ctx.log
                .line(format!("command exited with code {code}: skipping"));
            Ok(TaskOutcome {
                skipped: true,
                outputs: outputs.read()?,
                ..outcome.with("exit_code", code)
            })
        }
        Some(code) => Err(TaskError::Retryable(format!(
            "command exited with code {code}"
        ))),
        None => Err(TaskError::Retryable(format!(
            "command was killed by a signal ({status})"
        ))),
    }
}

/// SIGTERM to the group, SIGKILL after the grace period, then reap the child.
async fn stop_group(pgid: Option<Pid>, child: &mut tokio::process::Child) {
    kill_group(pgid, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Children that ignored SIGTERM while `sh` exited still share the group.
    kill_group(pgid, Signal::SIGKILL);
}

fn kill_group(pgid: Option<Pid>, signal: Signal) {
    if let Some(pgid) = pgid {
        // ESRCH (no such group) just means everything is gone already.
        let _ = killpg(pgid, signal);
    }
}

/// The longest line held before it is written in pieces (a `\r` progress bar or a
/// minified dump may never end one).
const MAX_LINE: usize = 64 * 1024;

/// Copies a pipe of the command into the log as it comes: whole lines in bulk, a line
/// longer than [`MAX_LINE`] in pieces (bytes that are not UTF-8 are shown as U+FFFD).
fn copy_lines(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: TaskLog,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pending: Vec<u8> = Vec::with_capacity(2 * MAX_LINE);
        let mut chunk = vec![0u8; MAX_LINE];
        loop {
            let n = match pipe.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            let whole = match pending.iter().rposition(|b| *b == b'\n') {
                Some(last) => last + 1,
                None if pending.len() >= MAX_LINE => pending.len(),
                None => continue,
            };
            log.lines(&pending[..whole]);
            pending.drain(..whole);
        }
        log.lines(&pending);
    })
}

/// Waits until the command's output is in the log. The group is dead by now, so the
/// pipes close — unless a process that left the group (`setsid`, a daemon) still holds
/// them: that is not waited for beyond [`DRAIN_WAIT`], and the log says so.
async fn drain(output: [Option<tokio::task::JoinHandle<()>>; 2], log: &TaskLog) {
    let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
    for copy in output.into_iter().flatten() {
        if tokio::time::timeout_at(deadline, copy).await.is_err() {
            log.line(format!(
                "the command ended but its output is still open {}s later (a process that left its group holds it): not waiting for it",
                DRAIN_WAIT.as_secs_f64()
            ));
            return;
        }
    }
}
