//! The `asset` and `asset_event` tables read back: each asset (a table some attempt
//! wrote or read, or one a DAG is scheduled on) with its latest version and who writes
//! and reads it, an asset's events and the runs they triggered, and the edges of the
//! lineage graph.

use super::{Result, Store};
use chrono::{DateTime, Utc};

row_struct! {
    /// A row of `asset_event`, with its asset's id.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct AssetEventRow {
        pub id: i64,
        pub asset_id: i64,
        pub uri: String,
        pub access: updraft_core::report::AssetAccess,
        /// The attempt that produced it; None for an event from outside.
        pub dag_id: Option<String>,
        pub run_id: Option<String>,
        pub task_id: Option<String>,
        /// The producing instance of a mapped task (-1: not mapped, or from outside).
        pub map_index: i32,
        pub try_number: Option<i64>,
        pub version: Option<i64>,
        pub row_count: Option<i64>,
        /// The partitions touched (JSON list).
        pub partitions: String,
        pub created_at: DateTime<Utc>,
        /// JSON.
        pub extra: String,
    }
}

row_struct! {
    /// A row of `asset`.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct AssetRow {
        pub id: i64,
        pub uri: String,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

/// An asset and what the history says of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AssetSummary {
    pub id: i64,
    pub uri: String,
    /// When it was last written, and the version then (Delta tables).
    pub last_written_at: Option<DateTime<Utc>>,
    pub version: Option<i64>,
    pub writes: i64,
    pub reads: i64,
    /// `dag.task` of the tasks that write it (`(external)` for events from outside), and
    /// of those that read it.
    pub producers: Vec<String>,
    pub consumers: Vec<String>,
    /// The DAGs scheduled on it.
    pub scheduled_dags: Vec<String>,
    /// `fresh` or `stale` when a DAG has a `freshness:` rule on it (stale if any rule
    /// says so).
    pub freshness: Option<crate::alerts::FreshnessState>,
}

/// One edge of the lineage graph: a task that wrote (or read) an asset, or a DAG
/// scheduled on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LineageEdge {
    pub uri: String,
    pub kind: EdgeKind,
    pub dag_id: String,
    /// None for a DAG scheduled on the asset.
    pub task_id: Option<String>,
}

/// How a DAG or task touches an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Writes,
    Reads,
    Schedules,
}

/// Where the events of the events listing come from (the API's filters).
#[derive(Debug, Default, Clone)]
pub struct AssetEventFilter {
    pub asset_id: Option<i64>,
    pub uri: Option<String>,
    pub source_dag_id: Option<String>,
    pub source_run_id: Option<String>,
    pub source_task_id: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    /// Writes only (what Airflow calls asset events); false: reads too.
    pub writes_only: bool,
}

row_struct! {
    /// A task that wrote (or read) an asset, with when it first and last did.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct AssetTaskRow {
        pub uri: String,
        pub access: updraft_core::report::AssetAccess,
        pub dag_id: String,
        pub task_id: String,
        pub first_at: DateTime<Utc>,
        pub last_at: DateTime<Utc>,
    }
}

row_struct! {
    /// What one task of a DAG's runs did to an asset, and the newest version it saw.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct TouchedAsset {
        pub uri: String,
        pub access: String,
        pub task_id: String,
        pub version: Option<i64>,
    }
}

const EVENT_SELECT: &str =
    "SELECT e.id, a.id AS asset_id, e.uri, e.access, e.dag_id, e.run_id, e.task_id,
       e.map_index, e.try_number, e.version, e.row_count, e.partitions, e.created_at, e.extra
    FROM asset_event e JOIN asset a ON a.uri = e.uri WHERE 1 = 1";

