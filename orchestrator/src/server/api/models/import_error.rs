//! `ImportErrorResponse`: a DAG file that does not load, with where.

use super::BUNDLE_NAME;
use crate::dag::DagError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A file that does not load, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct ImportErrorResponse {
    /// A number made from the file's path: the same on every server.
    pub import_error_id: i64,
    /// When the file was last changed (the error is in that content).
    pub timestamp: DateTime<Utc>,
    pub filename: String,
    pub bundle_name: &'static str,
    /// `file:line:column: message`, as Updraft reports every YAML error.
    pub stack_trace: String,
    /// Updraft's: where, and what.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ImportErrorResponse {
    /// `error`, with its message's secrets masked.
    pub fn new(error: &DagError) -> Self {
        let filename = error.file.display().to_string();
        let hex = crate::dag::source::sha256(filename.as_bytes());
        // 15 hex digits fit a positive i64.
        let import_error_id = i64::from_str_radix(&hex[..15], 16).unwrap_or_default();
        let timestamp = std::fs::metadata(&error.file)
            .and_then(|m| m.modified())
            .map_or_else(|_| Utc::now(), DateTime::<Utc>::from);
        let message = updraft_core::secrets::mask(&error.message).into_owned();
        Self {
            import_error_id,
            timestamp,
            stack_trace: format!("{filename}:{}:{}: {message}", error.pos.line, error.pos.col),
            filename,
            bundle_name: BUNDLE_NAME,
            line: error.pos.line,
            column: error.pos.col,
            message,
        }
    }
}
