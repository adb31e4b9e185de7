//! The daemons: `updraft scheduler`, `updraft webserver`, and `updraft standalone` (both
//! on the embedded defaults, with a summary of where everything lives).

use super::{Context, SchedulerArgs, cancel_on_signal};
use crate::scheduler::Scheduler;
use crate::server::{self, AppState};
use crate::settings::{Settings, check_queue_names};
use crate::store::Store;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where the web server listens unless told otherwise: this machine only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Runs the scheduler until SIGTERM or Ctrl-C.
pub async fn scheduler(ctx: &Context, args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    let settings = Arc::new(scheduler_settings(ctx, args)?);
    let store = ctx.store().await?;
    let scheduler = Scheduler::start(store, settings).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    scheduler.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The settings with what the scheduler's own flags say (queues, drain timeout).
fn scheduler_settings(ctx: &Context, args: SchedulerArgs) -> anyhow::Result<Settings> {
    let mut settings = ctx.settings.clone();
    if let Some(queues) = args.queues {
        let queues: Vec<String> = queues
            .into_iter()
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty())
            .collect();
        if queues.is_empty() {
            return Err(super::usage("--queues: name at least one queue"));
        }
        check_queue_names(&queues).map_err(|e| super::usage(format!("--queues: {e}")))?;
        settings.queues = queues;
    }
    if let Some(drain) = args.drain_timeout {
        settings.drain_timeout = drain;
    }
    Ok(settings)
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
pub async fn standalone(
    ctx: &Context,
    bind: SocketAddr,
    args: SchedulerArgs,
) -> anyhow::Result<ExitCode> {
    let settings = Arc::new(scheduler_settings(ctx, args)?);
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
    let listening = listen(store.clone(), settings.clone(), bind).await?;
    eprintln!(
        "  web server   http://{}  (the UI and the API; open it in a browser)",
        listening.addr
    );
    print_upcoming(ctx, &store).await?;
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

/// Says which DAGs will run when, and whether new ones start paused.
async fn print_upcoming(ctx: &Context, store: &Store) -> anyhow::Result<()> {
    let folder = ctx.folder()?;
    let now = chrono::Utc::now();
    let dags = crate::runs::upcoming(store, &folder.dags, now)
        .await
        .map_err(super::runs_error)?;
    eprintln!(
        "DAGs ({}; a DAG file added later starts {}: dags_paused_at_creation = {}):",
        dags.len(),
        if ctx.settings.dags_paused_at_creation {
            "paused"
        } else {
            "unpaused"
        },
        ctx.settings.dags_paused_at_creation
    );
    let width = dags.iter().map(|d| d.dag_id.len()).max().unwrap_or(0);
    for dag in &dags {
        let when = match (&dag.schedule, dag.next_run_after) {
            (None, _) if dag.on_assets => "runs when its assets change".to_string(),
            (None, _) => "runs when triggered".to_string(),
            (Some(_), _) if dag.paused => "paused: runs when unpaused or triggered".to_string(),
            (Some(_), Some(at)) if at <= now => "next run now".to_string(),
            (Some(_), Some(at)) => format!("next run {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
            (Some(_), None) => "no more runs (past its end_date)".to_string(),
        };
        let schedule = match (&dag.schedule, dag.on_assets) {
            (Some(time), true) => format!("{time} + assets"),
            (Some(time), false) => time.clone(),
            (None, true) => "assets".to_string(),
            (None, false) => "manual".to_string(),
        };
        eprintln!("  {:width$}  {schedule:12}  {when}", dag.dag_id);
    }
    if !folder.errors.is_empty() {
        eprintln!(
            "  {} DAG file(s) do not load: `updraft dag validate` says why",
            folder.errors.len()
        );
    }
    Ok(())
}
