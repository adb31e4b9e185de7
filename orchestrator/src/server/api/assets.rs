//! `/api/v2/assets...` in Airflow 3's shapes: the assets the history knows (every table a
//! task wrote or read, every asset a DAG is scheduled on), their events with the runs
//! they triggered, and events from outside (`POST /api/v2/assets/events`), which trigger
//! the DAGs scheduled on the asset like any write.

use super::models::{
    AssetCollectionResponse, AssetEventCollectionResponse, AssetEventResponse, AssetFacts,
    AssetResponse, CreateAssetEventsBody,
};
use super::run_list::parse_time;
use super::{Body, Params};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::store::{AssetEventFilter, AssetEventRow, DagRunRow};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The path of one asset.
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Path)]
pub struct AssetPath {
    /// The asset's id.
    pub asset_id: i64,
}

/// The query of the assets listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct AssetsQuery {
    /// Page size (default 100).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
    /// Only assets whose URI contains this (case-insensitive; `|` for alternatives).
    uri_pattern: Option<String>,
    /// The same on the name (the URI, here).
    name_pattern: Option<String>,
    /// Only assets these DAGs are scheduled on, write or read (repeat for several).
    dag_ids: Option<Vec<String>>,
    /// `id` (the default), `uri`, `name`, `created_at`, `updated_at`; `-` first: descending.
    order_by: Option<String>,
}

/// The query of the events listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the query; Params reads it")]
pub struct AssetEventsQuery {
    /// Page size (default 100).
    limit: Option<i64>,
    /// The first item, from 0.
    offset: Option<i64>,
    asset_id: Option<i64>,
    source_dag_id: Option<String>,
    source_task_id: Option<String>,
    source_run_id: Option<String>,
    /// Events at or after this time.
    timestamp_gte: Option<String>,
    /// Events at or before this time.
    timestamp_lte: Option<String>,
    /// `timestamp` (the default) or `id`; `-` first: descending.
    order_by: Option<String>,
}

/// Every asset.
#[utoipa::path(get, operation_id = "get_assets", path = "/api/v2/assets", tag = "Asset",
    params(AssetsQuery), responses((status = 200, body = AssetCollectionResponse)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<AssetCollectionResponse>, ApiError> {
    let params = Params::of::<AssetsQuery>(query.as_deref())?;
    let (limit, offset) = params.page()?;
    let facts = facts(&state).await?;
    let patterns: Vec<Vec<String>> = ["uri_pattern", "name_pattern"]
        .iter()
        .filter_map(|key| params.one(key))
        .filter(|p| !p.is_empty() && *p != "~")
        .map(|p| p.split('|').map(str::to_lowercase).collect())
        .collect();
    let dag_ids = params.all("dag_ids");
    let mut assets: Vec<AssetResponse> = state
        .store
        .asset_rows()
        .await?
        .iter()
        .filter(|a| {
            let uri = a.uri.to_lowercase();
            patterns
                .iter()
                .all(|any| any.iter().any(|p| uri.contains(p.as_str())))
        })
        .map(|a| AssetResponse::new(a, &facts))
        .filter(|a| {
            dag_ids.is_empty()
                || dag_ids.iter().any(|d| {
                    a.scheduled_dags.iter().any(|s| s.dag_id == *d)
                        || a.producing_tasks.iter().any(|t| t.dag_id == *d)
                        || a.consuming_tasks.iter().any(|t| t.dag_id == *d)
                })
        })
        .collect();
    let order = params.one("order_by").unwrap_or("id");
    let (descending, column) = match order.strip_prefix('-') {
        Some(column) => (true, column),
        None => (false, order),
    };
    match column {
        "id" => assets.sort_by_key(|a| a.id),
        "uri" | "name" => assets.sort_by(|a, b| a.uri.cmp(&b.uri)),
        "created_at" => assets.sort_by_key(|a| (a.created_at, a.id)),
        "updated_at" => assets.sort_by_key(|a| (a.updated_at, a.id)),
        other => {
            return Err(ApiError::bad_request(format!(
                "order_by `{other}`: use id, uri, name, created_at or updated_at (`-` first: descending)"
            )));
        }
    }
    if descending {
        assets.reverse();
    }
    let total = i64::try_from(assets.len()).unwrap_or(i64::MAX);
    let page: Vec<AssetResponse> = assets
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Json(AssetCollectionResponse::new(page, total)))
}

