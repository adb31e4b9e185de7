//! `updraft dag next` (the next scheduled runs and their data intervals) and
//! `updraft dag pause` / `unpause`.

use super::output::{iso, print_rows};
use super::{Context, usage};
use crate::dag::{Restriction, RunInfo, load::parse_datetime};
use chrono::{SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::process::ExitCode;

/// `updraft dag next`.
#[derive(clap::Args, Debug)]
pub struct NextArgs {
    dag_id: String,
    /// How many runs to print
    #[arg(short = 'n', long = "num", default_value_t = 1)]
    num: usize,
    /// List as if the DAG started at this time (catchup on), instead of continuing from
    /// its last scheduled run: 2026-01-01 or an ISO datetime, in the DAG's time zone
    #[arg(long)]
    after: Option<String>,
}

#[derive(Serialize)]
struct NextRun {
    logical_date: String,
    data_interval_start: String,
    data_interval_end: String,
    run_after: String,
    /// `run_after` on the DAG's wall clock.
    run_after_local: String,
}

impl NextRun {
    fn new(run: &RunInfo, tz: Tz) -> Self {
        Self {
            logical_date: iso(run.logical_date),
            data_interval_start: iso(run.data_interval_start),
            data_interval_end: iso(run.data_interval_end),
            run_after: iso(run.run_after),
            run_after_local: run
                .run_after
                .with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::AutoSi, false),
        }
    }
}

pub async fn next(ctx: &Context, args: NextArgs) -> anyhow::Result<ExitCode> {
    let dag = ctx.dag(&args.dag_id)?;
    let (mut last, restriction) = match args.after.as_deref() {
        Some(text) => {
            let after =
                parse_datetime(text, dag.timezone).map_err(|e| usage(format!("--after: {e}")))?;
            let earliest = dag.start_date.map_or(after, |s| s.max(after));
            let restriction = Restriction {
                earliest: Some(earliest),
                latest: dag.end_date,
                catchup: true,
            };
            (None, restriction)
        }
        None => {
            let store = ctx.store().await?;
            (
                store.last_scheduled_interval(&dag.dag_id).await?,
                dag.restriction(),
            )
        }
    };
    let now = Utc::now();
    let mut runs = Vec::new();
    while runs.len() < args.num {
        let Some(run) = dag.schedule.next_run(dag.timezone, last, &restriction, now) else {
            break;
        };
        last = Some(run.data_interval());
        runs.push(NextRun::new(&run, dag.timezone));
    }
    if runs.is_empty() {
        eprintln!(
            "{} has no more scheduled runs (schedule: {}, end_date: {})",
            dag.dag_id,
            dag.schedule.describe().unwrap_or_else(|| "null".into()),
            dag.end_date.map_or("none".into(), iso)
        );
    }
    print_rows(
        ctx.format,
        &runs,
        &[
            "logical_date",
            "data_interval_start",
            "data_interval_end",
            "run_after",
            "run_after_local",
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn set_paused(ctx: &Context, dag_id: &str, paused: bool) -> anyhow::Result<ExitCode> {
    let dag = ctx.dag(dag_id)?;
    let store = ctx.store().await?;
    crate::runs::set_paused(&store, &dag, paused).await?;
    say!("{} {dag_id}", if paused { "paused" } else { "unpaused" });
    Ok(ExitCode::SUCCESS)
}
