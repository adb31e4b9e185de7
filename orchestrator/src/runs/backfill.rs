//! Backfilling a DAG: every scheduled interval whose logical date lies in a range gets a
//! run of type `backfill` — created when missing, cleared and run again when
//! `reprocess` says so — executed by the job that asked.

use super::{RunsError, clear};
use crate::dag::{Dag, RunInfo};
use crate::store::{DagRunRow, NewRun, RunState, RunType, Store};
use crate::versions::DagVersions;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::sync::Arc;

/// A backfill may not plan more runs than this (a typo in a date should not create millions).
pub const MAX_RUNS: usize = 100_000;

/// Which existing runs a backfill runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reprocess {
    /// Leave every existing run alone
    None,
    /// Run failed runs again
    Failed,
    /// Run failed and successful runs again
    Completed,
}

/// What the backfill does with one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Rerun,
    Skip,
}

/// One interval of the range, the run it has already, and what to do.
pub struct Planned {
    pub info: RunInfo,
    pub existing: Option<DagRunRow>,
    pub action: Action,
}

/// Every interval of `dag` whose logical date lies in `[from, to]`, and what to do with it.
pub async fn plan(
    store: &Store,
    dag: &Dag,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    reprocess: Reprocess,
) -> Result<Vec<Planned>, RunsError> {
    let invalid = |message: String| RunsError::Invalid {
        field: "range",
        message,
    };
    if dag.schedule.describe().is_none() {
        return Err(invalid(format!(
            "{} has no schedule (schedule: null): there are no intervals to backfill",
            dag.dag_id
        )));
    }
    if to < from {
        return Err(invalid(
            "the range ends (to) before it starts (from)".into(),
        ));
    }
    let infos = dag
        .schedule
        .runs_between(dag.timezone, from, to, MAX_RUNS + 1);
    if infos.len() > MAX_RUNS {
        return Err(invalid(format!(
            "the range holds more than {MAX_RUNS} runs; backfill it in parts"
        )));
    }
    store.sync_dag(dag).await?;
    let existing = store.runs_between(&dag.dag_id, from, to).await?;
    Ok(infos
        .into_iter()
        .map(|info| {
            let existing = existing
                .iter()
                .find(|r| r.logical_date == info.logical_date)
                .cloned();
            let action = match existing.as_ref().map(|r| r.state) {
                None => Action::Create,
                Some(RunState::Failed) if reprocess != Reprocess::None => Action::Rerun,
                Some(RunState::Success) if reprocess == Reprocess::Completed => Action::Rerun,
                Some(_) => Action::Skip,
            };
            Planned {
                info,
                existing,
                action,
            }
        })
        .collect())
}

/// Makes the run of one planned interval ready for `job_id` to execute: created, or its
/// tasks cleared — on the version it ran with, or re-planned on the newest when
/// `latest_version` — then owned by the job.
pub async fn prepare(
    store: &Store,
    versions: &DagVersions,
    current: &Arc<Dag>,
    (job_id, latest_version): (&str, bool),
    planned: &Planned,
) -> Result<DagRunRow, RunsError> {
    let run = match &planned.existing {
        Some(existing) => {
            let dag = if latest_version {
                let (number, dag) = clear::newest_dag(store, versions, current).await?;
                let instances = store
                    .task_instances(&existing.dag_id, &existing.run_id)
                    .await?;
                clear::replan(store, (&dag, number), existing, &instances).await?;
                dag
            } else {
                clear::run_dag(store, versions, current, existing).await?
            };
            let resets: Vec<(&str, Option<i32>, i64)> = dag
                .task_rows()
                .into_iter()
                .map(|t| (t.task_id, None, t.max_tries))
                .collect();
            store
                .clear_tasks(&existing.dag_id, &existing.run_id, &resets, Some(job_id))
                .await?;
            existing.clone()
        }
        None => {
            let logical = planned.info.logical_date;
            let run_id = format!(
                "backfill__{}",
                logical.to_rfc3339_opts(SecondsFormat::AutoSi, false)
            );
            store
                .create_run(&NewRun {
                    dag_id: &current.dag_id,
                    run_id: &run_id,
                    run_type: RunType::Backfill,
                    logical_date: logical,
                    data_interval: planned.info.data_interval(),
                    conf: &serde_json::json!({}),
                    job_id: Some(job_id),
                    tasks: current.task_rows(),
                    note: None,
                    deadlines: &current.deadlines,
                    triggered_by: None,
                })
                .await?
        }
    };
    store.adopt_run(&run.dag_id, &run.run_id, job_id).await?;
    Ok(run)
}