/// One asset.
#[utoipa::path(get, operation_id = "get_asset", path = "/api/v2/assets/{asset_id}", tag = "Asset",
    params(AssetPath), responses((status = 200, body = AssetResponse)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(AssetPath { asset_id }): Path<AssetPath>,
) -> Result<Json<AssetResponse>, ApiError> {
    let asset = state
        .store
        .asset(asset_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no asset with id {asset_id}")))?;
    Ok(Json(AssetResponse::new(&asset, &facts(&state).await?)))
}

/// Asset events (writes), with the runs each triggered.
#[utoipa::path(get, operation_id = "get_asset_events", path = "/api/v2/assets/events", tag = "Asset",
    params(AssetEventsQuery), responses((status = 200, body = AssetEventCollectionResponse)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<AssetEventCollectionResponse>, ApiError> {
    let params = Params::of::<AssetEventsQuery>(query.as_deref())?;
    let (limit, offset) = params.page()?;
    let text = |key: &str| params.one(key).map(str::to_string);
    let time = |key: &str| params.one(key).map(|t| parse_time(key, t)).transpose();
    let filter = AssetEventFilter {
        asset_id: params
            .one("asset_id")
            .map(|n| super::whole_number("asset_id", n))
            .transpose()?,
        uri: None,
        source_dag_id: text("source_dag_id"),
        source_run_id: text("source_run_id"),
        source_task_id: text("source_task_id"),
        after: time("timestamp_gte")?,
        before: time("timestamp_lte")?,
        writes_only: true,
    };
    // Ids grow with time: ordering by either is the same.
    let descending = match params.one("order_by").unwrap_or("timestamp") {
        "timestamp" | "id" => false,
        "-timestamp" | "-id" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "order_by `{other}`: use timestamp or id (`-` first: descending)"
            )));
        }
    };
    let (rows, total) = state
        .store
        .asset_events_where(&filter, limit, offset, descending)
        .await?;
    let events = with_runs(&state, rows).await?;
    Ok(Json(AssetEventCollectionResponse::new(events, total)))
}

/// Records an event from outside on an asset: the DAGs scheduled on it run (per
/// partition, with `partition_key`, for those scheduled so).
#[utoipa::path(post, operation_id = "create_asset_event", path = "/api/v2/assets/events", tag = "Asset",
    request_body = CreateAssetEventsBody, responses((status = 200, body = AssetEventResponse)))]
pub async fn create_event(
    State(state): State<Arc<AppState>>,
    Body(body): Body<CreateAssetEventsBody>,
) -> Result<Json<AssetEventResponse>, ApiError> {
    let asset = state
        .store
        .asset(body.asset_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no asset with id {}", body.asset_id)))?;
    let partitions: Vec<String> = match body.partition_key {
        Some(key) if !key.contains('=') => {
            return Err(ApiError::bad_request(format!(
                "partition_key `{key}`: expected column=value (as the events of partitioned tables name their partitions)"
            )));
        }
        Some(key) => vec![key],
        None => Vec::new(),
    };
    let extra = serde_json::Value::Object(body.extra.unwrap_or_default());
    let id = state
        .store
        .record_external_asset_event(&asset.uri, &partitions, &extra)
        .await?;
    let row = state
        .store
        .asset_event(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("event {id} is gone")))?;
    let mut events = with_runs(&state, vec![row]).await?;
    events
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("event {id} is gone")))
}

async fn facts(state: &AppState) -> Result<AssetFacts, ApiError> {
    Ok(AssetFacts {
        tasks: state.store.asset_tasks().await?,
        scheduled: state.store.scheduled_on_assets().await?,
        last_writes: state.store.last_asset_writes().await?,
    })
}

/// `rows` as answered, each with the runs it triggered.
async fn with_runs(
    state: &AppState,
    rows: Vec<AssetEventRow>,
) -> Result<Vec<AssetEventResponse>, ApiError> {
    let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
    let triggered = state.store.runs_triggered_by(&ids).await?;
    let mut runs: Vec<(i64, DagRunRow)> = Vec::new();
    for (event_id, dag_id, run_id) in triggered {
        if let Some(run) = state.store.run(&dag_id, &run_id).await? {
            runs.push((event_id, run));
        }
    }
    Ok(rows
        .into_iter()
        .map(|event| {
            let of_event: Vec<&DagRunRow> = runs
                .iter()
                .filter(|(id, _)| *id == event.id)
                .map(|(_, run)| run)
                .collect();
            AssetEventResponse::new(event, &of_event)
        })
        .collect())
}
