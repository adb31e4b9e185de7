//! `CallbackResponse` (Updraft's): one alert message of a run, with what its receiver
//! answered.

use crate::alerts::{AlertEvent, CallbackState};
use crate::store::CallbackRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An alert message.
#[derive(Serialize, ToSchema)]
pub struct CallbackResponse {
    pub dag_id: String,
    pub dag_run_id: String,
    /// Null for a run's event.
    pub task_id: Option<String>,
    /// The attempt (a task's event), or the deadline's position (a deadline miss).
    pub try_number: Option<i64>,
    pub event: AlertEvent,
    /// `webhook`, `slack`, `email` or `shell`.
    pub action_kind: String,
    /// Who receives it, as shown (never a secret).
    pub target: String,
    pub state: CallbackState,
    pub attempts: i64,
    /// What the receiver answered, or why it could not be sent.
    pub answer: Option<String>,
    /// Seconds the last try took.
    pub duration: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<CallbackRow> for CallbackResponse {
    fn from(row: CallbackRow) -> Self {
        let of_run = row.task_id.is_empty();
        Self {
            dag_id: row.dag_id,
            dag_run_id: row.run_id,
            task_id: (!of_run).then_some(row.task_id),
            try_number: (!of_run || row.event == AlertEvent::DeadlineMiss)
                .then_some(row.try_number),
            event: row.event,
            action_kind: row.action_kind,
            target: row.target,
            state: row.state,
            attempts: row.attempts,
            answer: row.answer,
            duration: row.duration,
            created_at: row.created_at,
            sent_at: row.sent_at,
        }
    }
}
