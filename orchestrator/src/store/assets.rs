//! The `asset_event` table read back: each asset (a table some attempt wrote or read)
//! with its latest version and who writes and reads it, and an asset's events.

use super::{Result, Store};
use chrono::{DateTime, Utc};

row_struct! {
    /// A row of `asset_event`.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct AssetEventRow {
        pub uri: String,
        pub access: updraft_core::report::AssetAccess,
        pub dag_id: String,
        pub run_id: String,
        pub task_id: String,
        pub try_number: i64,
        pub version: Option<i64>,
        pub row_count: Option<i64>,
        /// The partitions touched (JSON list).
        pub partitions: String,
        pub created_at: DateTime<Utc>,
    }
}

/// An asset and what the history says of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AssetSummary {
    pub uri: String,
    /// When it was last written, and the version then (Delta tables).
    pub last_written_at: Option<DateTime<Utc>>,
    pub version: Option<i64>,
    pub writes: i64,
    pub reads: i64,
    /// `dag.task` of the tasks that write it, and of those that read it.
    pub producers: Vec<String>,
    pub consumers: Vec<String>,
}

impl Store {
    /// Every asset the history knows, by URI.
    pub async fn assets(&self) -> Result<Vec<AssetSummary>> {
        let sql = "SELECT uri, access, dag_id, task_id, COUNT(*), MAX(created_at), MAX(version)
                   FROM asset_event GROUP BY uri, access, dag_id, task_id ORDER BY uri, dag_id, task_id";
        type Group = (
            String,
            String,
            String,
            String,
            i64,
            DateTime<Utc>,
            Option<i64>,
        );
        let groups: Vec<Group> = with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?);
        let mut assets: Vec<AssetSummary> = Vec::new();
        for (uri, access, dag_id, task_id, count, last, version) in groups {
            if assets.last().is_none_or(|a| a.uri != uri) {
                assets.push(AssetSummary {
                    uri: uri.clone(),
                    last_written_at: None,
                    version: None,
                    writes: 0,
                    reads: 0,
                    producers: Vec::new(),
                    consumers: Vec::new(),
                });
            }
            let Some(asset) = assets.last_mut() else {
                continue;
            };
            let who = format!("{dag_id}.{task_id}");
            if access == "write" {
                asset.writes += count;
                asset.producers.push(who);
                if asset.last_written_at.is_none_or(|at| at < last) {
                    asset.last_written_at = Some(last);
                }
                asset.version = asset.version.max(version);
            } else {
                asset.reads += count;
                asset.consumers.push(who);
            }
        }
        Ok(assets)
    }

    /// The events of asset `uri`, newest first.
    pub async fn asset_events(&self, uri: &str, limit: i64) -> Result<Vec<AssetEventRow>> {
        let sql = "SELECT uri, access, dag_id, run_id, task_id, try_number, version, row_count,
                          partitions, created_at
                   FROM asset_event WHERE uri = $1 ORDER BY created_at DESC, access LIMIT $2";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(uri).bind(limit).fetch_all(p).await?))
    }
}
