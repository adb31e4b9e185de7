//! The `asset_freshness` table: each DAG's `freshness:` rules as rows, kept in step with
//! the DAG file; marked stale (with its `on_stale` messages, in the same transaction:
//! the conditional update is the claim) once per period its asset goes without a write,
//! and fresh again after the next write.

use super::BeginWrite;
use super::{Result, Store};
use crate::alerts::{Action, AlertEvent, Freshness, FreshnessState, NewCallback};
use chrono::{DateTime, TimeDelta, Utc};

row_struct! {
    /// A freshness rule and when its asset was last written.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct FreshnessRow {
        pub dag_id: String,
        pub freshness_index: i64,
        pub uri: String,
        pub max_age_seconds: f64,
        #[serde(skip)]
        pub on_stale: String,
        pub state: FreshnessState,
        pub stale_since: Option<DateTime<Utc>>,
        pub stale_periods: i64,
        pub registered_at: DateTime<Utc>,
        pub last_written_at: Option<DateTime<Utc>>,
    }
}

impl FreshnessRow {
    /// Since when the asset counts as not updated: its last write, or (never written)
    /// when the rule was made.
    fn age_from(&self) -> DateTime<Utc> {
        self.last_written_at.unwrap_or(self.registered_at)
    }

    /// Whether the asset is older than `max_age` at `now`.
    fn overdue(&self, now: DateTime<Utc>) -> bool {
        let max_age = TimeDelta::try_milliseconds((self.max_age_seconds * 1000.0) as i64)
            .unwrap_or(TimeDelta::MAX);
        self.age_from()
            .checked_add_signed(max_age)
            .is_some_and(|due| due <= now)
    }

    /// The `on_stale` messages of this stale period.
    fn callbacks(&self, base_url: Option<&str>) -> Vec<NewCallback> {
        let actions: Vec<Action> = serde_json::from_str(&self.on_stale).unwrap_or_default();
        let since = self
            .last_written_at
            .map(|at| format!("last written {}", at.to_rfc3339()))
            .unwrap_or_else(|| "never written".into());
        let facts = serde_json::json!({
            "dag_id": self.dag_id,
            "run_id": null,
            "task_id": null,
            "try_number": null,
            "asset": self.uri,
            "state": "stale",
            "max_age_seconds": self.max_age_seconds,
            "last_written_at": self.last_written_at,
            "summary": format!("{} is stale ({since})", self.uri),
            "error": format!("{} is stale: {since}, max age {} s", self.uri, self.max_age_seconds),
            "url": base_url.map(|b| format!("{}/assets", b.trim_end_matches('/'))),
        });
        // The asset's URI stands where a task's id would: a DAG's rules on two assets
        // going stale in the same period are different messages.
        NewCallback::for_actions(
            (&self.dag_id, "", &self.uri),
            self.stale_periods + 1,
            AlertEvent::AssetStale,
            &actions,
            &facts,
        )
    }
}

const SELECT: &str = "SELECT f.dag_id, f.freshness_index, f.uri, f.max_age_seconds, f.on_stale,
       f.state, f.stale_since, f.stale_periods, f.registered_at,
       (SELECT MAX(e.created_at) FROM asset_event e WHERE e.uri = f.uri AND e.access = 'write')
         AS last_written_at
    FROM asset_freshness f";

impl Store {
    /// Makes `rules` the freshness rules of `dag_id`: a rule whose asset and age are
    /// unchanged keeps its state.
    pub async fn set_freshness(&self, dag_id: &str, rules: &[Freshness]) -> Result<()> {
        let now = Utc::now();
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            for (i, rule) in rules.iter().enumerate() {
                let index = i64::try_from(i).unwrap_or(i64::MAX);
                sqlx::query(
                    "INSERT INTO asset_freshness (dag_id, freshness_index, uri, max_age_seconds,
                       on_stale, state, registered_at)
                     VALUES ($1, $2, $3, $4, $5, 'fresh', $6)
                     ON CONFLICT (dag_id, freshness_index) DO UPDATE SET
                       on_stale = excluded.on_stale,
                       state = CASE WHEN asset_freshness.uri = excluded.uri
                         AND asset_freshness.max_age_seconds = excluded.max_age_seconds
                         THEN asset_freshness.state ELSE 'fresh' END,
                       registered_at = CASE WHEN asset_freshness.uri = excluded.uri
                         THEN asset_freshness.registered_at ELSE excluded.registered_at END,
                       uri = excluded.uri, max_age_seconds = excluded.max_age_seconds",
                )
                .bind(dag_id)
                .bind(index)
                .bind(&rule.uri)
                .bind(rule.max_age.as_secs_f64())
                .bind(serde_json::to_string(&rule.on_stale).unwrap_or_default())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(super::asset_queue::INSERT_ASSET)
                    .bind(&rule.uri)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM asset_freshness WHERE dag_id = $1 AND freshness_index >= $2")
                .bind(dag_id)
                .bind(i64::try_from(rules.len()).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// Every freshness rule with its asset's last write.
    pub async fn freshness(&self) -> Result<Vec<FreshnessRow>> {
        let sql = format!("{SELECT} ORDER BY f.uri, f.dag_id, f.freshness_index");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    /// Marks stale the rules whose asset is overdue (recording their `on_stale`
    /// messages with it) and fresh those written since they went stale; how many went
    /// stale.
    pub async fn decide_freshness(&self, base_url: Option<&str>) -> Result<usize> {
        let now = Utc::now();
        let rules = self.freshness().await?;
        let mut went_stale = 0;
        for rule in rules {
            let overdue = rule.overdue(now);
            if rule.state == FreshnessState::Fresh
                && overdue
                && self.mark_stale(&rule, now, base_url).await?
            {
                went_stale += 1;
                tracing::warn!(
                    "{}: {} is stale (max age {} s): on_stale fired",
                    rule.dag_id,
                    rule.uri,
                    rule.max_age_seconds
                );
            } else if rule.state == FreshnessState::Stale && !overdue {
                // Written since: fresh again (and alerted again when it next goes stale).
                let sql = "UPDATE asset_freshness SET state = 'fresh'
                           WHERE dag_id = $1 AND freshness_index = $2 AND state = 'stale'";
                with_pool!(self, p => sqlx::query(sql)
                    .bind(&rule.dag_id).bind(rule.freshness_index).execute(p).await.map(|_| ()))?;
            }
        }
        Ok(went_stale)
    }

    /// Marks `rule` stale and records its messages, unless another scheduler did first.
    async fn mark_stale(
        &self,
        rule: &FreshnessRow,
        now: DateTime<Utc>,
        base_url: Option<&str>,
    ) -> Result<bool> {
        let callbacks = rule.callbacks(base_url);
        let claimed = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE asset_freshness SET state = 'stale', stale_since = $1,
                   stale_periods = stale_periods + 1
                 WHERE dag_id = $2 AND freshness_index = $3 AND state = 'fresh'
                   AND stale_periods = $4",
            )
            .bind(now)
            .bind(&rule.dag_id)
            .bind(rule.freshness_index)
            .bind(rule.stale_periods)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                super::callbacks::write_callbacks!(tx, &callbacks).await?;
            }
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(claimed)
        }.await)?;
        Ok(claimed)
    }
}
