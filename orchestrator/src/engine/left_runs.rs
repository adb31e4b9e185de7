//! Runs left behind: a run stays `running` after its job died (kill -9 of a foreground
//! trigger) or stopped (a scheduler's SIGTERM leaves its runs to the next scheduler). A
//! scheduler works such runs; a process waiting on the store while no scheduler is alive
//! takes over those of its DAG itself, so no wait lasts forever.

use super::job::Job;
use super::recovery;
use crate::dag::Dag;
use crate::settings::Settings;
use crate::store::{DagRunRow, JobRow, RunState, Store};

/// A running run that holds a DAG at its `max_active_runs`, and the job working on it.
pub struct Blocker {
    pub run: DagRunRow,
    /// None: no live job works on it (a scheduler or a waiting process will take it).
    pub worker: Option<JobRow>,
}

impl Blocker {
    /// One line for a person: the run and who works on it.
    pub fn describe(&self) -> String {
        match &self.worker {
            Some(job) => format!(
                "{} (worked by {} {}, pid {} on {}, last heartbeat {}s ago)",
                self.run.run_id,
                job.job_type,
                job.job_id,
                job.pid,
                job.hostname,
                (chrono::Utc::now() - job.heartbeat_at).num_seconds().max(0)
            ),
            None => format!("{} (no live process works on it)", self.run.run_id),
        }
    }
}

/// The DAG's running runs and who works on each.
pub async fn blockers(store: &Store, dag_id: &str) -> anyhow::Result<Vec<Blocker>> {
    let jobs = store.running_jobs(None).await?;
    let runs = store
        .runs_in_state(RunState::Running, false)
        .await?
        .into_iter()
        .filter(|r| r.dag_id == dag_id);
    Ok(runs
        .map(|run| {
            let worker = run
                .job_id
                .as_deref()
                .and_then(|id| jobs.iter().find(|j| j.job_id == id))
                .cloned();
            Blocker { run, worker }
        })
        .collect())
}

/// Declares dead jobs (at once for a gone process of this host, after the heartbeat
/// timeout otherwise) and fails their attempts; then, when no scheduler is alive to do
/// it, makes `job` the owner of the DAG's runs that no live job works on. Returns the
/// runs taken over, for the caller to execute.
pub async fn take_over_left_runs(
    store: &Store,
    job: &Job,
    settings: &Settings,
    dag: &Dag,
) -> anyhow::Result<Vec<DagRunRow>> {
    recovery::recover(store, job, settings, |id| (id == dag.dag_id).then_some(dag)).await?;
    if !store.running_jobs(Some("scheduler")).await?.is_empty() {
        return Ok(Vec::new());
    }
    let mut taken = Vec::new();
    let cutoff = chrono::Utc::now() - settings.heartbeat_timeout;
    for run in store.runs_in_state(RunState::Running, true).await? {
        // A run whose dead job's attempts are not failed yet (something of them may still
        // run) is taken over on a later look.
        if run.dag_id == dag.dag_id
            && store
                .stale_attempts(cutoff, Some((&run.dag_id, &run.run_id)))
                .await?
                .iter()
                .all(|s| s.job_id.as_deref() == Some(job.id.as_str()))
            && store
                .adopt_left_run(&run.dag_id, &run.run_id, &job.id)
                .await?
        {
            taken.push(run);
        }
    }
    Ok(taken)
}
