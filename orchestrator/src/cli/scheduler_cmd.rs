//! The daemons: `updraft scheduler`, `updraft webserver`, and `updraft standalone` (both
//! on the embedded defaults, with a summary of where everything lives).

use super::{Context, cancel_on_signal};
use crate::scheduler::Scheduler;
use crate::server::{self, AppState};
use crate::settings::Settings;
use crate::store::Store;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where the web server listens unless told otherwise: this machine only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Runs the scheduler until SIGTERM or Ctrl-C.
pub async fn scheduler(ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let scheduler = Scheduler::start(store, Arc::new(ctx.settings.clone())).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    scheduler.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves the API until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn webserver(ctx: &Context, bind: SocketAddr) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let listening = listen(store, Arc::new(ctx.settings.clone()), bind).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    eprintln!("serving on http://{} (Ctrl-C stops)", listening.addr);
    listening.serve(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The web server listening on `bind`; one that cannot start is the user's to fix (the
/// address, the tokens).
async fn listen(
    store: Store,
    settings: Arc<Settings>,
    bind: SocketAddr,
) -> anyhow::Result<server::Listening> {
    server::listen(AppState::new(store, settings), bind)
        .await
        .map_err(|e| super::usage(e.to_string()))
}

/// Prints where the embedded setup keeps things, then runs the scheduler and the web
/// server side by side until SIGTERM or Ctrl-C.
pub async fn standalone(ctx: &Context, bind: SocketAddr) -> anyhow::Result<ExitCode> {
    let s = &ctx.settings;
    if !s.dags_folder.is_dir() {
        std::fs::create_dir_all(&s.dags_folder)?;
    }
    eprintln!("updraft standalone");
    eprintln!("  DAGs folder  {}", s.dags_folder.display());
    eprintln!("  history      {}", s.database_url_shown());
    eprintln!("  lake         {}", s.lake);
    eprintln!("  task logs    {}", s.home.join("logs").display());
    let store = ctx.store().await?;
    let settings = Arc::new(ctx.settings.clone());
    let listening = listen(store.clone(), settings.clone(), bind).await?;
    eprintln!("  web server   http://{}", listening.addr);
    eprintln!("Add or edit DAG files at any time; Ctrl-C stops.");
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let web = tokio::spawn(listening.serve(shutdown.clone()));
    let scheduler = Scheduler::start(store, settings).await?;
    let ran = scheduler.run(shutdown.clone()).await;
    shutdown.cancel();
    let served = web.await;
    ran?;
    served.map_err(|e| anyhow::anyhow!("the web server stopped: {e}"))??;
    Ok(ExitCode::SUCCESS)
}
