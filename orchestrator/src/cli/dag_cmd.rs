//! `updraft dag ...`: list, validate, show, trigger, runs (and, in their own modules,
//! next, pause, unpause, backfill).

use super::output::{print_object, print_rows};
use super::{Context, backfill_cmd, cancel_on_signal, progress, timetable_cmd, usage};
use crate::dag::{Dag, DagFolder, load::parse_datetime};
use crate::engine::{Engine, Job, JobType, RunMode, left_runs};
use crate::runs::{self, RunsError, TriggerRequest};
use crate::store::{DagRow, DagRunRow, RunState, Store};
use chrono::{DateTime, SubsecRound, Utc};
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Subcommand, Debug)]
pub enum DagCommand {
    /// List the DAGs in the DAGs folder
    List,
    /// Check DAG files (default: every file in the DAGs folder); exit 2 on any error
    Validate {
        /// DAG files or folders to check
        paths: Vec<PathBuf>,
    },
    /// Show a DAG's tasks, dependencies and rules
    Show {
        dag_id: String,
        /// Print Graphviz DOT instead
        #[arg(long)]
        dot: bool,
    },
    /// Create a manual run and execute it in the foreground (exit 1 if it fails)
    Trigger {
        dag_id: String,
        /// JSON object for the run's `conf` (overrides `params`)
        #[arg(long)]
        conf: Option<String>,
        /// Run id [default: manual__<logical date>]
        #[arg(long)]
        run_id: Option<String>,
        /// Logical date: 2026-01-01 or an ISO datetime [default: now]
        #[arg(long)]
        logical_date: Option<String>,
        /// Only record the run as queued; a scheduler executes it
        #[arg(long)]
        queue_only: bool,
    },
    /// Print a DAG's next scheduled runs and their data intervals
    Next(timetable_cmd::NextArgs),
    /// Stop creating scheduled runs of a DAG (and hold its manual runs queued)
    Pause { dag_id: String },
    /// Resume a paused DAG
    Unpause { dag_id: String },
    /// Create and run the scheduled intervals of a date range
    Backfill(backfill_cmd::BackfillArgs),
    /// List a DAG's runs, newest first
    Runs {
        dag_id: String,
        /// Only runs in this state (queued, running, success, failed)
        #[arg(long)]
        state: Option<String>,
        /// At most this many runs
        #[arg(long, default_value_t = 25)]
        limit: i64,
    },
}

pub async fn run(cmd: DagCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        DagCommand::List => list(ctx).await,
        DagCommand::Validate { paths } => validate(ctx, paths),
        DagCommand::Show { dag_id, dot } => show(ctx, &dag_id, dot),
        DagCommand::Trigger {
            dag_id,
            conf,
            run_id,
            logical_date,
            queue_only,
        } => trigger(ctx, &dag_id, conf, run_id, logical_date, queue_only).await,
        DagCommand::Runs {
            dag_id,
            state,
            limit,
        } => runs(ctx, &dag_id, state, limit).await,
        DagCommand::Next(args) => timetable_cmd::next(ctx, args).await,
        DagCommand::Pause { dag_id } => timetable_cmd::set_paused(ctx, &dag_id, true).await,
        DagCommand::Unpause { dag_id } => timetable_cmd::set_paused(ctx, &dag_id, false).await,
        DagCommand::Backfill(args) => backfill_cmd::run(ctx, args).await,
    }
}

#[derive(Serialize)]
struct DagListing {
    dag_id: String,
    schedule: Option<String>,
    timezone: String,
    tasks: usize,
    is_paused: bool,
    fileloc: String,
}

