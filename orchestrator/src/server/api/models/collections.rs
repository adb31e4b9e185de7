//! Airflow's list answers: the items of one page under the name Airflow gives them, and
//! how many there are in all.

use super::{
    AssetEventResponse, AssetResponse, CallbackResponse, DagResponse, DagRunResponse,
    DagStatsResponse, DagVersionResponse, ImportErrorResponse, NewTaskResponse,
    TaskInstanceHistoryResponse, TaskInstanceResponse, TaskResponse, TestResultResponse,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares a list answer `$name` holding `$item`s under `$key`.
macro_rules! collection {
    ($(#[$meta:meta])* $name:ident { $key:ident: $item:ty }) => {
        $(#[$meta])*
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            pub $key: Vec<$item>,
            pub total_entries: i64,
        }

        impl $name {
            /// A page of `items`, of `total` in all.
            pub fn new(items: Vec<$item>, total: i64) -> Self {
                Self { $key: items, total_entries: total }
            }

            /// All of `items` in one page.
            #[allow(dead_code, reason = "some lists are only ever answered a page at a time")]
            pub fn all(items: Vec<$item>) -> Self {
                let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
                Self::new(items, total)
            }
        }
    };
}

collection! {
    /// A page of DAGs.
    DagCollectionResponse { dags: DagResponse }
}
collection! {
    /// A page of runs.
    DagRunCollectionResponse { dag_runs: DagRunResponse }
}
collection! {
    /// A page of task instances.
    TaskInstanceCollectionResponse { task_instances: TaskInstanceResponse }
}
collection! {
    /// The attempts of a task instance.
    TaskInstanceHistoryCollectionResponse { task_instances: TaskInstanceHistoryResponse }
}
collection! {
    /// A DAG's tasks as defined.
    TaskCollectionResponse { tasks: TaskResponse }
}
collection! {
    /// A page of a DAG's versions.
    DagVersionCollectionResponse { dag_versions: DagVersionResponse }
}
collection! {
    /// Run counts by state, per DAG.
    DagStatsCollectionResponse { dags: DagStatsResponse }
}
collection! {
    /// DAG files that do not load.
    ImportErrorCollectionResponse { import_errors: ImportErrorResponse }
}
collection! {
    /// A run's data-quality test results (Updraft's).
    TestResultCollectionResponse { test_results: TestResultResponse }
}
collection! {
    /// A run's alert messages (Updraft's).
    CallbackCollectionResponse { callbacks: CallbackResponse }
}
collection! {
    /// What a dry-run clear would touch: task instances, and tasks a newer DAG version
    /// would add (which have no instance yet).
    ClearTaskInstanceCollectionResponse { task_instances: ClearedTask }
}

/// One item of a dry-run clear.
#[derive(Serialize)]
#[serde(untagged)]
pub enum ClearedTask {
    /// A task instance that would run again.
    Instance(Box<TaskInstanceResponse>),
    /// A task the run would gain.
    New(NewTaskResponse),
}

/// Either item, as Airflow's document says (`anyOf`: a task instance has a new task's
/// fields too, so `oneOf` would refuse it).
impl utoipa::PartialSchema for ClearedTask {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, Ref};
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(TaskInstanceResponse::name()))
            .item(Ref::from_schema_name(NewTaskResponse::name()))
            .into()
    }
}

impl ToSchema for ClearedTask {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        for (name, schema) in [
            (TaskInstanceResponse::name(), TaskInstanceResponse::schema()),
            (NewTaskResponse::name(), NewTaskResponse::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        TaskInstanceResponse::schemas(schemas);
    }
}
collection! {
    /// A page of assets.
    AssetCollectionResponse { assets: AssetResponse }
}
collection! {
    /// A page of asset events.
    AssetEventCollectionResponse { asset_events: AssetEventResponse }
}
