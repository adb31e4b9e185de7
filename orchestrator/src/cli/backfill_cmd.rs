//! `updraft dag backfill`: create and run a DAG's scheduled intervals in a date range
//! (run_type `backfill`), up to `--max-active-runs` at once, re-running existing runs
//! only as `--reprocess` says; `--dry-run` prints the plan.

use super::output::{iso, print_rows};
use super::{Context, cancel_on_signal, usage};
use crate::dag::{Dag, load::parse_datetime};
use crate::engine::{Engine, Job, JobType, RunMode};
use crate::runs::RunsError;
use crate::runs::backfill::{self, Action, Planned, Reprocess};
use crate::store::{RunState, Store};
use crate::versions::DagVersions;
use futures::StreamExt;
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// `updraft dag backfill`.
#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    dag_id: String,
    /// First logical date: 2026-01-01 or an ISO datetime, in the DAG's time zone
    #[arg(long)]
    from: String,
    /// Last logical date (inclusive)
    #[arg(long)]
    to: String,
    /// Which existing runs in the range to run again
    #[arg(long, value_enum, default_value_t = Reprocess::None)]
    reprocess: Reprocess,
    /// Runs at once [default: the DAG's max_active_runs]
    #[arg(long)]
    max_active_runs: Option<u32>,
    /// Print what would be created, re-run and skipped, and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Re-run existing runs on the DAG's newest version (default: each keeps the version
    /// it ran with)
    #[arg(long)]
    latest_version: bool,
}

#[derive(Serialize)]
struct PlanRow {
    logical_date: String,
    data_interval_start: String,
    data_interval_end: String,
    existing_state: Option<crate::store::RunState>,
    action: Action,
}

#[derive(Serialize)]
struct ResultRow {
    logical_date: String,
    run_id: String,
    action: Action,
    state: String,
}

pub async fn run(ctx: &Context, args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let dag = Arc::new(ctx.dag(&args.dag_id)?);
    let from =
        parse_datetime(&args.from, dag.timezone).map_err(|e| usage(format!("--from: {e}")))?;
    let to = parse_datetime(&args.to, dag.timezone).map_err(|e| usage(format!("--to: {e}")))?;
    let max_active = args.max_active_runs.unwrap_or(dag.max_active_runs).max(1);
    let store = ctx.store().await?;
    let plan = backfill::plan(&store, &dag, (from, to), args.reprocess)
        .await
        .map_err(|e| match e {
            RunsError::Invalid { message, .. } => usage(message),
            other => other.into(),
        })?;
    if args.dry_run {
        let rows: Vec<PlanRow> = plan
            .iter()
            .map(|p| PlanRow {
                logical_date: iso(p.info.logical_date),
                data_interval_start: iso(p.info.data_interval_start),
                data_interval_end: iso(p.info.data_interval_end),
                existing_state: p.existing.as_ref().map(|r| r.state),
                action: p.action,
            })
            .collect();
        print_rows(
            ctx.format,
            &rows,
            &[
                "logical_date",
                "data_interval_start",
                "data_interval_end",
                "existing_state",
                "action",
            ],
        )?;
        eprintln!("{} (dry run: nothing changed)", summary_of_plan(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}", summary_of_plan(&plan));
    let job = Job::start(store.clone(), JobType::Backfill, &ctx.settings).await?;
    let versions = DagVersions::new(&ctx.settings.home);
    let engine = Engine::new(
        store.clone(),
        Arc::new(ctx.settings.clone()),
        job.clone(),
        versions.clone(),
        None,
    );
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let todo: Vec<&Planned> = plan.iter().filter(|p| p.action != Action::Skip).collect();
    let bar = crate::terminal::progress_bar(
        todo.len() as u64,
        "{spinner} backfill [{bar:30}] {pos}/{len} runs {elapsed} {wide_msg}",
    );
    let results: Vec<anyhow::Result<ResultRow>> = futures::stream::iter(todo)
        .map(|p| {
            let (store, engine, versions, dag, job, cancel, bar) =
                (&store, &engine, &versions, &dag, &job, cancel.clone(), &bar);
            let latest = args.latest_version;
            async move {
                let row = execute_one((store, engine, versions), dag, (&job.id, latest), p, cancel)
                    .await?;
                let line = format!("{} {} {}", row.logical_date, row.run_id, row.state);
                crate::terminal::progress_line(bar, &format!("backfill {}", dag.dag_id), &line);
                bar.inc(1);
                Ok(row)
            }
        })
        .buffer_unordered(max_active as usize)
        .collect()
        .await;
    bar.finish_and_clear();
    job.stop().await;
    let mut rows = Vec::new();
    for r in results {
        rows.push(r?);
    }
    rows.sort_by(|a, b| a.logical_date.cmp(&b.logical_date));
    print_rows(
        ctx.format,
        &rows,
        &["logical_date", "run_id", "action", "state"],
    )?;
    let failed = rows
        .iter()
        .filter(|r| r.state != RunState::Success.as_str())
        .count();
    let skipped = plan.iter().filter(|p| p.action == Action::Skip).count();
    eprintln!(
        "backfill of {}: {} succeeded, {failed} failed, {skipped} skipped",
        dag.dag_id,
        rows.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn summary_of_plan(plan: &[Planned]) -> String {
    let count = |a| plan.iter().filter(|p| p.action == a).count();
    format!(
        "{} intervals: {} to create, {} to re-run, {} to skip",
        plan.len(),
        count(Action::Create),
        count(Action::Rerun),
        count(Action::Skip)
    )
}

/// Creates (or clears) one run, then executes it as this backfill's own.
async fn execute_one(
    (store, engine, versions): (&Store, &Engine, &DagVersions),
    dag: &Arc<Dag>,
    (job_id, latest_version): (&str, bool),
    planned: &Planned,
    cancel: CancellationToken,
) -> anyhow::Result<ResultRow> {
    if cancel.is_cancelled() {
        return Ok(ResultRow {
            logical_date: iso(planned.info.logical_date),
            run_id: String::new(),
            action: planned.action,
            state: "not_started".into(),
        });
    }
    let run = backfill::prepare(store, versions, dag, (job_id, latest_version), planned).await?;
    let state = engine
        .execute(Some(dag), &run, RunMode::Exclusive, cancel)
        .await?;
    Ok(ResultRow {
        logical_date: iso(planned.info.logical_date),
        run_id: run.run_id,
        action: planned.action,
        state: state.as_str().to_string(),
    })
}
