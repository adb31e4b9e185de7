//! `updraft dag ...`: list, validate, show, trigger, runs (and, in their own modules,
//! next, pause, unpause, backfill).

use super::foreground::{execute_in_foreground, logical_date, parse_conf};
use super::output::{print_object, print_rows};
use super::versions_cmd;
use super::{Context, backfill_cmd, runs_error, timetable_cmd, usage};
use crate::dag::{Dag, DagFolder};
use crate::runs::{self, TriggerRequest};
use crate::store::DagRow;
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
        /// This recorded version instead of the DAGs folder's (`dag versions` lists them)
        #[arg(long)]
        version: Option<i64>,
    },
    /// List a DAG's versions: number, when, hash, what changed, runs
    Versions {
        dag_id: String,
        /// Print the difference between two versions instead (e.g. `--diff 1 3`)
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        diff: Option<Vec<i64>>,
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
        DagCommand::Show {
            dag_id,
            dot,
            version,
        } => show(ctx, &dag_id, dot, version).await,
        DagCommand::Versions { dag_id, diff } => versions_cmd::versions(ctx, &dag_id, diff).await,
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
            schedule: d.schedule_summary(),
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

async fn show(
    ctx: &Context,
    dag_id: &str,
    dot: bool,
    version: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let dag = match version {
        Some(number) => versions_cmd::version_dag(ctx, dag_id, number).await?,
        None => Arc::new(ctx.dag(dag_id)?),
    };
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
                "schedule": dag.schedule_summary(),
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
            dag.schedule_summary().unwrap_or_else(|| "manual".into()),
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

async fn trigger(
    ctx: &Context,
    dag_id: &str,
    conf: Option<String>,
    run_id: Option<String>,
    logical_date_text: Option<String>,
    queue_only: bool,
) -> anyhow::Result<ExitCode> {
    let dag = Arc::new(ctx.dag(dag_id)?);
    let request = TriggerRequest {
        conf: Some(parse_conf(conf.as_deref())?),
        logical_date: Some(logical_date(&dag, logical_date_text.as_deref())?),
        run_id,
        execute_here: !queue_only,
        note: None,
        triggered_by: None,
    };
    let store = ctx.store().await?;
    let triggered = runs::trigger(&store, &ctx.settings, &dag, request)
        .await
        .map_err(runs_error)?;
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

async fn runs(
    ctx: &Context,
    dag_id: &str,
    state: Option<String>,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    let mut request = runs::RunListRequest::newest(dag_id, limit);
    if let Some(s) = &state {
        request.filter.states = vec![runs::list::parse_state(s).map_err(runs_error)?];
    }
    let store = ctx.store().await?;
    let rows = runs::list(&store, &request)
        .await
        .map_err(runs_error)?
        .dag_runs;
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
