//! The `deadline` table: when each run must be done by, written with the run; met when
//! it ended in time, missed (its `on_miss` callbacks recorded in the same transaction)
//! when it had not.

use super::BeginWrite;
use super::runs::NewRun;
use super::{Result, Store};
use crate::alerts::{Action, AlertEvent, Deadline, DeadlineReference, NewCallback};
use chrono::{DateTime, Utc};

/// The statement that records one deadline of a new run.
pub(super) const INSERT_DEADLINE: &str = "INSERT INTO deadline (dag_id, run_id,
    deadline_index, due_at, reference, interval_seconds, on_miss, state)
    VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')";

/// When `deadline` of `run` (queued at `queued_at`) falls due.
pub(super) fn due_at(
    run: &NewRun<'_>,
    queued_at: DateTime<Utc>,
    deadline: &Deadline,
) -> DateTime<Utc> {
    let from = match deadline.reference {
        DeadlineReference::QueuedAt => queued_at,
        DeadlineReference::LogicalDate => run.logical_date,
        DeadlineReference::DataIntervalEnd => run.data_interval.1,
    };
    let interval = chrono::TimeDelta::from_std(deadline.interval).unwrap_or(chrono::TimeDelta::MAX);
    from.checked_add_signed(interval)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

row_struct! {
    /// A deadline found missed.
    struct Missed {
        dag_id: String,
        run_id: String,
        deadline_index: i64,
        due_at: DateTime<Utc>,
        reference: String,
        interval_seconds: f64,
        on_miss: String,
    }
}

/// Deadlines whose run ended in time are met.
const MEET: &str = "UPDATE deadline SET state = 'met', decided_at = $1
    WHERE state = 'pending' AND EXISTS (SELECT 1 FROM dag_run r
        WHERE r.dag_id = deadline.dag_id AND r.run_id = deadline.run_id
          AND r.state IN ('success', 'failed') AND r.ended_at IS NOT NULL
          AND r.ended_at <= deadline.due_at)";

/// Deadlines due whose run had not ended by then are missed: the update is the claim.
const MISS: &str = "UPDATE deadline SET state = 'missed', decided_at = $1
    WHERE state = 'pending' AND due_at <= $1
      AND NOT EXISTS (SELECT 1 FROM dag_run r
        WHERE r.dag_id = deadline.dag_id AND r.run_id = deadline.run_id
          AND r.state IN ('success', 'failed') AND r.ended_at IS NOT NULL
          AND r.ended_at <= deadline.due_at)
    RETURNING dag_id, run_id, deadline_index, due_at, reference, interval_seconds, on_miss";

impl Store {
    /// Decides the deadlines that can be decided now: met for runs that ended in time,
    /// missed for the others that are due, recording each miss's `on_miss` messages in
    /// the same transaction. How many were missed.
    pub async fn decide_deadlines(&self, base_url: Option<&str>) -> Result<usize> {
        let now = Utc::now();
        let missed: Vec<Missed> = with_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(MEET).bind(now).execute(&mut *tx).await?;
            let missed: Vec<Missed> = sqlx::query_as(MISS).bind(now).fetch_all(&mut *tx).await?;
            let callbacks: Vec<NewCallback> = missed.iter().flat_map(|m| m.callbacks(base_url)).collect();
            super::callbacks::write_callbacks!(tx, &callbacks).await?;
            tx.commit().await?;
            missed
        });
        for m in &missed {
            tracing::warn!(
                "{} {}: not done by its deadline {} ({} + {} s): on_miss fired",
                m.dag_id,
                m.run_id,
                m.due_at,
                m.reference,
                m.interval_seconds
            );
        }
        Ok(missed.len())
    }
}

impl Missed {
    /// The `on_miss` messages of this miss.
    fn callbacks(&self, base_url: Option<&str>) -> Vec<NewCallback> {
        let actions: Vec<Action> = serde_json::from_str(&self.on_miss).unwrap_or_default();
        let key = (self.dag_id.as_str(), self.run_id.as_str());
        let mut facts = crate::alerts::run_facts(key, "late", base_url);
        if let serde_json::Value::Object(map) = &mut facts {
            map.insert("deadline".into(), self.due_at.to_rfc3339().into());
            map.insert("reference".into(), self.reference.clone().into());
            map.insert("interval_seconds".into(), self.interval_seconds.into());
            map.insert(
                "error".into(),
                format!(
                    "not done by {} ({} + {} s)",
                    self.due_at.to_rfc3339(),
                    self.reference,
                    self.interval_seconds
                )
                .into(),
            );
        }
        NewCallback::for_actions(
            (key.0, key.1, ""),
            self.deadline_index,
            AlertEvent::DeadlineMiss,
            &actions,
            &facts,
        )
    }
}
