//! `updraft asset ...`: the tables attempts wrote and read (assets), recorded without a
//! declaration, with their versions and who produces and consumes them.

use super::Context;
use super::output::print_rows;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AssetCommand {
    /// Every asset: its URI, when it was last written and its version then, and the
    /// tasks that write and read it
    List,
    /// An asset's events, newest first: who wrote or read it, which version, how many
    /// rows
    Show {
        /// The asset's URI (`delta://lake/silver/tweets`, `warehouse://conn/schema.table`)
        uri: String,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub async fn run(cmd: AssetCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    match cmd {
        AssetCommand::List => {
            let assets = store.assets().await?;
            let columns = [
                "uri",
                "last_written_at",
                "version",
                "writes",
                "reads",
                "producers",
                "consumers",
            ];
            print_rows(ctx.format, &assets, &columns)?;
        }
        AssetCommand::Show { uri, limit } => {
            let events = store.asset_events(&uri, limit).await?;
            if events.is_empty() {
                return Err(super::usage(format!(
                    "no events of `{uri}` (see `updraft asset list`)"
                )));
            }
            let columns = [
                "created_at",
                "access",
                "dag_id",
                "run_id",
                "task_id",
                "try_number",
                "version",
                "row_count",
            ];
            print_rows(ctx.format, &events, &columns)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
