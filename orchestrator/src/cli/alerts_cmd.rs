//! `updraft alerts ...`: the alert messages the history holds, newest first, with what
//! each receiver answered; and samples of a DAG's alerts sent now.

use super::Context;
use super::output::print_rows;
use crate::alerts::{AlertEvent, send_samples};
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
    /// Send a sample of each alert a DAG configures now, and print what each receiver
    /// answered (nothing is recorded); exit 1 if any could not be sent
    Test {
        dag_id: String,
        /// Only the actions of this event: failure, retry, success, deadline_miss,
        /// test_failure, test_warn (failure and success cover tasks and runs)
        #[arg(long)]
        event: Option<String>,
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
        AlertsCommand::Test { dag_id, event } => test(ctx, &dag_id, event.as_deref()).await,
    }
}

/// `alerts test`.
async fn test(ctx: &Context, dag_id: &str, event: Option<&str>) -> anyhow::Result<ExitCode> {
    let dag = ctx.dag(dag_id)?;
    let wanted: Vec<AlertEvent> = match event {
        None => AlertEvent::ALL.to_vec(),
        Some("failure") => vec![AlertEvent::TaskFailure, AlertEvent::RunFailure],
        Some("success") => vec![AlertEvent::TaskSuccess, AlertEvent::RunSuccess],
        Some("retry") => vec![AlertEvent::TaskRetry],
        Some(other) => vec![AlertEvent::parse(other).map_err(|e| {
            super::usage(format!(
                "--event: {e}; or failure, success, retry, deadline_miss, test_failure, test_warn"
            ))
        })?],
    };
    let results = send_samples(&dag, &ctx.settings, |e| wanted.contains(&e)).await;
    if results.is_empty() {
        eprintln!("DAG `{dag_id}` configures no alerts for that event");
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(
        ctx.format,
        &results,
        &[
            "event",
            "task_id",
            "action_kind",
            "target",
            "result",
            "answer",
        ],
    )?;
    Ok(if results.iter().all(|r| r.result == "sent") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
