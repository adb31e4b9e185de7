//! Pausing and unpausing a DAG: no new scheduled runs while paused, and its manual runs
//! wait queued (as in Airflow).

use super::RunsError;
use crate::dag::Dag;
use crate::store::Store;

/// Records whether `dag` is paused.
pub async fn set_paused(store: &Store, dag: &Dag, paused: bool) -> Result<(), RunsError> {
    store.sync_dag(dag).await?;
    store.set_paused(&dag.dag_id, paused).await?;
    Ok(())
}
