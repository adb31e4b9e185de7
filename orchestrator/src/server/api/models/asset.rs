//! Airflow 3's asset shapes: `AssetResponse` (an asset with the tasks that write and read
//! it and the DAGs scheduled on it), `AssetEventResponse` (an event with the runs it
//! triggered), and the body of `POST /api/v2/assets/events`. An asset's name is its URI
//! and its group `asset`, as Airflow names an asset declared by URI alone.

use crate::store::{AssetEventRow, AssetRow, AssetTaskRow, DagRunRow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use updraft_core::report::AssetAccess;
use utoipa::ToSchema;

/// The group of every asset (Airflow's default).
const GROUP: &str = "asset";

/// An asset.
#[derive(Serialize, ToSchema)]
pub struct AssetResponse {
    pub id: i64,
    pub name: String,
    pub uri: String,
    pub group: String,
    pub extra: Option<serde_json::Map<String, Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scheduled_dags: Vec<DagScheduleAssetReference>,
    pub producing_tasks: Vec<TaskAssetReference>,
    pub consuming_tasks: Vec<TaskAssetReference>,
    /// Always empty: Updraft has no asset aliases.
    #[schema(value_type = Vec<Object>)]
    pub aliases: Vec<Value>,
    /// Always empty: Updraft has no asset watchers.
    #[schema(value_type = Vec<Object>)]
    pub watchers: Vec<Value>,
    pub last_asset_event: Option<LastAssetEventResponse>,
}

/// A DAG scheduled on an asset.
#[derive(Serialize, ToSchema)]
pub struct DagScheduleAssetReference {
    pub dag_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A task that writes (an outlet) or reads (an inlet) an asset: when it first and last
/// did.
#[derive(Serialize, ToSchema)]
pub struct TaskAssetReference {
    pub dag_id: String,
    pub task_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An asset's latest event.
#[derive(Serialize, ToSchema)]
pub struct LastAssetEventResponse {
    pub id: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
}

/// What the history holds about all assets, to answer for any of them.
pub struct AssetFacts {
    pub tasks: Vec<AssetTaskRow>,
    pub scheduled: Vec<(String, String)>,
    pub last_writes: Vec<(String, i64, DateTime<Utc>)>,
}

impl AssetResponse {
    /// `asset` with what `facts` say of it.
    pub fn new(asset: &AssetRow, facts: &AssetFacts) -> Self {
        let tasks = |access: AssetAccess| -> Vec<TaskAssetReference> {
            facts
                .tasks
                .iter()
                .filter(|t| t.uri == asset.uri && t.access == access)
                .map(|t| TaskAssetReference {
                    dag_id: t.dag_id.clone(),
                    task_id: t.task_id.clone(),
                    created_at: t.first_at,
                    updated_at: t.last_at,
                })
                .collect()
        };
        Self {
            id: asset.id,
            name: asset.uri.clone(),
            uri: asset.uri.clone(),
            group: GROUP.into(),
            extra: Some(serde_json::Map::new()),
            created_at: asset.created_at,
            updated_at: asset.updated_at,
            scheduled_dags: facts
                .scheduled
                .iter()
                .filter(|(uri, _)| *uri == asset.uri)
                .map(|(_, dag_id)| DagScheduleAssetReference {
                    dag_id: dag_id.clone(),
                    created_at: asset.created_at,
                    updated_at: asset.updated_at,
                })
                .collect(),
            producing_tasks: tasks(AssetAccess::Write),
            consuming_tasks: tasks(AssetAccess::Read),
            aliases: Vec::new(),
            watchers: Vec::new(),
            last_asset_event: facts
                .last_writes
                .iter()
                .find(|(uri, _, _)| *uri == asset.uri)
                .map(|(_, id, at)| LastAssetEventResponse {
                    id: Some(*id),
                    timestamp: Some(*at),
                }),
        }
    }
}

/// An asset event (a write: Airflow has no events for reads).
#[derive(Serialize, ToSchema)]
pub struct AssetEventResponse {
    pub id: i64,
    pub asset_id: i64,
    pub uri: Option<String>,
    pub name: Option<String>,
    pub group: Option<String>,
    pub extra: Option<serde_json::Map<String, Value>>,
    pub source_task_id: Option<String>,
    pub source_dag_id: Option<String>,
    pub source_run_id: Option<String>,
    /// Always -1: Updraft's tasks are not mapped.
    pub source_map_index: i64,
    pub created_dagruns: Vec<DagRunAssetReference>,
    pub timestamp: DateTime<Utc>,
    /// The first partition it touched (Airflow names one per event).
    pub partition_key: Option<String>,
    /// Updraft's: the Delta version committed, rows written, every partition touched.
    pub version: Option<i64>,
    pub row_count: Option<i64>,
    pub partitions: Vec<String>,
}

/// A run an event triggered.
#[derive(Serialize, ToSchema)]
pub struct DagRunAssetReference {
    pub dag_id: String,
    pub run_id: String,
    pub logical_date: Option<DateTime<Utc>>,
    pub data_interval_start: Option<DateTime<Utc>>,
    pub data_interval_end: Option<DateTime<Utc>>,
    /// When it started, or (still queued) when it was queued.
    pub start_date: DateTime<Utc>,
    pub end_date: Option<DateTime<Utc>>,
    pub state: String,
    pub partition_key: Option<String>,
    /// Whether this event was among those that triggered it (always, here).
    pub triggering: bool,
}

impl AssetEventResponse {
    /// `event` with the runs it triggered.
    pub fn new(event: AssetEventRow, runs: &[&DagRunRow]) -> Self {
        let extra = serde_json::from_str::<serde_json::Map<String, Value>>(&event.extra).ok();
        let partitions: Vec<String> = serde_json::from_str(&event.partitions).unwrap_or_default();
        Self {
            id: event.id,
            asset_id: event.asset_id,
            name: Some(event.uri.clone()),
            uri: Some(event.uri),
            group: Some(GROUP.into()),
            extra,
            source_task_id: event.task_id,
            source_dag_id: event.dag_id,
            source_run_id: event.run_id,
            source_map_index: i64::from(event.map_index),
            created_dagruns: runs
                .iter()
                .map(|run| DagRunAssetReference {
                    dag_id: run.dag_id.clone(),
                    run_id: run.run_id.clone(),
                    logical_date: Some(run.logical_date),
                    data_interval_start: Some(run.data_interval_start),
                    data_interval_end: Some(run.data_interval_end),
                    start_date: run.started_at.unwrap_or(run.queued_at),
                    end_date: run.ended_at,
                    state: run.state.as_str().to_string(),
                    partition_key: None,
                    triggering: true,
                })
                .collect(),
            timestamp: event.created_at,
            partition_key: partitions.first().cloned(),
            version: event.version,
            row_count: event.row_count,
            partitions,
        }
    }
}

/// The body of `POST /api/v2/assets/events`: an event from outside.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssetEventsBody {
    pub asset_id: i64,
    pub extra: Option<serde_json::Map<String, Value>>,
    /// The partition it touched (`column=value`), for DAGs scheduled per partition.
    pub partition_key: Option<String>,
    /// Airflow's multi-team control; accepted and ignored (Updraft has one team).
    #[schema(value_type = Option<Object>)]
    #[expect(dead_code, reason = "accepted from Airflow's clients, never read")]
    pub access_control: Option<Value>,
}
