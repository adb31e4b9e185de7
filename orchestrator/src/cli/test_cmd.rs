//! `updraft test ...`: the data tests' results of a run (from `test_result`), and one
//! `data_test` task run now without recording anything.

use super::output::print_rows;
use super::task_cmd::UnrecordedRun;
use super::{Context, cancel_on_signal, usage};
use crate::engine::run_task;
use crate::store::TestResultRow;
use crate::template::AttemptVars;
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use updraft_core::Reports;
use updraft_core::TaskLog;
use updraft_core::report::{Report, ReportKind, TestResult, TestStatus};

#[derive(Subcommand, Debug)]
pub enum TestCommand {
    /// Every data test of a run (default: the DAG's latest run) with its status and
    /// failures; exit 1 if any failed or errored
    Results {
        dag_id: String,
        run_id: Option<String>,
        /// Only tests with this status (pass, warn, fail, error, skipped)
        #[arg(long)]
        status: Option<String>,
    },
    /// Run one `data_test` task now and print its results, recording nothing
    Run(UnrecordedRun),
    /// The failing rows a test kept (`store_failures`) in a run
    Failures {
        dag_id: String,
        run_id: String,
        /// The test's name (as `test results` lists it)
        test: String,
        /// The `data_test` task, when several ran a test of this name
        #[arg(long)]
        task: Option<String>,
    },
}

/// Columns of a results listing.
const COLUMNS: &[&str] = &[
    "task_id",
    "test_name",
    "status",
    "failures",
    "model",
    "column_name",
    "execution_time",
    "message",
];

pub async fn run(cmd: TestCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        TestCommand::Results {
            dag_id,
            run_id,
            status,
        } => results(ctx, &dag_id, run_id, status).await,
        TestCommand::Run(args) => run_now(ctx, &args).await,
        TestCommand::Failures {
            dag_id,
            run_id,
            test,
            task,
        } => failures(ctx, &dag_id, &run_id, &test, task.as_deref()).await,
    }
}

async fn failures(
    ctx: &Context,
    dag_id: &str,
    run_id: &str,
    test: &str,
    task: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    let results = store.test_results(dag_id, run_id).await?;
    let Some(result) = results.iter().find(|r| {
        (r.test_name == test || r.test_id == test) && task.is_none_or(|t| r.task_id == t)
    }) else {
        return Err(usage(format!(
            "run `{run_id}` of `{dag_id}` has no test `{test}`"
        )));
    };
    let Some(at) = &result.stored_failures else {
        return Err(usage(format!(
            "test `{test}` kept no failing rows: set `store_failures: true` on it or on its task"
        )));
    };
    let rows = updraft_tasks::stored_failing_rows(at, &ctx.settings.connections)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let columns: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
    print_rows(ctx.format, &rows.rows, &columns)?;
    eprintln!(
        "{} failing row(s) of {test} ({} at most), kept at {}",
        rows.rows.len(),
        updraft_tasks::SHOWN_FAILING_ROWS,
        at.trim_start_matches("delta:")
    );
    Ok(ExitCode::SUCCESS)
}

async fn results(
    ctx: &Context,
    dag_id: &str,
    run_id: Option<String>,
    status: Option<String>,
) -> anyhow::Result<ExitCode> {
    let status = status
        .map(|s| TestStatus::parse(&s))
        .transpose()
        .map_err(|e| usage(format!("--status: {e}")))?;
    let store = ctx.store().await?;
    let run_id = match run_id {
        Some(id) => id,
        None => store
            .runs(dag_id, None, 1)
            .await?
            .into_iter()
            .next()
            .map(|r| r.run_id)
            .ok_or_else(|| usage(format!("dag `{dag_id}` has no runs")))?,
    };
    if store.run(dag_id, &run_id).await?.is_none() {
        return Err(usage(format!("dag `{dag_id}` has no run `{run_id}`")));
    }
    let rows: Vec<TestResultRow> = store
        .test_results(dag_id, &run_id)
        .await?
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .collect();
    if rows.is_empty() {
        eprintln!("no data test results in run {run_id} of {dag_id}");
    }
    print_rows(ctx.format, &rows, COLUMNS)?;
    let failed = rows
        .iter()
        .any(|r| matches!(r.status, TestStatus::Fail | TestStatus::Error));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A result as `test run` lists it.
#[derive(Serialize)]
struct Shown<'a> {
    task_id: &'a str,
    test_name: &'a str,
    status: &'static str,
    failures: Option<i64>,
    model: &'a str,
    column_name: Option<&'a str>,
    execution_time: f64,
    message: Option<&'a str>,
}

async fn run_now(ctx: &Context, args: &UnrecordedRun) -> anyhow::Result<ExitCode> {
    let (dag, vars) = args.resolve(ctx)?;
    let task = &dag.tasks[&args.task_id];
    let reports_tests = updraft_tasks::task_type(&task.task_type)
        .is_ok_and(|t| t.reports().contains(&ReportKind::Test));
    if !reports_tests {
        return Err(usage(format!(
            "task `{}` is a `{}` task, which runs no data tests; `updraft task test` runs any task",
            task.task_id, task.task_type
        )));
    }
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let reports = Reports::default();
    // stdout carries the results; the task's own lines go to stderr.
    let log = TaskLog::stderr();
    let outputs = args.outputs(task)?;
    let outcome = run_task(
        task,
        &vars,
        (AttemptVars::unmapped(&task.task_id, 1), None),
        &outputs,
        &ctx.settings.connections,
        &log,
        &cancel,
        &reports,
        &crate::engine::supervisor::supervised(),
        None,
    )
    .await;
    let results: Vec<TestResult> = reports
        .take()
        .into_iter()
        .filter_map(|r| match r {
            Report::Test(t) => Some(t),
            _ => None,
        })
        .collect();
    let rows: Vec<Shown> = results
        .iter()
        .map(|r| Shown {
            task_id: &task.task_id,
            test_name: &r.test_name,
            status: r.status.as_str(),
            failures: r.failures,
            model: &r.model,
            column_name: r.column_name.as_deref(),
            execution_time: r.execution_time,
            message: r.message.as_deref(),
        })
        .collect();
    print_rows(ctx.format, &rows, COLUMNS)?;
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
