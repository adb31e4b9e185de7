//! Crash recovery: jobs that stopped heartbeating (or whose process is gone from this
//! host) are declared dead, and their running attempts are failed with the reason, so
//! the retry policy decides what happens next. Nothing stays `running` forever.

use super::job::Job;
use super::supervisor::{self, Survivors};
use crate::alerts::{NewCallback, task_facts};
use crate::dag::{Dag, Task};
use crate::settings::Settings;
use crate::store::{JobRow, StaleAttempt, Store, TaskState};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Declares dead jobs (after `settings.heartbeat_timeout` without a heartbeat) and fails
/// their attempts; returns how many attempts it failed. `dag` looks up a DAG for retry
/// delays (an unknown DAG retries at once).
pub async fn recover<'a>(
    store: &Store,
    job: &Job,
    settings: &Settings,
    dag: impl Fn(&str) -> Option<&'a Dag>,
) -> anyhow::Result<usize> {
    let timeout = settings.heartbeat_timeout;
    let now = Utc::now();
    let cutoff = now - timeout;
    for other in store.running_jobs(None).await? {
        if other.job_id == job.id {
            continue;
        }
        if seems_dead(&other, &job.hostname, cutoff) && store.mark_job_dead(&other.job_id).await? {
            tracing::warn!(
                "job {} stopped heartbeating (last at {}); its running attempts will be failed",
                other.job_id,
                other.heartbeat_at.to_rfc3339()
            );
        }
    }
    let mut failed = 0;
    for stale in store.stale_attempts(cutoff, None).await? {
        if stale.job_id.as_deref() == Some(job.id.as_str()) {
            continue;
        }
        if !survivors_gone(&stale, &job.hostname).await {
            continue;
        }
        let task = dag(&stale.dag_id).and_then(|d| d.task(&stale.task_id));
        if task.is_some_and(Task::waits) {
            if store.recheck_stale_attempt(&stale).await? {
                tracing::warn!(
                    "attempt {} of {}.{} in run {}: its job died during a check; it waits \
                     again in the same try, to be checked at once",
                    stale.try_number,
                    stale.dag_id,
                    crate::store::instance_name(&stale.task_id, stale.map_index),
                    stale.run_id
                );
                failed += 1;
            }
            continue;
        }
        let retry_at = (stale.try_number < stale.max_tries).then(|| {
            let delay = task.map_or(Duration::ZERO, |t| {
                t.retry
                    .delay_after(u32::try_from(stale.try_number).unwrap_or(u32::MAX))
            });
            now + delay
        });
        let why = reason(&stale, timeout);
        let mut callbacks =
            task.map_or_else(Vec::new, |t| alerts(&stale, t, &why, retry_at.is_some()));
        callbacks.extend(lineage_fail(&stale, &why, settings));
        if store
            .fail_stale_attempt(&stale, &why, retry_at, &callbacks)
            .await?
        {
            tracing::warn!(
                "failed attempt {} of {}.{} in run {}: its job is dead",
                stale.try_number,
                stale.dag_id,
                crate::store::instance_name(&stale.task_id, stale.map_index),
                stale.run_id
            );
            failed += 1;
        }
    }
    Ok(failed)
}

/// The alert messages of `stale` failed by recovery: `on_retry` when it will be retried,
/// `on_failure` when it will not, as if the attempt had ended so.
fn alerts(stale: &StaleAttempt, task: &Task, why: &str, retried: bool) -> Vec<NewCallback> {
    let state = if retried {
        TaskState::UpForRetry
    } else {
        TaskState::Failed
    };
    let Some((event, actions, shown)) = task.callbacks.for_end(state) else {
        return Vec::new();
    };
    let key = (
        stale.dag_id.as_str(),
        stale.run_id.as_str(),
        stale.task_id.as_str(),
    );
    let facts = task_facts(key, stale.try_number, shown, Some(why), None);
    NewCallback::of_instance(
        NewCallback::for_actions(key, stale.try_number, event, actions, &facts),
        stale.map_index,
    )
}

/// The OpenLineage `FAIL` of `stale` (its `START` was sent when it started), when a
/// backend is configured.
fn lineage_fail(stale: &StaleAttempt, why: &str, settings: &Settings) -> Option<NewCallback> {
    let target = settings.openlineage.as_ref()?;
    let key = crate::openlineage::AttemptKey {
        dag_id: &stale.dag_id,
        run_id: &stale.run_id,
        task_id: &stale.task_id,
        map_index: stale.map_index,
        try_number: stale.try_number,
    };
    Some(crate::openlineage::callback(
        &target.namespace,
        key,
        crate::openlineage::EventType::Fail,
        Utc::now(),
        (&[], &Default::default(), Some(why)),
    ))
}

/// Whether nothing of a dead job's attempt still runs: on this host, what its crash left
/// of the attempt's process group is killed first (and said in the attempt's log); other
/// hosts' attempts died with their job's process (their supervisors saw it go), which the
/// heartbeat timeout has given time to happen.
async fn survivors_gone(stale: &StaleAttempt, hostname: &str) -> bool {
    let (Some(pgid), Some(host)) = (stale.process_group, stale.try_host.as_deref()) else {
        return true;
    };
    if host != hostname {
        return true;
    }
    let start = stale.process_start.clone();
    let left =
        tokio::task::spawn_blocking(move || supervisor::kill_survivors(pgid, start.as_deref()))
            .await
            .unwrap_or(Survivors::Remain);
    let said = match left {
        Survivors::None => return true,
        Survivors::Killed => format!(
            "processes of this attempt (process group {pgid}) outlived its job: killed before it is retried"
        ),
        Survivors::Remain => format!(
            "processes of this attempt (process group {pgid}) outlived its job and cannot be killed: it is not retried while they run"
        ),
    };
    tracing::warn!(
        "attempt {} of {}.{} in run {}: {said}",
        stale.try_number,
        stale.dag_id,
        crate::store::instance_name(&stale.task_id, stale.map_index),
        stale.run_id
    );
    if let Some(path) = &stale.log_path
        && let Ok(log) = updraft_core::TaskLog::open(std::path::Path::new(path))
    {
        log.line(&said);
    }
    left == Survivors::Killed
}

fn reason(stale: &StaleAttempt, timeout: Duration) -> String {
    let last = stale
        .heartbeat_at
        .map_or("never".to_string(), |t: DateTime<Utc>| t.to_rfc3339());
    format!(
        "the job running this attempt ({}) died: no heartbeat since {last} (timeout {}); \
         it was killed, crashed or lost its database connection",
        stale.job_id.as_deref().unwrap_or("unknown"),
        humantime::format_duration(timeout)
    )
}

/// Whether a job the store says is running is dead: its heartbeat is older than `cutoff`,
/// or it ran on this host (`hostname`) and its process is gone.
pub fn seems_dead(job: &JobRow, hostname: &str, cutoff: DateTime<Utc>) -> bool {
    job.heartbeat_at < cutoff || (job.hostname == hostname && !process_alive(job.pid))
}

/// Whether a process of this host still exists (a permission error means it does).
fn process_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true,
    }
}
