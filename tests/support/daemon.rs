//! `updraft scheduler` processes started for a test, and waiting for what they do.

use super::Updraft;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// An `updraft scheduler` process; SIGKILLed if the test ends without stopping it.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn start(u: &Updraft, name: &str, env: &[(&str, &str)]) -> Daemon {
        let log = u.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = u.command(&["scheduler"]);
        cmd.stdout(Stdio::null()).stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: Some(cmd.spawn().expect("start scheduler")),
            log,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> nix::unistd::Pid {
        let child = self.child.as_ref().expect("running");
        nix::unistd::Pid::from_raw(child.id() as i32)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&mut self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)
            .expect("signal");
        // Reaped here, so the pid is gone for the next scheduler's liveness check.
        child.wait().expect("wait")
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM)
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it holds, failing with `what` (and the daemon logs) after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, logs: &[&Daemon], mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = logs.iter().map(|d| d.log()).collect();
            panic!(
                "timed out waiting for {what}; scheduler logs:\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until run `run_id` of `dag_id` has succeeded, failing after `limit`.
pub async fn wait_for_success(
    store: &updraft::store::Store,
    (dag_id, run_id): (&str, &str),
    limit: Duration,
    logs: &[&Daemon],
) {
    wait_for(
        &format!("{dag_id} {run_id} to succeed"),
        limit,
        logs,
        || async {
            store
                .run(dag_id, run_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state == "success")
        },
    )
    .await;
}
