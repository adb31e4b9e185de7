//! Asset events written and the runs they cause. An event (an attempt's, or one from
//! outside through the API or `updraft asset event`) is written with a queue row for every
//! DAG scheduled on its asset and every partition it touched, in the event's own
//! transaction; a scheduler creates an asset-triggered run in a transaction that deletes
//! the queue rows it consumes, so a run is created once whichever scheduler sees them
//! first, and nothing queued is lost to a crash.

use super::BeginWrite;
use super::runs::insert_run;
use super::{DagRunRow, NewRun, Result, Store, StoreError, TryEnd};
use chrono::{DateTime, Utc};
use updraft_core::report::{AssetAccess, AssetEvent};

/// An asset event to write.
#[derive(Debug)]
pub struct NewAssetEvent<'a> {
    pub uri: &'a str,
    pub access: AssetAccess,
    /// The attempt that produced it (dag, run, task, try); None for an external event.
    pub producer: Option<(&'a str, &'a str, &'a str, i64)>,
    /// The producing instance's map index (-1: not mapped, or no attempt).
    pub map_index: i32,
    pub version: Option<i64>,
    pub rows: Option<i64>,
    /// The partitions touched, as `column=value[/column=value]`.
    pub partitions: &'a [String],
    /// What an external system said about it (JSON).
    pub extra: &'a serde_json::Value,
    pub at: DateTime<Utc>,
}

impl<'a> NewAssetEvent<'a> {
    /// The event an attempt reported.
    pub(super) fn of_attempt(end: &'a TryEnd, event: &'a AssetEvent) -> Self {
        const NO_EXTRA: &serde_json::Value = &serde_json::Value::Null;
        NewAssetEvent {
            uri: &event.uri,
            access: event.access,
            producer: Some((&end.dag_id, &end.run_id, &end.task_id, end.try_number)),
            map_index: end.map_index,
            version: event.version,
            rows: event.rows,
            partitions: &event.partitions,
            extra: NO_EXTRA,
            at: Utc::now(),
        }
    }

    /// The queue keys it gives a DAG scheduled on its asset: one per partition touched,
    /// or the empty key for an event that names none.
    pub(super) fn queue_keys(&self) -> Vec<&str> {
        if self.partitions.is_empty() {
            vec![""]
        } else {
            self.partitions.iter().map(String::as_str).collect()
        }
    }
}

/// Writes `$event` (a [`NewAssetEvent`]) in the transaction `$tx`: its asset (once), the
/// event, and for a write a queue row per DAG scheduled on the asset and per partition;
/// evaluates to the event's id. A macro so that the statements are written once and
/// compiled for each database.
macro_rules! write_asset_event {
    ($tx:expr, $event:expr) => {
        async {
            let event: &$crate::store::asset_queue::NewAssetEvent = $event;
            sqlx::query($crate::store::asset_queue::INSERT_ASSET)
                .bind(event.uri)
                .bind(event.at)
                .execute(&mut *$tx)
                .await?;
            let (dag_id, run_id, task_id, try_number) = match event.producer {
                Some((d, r, t, n)) => (Some(d), Some(r), Some(t), Some(n)),
                None => (None, None, None, None),
            };
            let extra = match event.extra {
                serde_json::Value::Null => "{}".to_string(),
                extra => extra.to_string(),
            };
            let id: i64 = sqlx::query_scalar($crate::store::asset_queue::INSERT_EVENT)
                .bind(dag_id)
                .bind(run_id)
                .bind(task_id)
                .bind(try_number)
                .bind(event.uri)
                .bind(event.access.as_str())
                .bind(event.version)
                .bind(event.rows)
                .bind(serde_json::to_string(event.partitions).unwrap_or_default())
                .bind(event.at)
                .bind(extra)
                .bind(event.map_index)
                .fetch_one(&mut *$tx)
                .await?;
            if event.access == updraft_core::report::AssetAccess::Write {
                for key in event.queue_keys() {
                    sqlx::query($crate::store::asset_queue::QUEUE_FOR_SCHEDULED_DAGS)
                        .bind(id)
                        .bind(key)
                        .bind(event.at)
                        .bind(event.uri)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            Ok::<i64, sqlx::Error>(id)
        }
    };
}
pub(super) use write_asset_event;

pub(super) const INSERT_ASSET: &str = "INSERT INTO asset (uri, created_at, updated_at)
    VALUES ($1, $2, $2) ON CONFLICT (uri) DO NOTHING";

/// The same table reported twice by one attempt keeps the last report.
pub(super) const INSERT_EVENT: &str = "INSERT INTO asset_event (dag_id, run_id, task_id,
      try_number, uri, access, version, row_count, partitions, created_at, extra, map_index)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (dag_id, run_id, task_id, map_index, try_number, uri, access) DO UPDATE SET
      version = excluded.version, row_count = excluded.row_count,
      partitions = excluded.partitions, created_at = excluded.created_at
    RETURNING id";

pub(super) const QUEUE_FOR_SCHEDULED_DAGS: &str =
    "INSERT INTO asset_dag_queue (target_dag_id, event_id, partition_key, created_at)
     SELECT dag_id, $1, $2, $3 FROM dag_schedule_asset WHERE uri = $4";

row_struct! {
    /// A queue row: an event waiting to trigger a run of `target_dag_id`.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct QueuedEvent {
        pub queue_id: i64,
        pub target_dag_id: String,
        /// The partition it stands for (`column=value`), or empty.
        pub partition_key: String,
        pub event_id: i64,
        pub uri: String,
        pub version: Option<i64>,
        pub row_count: Option<i64>,
        /// The partitions the event touched (JSON list).
        pub partitions: String,
        pub source_dag_id: Option<String>,
        pub source_run_id: Option<String>,
        pub source_task_id: Option<String>,
        pub created_at: DateTime<Utc>,
        /// JSON.
        pub extra: String,
    }
}

