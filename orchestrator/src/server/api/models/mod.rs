//! Airflow 3's public API models, field for field, each built from Updraft's typed rows
//! in one mapping: the API's shape is Airflow's, the store's is ours, and they meet here.
//! Where Updraft has no such concept, a field holds the value Airflow itself uses for
//! "none" (`pool` `default_pool`); Updraft's own extras ride along as
//! additional fields, which Airflow's clients accept.

mod about;
mod asset;
mod callback;
mod collections;
mod dag;
mod dag_run;
mod dag_version;
mod health;
mod import_error;
mod log;
mod task;
mod task_instance;
mod task_try;
mod test_result;
pub mod xcom;

pub use about::{DagSourceResponse, DagStatsResponse, VersionInfo};
pub use asset::{AssetEventResponse, AssetFacts, AssetResponse, CreateAssetEventsBody};
pub use callback::CallbackResponse;
pub use collections::{
    AssetCollectionResponse, AssetEventCollectionResponse, CallbackCollectionResponse,
    ClearTaskInstanceCollectionResponse, ClearedTask, DagCollectionResponse,
    DagRunCollectionResponse, DagStatsCollectionResponse, DagVersionCollectionResponse,
    ImportErrorCollectionResponse, TaskCollectionResponse, TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse, TestResultCollectionResponse,
};
pub use dag::{DagDetailsResponse, DagResponse};
pub use dag_run::{ClearDagRunResponse, DagRunResponse};
pub use dag_version::DagVersionResponse;
pub use health::{HealthInfoResponse, SchedulerJob};
pub use import_error::ImportErrorResponse;
pub use log::TaskInstancesLogResponse;
pub use task::{NewTaskResponse, TaskResponse};
pub use task_instance::TaskInstanceResponse;
pub use task_try::TaskInstanceHistoryResponse;
pub use test_result::TestResultResponse;

/// Airflow's name for a DAGs folder as a bundle.
pub const BUNDLE_NAME: &str = "dags-folder";

/// A UUID (version 8: made from a hash) naming `parts`: the same on every server.
pub fn stable_uuid(parts: &[&str]) -> String {
    let hex = crate::dag::source::sha256(parts.join("\0").as_bytes());
    let (a, b, c, d, e) = (
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32],
    );
    format!("{a}-{b}-8{c}-a{d}-{e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_stable() {
        let id = stable_uuid(&["etl", "3"]);
        assert_eq!(id, stable_uuid(&["etl", "3"]));
        assert_ne!(id, stable_uuid(&["etl", "4"]));
        assert_ne!(stable_uuid(&["a", "bc"]), stable_uuid(&["ab", "c"]));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
