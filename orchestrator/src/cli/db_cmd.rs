//! `updraft db ...`: apply and check history-store migrations, and remove old history.

use super::Context;
use super::output::print_object;
use crate::runs::clean_history;
use crate::store::{CleanRequest, Store};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Create or upgrade the history tables
    Migrate,
    /// Check that the database is reachable and up to date (exit 1 if not)
    Check,
    /// Delete finished runs older than a cut, with their task instances, tries, test
    /// results, model runs, alerts, asset events and log files (never running or queued
    /// runs, never the newest of a DAG), in short batches while the schedulers work
    Clean(CleanArgs),
}

/// What `db clean` removes.
#[derive(clap::Args, Debug)]
pub struct CleanArgs {
    /// Runs that ended longer ago than this (90d, 12h, ...)
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: std::time::Duration,
    /// Only this DAG's runs
    #[arg(long = "dag")]
    dag_id: Option<String>,
    /// Keep this many newest runs of each DAG, however old
    #[arg(long, default_value_t = 1)]
    keep_last: i64,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    dry_run: bool,
    /// Do not ask first
    #[arg(short = 'y', long)]
    yes: bool,
}

pub async fn run(cmd: DbCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    if let DbCommand::Clean(args) = cmd {
        return clean(args, ctx).await;
    }
    let shown = ctx.settings.database_url_shown();
    let store = Store::connect(&ctx.settings.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {shown}: {e}"))?;
    if matches!(cmd, DbCommand::Migrate) {
        store.migrate().await?;
    }
    let status = store.status().await?;
    print_object(
        ctx.format,
        &serde_json::json!({
            "database": shown,
            "backend": status.backend,
            "applied": status.applied,
            "pending": status.pending,
        }),
    )?;
    if status.pending.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} migration(s) pending: run `updraft db migrate`",
            status.pending.len()
        );
        Ok(ExitCode::from(1))
    }
}

/// `db clean`: asks first (unless `-y` or `--dry-run`), shows progress, says what went.
async fn clean(args: CleanArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    if args.keep_last < 0 {
        return Err(super::usage("--keep-last: 0 or more"));
    }
    let older = chrono::TimeDelta::from_std(args.older_than)
        .map_err(|_| super::usage("--older-than: too long"))?;
    let cut = chrono::Utc::now()
        .checked_sub_signed(older)
        .ok_or_else(|| super::usage("--older-than: too long"))?;
    let request = CleanRequest {
        cut,
        dag_id: args.dag_id.clone(),
        keep_last: args.keep_last,
    };
    let store = ctx.store().await?;
    if !args.dry_run && !args.yes {
        let what = match &args.dag_id {
            Some(dag) => format!("runs of {dag}"),
            None => "runs".to_string(),
        };
        let question = format!(
            "delete finished {what} that ended before {} (keeping the newest {} of each DAG), with their tasks, logs and alerts?",
            cut.format("%Y-%m-%d %H:%M:%S UTC"),
            args.keep_last
        );
        if !super::confirm(&question)? {
            eprintln!("nothing deleted");
            return Ok(ExitCode::from(1));
        }
    }
    let bar = crate::terminal::progress_bar(0, "{bar:40} {pos}/{len} runs {elapsed}");
    let mut last_line = std::time::Instant::now();
    let report = clean_history(&store, &request, args.dry_run, |done, total| {
        bar.set_length(u64::try_from(total).unwrap_or(0));
        bar.set_position(u64::try_from(done).unwrap_or(0));
        // Log lines a few seconds apart where no bar is drawn.
        if !crate::terminal::is_terminal() && last_line.elapsed().as_secs() >= 5 {
            last_line = std::time::Instant::now();
            eprintln!("db clean: {done}/{total} runs");
        }
    })
    .await?;
    bar.finish_and_clear();
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}
