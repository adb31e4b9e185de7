//! The supervisor of one attempt's command (`updraft __supervise PROGRAM ARGS...`): it
//! leads the command's process group and watches a pipe from the process that runs the
//! attempt. When that process dies, whatever killed it (SIGKILL included), the kernel
//! closes the pipe and the supervisor kills the whole group at once — so a command, and
//! every process it started, never outlives the attempt that started it, and a retry
//! never runs beside it.
//!
//! It runs before the async runtime starts: one thread watches the pipe, the main thread
//! waits for the command and leaves with its status.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};

/// The hidden first argument that makes `updraft` a supervisor.
pub const SUPERVISE_ARG: &str = "__supervise";

/// Runs `program args...` under supervision; stdin is the pipe to watch.
pub fn supervise(mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let Some(program) = args.next() else {
        eprintln!("updraft {SUPERVISE_ARG}: no command given");
        return ExitCode::from(2);
    };
    let group = nix::unistd::getpgrp();
    let mut child = match Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "cannot start {}: {e}",
                std::path::Path::new(&program).display()
            );
            return ExitCode::from(127);
        }
    };
    // Stopping the attempt signals the whole group; SIGTERM is the command's to handle,
    // and the supervisor stays to report how it ended. (Set after the command started:
    // an ignored signal would stay ignored across its exec.)
    // SAFETY: ignoring a signal installs no handler, so no code runs in signal context.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    std::thread::spawn(move || {
        // Nothing is ever written: the read ends when the attempt's process is gone.
        let mut byte = [0u8; 1];
        while matches!(std::io::stdin().read(&mut byte), Ok(n) if n > 0) {}
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    });
    match child.wait() {
        Ok(status) => exit_as(status),
        Err(e) => {
            eprintln!("cannot wait for the command: {e}");
            ExitCode::from(1)
        }
    }
}

/// Leaves as the command did: with its exit code, or killed by the same signal.
fn exit_as(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let Some(signal) = status
        .signal()
        .and_then(|s| nix::sys::signal::Signal::try_from(s).ok())
    else {
        return ExitCode::from(1);
    };
    // SAFETY: restoring the default action installs no handler.
    let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl) };
    let _ = nix::sys::signal::raise(signal);
    ExitCode::from(128u8.saturating_add(u8::try_from(signal as i32).unwrap_or(0)))
}

/// How attempts of this process start commands: under `updraft __supervise` (this very
/// binary), so that they die with it.
pub fn supervised() -> updraft_core::Processes {
    // Read once: every attempt asks (a sensor's checks, hundreds a second).
    static EXE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let exe = EXE.get_or_init(|| std::env::current_exe().ok());
    updraft_core::Processes {
        supervisor: exe.clone().map(|exe| (exe, SUPERVISE_ARG.to_string())),
        on_start: None,
    }
}

/// When a process of this host started, as `<boot id>:<start time in clock ticks>`: the
/// same pid with another start is another process (the pid was reused).
pub fn process_start(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let after_name = stat.rsplit_once(')')?.1;
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{}:{start}", boot.trim()))
}

/// What was left of an attempt's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Survivors {
    /// Nothing: the group was gone (or its id is another process's now).
    None,
    /// Some were, and are killed now.
    Killed,
    /// Some are, and could not be killed (another user's): the attempt must not run again.
    Remain,
}

/// Kills what is left of an attempt's process group `pgid` on this host, if its leader is
/// the process that started at `start` or is gone (a group outlives its leader only while
/// members remain, and its id cannot be reused then); waits up to a second for it to go.
pub fn kill_survivors(pgid: i64, start: Option<&str>) -> Survivors {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pgid) else {
        return Survivors::None;
    };
    let leader = u32::try_from(raw).ok().and_then(process_start);
    if leader.is_some() && leader.as_deref() != start {
        // Another process has that pid now, so no group of that id can be the attempt's.
        return Survivors::None;
    }
    // A member that is a zombie (dead, not yet reaped by whoever inherited it) runs
    // nothing: only living members count.
    let gone = || !group_lives(raw);
    if gone() {
        return Survivors::None;
    }
    if killpg(Pid::from_raw(raw), Signal::SIGKILL).is_err() && !gone() {
        return Survivors::Remain;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        if gone() {
            return Survivors::Killed;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Survivors::Remain
}

/// Whether a process of group `pgid` is alive (not a zombie), as `/proc` says.
fn group_lives(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // After the command name: state (field 3), ppid, pgrp (field 5).
        let mut fields = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        group == Some(pgid) && !matches!(state, "Z" | "X")
    })
}
