//! The small answers: `VersionInfo`, `DAGSourceResponse` and `DagStatsResponse`.

use crate::store::RunState;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/v2/version`: Updraft's own version (it is not an Airflow).
#[derive(Serialize, ToSchema)]
pub struct VersionInfo {
    pub version: &'static str,
    pub git_version: Option<String>,
}

/// A DAG file's text: of a recorded version, or as the folder holds it.
#[derive(Serialize, ToSchema)]
pub struct DagSourceResponse {
    pub content: Option<String>,
    pub dag_id: String,
    pub dag_display_name: String,
    pub version_number: Option<i64>,
}

/// How many runs of a DAG are in one state.
#[derive(Serialize, ToSchema)]
pub struct DagStatsStateResponse {
    pub state: RunState,
    pub count: i64,
}

/// The run counts of one DAG, by state (every state, zero included, as Airflow).
#[derive(Serialize, ToSchema)]
pub struct DagStatsResponse {
    pub dag_id: String,
    pub dag_display_name: String,
    pub stats: Vec<DagStatsStateResponse>,
}

impl DagStatsResponse {
    /// `dag_id`'s counts (people see it as `display_name`) from `(state, count)` pairs.
    pub fn new(dag_id: &str, display_name: &str, counts: &[(RunState, i64)]) -> Self {
        let stats = RunState::ALL
            .iter()
            .map(|state| DagStatsStateResponse {
                state: *state,
                count: counts
                    .iter()
                    .filter(|(s, _)| s == state)
                    .map(|(_, n)| n)
                    .sum(),
            })
            .collect();
        Self {
            dag_id: dag_id.to_string(),
            dag_display_name: display_name.to_string(),
            stats,
        }
    }
}
