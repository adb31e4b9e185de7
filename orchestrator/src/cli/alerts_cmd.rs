//! `updraft alerts ...`: the alert messages the history holds, newest first, with what
//! each receiver answered.

use super::Context;
use super::output::print_rows;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// The alert messages recorded (newest first): the event, the action and its
    /// receiver, whether it was sent, and what the receiver answered
    List {
        /// Only this DAG's
        #[arg(long)]
        dag: Option<String>,
        /// Only those that could not be sent
        #[arg(long)]
        failed: bool,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

/// Columns of a listing.
const COLUMNS: &[&str] = &[
    "created_at",
    "dag_id",
    "run_id",
    "task_id",
    "try_number",
    "event",
    "action_kind",
    "target",
    "state",
    "attempts",
    "answer",
];

pub async fn run(cmd: AlertsCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        AlertsCommand::List { dag, failed, limit } => {
            let store = ctx.store().await?;
            let rows = store.callbacks(dag.as_deref(), failed, limit).await?;
            print_rows(ctx.format, &rows, COLUMNS)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
