//! Triggering a DAG by hand: a `manual` run with the caller's `conf`, logical date and
//! run id (defaults as Airflow's), its data interval the schedule's last complete one.

use super::RunsError;
use crate::dag::Dag;
use crate::dag::Seen;
use crate::dag::ids::{IdKind, check_id};
use crate::engine::{Job, JobType};
use crate::settings::Settings;
use crate::store::{DagRunRow, NewRun, RunClash, RunType, Store, StoreError};
use crate::versions;
use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde_json::Value;
use std::sync::Arc;

/// How many taken microseconds a trigger without a logical date steps past before it
/// reports the clash (each step is one insert).
const MAX_NOW_CLASHES: u32 = 1000;

/// A manual run to create.
#[derive(Debug, Default)]
pub struct TriggerRequest {
    /// The run's `conf` (a JSON object; overrides `params`).
    pub conf: Option<Value>,
    /// Default: `manual__<logical date>`.
    pub run_id: Option<String>,
    /// Default: now.
    pub logical_date: Option<DateTime<Utc>>,
    /// Execute it in this process (a `trigger` job owns it from the start, so no
    /// scheduler takes it first), unless its DAG is paused; otherwise it waits queued
    /// for a scheduler.
    pub execute_here: bool,
    /// What the person triggering it writes about it.
    pub note: Option<String>,
    /// The `trigger_dag` task creating it (JSON `{dag_id, run_id, task_id}`).
    pub triggered_by: Option<String>,
}

/// The run created, whether its DAG is paused (it then waits queued), and the job that
/// executes it here.
pub struct Triggered {
    pub run: DagRunRow,
    pub paused: bool,
    pub job: Option<Arc<Job>>,
}

/// The id a manual run gets by default: `manual__<logical date>`, as Airflow's.
pub fn manual_run_id(logical_date: DateTime<Utc>) -> String {
    format!(
        "manual__{}",
        logical_date.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    )
}

/// Creates the run `request` describes.
pub async fn trigger(
    store: &Store,
    settings: &Settings,
    dag: &Dag,
    request: TriggerRequest,
) -> Result<Triggered, RunsError> {
    let conf = request.conf.unwrap_or_else(|| serde_json::json!({}));
    if !conf.is_object() {
        return Err(RunsError::Invalid {
            field: "conf",
            message: "must be a JSON object, e.g. {\"source\": \"...\"}".into(),
        });
    }
    // The store keeps microseconds; a finer logical date would not read back equal.
    let chosen_date = request.logical_date.map(|at| at.trunc_subsecs(6));
    let mut logical = chosen_date.unwrap_or_else(|| Utc::now().trunc_subsecs(6));
    let run_id_for = |logical: DateTime<Utc>| {
        request
            .run_id
            .clone()
            .unwrap_or_else(|| manual_run_id(logical))
    };
    check_id(IdKind::Run, &run_id_for(logical)).map_err(|message| RunsError::Invalid {
        field: "run_id",
        message,
    })?;
    store.sync_dag(dag).await?;
    versions::record(store, dag, Seen::First).await?;
    let paused = store.is_paused(&dag.dag_id).await?;
    let job = if request.execute_here && !paused {
        let job = Job::start(store.clone(), JobType::Trigger, settings)
            .await
            .map_err(RunsError::Failed)?;
        Some(job)
    } else {
        None
    };
    let mut clashes = 0;
    let created = loop {
        let run_id = run_id_for(logical);
        let created = store
            .create_run(&NewRun {
                dag_id: &dag.dag_id,
                run_id: &run_id,
                run_type: RunType::Manual,
                logical_date: logical,
                data_interval: dag.schedule.manual_interval(logical, dag.timezone),
                conf: &conf,
                job_id: job.as_ref().map(|j| j.id.as_str()),
                tasks: dag.task_rows(),
                note: request.note.as_deref(),
                deadlines: &dag.deadlines,
                triggered_by: request.triggered_by.as_deref(),
            })
            .await;
        match created {
            // "Now" was taken by another trigger in the same microsecond: the next free
            // microsecond is as good a now. A date the caller chose is theirs to change,
            // and a run id they chose that exists is a real clash.
            Err(StoreError::RunExists { clash, .. })
                if chosen_date.is_none()
                    && clashes < MAX_NOW_CLASHES
                    && (matches!(clash, RunClash::LogicalDate(_)) || request.run_id.is_none()) =>
            {
                clashes += 1;
                logical += TimeDelta::microseconds(1);
            }
            other => break other,
        }
    };
    match created {
        Ok(run) => Ok(Triggered { run, paused, job }),
        Err(e) => {
            if let Some(job) = job {
                job.stop().await;
            }
            Err(e.into())
        }
    }
}