async fn list(ctx: &Context) -> anyhow::Result<ExitCode> {
    let folder = ctx.folder()?;
    // The listing comes from the files; only `is_paused` needs the history database.
    let stored = match paused_flags(ctx, &folder).await {
        Ok(stored) => stored,
        Err(e) => {
            eprintln!("warning: {e:#}; is_paused is shown as false");
            Vec::new()
        }
    };
    let rows: Vec<DagListing> = folder
        .dags
        .iter()
        .map(|d| DagListing {
            dag_id: d.dag_id.clone(),
            schedule: d.schedule.describe(),
            timezone: d.timezone.name().to_string(),
            tasks: d.tasks.len(),
            is_paused: stored.iter().any(|s| s.dag_id == d.dag_id && s.is_paused),
            fileloc: d.fileloc.display().to_string(),
        })
        .collect();
    print_rows(
        ctx.format,
        &rows,
        &[
            "dag_id",
            "schedule",
            "timezone",
            "tasks",
            "is_paused",
            "fileloc",
        ],
    )?;
    for e in &folder.errors {
        eprintln!("{e}");
    }
    if !folder.errors.is_empty() {
        eprintln!(
            "warning: some DAG files have errors (see above); `updraft dag validate` checks them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The stored DAG rows (with their pause flags), after recording the folder's DAGs.
async fn paused_flags(ctx: &Context, folder: &DagFolder) -> anyhow::Result<Vec<DagRow>> {
    let store = ctx.store().await?;
    for dag in &folder.dags {
        store.sync_dag(dag).await?;
    }
    Ok(store.dags().await?)
}

fn validate(ctx: &Context, paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![ctx.settings.dags_folder.clone()]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = crate::dag::dag_files(&path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            files.extend(found);
        } else {
            files.push(path);
        }
    }
    let folder = DagFolder::load_files(&files);
    for dag in &folder.dags {
        say!(
            "ok: {} ({}, {} tasks)",
            dag.fileloc.display(),
            dag.dag_id,
            dag.tasks.len()
        );
    }
    for e in &folder.errors {
        eprintln!("{e}");
    }
    if folder.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} error(s)", folder.errors.len());
        Ok(ExitCode::from(2))
    }
}

#[derive(Serialize)]
struct TaskListing {
    task_id: String,
    #[serde(rename = "type")]
    task_type: String,
    depends_on: Vec<String>,
    trigger_rule: &'static str,
    retries: u32,
    retry_delay: String,
    execution_timeout: Option<String>,
}

fn show(ctx: &Context, dag_id: &str, dot: bool) -> anyhow::Result<ExitCode> {
    let dag = ctx.dag(dag_id)?;
    if dot {
        say_raw!("{}", to_dot(&dag));
        return Ok(ExitCode::SUCCESS);
    }
    let tasks: Vec<TaskListing> = dag
        .topo_order
        .iter()
        .map(|id| {
            let t = &dag.tasks[id];
            TaskListing {
                task_id: t.task_id.clone(),
                task_type: t.task_type.clone(),
                depends_on: t.upstream.clone(),
                trigger_rule: t.trigger_rule.as_str(),
                retries: t.retry.retries,
                retry_delay: humantime::format_duration(t.retry.delay).to_string(),
                execution_timeout: t
                    .execution_timeout
                    .map(|d| humantime::format_duration(d).to_string()),
            }
        })
        .collect();
    if ctx.format == super::Format::Json {
        print_object(
            ctx.format,
            &serde_json::json!({
                "dag_id": dag.dag_id,
                "description": dag.description,
                "schedule": dag.schedule.describe(),
                "timezone": dag.timezone.name(),
                "max_active_tasks": dag.max_active_tasks,
                "params": dag.params,
                "tasks": tasks,
            }),
        )?;
    } else {
        say!(
            "{} — schedule: {}, timezone: {}, max_active_tasks: {}",
            dag.dag_id,
            dag.schedule.describe().unwrap_or_else(|| "manual".into()),
            dag.timezone.name(),
            dag.max_active_tasks
        );
        print_rows(
            ctx.format,
            &tasks,
            &[
                "task_id",
                "type",
                "depends_on",
                "trigger_rule",
                "retries",
                "retry_delay",
                "execution_timeout",
            ],
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn to_dot(dag: &Dag) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", dag.dag_id);
    for t in dag.tasks.values() {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n({})\"];\n",
            t.task_id, t.task_id, t.task_type
        ));
    }
    for t in dag.tasks.values() {
        for up in &t.upstream {
            let style = if t.trigger_rule == crate::dag::TriggerRule::AllSuccess {
                String::new()
            } else {
                format!(" [label=\"{}\"]", t.trigger_rule.as_str())
            };
            out.push_str(&format!("  \"{up}\" -> \"{}\"{style};\n", t.task_id));
        }
    }
    out.push_str("}\n");
    out
}

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

