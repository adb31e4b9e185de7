//! `updraft webserver`: the REST API (Airflow's v2 shapes), Prometheus metrics and the
//! web UI over the history store and the DAGs folder. Every request passes the host and
//! origin checks and the token check, within a deadline; every answer gets the security
//! headers and the secrets masker. The handlers only turn JSON into the `runs` requests
//! the CLI makes too, and answers back into JSON.

mod api;
pub mod auth;
mod error;
mod headers;
mod masking;
mod metrics;
mod origin;
mod serve;
pub mod ui;

use crate::dag::Dag;
use crate::dag::DagFiles;
use crate::settings::Settings;
use crate::settings::{ApiToken, Role};
use crate::store::{DagRow, DagRunRow, Store, TaskInstanceRow};
use crate::versions::DagVersions;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use error::ApiError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Request bodies larger than this are refused (a run's `conf` is small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// How often the DAGs folder is looked at again, at most.
const FOLDER_REFRESH: Duration = Duration::from_secs(1);

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to serve the API on {0} without tokens: anyone who can reach it could \
         trigger and clear runs. Bind to 127.0.0.1, or configure tokens in \
         UPDRAFT_API_TOKENS=\"operator:TOKEN,viewer:TOKEN\" or [api] tokens in updraft.toml"
    )]
    OpenOnNetwork(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    dags: Mutex<(DagFiles, Option<Instant>)>,
    /// The DAG versions of runs, for drawing a run with the tasks it had.
    pub versions: Arc<DagVersions>,
    /// Fires when the server starts shutting down: followed logs end then.
    stopping: CancellationToken,
}

impl AppState {
    /// The state of a server over `store`, the settings' DAGs folder and tokens.
    pub fn new(store: Store, settings: Arc<Settings>) -> Arc<Self> {
        Arc::new(Self {
            dags: Mutex::new((DagFiles::new(&settings.dags_folder), None)),
            versions: DagVersions::new(&settings.home),
            store,
            settings,
            stopping: CancellationToken::new(),
        })
    }

    /// The configured API tokens (none: open, on loopback only).
    fn tokens(&self) -> &[ApiToken] {
        &self.settings.api_tokens
    }

    /// Whether the server asks for a token (its pages then offer to log out): it has
    /// tokens or users.
    pub fn needs_login(&self) -> bool {
        !self.tokens().is_empty() || !self.settings.api_users.is_empty()
    }

    /// How people see a DAG: its `display_name` in the folder, else its id (also for a
    /// DAG no longer in the folder).
    pub fn display_name(&self, dag_id: &str) -> String {
        self.with_dags(|files| {
            files
                .get(dag_id)
                .map_or(dag_id, |dag| dag.display_name())
                .to_string()
        })
    }

    /// The DAGs folder as it is now (read again when a file changed, at most once a
    /// second), with `f` applied under the lock.
    fn with_dags<T>(&self, f: impl FnOnce(&DagFiles) -> T) -> T {
        let mut guard = self.dags.lock().unwrap_or_else(|e| e.into_inner());
        let (files, last) = &mut *guard;
        if last.is_none_or(|t| t.elapsed() >= FOLDER_REFRESH) {
            files.refresh();
            *last = Some(Instant::now());
        }
        f(files)
    }

    /// The DAGs of the folder (loaded now), in id order, each with its stored row
    /// (recorded here when the store has not seen it yet).
    pub async fn current_dags(&self) -> Result<Vec<(Arc<Dag>, DagRow)>, ApiError> {
        let mut dags: Vec<Arc<Dag>> = self.with_dags(|files| files.all().cloned().collect());
        dags.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
        let mut rows = self.store.dags().await?;
        if dags
            .iter()
            .any(|d| !rows.iter().any(|r| r.dag_id == d.dag_id))
        {
            for dag in &dags {
                self.store.sync_dag(dag).await?;
            }
            rows = self.store.dags().await?;
        }
        Ok(dags
            .into_iter()
            .filter_map(|dag| {
                let row = rows.iter().find(|r| r.dag_id == dag.dag_id)?.clone();
                Some((dag, row))
            })
            .collect())
    }

    /// The DAG `run` is worked with: its version, or (not started yet) the folder's.
    pub async fn run_dag(&self, current: &Arc<Dag>, run: &DagRunRow) -> Result<Arc<Dag>, ApiError> {
        match run.dag_version {
            Some(number) => Ok(self
                .versions
                .resolve(&self.store, &run.dag_id, number, Some(current))
                .await
                .map_err(ApiError::internal)?
                .dag
                .clone()),
            None => Ok(current.clone()),
        }
    }

