//! The web UI: server-rendered pages (maud escapes every value) over the same store and
//! DAGs as the API, with one small script and style sheet embedded in the binary. Its
//! buttons call the REST API with JSON, so a page never writes anything itself.

mod assets;
mod dag_pages;
mod graph;
mod run_pages;
mod versions;

use super::AppState;
use super::error::ApiError;
use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use std::sync::Arc;

/// The cookie a browser presents its token in (set by the login page).
pub const TOKEN_COOKIE: &str = "updraft_token";

/// The UI's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(dag_pages::dag_list))
        .route("/dags/{dag_id}", get(dag_pages::grid))
        .route("/assets", get(assets::assets_page))
        .route("/assets/{id}", get(assets::asset_page))
        .route("/dags/{dag_id}/graph", get(graph::graph_page))
        .route("/dags/{dag_id}/durations", get(dag_pages::durations))
        .route("/dags/{dag_id}/versions", get(versions::versions_page))
        .route("/dags/{dag_id}/runs/{run_id}", get(run_pages::run_page))
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
            get(run_pages::task_page),
        )
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/static/app.js", get(script))
        .route("/static/style.css", get(style))
}

/// Whether a path is one of the UI's pages (which redirect to the login page instead of
/// answering 401).
pub fn is_page(path: &str) -> bool {
    !path.starts_with("/api/") && path != "/metrics"
}

/// Paths anyone may load: the login page and the assets it needs, and logging out
/// (which only forgets the cookie, whatever the token's role).
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/logout" | "/static/app.js" | "/static/style.css"
    )
}

/// A whole page: header, title and body; `refresh` seconds reload it while runs are active.
pub fn page(state: &AppState, title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Updraft" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body data-refresh=[refresh] {
                header {
                    a.brand href="/" { "Updraft" }
                    a href="/" { "DAGs" }
                    a href="/assets" { "Assets" }
                    a href="/api/v2/openapi.json" { "API" }
                    @if state.needs_login() {
                        form method="post" action="/logout" { button type="submit" { "Log out" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A DAG as people see it: its display name, with its id beside it when they differ.
pub fn dag_name(dag: &crate::dag::Dag) -> Markup {
    html! {
        (dag.display_name())
        @if dag.display_name() != dag.dag_id {
            " " span.muted.dag-id { (dag.dag_id) }
        }
    }
}

/// The state's square, with its name for screen readers and on hover.
pub fn state_square(state: &str) -> Markup {
    html! { span class={"sq s-" (state)} title=(state) role="img" aria-label=(state) {} }
}

/// A page, or the error page that says why it could not be made.
pub fn answer(state: &AppState, page: Result<Markup, ApiError>) -> Response {
    match page {
        Ok(body) => body.into_response(),
        Err(e) => error_page(state, e),
    }
}

/// The page of a run.
pub fn run_path(dag_id: &str, run_id: &str) -> String {
    format!("/dags/{}/runs/{}", url_escape(dag_id), url_escape(run_id))
}

/// The page of a task of a run.
pub fn task_path(dag_id: &str, run_id: &str, task_id: &str) -> String {
    format!("{}/tasks/{}", run_path(dag_id, run_id), url_escape(task_id))
}

/// The API resource of a run.
pub fn run_api_path(dag_id: &str, run_id: &str) -> String {
    format!(
        "/api/v2/dags/{}/dagRuns/{}",
        url_escape(dag_id),
        url_escape(run_id)
    )
}

/// An error page with the API error's status.
pub fn error_page(state: &AppState, e: ApiError) -> Response {
    let status = e.status;
    let body = page(
        state,
        e.title,
        None,
        html! { h1 { (e.title) } p.error { (e.detail) } p { a href="/" { "Back to the DAGs" } } },
    );
    (status, body).into_response()
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../web/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../web/style.css"),
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    failed: Option<String>,
}

async fn login_page(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    Query(q): Query<LoginQuery>,
) -> Markup {
    let next = safe_next(q.next.as_deref());
    page(
        &state,
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if q.failed.is_some() { p.error { "That token is not valid." } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { "API token " input type="password" name="token" autocomplete="current-password" required autofocus; }
                " "
                button type="submit" { "Log in" }
            }
            p.muted { "Use a token from UPDRAFT_API_TOKENS or [api] tokens in updraft.toml." }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Checks the token and keeps it in a cookie only this site's own pages send back (a
/// form of another site cannot post here: see `origin`).
async fn login(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if super::auth::role_of_presented(&state.settings, form.token.trim()).is_none() {
        return Redirect::to(&format!("/login?failed=1&next={}", url_escape(next))).into_response();
    }
    let cookie = format!(
        "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
        url_escape(form.token.trim()),
        secure_attribute(&state, &headers)
    );
    see_other_setting(cookie, next)
}

async fn logout(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let cookie = format!(
        "{TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_attribute(&state, &headers)
    );
    see_other_setting(cookie, "/login")
}

/// `; Secure` when people reach the server over TLS (its base URL is https, or a proxy
/// that ends TLS says so), so the browser never sends the token in clear.
fn secure_attribute(state: &AppState, headers: &HeaderMap) -> &'static str {
    let base_is_https = state
        .settings
        .base_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    let proxied_https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if base_is_https || proxied_https {
        "; Secure"
    } else {
        ""
    }
}

/// Sends the browser to `location` with `cookie` set (or, expired, removed).
fn see_other_setting(cookie: String, location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, location.to_string()),
        ],
    )
        .into_response()
}

/// Only a path of this site to go back to after logging in (never another site): an
/// absolute path with no authority, and no backslash or control character, which
/// browsers drop or turn into `/` before resolving (`/\t/evil.example/` is
/// `//evil.example/` to them). Anything else goes to `/`.
fn safe_next(next: Option<&str>) -> &str {
    let Some(n) = next else { return "/" };
    let plain = n.starts_with('/')
        && !n.starts_with("//")
        && !n.chars().any(|c| c == '\\' || c.is_control());
    // Resolved against a base as a browser would, it must stay on the base's host.
    let stays_here = url::Url::parse("http://updraft.invalid/")
        .and_then(|base| base.join(n))
        .is_ok_and(|u| u.host_str() == Some("updraft.invalid"));
    if plain && stays_here { n } else { "/" }
}

/// Percent-encodes a query or cookie value.
pub fn url_escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Decodes what `url_escape` encoded.
pub fn url_unescape(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_returns_to_this_site() {
        assert_eq!(safe_next(Some("/dags/x")), "/dags/x");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example/")), "/");
        assert_eq!(safe_next(Some("/dags\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(Some("/\u{7f}/evil.example")), "/");
        assert_eq!(safe_next(Some("/dags/x?offset=25")), "/dags/x?offset=25");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_cookie_value_reads_back_as_it_was_set() {
        let token = "a b+c/=&é%";
        assert_eq!(url_unescape(&url_escape(token)), token);
    }
}
