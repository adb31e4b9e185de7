//! `updraft task ...`: states, logs, test, render, clear, mark.

use super::foreground::{execute_in_foreground, logical_date, parse_conf};
use super::output::print_rows;
use super::{Context, cancel_on_signal, runs_error, usage};
use crate::engine::run_task;
use crate::runs::{self, ClearRequest, MarkRequest, MarkState, TaskPick};
use crate::template::{AttemptVars, RunVars, render_config};
use chrono::SecondsFormat;
use clap::Subcommand;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use updraft_core::TaskLog;

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// The state of every task instance of a run
    States { dag_id: String, run_id: String },
    /// Print an attempt's log (default: the latest attempt)
    Logs {
        dag_id: String,
        run_id: String,
        task_id: String,
        /// Which instance of a mapped task (`for_each`)
        #[arg(long = "map-index", default_value_t = -1, allow_negative_numbers = true)]
        map_index: i32,
        /// Which attempt (1 = first)
        #[arg(long = "try")]
        try_number: Option<i64>,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// Keep printing what the attempt writes until it ends (Ctrl-C stops)
        #[arg(short, long)]
        follow: bool,
    },
    /// What a task instance handed on to later tasks: its outputs and metrics
    Outputs {
        dag_id: String,
        run_id: String,
        task_id: String,
        /// Which instance of a mapped task (`for_each`)
        #[arg(long = "map-index", default_value_t = -1, allow_negative_numbers = true)]
        map_index: i32,
    },
    /// Run one task now, without dependencies and without recording anything
    Test(UnrecordedRun),
    /// Print a task's config as rendered for a run
    Render(UnrecordedRun),
    /// Reset tasks (and everything downstream of them), then run the run again
    Clear {
        dag_id: String,
        run_id: String,
        /// Only tasks whose id matches this regular expression
        #[arg(long = "task")]
        task_regex: Option<String>,
        /// Only tasks that failed (failed or upstream_failed)
        #[arg(long)]
        only_failed: bool,
        /// Only this instance of the mapped tasks picked (their downstream tasks whole)
        #[arg(long = "map-index")]
        map_index: Option<i32>,
        /// Re-plan the run on the DAG's newest version: new tasks run, tasks no longer in
        /// the DAG become `removed`, changed ones run as they are now (default: the run
        /// keeps the version it ran with)
        #[arg(long)]
        latest_version: bool,
    },
    /// Set task instances (or, without --task, the whole run) to success or failed by hand
    Mark {
        dag_id: String,
        run_id: String,
        /// success or failed
        state: String,
        /// This task (repeat for more); without it, the run itself is marked
        #[arg(long = "task")]
        task_ids: Vec<String>,
        /// Also every task downstream of the marked ones
        #[arg(long)]
        downstream: bool,
        /// Only this instance of the mapped tasks named (their downstream tasks whole)
        #[arg(long = "map-index")]
        map_index: Option<i32>,
    },
}

/// A task instance as `task states` shows it.
#[derive(serde::Serialize)]
struct InstanceState {
    #[serde(flatten)]
    instance: crate::store::TaskInstanceRow,
    metrics: Option<serde_json::Value>,
    error: Option<String>,
    /// What a waiting task (a sensor) waits for, since when, and its next check.
    waiting: Option<String>,
}

/// What a waiting instance waits for, since its first check, and its next check.
fn waiting(
    instance: &crate::store::TaskInstanceRow,
    latest: &crate::store::TaskTryRow,
) -> Option<String> {
    if instance.state != crate::store::TaskState::UpForReschedule {
        return None;
    }
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    Some(format!(
        "{} since {}, next check {}",
        latest.waiting_for.as_deref()?,
        at(latest.started_at),
        instance.next_try_at.map_or("now".to_string(), at)
    ))
}

