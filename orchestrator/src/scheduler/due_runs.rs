//! Creating the scheduled runs that are due: each interval whose end has passed gets one
//! run (the store's unique `(dag_id, logical_date)` makes a second scheduler's attempt a
//! no-op), oldest first, and never more than `max_active_runs` queued or running. The
//! time the next run is due is recorded on the DAG, so a run that is due but cannot be
//! created shows as late.

use crate::dag::{Dag, Schedule};
use crate::store::{NewRun, RunType, Store, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashSet;

/// What one look at a DAG's schedule did.
#[derive(Debug, Default)]
pub struct DueRuns {
    /// The runs created.
    pub created: Vec<String>,
    /// When the next run is due, if there is room for it then.
    pub next_due: Option<DateTime<Utc>>,
}

/// Creates the due runs of `dag` at `now`.
pub async fn create_due_runs(
    store: &Store,
    dag: &Dag,
    now: DateTime<Utc>,
) -> anyhow::Result<DueRuns> {
    if matches!(dag.schedule, Schedule::Manual) {
        return Ok(DueRuns::default());
    }
    let restriction = dag.restriction();
    let mut last = store.last_scheduled_interval(&dag.dag_id).await?;
    let active = store.active_runs(&dag.dag_id).await?;
    let mut room = i64::from(dag.max_active_runs) - active;
    if room <= 0 {
        record_next_due(store, dag, last, now).await?;
        return Ok(DueRuns::default());
    }
    let since = last
        .map(|(start, _)| start)
        .or(restriction.earliest)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // Backfills and manual runs may already hold some of the dates; those are skipped.
    let taken: HashSet<DateTime<Utc>> = store
        .logical_dates_since(&dag.dag_id, since)
        .await?
        .into_iter()
        .collect();
    let conf = serde_json::json!({});
    let mut created = Vec::new();
    while room > 0 {
        let Some(next) = dag.schedule.next_run(dag.timezone, last, &restriction, now) else {
            break;
        };
        if next.run_after > now || last.is_some_and(|(start, _)| next.logical_date <= start) {
            break;
        }
        last = Some(next.data_interval());
        if taken.contains(&next.logical_date) {
            continue;
        }
        let run_id = format!(
            "scheduled__{}",
            next.logical_date
                .to_rfc3339_opts(SecondsFormat::AutoSi, false)
        );
        let made = store
            .create_run(&NewRun {
                dag_id: &dag.dag_id,
                run_id: &run_id,
                run_type: RunType::Scheduled,
                logical_date: next.logical_date,
                data_interval: next.data_interval(),
                conf: &conf,
                job_id: None,
                tasks: dag.task_rows(),
                note: None,
                deadlines: &dag.deadlines,
                triggered_by: None,
            })
            .await;
        match made {
            Ok(_) => {
                tracing::info!("created {} {run_id}", dag.dag_id);
                created.push(run_id);
                room -= 1;
            }
            // Another scheduler created it first.
            Err(StoreError::RunExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let next_due = record_next_due(store, dag, last, now).await?;
    Ok(DueRuns {
        created,
        next_due: next_due.filter(|due| room > 0 && *due > now),
    })
}

/// Records when the run after `last` is due, and returns it.
async fn record_next_due(
    store: &Store,
    dag: &Dag,
    last: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let next = dag
        .schedule
        .next_run(dag.timezone, last, &dag.restriction(), now)
        .map(|run| run.run_after);
    store.set_next_run_after(&dag.dag_id, next).await?;
    Ok(next)
}
