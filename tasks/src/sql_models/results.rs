//! What a `sql_models` attempt reports of each model, for the caller to record in the
//! `model_run` history table (as `data_test` reports its tests).

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// How a model's build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelStatus {
    Success,
    Error,
    /// Not built because a model it reads was not.
    Skipped,
}

impl ModelStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Success => "success",
            ModelStatus::Error => "error",
            ModelStatus::Skipped => "skipped",
        }
    }
}

/// One model of one attempt.
#[derive(Debug, Clone)]
pub struct ModelResult {
    pub model: String,
    /// Where it was built (`marts.dim_author`).
    pub relation: String,
    pub materialized: &'static str,
    pub status: ModelStatus,
    /// Rows of a table after the build (None for a view, or when not built).
    pub row_count: Option<i64>,
    /// The database's message, or why it was skipped.
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub execution_time: f64,
}

/// Where an attempt's model results go.
#[derive(Debug, Clone, Default)]
pub struct ModelResults(Arc<Mutex<Vec<ModelResult>>>);

impl ModelResults {
    /// Takes the results reported so far.
    pub fn take(&self) -> Vec<ModelResult> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn push(&self, result: ModelResult) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(result);
    }
}
