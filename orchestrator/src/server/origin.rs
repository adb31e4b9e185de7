//! Where a request may come from. The `Host` it names must be one the server is known by:
//! without tokens only loopback names, so a page of another site that rebinds its name to
//! 127.0.0.1 (DNS rebinding) is refused. A request that changes something (anything but
//! GET and HEAD) must come from the server's own pages: a browser says where a request
//! comes from in `Origin` (or `Referer`), and another site's form or script is refused;
//! clients that are not browsers (curl, Airflow's client) send neither.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Names that always reach this machine only.
const LOOPBACK_NAMES: &[&str] = &["127.0.0.1", "localhost", "[::1]"];

/// Refuses requests for a host the server is not known by (421) and changes asked by
/// another site (403).
pub async fn check_origin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_ascii_lowercase();
    if !known_host(&state, &host) {
        return ApiError::misdirected(format!(
            "this server does not answer to the host `{}`: use http://127.0.0.1 or \
             http://localhost{}",
            host.escape_debug(),
            if state.needs_login() {
                ", or add the name to UPDRAFT_ALLOWED_HOSTS ([api] allowed_hosts)"
            } else {
                " (a server with API tokens may list other names in UPDRAFT_ALLOWED_HOSTS)"
            }
        ))
        .into_response();
    }
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && let Some(from) = claimed_origin(&request)
        && !same_origin(&state, &from, &host)
    {
        return ApiError::forbidden(format!(
            "a request from `{}` may not change anything here: only this server's own \
             pages, or clients that are not browsers, may",
            from.escape_debug()
        ))
        .into_response();
    }
    next.run(request).await
}

/// Whether `host` (`name` or `name:port`, lower case) is a name this server answers to.
fn known_host(state: &AppState, host: &str) -> bool {
    let name = host_name(host);
    if LOOPBACK_NAMES.contains(&name) {
        return true;
    }
    let settings = &state.settings;
    if settings
        .base_url
        .as_ref()
        .and_then(|u| u.host_str())
        .is_some_and(|h| h.eq_ignore_ascii_case(name))
    {
        return true;
    }
    if settings.allowed_hosts.is_empty() {
        // Open (no tokens) means this machine only; with tokens, the tokens protect.
        return state.needs_login() && !name.is_empty();
    }
    settings
        .allowed_hosts
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(name))
}

/// The name of `host` without its port (`[::1]:8080` → `[::1]`).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Where a browser says the request comes from: `Origin`, else `Referer`; none for
/// clients that are not browsers.
fn claimed_origin(request: &Request) -> Option<String> {
    let headers = request.headers();
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Whether `from` (an origin or a referring URL) is this server as the request reached
/// it (`host`), or its configured base URL.
fn same_origin(state: &AppState, from: &str, host: &str) -> bool {
    // `null` (a sandboxed frame, a file) and anything unparseable are another site.
    let Ok(url) = url::Url::parse(from) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(authority) = authority_of(&url) else {
        return false;
    };
    let as_reached = match host.rsplit_once(':') {
        Some((_, port)) if !host.ends_with(']') && port == default_port(url.scheme()) => {
            host_name(host).to_string()
        }
        _ => host.to_string(),
    };
    authority == as_reached
        || state
            .settings
            .base_url
            .as_ref()
            .and_then(authority_of)
            .is_some_and(|base| base == authority)
}

/// `host[:port]` of a URL, the port left out when it is the scheme's default.
fn authority_of(url: &url::Url) -> Option<String> {
    let host = match url.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string().to_ascii_lowercase(),
    };
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

fn default_port(scheme: &str) -> &'static str {
    if scheme == "https" { "443" } else { "80" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("attacker.example:8080"), "attacker.example");
    }

    #[test]
    fn authorities_leave_out_default_ports() {
        let url = url::Url::parse("http://LocalHost:80/x").expect("url");
        assert_eq!(authority_of(&url).as_deref(), Some("localhost"));
        let url = url::Url::parse("http://127.0.0.1:8080/dags").expect("url");
        assert_eq!(authority_of(&url).as_deref(), Some("127.0.0.1:8080"));
        let url = url::Url::parse("http://[::1]:9000").expect("url");
        assert_eq!(authority_of(&url).as_deref(), Some("[::1]:9000"));
    }
}
