//! Serving HTTP/1.1 connections so that no client can hold the server: a deadline for a
//! request's headers (which also ends idle keep-alive connections), a deadline for a
//! whole request, a cap on open connections, and a shutdown that is over within
//! [`SHUTDOWN_GRACE`] whatever the clients do.

use super::error::ApiError;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A client must send a request's headers within this (an idle connection is closed
/// after it too).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A request (its body read, its answer made) must be done within this; a followed log
/// streams on after its answer has started.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long requests in flight may still finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The most connections open at once, whatever the process's file limit allows.
const MAX_CONNECTIONS: usize = 1024;

/// Accepts and serves connections with `app` until `shutdown` fires, then lets the
/// requests in flight finish for at most [`SHUTDOWN_GRACE`] and closes the rest.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limit = connection_limit();
    let open = Arc::new(Semaphore::new(limit));
    let mut connections = JoinSet::new();
    let mut last_warning: Option<Instant> = None;
    let mut warn = |message: String| {
        // One line a few seconds is enough to say the server is under pressure.
        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            tracing::warn!("{message}");
            last_warning = Some(Instant::now());
        }
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // the listener itself is fine, so keep serving.
                    warn(format!("cannot accept a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = open.clone().try_acquire_owned() else {
            warn(format!(
                "{limit} connections are open: refusing new ones until some close"
            ));
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connection(s) still busy {}s after shutdown began: closed",
            connections.len(),
            SHUTDOWN_GRACE.as_secs()
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Ends a request that takes longer than [`REQUEST_TIMEOUT`] (a client that sends its
/// body slowly, or a store that does not answer) with 503.
pub async fn within_deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(format!(
            "the request was not done within {}s",
            REQUEST_TIMEOUT.as_secs()
        ))
        .into_response(),
    }
}

/// How many connections may be open: half of what the file limit allows (raised to its
/// hard maximum first), so the store, the logs and the tasks keep descriptors of their own.
fn connection_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 128;
    };
    let soft = if hard > soft && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    usize::try_from(soft / 2)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(16, MAX_CONNECTIONS)
}