impl Store {
    /// Records an event from outside (no attempt produced it) on the asset `uri`: it
    /// triggers the DAGs scheduled on it like any write. Returns its id.
    pub async fn record_external_asset_event(
        &self,
        uri: &str,
        partitions: &[String],
        extra: &serde_json::Value,
    ) -> Result<i64> {
        let event = NewAssetEvent {
            uri,
            access: AssetAccess::Write,
            producer: None,
            map_index: -1,
            version: None,
            rows: None,
            partitions,
            extra,
            at: Utc::now(),
        };
        Ok(with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let id = write_asset_event!(tx, &event).await?;
            tx.commit().await?;
            Ok::<i64, sqlx::Error>(id)
        }.await?))
    }

    /// Makes `uris` the assets that schedule `dag_id` (none: it is not scheduled on
    /// assets); events queued for assets it no longer names are dropped.
    pub async fn set_dag_schedule_assets(&self, dag_id: &str, uris: &[String]) -> Result<()> {
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query("DELETE FROM dag_schedule_asset WHERE dag_id = $1")
                .bind(dag_id)
                .execute(&mut *tx)
                .await?;
            let now = Utc::now();
            for uri in uris {
                sqlx::query("INSERT INTO dag_schedule_asset (dag_id, uri) VALUES ($1, $2)")
                    .bind(dag_id)
                    .bind(uri)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(INSERT_ASSET).bind(uri).bind(now).execute(&mut *tx).await?;
            }
            sqlx::query(
                "DELETE FROM asset_dag_queue WHERE target_dag_id = $1 AND event_id NOT IN
                   (SELECT e.id FROM asset_event e JOIN dag_schedule_asset s ON s.uri = e.uri
                    WHERE s.dag_id = $1)",
            )
            .bind(dag_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// The events waiting to trigger runs, oldest first.
    pub async fn queued_asset_events(&self) -> Result<Vec<QueuedEvent>> {
        let sql = "SELECT q.id AS queue_id, q.target_dag_id, q.partition_key, e.id AS event_id,
                          e.uri, e.version, e.row_count, e.partitions,
                          e.dag_id AS source_dag_id, e.run_id AS source_run_id,
                          e.task_id AS source_task_id, e.created_at, e.extra
                   FROM asset_dag_queue q JOIN asset_event e ON e.id = q.event_id
                   ORDER BY q.id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// Creates `run` (asset-triggered) if the queue rows `consumed` are still there,
    /// deleting them and recording which events it came from, in one transaction. None:
    /// another scheduler consumed some of them first (or made a run with the same date).
    pub async fn create_asset_triggered_run(
        &self,
        run: &NewRun<'_>,
        consumed: &[&QueuedEvent],
    ) -> Result<Option<DagRunRow>> {
        let now = Utc::now();
        let mut events: Vec<i64> = consumed.iter().map(|q| q.event_id).collect();
        events.sort_unstable();
        events.dedup();
        let made: std::result::Result<bool, sqlx::Error> = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let mut deleted = 0u64;
            for chunk in consumed.chunks(500) {
                let mut delete = sqlx::QueryBuilder::new("DELETE FROM asset_dag_queue WHERE id IN (");
                let mut ids = delete.separated(", ");
                for queued in chunk {
                    ids.push_bind(queued.queue_id);
                }
                ids.push_unseparated(")");
                deleted += delete.build().execute(&mut *tx).await?.rows_affected();
            }
            if usize::try_from(deleted).ok() != Some(consumed.len()) {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_run!(tx, run, now).await?;
            for event_id in &events {
                sqlx::query("INSERT INTO asset_event_run (event_id, dag_id, run_id) VALUES ($1, $2, $3)")
                    .bind(event_id)
                    .bind(run.dag_id)
                    .bind(run.run_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        }.await);
        match made {
            Ok(true) => Ok(self.run(run.dag_id, run.run_id).await?),
            Ok(false) => Ok(None),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(StoreError::Sql(e)),
        }
    }
}