async fn trigger(
    ctx: &Context,
    dag_id: &str,
    conf: Option<String>,
    run_id: Option<String>,
    logical_date_text: Option<String>,
    queue_only: bool,
) -> anyhow::Result<ExitCode> {
    let dag = ctx.dag(dag_id)?;
    let request = TriggerRequest {
        conf: Some(parse_conf(conf.as_deref())?),
        logical_date: Some(logical_date(&dag, logical_date_text.as_deref())?),
        run_id,
        execute_here: !queue_only,
    };
    let store = ctx.store().await?;
    let triggered = runs::trigger(&store, &ctx.settings, &dag, request)
        .await
        .map_err(|e| match e {
            RunsError::Invalid { field, message } => {
                usage(format!("--{}: {message}", field.replace('_', "-")))
            }
            RunsError::Conflict(m) => usage(m),
            other => other.into(),
        })?;
    let Some(job) = triggered.job else {
        let run = &triggered.run;
        say!("queued {} {}", run.dag_id, run.run_id);
        if triggered.paused && !queue_only {
            eprintln!(
                "DAG {} is paused: the run stays queued until `updraft dag unpause {}`, then a scheduler runs it",
                dag.dag_id, dag.dag_id
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    execute_in_foreground(ctx, store, &dag, &triggered.run, job).await
}

/// Registers this process as a job of the given type.
pub async fn start_job(
    ctx: &Context,
    store: &Store,
    job_type: JobType,
) -> anyhow::Result<Arc<Job>> {
    Job::start(
        store.clone(),
        job_type,
        ctx.settings.heartbeat_every(),
        ctx.settings.parallelism,
    )
    .await
}

/// Executes a run as `job` alone, with live progress, then prints its task states;
/// exit 1 if it failed.
pub async fn execute_in_foreground(
    ctx: &Context,
    store: Store,
    dag: &Dag,
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
    let state = work_run(ctx, &store, dag, run, &job, cancel).await;
    job.stop().await;
    let state = state?;
    let tis = store.task_instances(&run.dag_id, &run.run_id).await?;
    print_rows(
        ctx.format,
        &tis,
        &["task_id", "state", "try_number", "max_tries", "duration"],
    )?;
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
    dag: &Dag,
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
        Some(tx),
    );
    let state = engine.execute(dag, run, RunMode::Exclusive, cancel).await;
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
    dag: &Dag,
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
            Some(now) if now.run_state() == Some(RunState::Queued) => {}
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
        let timeout = ctx.settings.heartbeat_timeout;
        for left in left_runs::take_over_left_runs(store, job, timeout, dag).await? {
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
                humantime::format_duration(timeout),
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

async fn runs(
    ctx: &Context,
    dag_id: &str,
    state: Option<String>,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    if let Some(s) = &state
        && RunState::parse(s).is_none()
    {
        return Err(usage(format!(
            "--state `{s}`: use queued, running, success or failed"
        )));
    }
    let store = ctx.store().await?;
    let rows = store.runs(dag_id, state.as_deref(), limit).await?;
    // A DAG whose file is gone still has its history; a name nobody knows is a typo.
    if rows.is_empty()
        && !ctx.folder()?.dags.iter().any(|d| d.dag_id == dag_id)
        && !store.dags().await?.iter().any(|d| d.dag_id == dag_id)
    {
        return Err(usage(format!(
            "no DAG `{dag_id}`: it is not in {} and the history has never seen it",
            ctx.settings.dags_folder.display()
        )));
    }
    print_rows(
        ctx.format,
        &rows,
        &[
            "run_id",
            "run_type",
            "state",
            "logical_date",
            "data_interval_start",
            "data_interval_end",
            "started_at",
            "ended_at",
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}
