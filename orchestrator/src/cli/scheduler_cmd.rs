//! `updraft scheduler` (the daemon) and `updraft standalone` (the daemon on the embedded
//! defaults, with a summary of where everything lives).

use super::{Context, cancel_on_signal};
use crate::scheduler::Scheduler;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs the scheduler until SIGTERM or Ctrl-C.
pub async fn scheduler(ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let scheduler = Scheduler::start(store, Arc::new(ctx.settings.clone())).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    scheduler.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints where the embedded setup keeps things, then runs the scheduler.
pub async fn standalone(ctx: &Context) -> anyhow::Result<ExitCode> {
    let s = &ctx.settings;
    if !s.dags_folder.is_dir() {
        std::fs::create_dir_all(&s.dags_folder)?;
    }
    eprintln!("updraft standalone");
    eprintln!("  DAGs folder  {}", s.dags_folder.display());
    eprintln!("  history      {}", s.database_url_shown());
    eprintln!("  lake         {}", s.lake);
    eprintln!("  task logs    {}", s.home.join("logs").display());
    eprintln!("Add or edit DAG files at any time; Ctrl-C stops.");
    scheduler(ctx).await
}
