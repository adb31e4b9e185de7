//! The `/api/v2` routes and what their handlers share: reading JSON bodies into requests
//! with a 400 that says what is wrong, and the task instances a change touched.

mod assets;
mod dags;
mod login;
mod models;
mod monitor;
mod openapi;
mod params;
mod run_list;
mod runs;
mod tasks;
mod versions;
mod xcom;

use super::AppState;
use super::error::ApiError;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::get;
use serde::de::DeserializeOwned;
use std::sync::Arc;

pub use params::{
    AttemptPath, DagPath, MappedPath, Params, RunPath, TaskPath, VersionPath, whole_number,
};

/// Every API route (the OpenAPI document lists the same, from the handlers' own
/// annotations).
pub fn routes() -> Router<Arc<AppState>> {
    let run = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}";
    let task = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    Router::new()
        .route("/api/v2/dags", get(dags::list))
        .route("/api/v2/dags/{dag_id}", get(dags::get).patch(dags::patch))
        .route("/api/v2/dags/{dag_id}/details", get(dags::details))
        .route("/api/v2/dags/{dag_id}/tasks", get(dags::tasks))
        .route("/api/v2/dagSources/{dag_id}", get(dags::source))
        .route("/api/v2/dagStats", get(dags::stats))
        .route("/api/v2/version", get(monitor::version))
        .route(
            "/api/v2/dags/{dag_id}/dagRuns",
            get(run_list::list).post(runs::trigger),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/list",
            axum::routing::post(run_list::list_batch),
        )
        .route(
            "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/list",
            axum::routing::post(tasks::list_batch),
        )
        .route(run, get(runs::get).patch(runs::mark))
        .route(&format!("{run}/clear"), axum::routing::post(runs::clear))
        .route(&format!("{run}/testResults"), get(runs::test_results))
        .route(&format!("{run}/callbacks"), get(runs::callbacks))
        .route(&format!("{run}/taskInstances"), get(tasks::list))
        .route(task, get(tasks::get).patch(tasks::mark))
        .route(&format!("{task}/tries"), get(tasks::tries))
        .route(&format!("{task}/listMapped"), get(tasks::list_mapped))
        .route(
            &format!("{task}/{{map_index}}"),
            get(tasks::get_mapped).patch(tasks::mark_mapped),
        )
        .route(&format!("{task}/logs/{{try_number}}"), get(tasks::log))
        .route(&format!("{task}/xcomEntries"), get(xcom::list))
        .route(&format!("{task}/xcomEntries/{{xcom_key}}"), get(xcom::get))
        .route("/api/v2/dags/{dag_id}/dagVersions", get(versions::list))
        .route(
            "/api/v2/dags/{dag_id}/dagVersions/{version_number}",
            get(versions::get),
        )
        .route("/api/v2/assets", get(assets::list))
        .route(
            "/api/v2/assets/events",
            get(assets::events).post(assets::create_event),
        )
        .route("/api/v2/assets/{asset_id}", get(assets::get))
        .route("/api/v2/importErrors", get(monitor::import_errors))
        .route("/api/v2/monitor/health", get(monitor::health))
        .route("/api/v2/openapi.json", get(openapi::document))
        .route("/auth/token", axum::routing::post(login::token))
}

/// A JSON body; a malformed one is a 400 that says where.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // Browsers send JSON to another site only after asking it (CORS), which this
        // server never grants: so no other site's page can make a logged-in browser
        // trigger or clear anything.
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::unsupported_media_type(
                "send the body as JSON: Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(format!(
                        "the body is larger than {} KiB",
                        super::MAX_BODY_BYTES / 1024
                    ))
                } else {
                    ApiError::bad_request(format!("cannot read the body: {e}"))
                }
            })?;
        let text = if bytes.is_empty() {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let mut json = serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(&mut json)
            .map(Body)
            .map_err(|e| {
                let at = e.path().to_string();
                let inner = e.into_inner();
                if at == "." {
                    ApiError::bad_request(format!("the JSON body: {inner}"))
                } else {
                    ApiError::bad_request(format!("the JSON body, field `{at}`: {inner}"))
                }
            })
    }
}

/// The task instances of a run that a clear or a mark touched, as a list answer.
pub async fn touched_instances(
    state: &AppState,
    (dag_id, run_id): (&str, &str),
    task_ids: &[String],
) -> Result<models::TaskInstanceCollectionResponse, ApiError> {
    let run = state.run_named(dag_id, run_id).await?;
    let instances: Vec<_> = state
        .store
        .task_instances(dag_id, run_id)
        .await?
        .into_iter()
        .filter(|ti| task_ids.contains(&ti.task_id))
        .collect();
    let shown = versions::instances_with_versions(state, &run, &instances).await?;
    Ok(models::TaskInstanceCollectionResponse::all(shown))
}
