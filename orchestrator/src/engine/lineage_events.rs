//! An attempt's OpenLineage events, when a backend is configured: `START` recorded as
//! the attempt starts, `COMPLETE` or `FAIL` recorded with its end (in the end's own
//! transaction), each a callback row the dispatcher sends. Recording one never fails
//! the task.

use super::attempt::Attempt;
use crate::alerts::NewCallback;
use crate::openlineage::{AttemptKey, EventType, Schemas, callback};
use crate::store::{TaskState, TryEnd};
use updraft_core::report::{AssetAccess, Report};

impl Attempt {
    /// Records the attempt's `START` event; a failure to is logged, not the task's.
    pub(super) async fn record_lineage_start(&self) {
        let Some(target) = &self.settings.openlineage else {
            return;
        };
        let key = AttemptKey {
            dag_id: &self.vars.dag_id,
            run_id: &self.vars.run_id,
            task_id: &self.task.task_id,
            map_index: self.map_index,
            try_number: i64::from(self.try_number),
        };
        let start = callback(
            &target.namespace,
            key,
            EventType::Start,
            chrono::Utc::now(),
            (&[], &Schemas::new(), None),
        );
        if let Err(e) = self.store.record_callbacks(&[start]).await {
            tracing::warn!(
                "{}.{}: its OpenLineage START event was not recorded: {e}",
                key.dag_id,
                key.task_id
            );
        }
    }

    /// The `COMPLETE` or `FAIL` event of `end`, with the schemas of the Delta tables it
    /// touched (None: no backend configured, or the attempt is still to be retried
    /// without having run).
    pub(super) async fn lineage_end(&self, end: &TryEnd) -> Option<NewCallback> {
        let target = self.settings.openlineage.as_ref()?;
        let kind = match end.try_state {
            TaskState::Success | TaskState::Skipped => EventType::Complete,
            _ => EventType::Fail,
        };
        let key = AttemptKey {
            dag_id: &end.dag_id,
            run_id: &end.run_id,
            task_id: &end.task_id,
            map_index: end.map_index,
            try_number: end.try_number,
        };
        let schemas = self.delta_schemas(&end.reports).await;
        Some(callback(
            &target.namespace,
            key,
            kind,
            end.ended_at,
            (&end.reports, &schemas, end.error.as_deref()),
        ))
    }

    /// The columns of the lake's Delta tables among `reports`' assets (those that cannot
    /// be read are left out).
    async fn delta_schemas(&self, reports: &[Report]) -> Schemas {
        let mut schemas = Schemas::new();
        let lake = self.vars.lake.trim_end_matches('/');
        for report in reports {
            let Report::Asset(asset) = report else {
                continue;
            };
            let Some(path) = asset.uri.strip_prefix("delta://lake/") else {
                continue;
            };
            if asset.access == AssetAccess::Rewrite || schemas.contains_key(&asset.uri) {
                continue;
            }
            match updraft_tasks::table_columns(&format!("{lake}/{path}")).await {
                Ok(columns) => {
                    schemas.insert(asset.uri.clone(), columns);
                }
                Err(e) => tracing::debug!("no schema of {} for OpenLineage: {e}", asset.uri),
            }
        }
        schemas
    }
}
