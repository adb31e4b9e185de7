//! When each DAG runs next: the first scheduled run its timetable gives after the last
//! one it had, for people starting a scheduler to see what it will do.

use super::RunsError;
use crate::dag::Dag;
use crate::store::Store;
use chrono::{DateTime, Utc};

/// What a DAG will do next.
#[derive(Debug)]
pub struct Upcoming {
    pub dag_id: String,
    /// The time schedule as written (None: none).
    pub schedule: Option<String>,
    /// Whether it also runs when the assets it is scheduled on change.
    pub on_assets: bool,
    pub paused: bool,
    /// When its next scheduled run is due (in the past: at once).
    pub next_run_after: Option<DateTime<Utc>>,
}

/// The next scheduled run of each of `dags` (recorded in the store if new), in id order.
pub async fn upcoming(
    store: &Store,
    dags: &[Dag],
    now: DateTime<Utc>,
) -> Result<Vec<Upcoming>, RunsError> {
    let mut out = Vec::with_capacity(dags.len());
    for dag in dags {
        store.sync_dag(dag).await?;
        let last = store.last_scheduled_interval(&dag.dag_id).await?;
        let next = dag
            .schedule
            .next_run(dag.timezone, last, &dag.restriction(), now);
        out.push(Upcoming {
            dag_id: dag.dag_id.clone(),
            schedule: dag.schedule.describe(),
            on_assets: dag.assets.is_some(),
            paused: store.is_paused(&dag.dag_id).await?,
            next_run_after: next.map(|n| n.run_after),
        });
    }
    out.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
    Ok(out)
}
