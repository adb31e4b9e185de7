//! `DagVersionResponse`: one recorded version of a DAG.

use super::{BUNDLE_NAME, stable_uuid};
use crate::store::DagVersionRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One version, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct DagVersionResponse {
    /// A UUID, the same for the same DAG and number on every server.
    pub id: String,
    pub version_number: i64,
    pub dag_id: String,
    pub bundle_name: &'static str,
    /// The version's content hash (what identifies it, as a commit does a Git bundle).
    pub bundle_version: String,
    pub bundle_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub dag_display_name: String,
}

impl DagVersionResponse {
    /// `row`, of the DAG people see as `display_name`.
    pub fn new(row: &DagVersionRow, display_name: &str) -> Self {
        Self {
            id: stable_uuid(&[&row.dag_id, &row.version_number.to_string()]),
            version_number: row.version_number,
            dag_id: row.dag_id.clone(),
            bundle_name: BUNDLE_NAME,
            bundle_version: row.content_hash.clone(),
            bundle_url: None,
            created_at: row.created_at,
            dag_display_name: display_name.to_string(),
        }
    }
}