impl Store {
    /// Every asset the history knows, by URI.
    pub async fn assets(&self) -> Result<Vec<AssetSummary>> {
        let rows = self.asset_rows().await?;
        let sql = "SELECT uri, access, dag_id, task_id, COUNT(*), MAX(created_at), MAX(version)
                   FROM asset_event GROUP BY uri, access, dag_id, task_id ORDER BY uri, dag_id, task_id";
        type Group = (
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            DateTime<Utc>,
            Option<i64>,
        );
        let groups: Vec<Group> = with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?);
        let scheduled = self.scheduled_on_assets().await?;
        let mut assets: Vec<AssetSummary> = rows
            .into_iter()
            .map(|a| AssetSummary {
                id: a.id,
                uri: a.uri,
                last_written_at: None,
                version: None,
                writes: 0,
                reads: 0,
                producers: Vec::new(),
                consumers: Vec::new(),
                scheduled_dags: Vec::new(),
                freshness: None,
            })
            .collect();
        // Searched by byte order, whatever the database's collation.
        assets.sort_by(|a, b| a.uri.cmp(&b.uri));
        let find = |assets: &mut [AssetSummary], uri: &str| {
            assets.binary_search_by(|a| a.uri.as_str().cmp(uri)).ok()
        };
        for (uri, access, dag_id, task_id, count, last, version) in groups {
            let Some(i) = find(&mut assets, &uri) else {
                continue;
            };
            let asset = &mut assets[i];
            let who = match (dag_id, task_id) {
                (Some(dag_id), Some(task_id)) => format!("{dag_id}.{task_id}"),
                _ => "(external)".to_string(),
            };
            match access.as_str() {
                "write" => {
                    asset.writes += count;
                    asset.producers.push(who);
                    if asset.last_written_at.is_none_or(|at| at < last) {
                        asset.last_written_at = Some(last);
                    }
                }
                "read" => {
                    asset.reads += count;
                    asset.consumers.push(who);
                }
                _ => {}
            }
            if access != "read" {
                asset.version = asset.version.max(version);
            }
        }
        for (uri, dag_id) in scheduled {
            if let Some(i) = find(&mut assets, &uri) {
                assets[i].scheduled_dags.push(dag_id);
            }
        }
        for rule in self.freshness().await? {
            if let Some(i) = find(&mut assets, &rule.uri) {
                let now = &mut assets[i].freshness;
                if *now != Some(crate::alerts::FreshnessState::Stale) {
                    *now = Some(rule.state);
                }
            }
        }
        Ok(assets)
    }

    /// Every task that wrote or read an asset, with when it first and last did.
    pub async fn asset_tasks(&self) -> Result<Vec<AssetTaskRow>> {
        let sql = "SELECT uri, access, dag_id, task_id, MIN(created_at) AS first_at,
                          MAX(created_at) AS last_at
                   FROM asset_event WHERE dag_id IS NOT NULL AND task_id IS NOT NULL
                     AND access IN ('write', 'read')
                   GROUP BY uri, access, dag_id, task_id ORDER BY uri, dag_id, task_id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// The DAGs scheduled on each asset, as (uri, dag_id).
    pub async fn scheduled_on_assets(&self) -> Result<Vec<(String, String)>> {
        let sql = "SELECT uri, dag_id FROM dag_schedule_asset ORDER BY uri, dag_id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// The last write of each asset, as (uri, event id, time).
    pub async fn last_asset_writes(&self) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        let sql = "SELECT uri, MAX(id), MAX(created_at) FROM asset_event
                   WHERE access = 'write' GROUP BY uri";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// Every row of `asset`, by URI.
    pub async fn asset_rows(&self) -> Result<Vec<AssetRow>> {
        let sql = "SELECT id, uri, created_at, updated_at FROM asset ORDER BY uri";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// The assets the tasks of runs `run_ids` of `dag_id` wrote and read (not rewrites),
    /// by URI, access and task.
    pub async fn assets_touched_by_runs(
        &self,
        dag_id: &str,
        run_ids: &[&str],
    ) -> Result<Vec<TouchedAsset>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT uri, access, task_id, MAX(version) AS version FROM asset_event
                 WHERE access IN ('write', 'read') AND dag_id = ");
            query.push_bind(dag_id.to_string()).push(" AND run_id IN (");
            let mut ids = query.separated(", ");
            for id in run_ids {
                ids.push_bind(id.to_string());
            }
            ids.push_unseparated(") GROUP BY uri, access, task_id ORDER BY uri, access, task_id");
            Ok(query.build_query_as().fetch_all(p).await?)
        })
    }

    /// The asset with id `id`.
    pub async fn asset(&self, id: i64) -> Result<Option<AssetRow>> {
        let sql = "SELECT id, uri, created_at, updated_at FROM asset WHERE id = $1";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(id).fetch_optional(p).await?))
    }

    /// The asset with URI `uri`.
    pub async fn asset_by_uri(&self, uri: &str) -> Result<Option<AssetRow>> {
        let sql = "SELECT id, uri, created_at, updated_at FROM asset WHERE uri = $1";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(uri).fetch_optional(p).await?))
    }

    /// The events of asset `uri`, newest first.
    pub async fn asset_events(&self, uri: &str, limit: i64) -> Result<Vec<AssetEventRow>> {
        let filter = AssetEventFilter {
            uri: Some(uri.to_string()),
            ..AssetEventFilter::default()
        };
        Ok(self.asset_events_where(&filter, limit, 0, true).await?.0)
    }

    /// A page of the events `filter` picks, by id (newest first when `descending`), and
    /// how many it picks in all.
    pub async fn asset_events_where(
        &self,
        filter: &AssetEventFilter,
        limit: i64,
        offset: i64,
        descending: bool,
    ) -> Result<(Vec<AssetEventRow>, i64)> {
        fn push_filter<DB: sqlx::Database>(
            query: &mut sqlx::QueryBuilder<DB>,
            filter: &AssetEventFilter,
        ) where
            i64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
            String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
            DateTime<Utc>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        {
            if let Some(id) = filter.asset_id {
                query.push(" AND a.id = ").push_bind(id);
            }
            let texts = [
                ("e.uri", &filter.uri),
                ("e.dag_id", &filter.source_dag_id),
                ("e.run_id", &filter.source_run_id),
                ("e.task_id", &filter.source_task_id),
            ];
            for (column, value) in texts {
                if let Some(value) = value {
                    query
                        .push(format_args!(" AND {column} = "))
                        .push_bind(value.clone());
                }
            }
            if let Some(after) = filter.after {
                query.push(" AND e.created_at >= ").push_bind(after);
            }
            if let Some(before) = filter.before {
                query.push(" AND e.created_at <= ").push_bind(before);
            }
            if filter.writes_only {
                query.push(" AND e.access = 'write'");
            }
        }
        let order = if descending { "DESC" } else { "ASC" };
        with_pool!(self, p => {
            let mut count = sqlx::QueryBuilder::new(
                "SELECT COUNT(*) FROM asset_event e JOIN asset a ON a.uri = e.uri WHERE 1 = 1");
            push_filter(&mut count, filter);
            let total: i64 = count.build_query_scalar().fetch_one(p).await?;
            let mut page = sqlx::QueryBuilder::new(EVENT_SELECT);
            push_filter(&mut page, filter);
            page.push(format_args!(" ORDER BY e.id {order} LIMIT "))
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            let rows: Vec<AssetEventRow> = page.build_query_as().fetch_all(p).await?;
            Ok((rows, total))
        })
    }

    /// One event.
    pub async fn asset_event(&self, id: i64) -> Result<Option<AssetEventRow>> {
        let sql = format!("{EVENT_SELECT} AND e.id = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(p).await?),
        )
    }

    /// The runs each of `event_ids` triggered, as (event id, dag id, run id).
    pub async fn runs_triggered_by(&self, event_ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT event_id, dag_id, run_id FROM asset_event_run WHERE event_id IN (");
            let mut ids = query.separated(", ");
            for id in event_ids {
                ids.push_bind(*id);
            }
            ids.push_unseparated(") ORDER BY event_id, dag_id, run_id");
            Ok(query.build_query_as().fetch_all(p).await?)
        })
    }

    /// The events that triggered run `run_id` of `dag_id`.
    pub async fn events_that_triggered(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<AssetEventRow>> {
        let sql = format!(
            "{EVENT_SELECT} AND e.id IN (SELECT event_id FROM asset_event_run
               WHERE dag_id = $1 AND run_id = $2) ORDER BY e.id"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dag_id).bind(run_id).fetch_all(p).await?),
        )
    }

    /// Every edge of the lineage graph the history and the DAGs' schedules give.
    pub async fn lineage_edges(&self) -> Result<Vec<LineageEdge>> {
        let touched = "SELECT DISTINCT uri, access, dag_id, task_id FROM asset_event
                       WHERE dag_id IS NOT NULL AND task_id IS NOT NULL
                         AND access IN ('write', 'read')";
        let rows: Vec<(String, String, String, String)> =
            with_pool!(self, p => sqlx::query_as(touched).fetch_all(p).await?);
        let scheduled = self.scheduled_on_assets().await?;
        let mut edges: Vec<LineageEdge> = rows
            .into_iter()
            .map(|(uri, access, dag_id, task_id)| LineageEdge {
                uri,
                kind: if access == "write" {
                    EdgeKind::Writes
                } else {
                    EdgeKind::Reads
                },
                dag_id,
                task_id: Some(task_id),
            })
            .chain(scheduled.into_iter().map(|(uri, dag_id)| LineageEdge {
                uri,
                kind: EdgeKind::Schedules,
                dag_id,
                task_id: None,
            }))
            .collect();
        edges.sort();
        Ok(edges)
    }
}
