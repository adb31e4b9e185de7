//! Running a DAG run in the foreground of the CLI (`dag trigger`, `task clear`, `dag
//! backfill`): this process registers a job, waits for a run slot as a scheduler would,
//! works the run with live progress and prints its task states; and the arguments that
//! describe a run (`--logical-date`, `--conf`).

use super::output::print_rows;
use super::{Context, cancel_on_signal, progress, usage};
use crate::alerts::{Dispatcher, dispatch_until};
use crate::dag::{Dag, load::parse_datetime};
use crate::engine::{Engine, Job, RunMode, left_runs};
use crate::store::{DagRunRow, RunState, Store};
use crate::versions::DagVersions;
use chrono::{DateTime, SubsecRound, Utc};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How long `dag trigger` sends its run's alerts before it exits, at most.
const ALERTS_BEFORE_EXIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Parses `--logical-date` in the DAG's timezone (now when absent).
pub fn logical_date(dag: &Dag, text: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    match text {
        Some(t) => {
            parse_datetime(t, dag.timezone).map_err(|e| usage(format!("--logical-date: {e}")))
        }
        // The store keeps microseconds; a finer logical date would not read back equal.
        None => Ok(Utc::now().trunc_subsecs(6)),
    }
}

/// Parses `--conf` (a JSON object).
pub fn parse_conf(text: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let Some(text) = text else {
        return Ok(serde_json::json!({}));
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(usage(
            "--conf must be a JSON object, e.g. '{\"source\": \"...\"}'",
        )),
        Err(e) => Err(usage(format!(
            "--conf is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// Executes a run as `job` alone, with live progress, then prints its task states;
/// exit 1 if it failed.
pub async fn execute_in_foreground(
    ctx: &Context,
    store: Store,
    dag: &Arc<Dag>,
    run: &DagRunRow,
    job: Arc<Job>,
) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let started = match wait_for_a_run_slot(ctx, &store, dag, run, &job, &cancel).await {
        Ok(started) => started,
        Err(e) => {
            job.stop().await;
            return Err(e);
        }
    };
    if !started {
        store
            .fail_unfinished(
                &run.dag_id,
                &run.run_id,
                "Updraft was stopped (SIGTERM or Ctrl-C) before the run started",
            )
            .await?;
        store
            .set_run_state(&run.dag_id, &run.run_id, RunState::Failed)
            .await?;
        job.stop().await;
        eprintln!(
            "run {} of {}: failed (stopped before it started)",
            run.run_id, run.dag_id
        );
        return Ok(ExitCode::from(1));
    }
    store.adopt_run(&run.dag_id, &run.run_id, &job.id).await?;
    // Alerts are sent while the run goes on, as a scheduler sends them.
    let alerts = Dispatcher::new(store.clone(), &job.id, &ctx.settings);
    let sending = CancellationToken::new();
    let background = tokio::spawn(alerts.clone().run(sending.clone()));
    let state = work_run(ctx, &store, dag, run, &job, cancel).await;
    sending.cancel();
    let _ = background.await;
    // What the run's end caused is said before the job ends; a retry not yet due is
    // left to a scheduler.
    dispatch_until(&alerts, ALERTS_BEFORE_EXIT).await;
    job.stop().await;
    let state = state?;
    let tis = store.task_instances(&run.dag_id, &run.run_id).await?;
    let mapped = tis.iter().any(|ti| ti.map_index >= 0);
    let columns = super::output::instance_columns(
        mapped,
        &["task_id", "state", "try_number", "max_tries", "duration"],
    );
    print_rows(ctx.format, &tis, &columns)?;
    eprintln!("run {} of {}: {}", run.run_id, run.dag_id, state.as_str());
    Ok(if state == RunState::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Works a run this job owns to its end, showing progress.
async fn work_run(
    ctx: &Context,
    store: &Store,
    dag: &Arc<Dag>,
    run: &DagRunRow,
    job: &Arc<Job>,
    cancel: CancellationToken,
) -> anyhow::Result<RunState> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reporter = tokio::spawn(progress::report(
        rx,
        format!("{} {}", run.dag_id, run.run_id),
    ));
    let engine = Engine::new(
        store.clone(),
        Arc::new(ctx.settings.clone()),
        job.clone(),
        DagVersions::new(&ctx.settings.home),
        Some(tx),
    );
    let state = engine
        .execute(Some(dag), run, RunMode::Exclusive, cancel)
        .await;
    drop(engine);
    let _ = reporter.await;
    state
}

/// Starts the queued run once fewer than the DAG's `max_active_runs` are running (as a
/// scheduler would), saying what it waits for. Runs left running by a process that is
/// gone are finished here first when no scheduler would. False when the user stopped the
/// wait.
async fn wait_for_a_run_slot(
    ctx: &Context,
    store: &Store,
    dag: &Arc<Dag>,
    run: &DagRunRow,
    job: &Arc<Job>,
    cancel: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut told: Vec<String> = Vec::new();
    while !store
        .start_queued_run(&run.dag_id, &run.run_id, dag.max_active_runs)
        .await?
    {
        match store.run(&run.dag_id, &run.run_id).await? {
            Some(now) if now.state == RunState::Queued => {}
            Some(now) => anyhow::bail!(
                "run {} of {} is {}, not queued: another process took it",
                run.run_id,
                run.dag_id,
                now.state
            ),
            None => anyhow::bail!(
                "run {} of {} was deleted while it waited",
                run.run_id,
                run.dag_id
            ),
        }
        for left in left_runs::take_over_left_runs(store, job, &ctx.settings, dag).await? {
            eprintln!(
                "run {} of {} was left running by a process that is gone and no scheduler is running: finishing it here first",
                left.run_id, left.dag_id
            );
            let state = work_run(ctx, store, dag, &left, job, cancel.clone()).await?;
            eprintln!("run {} of {}: {}", left.run_id, left.dag_id, state.as_str());
            if cancel.is_cancelled() {
                return Ok(false);
            }
        }
        let blockers = left_runs::blockers(store, &dag.dag_id).await?;
        let ids: Vec<String> = blockers.iter().map(|b| b.run.run_id.clone()).collect();
        // Said again only when the runs it waits for change.
        if !blockers.is_empty() && ids != told {
            let now: Vec<String> = blockers.iter().map(left_runs::Blocker::describe).collect();
            eprintln!(
                "waiting: {} may run {} run(s) at once (max_active_runs) and these are running: {}. \
                 Run {} starts when one ends; a dead process's run is taken over after {} without a heartbeat. \
                 Ctrl-C stops waiting (run {} is then marked failed).",
                dag.dag_id,
                dag.max_active_runs,
                now.join("; "),
                run.run_id,
                humantime::format_duration(ctx.settings.heartbeat_timeout),
                run.run_id
            );
            told = ids;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return Ok(false),
        }
    }
    Ok(true)
}
