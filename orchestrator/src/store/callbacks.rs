//! The `callback` table: alert messages recorded with the state change that caused them,
//! claimed by one scheduler at a time, and closed with what the receiver answered.

use super::BeginWrite;
use super::{Result, Store};
use crate::alerts::{AlertEvent, CallbackState};
use chrono::{DateTime, Utc};

/// The columns a claim or a listing reads.
const CALLBACK_COLUMNS: &str =
    "id, dag_id, run_id, task_id, map_index, try_number, event, action_index,
    action_kind, action, facts, target, state, attempts, next_attempt_at, claimed_by, answer,
    duration, created_at, sent_at";

row_struct! {
    /// A row of `callback`.
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct CallbackRow {
        pub id: String,
        pub dag_id: String,
        pub run_id: String,
        /// Empty for a run's event.
        pub task_id: String,
        /// The instance of a mapped task (-1: not mapped, or a run's event).
        pub map_index: i32,
        pub try_number: i64,
        pub event: AlertEvent,
        pub action_index: i64,
        pub action_kind: String,
        /// The action as written (JSON), templates unrendered.
        #[serde(skip)]
        pub action: String,
        /// The event's facts (JSON).
        #[serde(skip)]
        pub facts: String,
        /// Who receives it, as shown (never a secret).
        pub target: String,
        pub state: CallbackState,
        pub attempts: i64,
        pub next_attempt_at: DateTime<Utc>,
        pub claimed_by: Option<String>,
        /// What the receiver answered, or why it could not be sent (masked).
        pub answer: Option<String>,
        pub duration: Option<f64>,
        pub created_at: DateTime<Utc>,
        pub sent_at: Option<DateTime<Utc>>,
    }
}

/// The statement that records one callback (once: the same id again does nothing).
pub(super) const INSERT_CALLBACK: &str = "INSERT INTO callback (id, dag_id, run_id, task_id,
    try_number, event, action_index, action_kind, action, facts, target, state, attempts,
    next_attempt_at, created_at, map_index)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', 0, $12, $12, $13)
    ON CONFLICT (id) DO NOTHING";

/// Records `$callbacks` (a slice of `NewCallback`) in the transaction `$tx`. A macro so
/// that the statement is written once and compiled for each database.
macro_rules! write_callbacks {
    ($tx:expr, $callbacks:expr) => {
        async {
            let now = chrono::Utc::now();
            for c in $callbacks {
                let c: &$crate::alerts::NewCallback = c;
                let action = serde_json::to_string(&c.action).unwrap_or_default();
                sqlx::query($crate::store::callbacks::INSERT_CALLBACK)
                    .bind(c.id())
                    .bind(&c.dag_id)
                    .bind(&c.run_id)
                    .bind(&c.task_id)
                    .bind(c.try_number)
                    .bind(c.event.as_str())
                    .bind(c.action_index)
                    .bind(c.action.kind())
                    .bind(action)
                    .bind(c.facts.to_string())
                    .bind(c.action.target())
                    .bind(now)
                    .bind(c.map_index)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(super) use write_callbacks;

/// How a claimed callback ended.
pub struct CallbackEnd {
    pub state: CallbackState,
    pub answer: String,
    pub duration: f64,
    /// When to try again (state `pending`).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Claims up to `limit` callbacks for `job_id`: those due, and those a job that is no
    /// longer running had claimed. A callback is claimed by one job at a time: the state
    /// is checked again by the update itself, which another claim may have changed.
    pub async fn claim_callbacks(&self, job_id: &str, limit: i64) -> Result<Vec<CallbackRow>> {
        // An attempt's OpenLineage end waits until its start has been sent (or given up).
        let claimable = "((state = 'pending' AND next_attempt_at <= $2)
            OR (state = 'sending' AND NOT EXISTS (SELECT 1 FROM job j
                WHERE j.job_id = callback.claimed_by AND j.state = 'running')))
            AND NOT (event = 'lineage_end' AND EXISTS (SELECT 1 FROM callback s
                WHERE s.event = 'lineage_start' AND s.dag_id = callback.dag_id
                  AND s.run_id = callback.run_id AND s.task_id = callback.task_id
                  AND s.try_number = callback.try_number
                  AND s.state IN ('pending', 'sending')))";
        let sql = format!(
            "UPDATE callback SET state = 'sending', claimed_by = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM callback WHERE {claimable}
                          ORDER BY next_attempt_at LIMIT $3)
               AND ({claimable})
             RETURNING {CALLBACK_COLUMNS}"
        );
        let now = Utc::now();
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(job_id).bind(now).bind(limit)
            .fetch_all(p).await?),
        )
    }

    /// Records `callbacks` in a transaction of their own (those of an event no state
    /// change records, such as an attempt's OpenLineage start).
    pub async fn record_callbacks(&self, callbacks: &[crate::alerts::NewCallback]) -> Result<()> {
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            write_callbacks!(tx, callbacks).await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// Closes (or puts back, to be tried again) a callback `job_id` claimed; false when
    /// it was not that job's any more.
    pub async fn end_callback(&self, id: &str, job_id: &str, end: &CallbackEnd) -> Result<bool> {
        let sql = "UPDATE callback SET state = $3, answer = $4, duration = $5,
                     sent_at = $6, next_attempt_at = COALESCE($7, next_attempt_at),
                     claimed_by = NULL
                   WHERE id = $1 AND claimed_by = $2 AND state = 'sending'";
        let ended = (end.state != CallbackState::Pending).then(Utc::now);
        let done = with_pool!(self, p => sqlx::query(sql).bind(id).bind(job_id)
            .bind(end.state.as_str()).bind(&end.answer).bind(end.duration).bind(ended)
            .bind(end.next_attempt_at).execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    /// Callbacks newest first: of one DAG or all, only the failed ones or all.
    pub async fn callbacks(
        &self,
        dag_id: Option<&str>,
        failed_only: bool,
        limit: i64,
    ) -> Result<Vec<CallbackRow>> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callback
             WHERE ($1 IS NULL OR dag_id = $1) AND ($2 = 0 OR state = 'failed')
             ORDER BY created_at DESC, id LIMIT $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(dag_id)
            .bind(i64::from(failed_only)).bind(limit).fetch_all(p).await?),
        )
    }

    /// The callbacks of one run, oldest first.
    pub async fn run_callbacks(&self, dag_id: &str, run_id: &str) -> Result<Vec<CallbackRow>> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callback WHERE dag_id = $1 AND run_id = $2
             ORDER BY created_at, task_id, try_number, action_index"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(dag_id).bind(run_id)
            .fetch_all(p).await?),
        )
    }
}
