//! `updraft db ...`: apply and check history-store migrations.

use super::Context;
use super::output::print_object;
use crate::store::Store;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Create or upgrade the history tables
    Migrate,
    /// Check that the database is reachable and up to date (exit 1 if not)
    Check,
}

pub async fn run(cmd: DbCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
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