/// A task of a run that is not recorded (`task test`, `task render`, `test run`).
#[derive(clap::Args, Debug)]
pub struct UnrecordedRun {
    pub(super) dag_id: String,
    pub(super) task_id: String,
    /// Logical date: 2026-01-01 or an ISO datetime [default: now]
    #[arg(long)]
    logical_date: Option<String>,
    /// JSON object for the run's `conf`
    #[arg(long)]
    conf: Option<String>,
    /// JSON object of the upstream tasks' outputs its templates read, by task id
    /// (`{"list_files": {"count": 2}}`); a task not given has none
    #[arg(long)]
    outputs: Option<String>,
    /// For a mapped task (`for_each`): the JSON item of the instance to run (its
    /// `{{ item }}`; `{{ map_index }}` is 0)
    #[arg(long)]
    item: Option<String>,
}

pub async fn run(cmd: TaskCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        TaskCommand::States { dag_id, run_id } => {
            let store = ctx.store().await?;
            if store.run(&dag_id, &run_id).await?.is_none() {
                return Err(usage(format!("dag `{dag_id}` has no run `{run_id}`")));
            }
            let instances = store.task_instances(&dag_id, &run_id).await?;
            let tries = store.tries(&dag_id, &run_id, None).await?;
            // Each instance with the metrics (and error) of its latest attempt.
            let rows: Vec<InstanceState> = instances
                .into_iter()
                .map(|instance| {
                    let latest = tries.iter().find(|t| {
                        t.task_id == instance.task_id
                            && t.map_index == instance.map_index
                            && t.try_number == instance.try_number
                    });
                    InstanceState {
                        metrics: latest
                            .and_then(|t| serde_json::from_str(&t.metrics).ok())
                            .filter(|m: &serde_json::Value| {
                                m.as_object().is_some_and(|o| !o.is_empty())
                            }),
                        error: latest.and_then(|t| t.error.clone()),
                        waiting: latest.and_then(|t| waiting(&instance, t)),
                        instance,
                    }
                })
                .collect();
            // Mapped instances are told apart by their index (a column only then).
            let mapped = rows.iter().any(|r| r.instance.map_index >= 0);
            let columns = super::output::instance_columns(
                mapped,
                &[
                    "task_id",
                    "task_type",
                    "queue",
                    "state",
                    "try_number",
                    "max_tries",
                    "duration",
                    "metrics",
                    "error",
                    "waiting",
                ],
            );
            print_rows(ctx.format, &rows, &columns)?;
            // Said on stderr: `-o json` stays the rows alone.
            let unserved: Vec<String> = store
                .tasks_waiting_for_queue()
                .await?
                .into_iter()
                .map(|(queue, _)| queue)
                .collect();
            let waiting: Vec<&str> = rows
                .iter()
                .filter(|r| r.instance.state == crate::store::TaskState::Scheduled)
                .filter(|r| unserved.contains(&r.instance.queue))
                .map(|r| r.instance.task_id.as_str())
                .collect();
            if !waiting.is_empty() {
                eprintln!(
                    "waiting for a queue no live scheduler serves: {} (start one with `updraft scheduler --queues QUEUE`)",
                    waiting.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Logs {
            dag_id,
            run_id,
            task_id,
            map_index,
            try_number,
            tail,
            follow,
        } => {
            logs(
                ctx,
                (&dag_id, &run_id, &task_id, map_index),
                try_number,
                (tail, follow),
            )
            .await
        }
        TaskCommand::Outputs {
            dag_id,
            run_id,
            task_id,
            map_index,
        } => {
            let store = ctx.store().await?;
            let found = store
                .outputs_of(&dag_id, &run_id, (&task_id, map_index))
                .await?;
            let Some(outputs) = found else {
                return Err(usage(format!(
                    "dag `{dag_id}` has no task instance `{}` in run `{run_id}`",
                    crate::store::instance_name(&task_id, map_index)
                )));
            };
            crate::cli::output::print_object(ctx.format, &outputs)?;
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Test(args) => test(ctx, &args).await,
        TaskCommand::Render(args) => {
            let (dag, vars) = args.resolve(ctx)?;
            let task = &dag.tasks[&args.task_id];
            let outputs = args.outputs(task)?;
            let item = args.item()?;
            let rendered = render_config(
                &task.config,
                &vars,
                args.attempt(task, item.as_ref()),
                &outputs,
            )
            .map_err(usage)?;
            say_raw!("{}", serde_yaml_ng::to_string(&rendered)?);
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Clear {
            dag_id,
            run_id,
            task_regex,
            only_failed,
            map_index,
            latest_version,
        } => {
            clear(
                ctx,
                &dag_id,
                &run_id,
                (task_regex, only_failed, map_index),
                latest_version,
            )
            .await
        }
        TaskCommand::Mark {
            dag_id,
            run_id,
            state,
            task_ids,
            downstream,
            map_index,
        } => {
            let state = MarkState::parse(&state).map_err(usage)?;
            let request = MarkRequest {
                run_id,
                task_ids: (!task_ids.is_empty()).then_some(task_ids),
                downstream,
                map_index,
                state,
            };
            let dag = ctx.dag(&dag_id)?;
            let store = ctx.store().await?;
            let marked = runs::mark(&store, &dag, request)
                .await
                .map_err(runs_error)?;
            let run = &marked.run;
            if marked.task_ids.is_empty() {
                eprintln!("run {} of {} is now {}", run.run_id, run.dag_id, run.state);
            } else {
                eprintln!(
                    "marked {}: {}; run {} is queued for a scheduler to finish",
                    marked.task_ids.join(", "),
                    if downstream {
                        "with downstream"
                    } else {
                        "alone"
                    },
                    run.run_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints an attempt's log in constant memory, a chunk at a time: whole, its last lines,
/// or followed while the attempt runs. Lines are masked as they pass.
async fn logs(
    ctx: &Context,
    ids: (&str, &str, &str, i32),
    try_number: Option<i64>,
    (tail, follow): (Option<usize>, bool),
) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use std::io::Write;
    let store = ctx.store().await?;
    let log = runs::attempt_log(&store, &ctx.settings, ids, try_number)
        .await
        .map_err(runs_error)?;
    let from = match tail {
        Some(lines) => runs::tail_offset(&log.source, lines)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the log: {e}"))?,
        None => 0,
    };
    let stop = CancellationToken::new();
    if follow {
        super::cancel_on_signal(stop.clone());
    }
    let mut chunks = std::pin::pin!(runs::log_chunks(
        store,
        &log.attempt,
        log.source.clone(),
        (from, follow),
        stop
    ));
    let mut pending: Vec<u8> = Vec::new();
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| anyhow::anyhow!("cannot read the log: {e}"))?;
        pending.extend_from_slice(&chunk);
        // Masked a whole line at a time, so no secret is cut in two.
        let Some(last) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        let text = String::from_utf8_lossy(&pending[..=last]);
        if out
            .write_all(updraft_core::secrets::mask(&text).as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            // The reader went away (`| head`): nothing more to print.
            return Ok(ExitCode::SUCCESS);
        }
        pending.drain(..=last);
    }
    let text = String::from_utf8_lossy(&pending);
    let _ = out.write_all(updraft_core::secrets::mask(&text).as_bytes());
    Ok(ExitCode::SUCCESS)
}

impl UnrecordedRun {
    /// The upstream outputs this unrecorded run's templates see (`--outputs`): each task
    /// the task reads, with what was given for it or nothing.
    pub(super) fn outputs(&self, task: &crate::dag::Task) -> anyhow::Result<serde_json::Value> {
        let given = match self.outputs.as_deref() {
            Some(text) => match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(usage("--outputs must be a JSON object of task id → object")),
            },
            None => serde_json::Map::new(),
        };
        Ok(crate::engine::outputs_seen(&task.reads_outputs, given))
    }

    /// The item given for a mapped task's instance (`--item`).
    fn item(&self) -> anyhow::Result<Option<serde_json::Value>> {
        self.item
            .as_deref()
            .map(|text| serde_json::from_str(text).map_err(|e| usage(format!("--item: {e}"))))
            .transpose()
    }

    /// Which attempt the templates render for: the first, of instance 0 with `item` when
    /// one is given.
    fn attempt<'a>(
        &self,
        task: &'a crate::dag::Task,
        item: Option<&'a serde_json::Value>,
    ) -> AttemptVars<'a> {
        AttemptVars {
            task_id: &task.task_id,
            try_number: 1,
            map: item.map(|item| (0, item)),
        }
    }

    /// The DAG (known to hold the task) and the variables of this unrecorded run.
    pub(super) fn resolve(&self, ctx: &Context) -> anyhow::Result<(crate::dag::Dag, RunVars)> {
        let dag = ctx.dag(&self.dag_id)?;
        if dag.task(&self.task_id).is_none() {
            return Err(usage(format!(
                "dag `{}` has no task `{}`",
                self.dag_id, self.task_id
            )));
        }
        let at = logical_date(&dag, self.logical_date.as_deref())?;
        let conf = parse_conf(self.conf.as_deref())?;
        let run_id = format!("test__{}", at.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        let interval = dag.schedule.manual_interval(at, dag.timezone);
        let vars = RunVars::new(&dag, &run_id, at, interval, conf, &ctx.settings.lake);
        Ok((dag, vars))
    }
}

async fn test(ctx: &Context, args: &UnrecordedRun) -> anyhow::Result<ExitCode> {
    let (dag, vars) = args.resolve(ctx)?;
    let task = &dag.tasks[&args.task_id];
    let (dag_id, task_id) = (&args.dag_id, &args.task_id);
    let log = TaskLog::stdout();
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    log.line(format!(
        "testing task `{task_id}` of `{dag_id}` (nothing is recorded)"
    ));
    let outputs = args.outputs(task)?;
    let item = args.item()?;
    let attempt = args.attempt(task, item.as_ref());
    // A sensor is checked here until its condition is met or its timeout passes.
    let (first_check, mut waiting_since) = (chrono::Utc::now(), None);
    let result = loop {
        let result = run_task(
            task,
            &vars,
            (attempt, waiting_since),
            &outputs,
            &ctx.settings.connections,
            &log,
            &cancel,
            &Default::default(),
            &crate::engine::supervisor::supervised(),
            None,
        )
        .await;
        let Ok(updraft_core::TaskOutcome {
            recheck: Some(recheck),
            ..
        }) = &result
        else {
            break result;
        };
        log.line(recheck.log_line());
        waiting_since = Some(first_check);
        let wait = (recheck.at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => break Err(updraft_core::TaskError::Cancelled("stopped while waiting".into())),
        }
    };
    match result {
        Ok(outcome) => {
            log.line(format!(
                "{} {}",
                if outcome.skipped {
                    "skipped"
                } else {
                    "success"
                },
                serde_json::Value::Object(outcome.metrics)
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            log.line(format!("failed: {e}"));
            Ok(ExitCode::from(1))
        }
    }
}

async fn clear(
    ctx: &Context,
    dag_id: &str,
    run_id: &str,
    (task_regex, only_failed, map_index): (Option<String>, bool, Option<i32>),
    latest_version: bool,
) -> anyhow::Result<ExitCode> {
    let dag = std::sync::Arc::new(ctx.dag(dag_id)?);
    let tasks = match task_regex.as_deref() {
        None => TaskPick::All,
        Some(pattern) => TaskPick::Matching(
            regex::Regex::new(pattern).map_err(|e| usage(format!("--task: {e}")))?,
        ),
    };
    let store = ctx.store().await?;
    let request = ClearRequest {
        run_id: run_id.to_string(),
        tasks,
        only_failed,
        map_index,
        dry_run: false,
        execute_here: true,
        latest_version,
        only_new: false,
    };
    let cleared = runs::clear(&store, &ctx.settings, &dag, request)
        .await
        .map_err(runs_error)?;
    let Some(job) = cleared.job else {
        eprintln!("nothing to clear in run {run_id}");
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "cleared {} task(s): {}",
        cleared.task_ids.len(),
        cleared.task_ids.join(", ")
    );
    execute_in_foreground(ctx, store, &cleared.dag, &cleared.run, job).await
}