    /// A run by its ids, or 404.
    pub async fn run_named(&self, dag_id: &str, run_id: &str) -> Result<DagRunRow, ApiError> {
        self.store
            .run(dag_id, run_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("dag `{dag_id}` has no run `{run_id}`")))
    }

    /// A task instance by its ids, with its run, or 404.
    pub async fn instance_named(
        &self,
        ids: (&str, &str, &str),
    ) -> Result<(DagRunRow, TaskInstanceRow), ApiError> {
        self.instance_at(ids, -1).await
    }

    /// Instance `map_index` of a task in a run (-1: a task that is not mapped), or 404
    /// (saying how to name the instances of a mapped task).
    pub async fn instance_at(
        &self,
        (dag_id, run_id, task_id): (&str, &str, &str),
        map_index: i32,
    ) -> Result<(DagRunRow, TaskInstanceRow), ApiError> {
        let run = self.run_named(dag_id, run_id).await?;
        let instances: Vec<TaskInstanceRow> = self
            .store
            .task_instances(dag_id, run_id)
            .await?
            .into_iter()
            .filter(|ti| ti.task_id == task_id)
            .collect();
        let mapped = instances.iter().any(|ti| ti.map_index >= 0);
        match instances.into_iter().find(|ti| ti.map_index == map_index) {
            Some(instance) => Ok((run, instance)),
            None if mapped && map_index < 0 => Err(ApiError::not_found(format!(
                "task `{task_id}` is mapped in run `{run_id}`: name an instance \
                 (.../taskInstances/{task_id}/0) or list them (.../{task_id}/listMapped)"
            ))),
            None => Err(ApiError::not_found(format!(
                "run `{run_id}` of `{dag_id}` has no task `{}`",
                crate::store::instance_name(task_id, map_index)
            ))),
        }
    }

    /// The folder's DAG `dag_id` with its row, or 404.
    pub async fn dag_named(&self, dag_id: &str) -> Result<(Arc<Dag>, DagRow), ApiError> {
        self.current_dags()
            .await?
            .into_iter()
            .find(|(dag, _)| dag.dag_id == dag_id)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no DAG `{dag_id}` in the DAGs folder (a file that does not load is in /api/v2/importErrors)"
                ))
            })
    }
}

/// The routes of the API, `/metrics` and the UI, behind the checks every request passes.
pub fn router(state: Arc<AppState>) -> Router {
    api::routes()
        .merge(ui::routes())
        .route("/metrics", axum::routing::get(metrics::metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint: see /api/v2/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed(
                "this endpoint does not take that method: see /api/v2/openapi.json",
            )
        })
        // The last layer added is the first a request meets.
        .layer(middleware::from_fn(masking::mask_secrets))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::errors_as_json,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(serve::within_deadline))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            origin::check_origin,
        ))
        .layer(middleware::from_fn(headers::security_headers))
        .with_state(state)
}

/// A server listening, not yet answering.
pub struct Listening {
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    /// The address it listens on (the port chosen when asked for port 0).
    pub addr: SocketAddr,
}

/// Listens on `bind`: refused without tokens anywhere but loopback.
pub async fn listen(state: Arc<AppState>, bind: SocketAddr) -> Result<Listening, ServerError> {
    if !state.needs_login() && !bind.ip().is_loopback() {
        return Err(ServerError::OpenOnNetwork(bind));
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServerError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    Ok(Listening {
        state,
        listener,
        addr,
    })
}

impl Listening {
    /// Answers requests until `shutdown` fires, then finishes the ones in flight (at most
    /// [`serve::SHUTDOWN_GRACE`]; followed logs end at once).
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        tracing::info!(
            "webserver listening on http://{} ({})",
            self.addr,
            if !self.state.needs_login() {
                "no tokens: open to this machine only"
            } else {
                "bearer tokens required"
            }
        );
        let stopping = self.state.stopping.clone();
        let relay = tokio::spawn(async move {
            shutdown.cancelled().await;
            stopping.cancel();
        });
        let served = serve::serve_connections(
            self.listener,
            router(self.state.clone()),
            self.state.stopping.clone(),
        )
        .await
        .map_err(ServerError::Serve);
        relay.abort();
        served
    }
}

/// Who made a request, as the token check found: the role of a valid token, if one was
/// presented (public paths are answered without one).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// `None`: no valid token. Without configured tokens every caller is an operator.
    pub role: Option<Role>,
}

/// Lets a request through when its token's role allows its method: reads need `viewer`,
/// everything else `operator`. The token comes as `Authorization: Bearer`, or from the
/// cookie the login page sets. Without configured tokens (loopback only) all may. A page
/// of the UI without a valid token goes to the login page; the API answers 401.
async fn authorize(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !state.needs_login() {
        request.extensions_mut().insert(Caller {
            role: Some(Role::Operator),
        });
        return next.run(request).await;
    }
    let presented = presented_token(&request);
    let role = presented
        .as_deref()
        .and_then(|t| auth::role_of_presented(&state.settings, t.trim()));
    request.extensions_mut().insert(Caller { role });
    let path = request.uri().path();
    // Health is for load balancers and monitors, the document and the version for
    // clients: none tells anything of the runs (as in Airflow).
    let public = matches!(
        path,
        "/api/v2/monitor/health" | "/api/v2/openapi.json" | "/api/v2/version" | "/auth/token"
    ) || ui::is_public(path);
    if public {
        return next.run(request).await;
    }
    // Airflow's batch listings are POSTs that only read.
    let batch_read = *request.method() == Method::POST
        && (path.ends_with("/dagRuns/list") || path.ends_with("/taskInstances/list"));
    let needed = if matches!(*request.method(), Method::GET | Method::HEAD) || batch_read {
        Role::Viewer
    } else {
        Role::Operator
    };
    match role {
        None if ui::is_page(path) && request.method() == Method::GET => {
            let back = request.uri().path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&format!("/login?next={}", ui::url_escape(back))).into_response()
        }
        None if presented.is_none() => {
            ApiError::unauthorized("send a token: Authorization: Bearer <token>").into_response()
        }
        None => ApiError::unauthorized("the token is not valid").into_response(),
        Some(role) if role < needed => ApiError::forbidden(format!(
            "a {role:?} token may only read; this needs an operator token"
        ))
        .into_response(),
        Some(_) => next.run(request).await,
    }
}

/// The bearer token of a request, or the one its login cookie holds.
fn presented_token(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(ui::TOKEN_COOKIE)?.strip_prefix('='))
        .map(ui::url_unescape)
        .next()
}
