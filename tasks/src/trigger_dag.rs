//! `trigger_dag`: creates a run of another DAG (Airflow's TriggerDagRunOperator), exactly
//! once for the task whatever its retries: the orchestrator records which task created a
//! run, and a retry finds its run instead of making a second. Its outputs name the run.
//! With `wait: true` it finishes with that run's state, checked as a sensor checks
//! (`poke_interval`, `timeout`), holding no slot in between.

use crate::wait::patience::Patience;
use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use updraft_core::RunState;
use updraft_core::dag_runs::{RunAt, RunRequest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerConfig {
    dag_id: String,
    #[serde(default)]
    conf: Option<Value>,
    run_id: Option<String>,
    /// ISO 8601; default: this run's logical date.
    logical_date: Option<String>,
    #[serde(default)]
    reset: bool,
    #[serde(default)]
    wait: bool,
}
updraft_core::declare_task_type!(TriggerDag, "trigger_dag", |config, _| validate(config));

/// The patience keys (used with `wait`) and the rest of the block.
fn parse(config: &Value) -> Result<(Patience, TriggerConfig), TaskError> {
    let (patience, rest) = Patience::split(config)?;
    let cfg: TriggerConfig = parse_config(&rest)?;
    if !cfg.wait
        && let Some(key) = crate::wait::patience::KEYS
            .iter()
            .find(|k| config.get(**k).is_some())
    {
        return Err(TaskError::Config(format!(
            "`{key}` is for waiting for the run: give `wait: true` too"
        )));
    }
    Ok((patience, cfg))
}

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let (_, cfg) = parse(config)?;
    if cfg.dag_id.trim().is_empty() {
        return Err(TaskError::Config("`dag_id` is empty".into()));
    }
    match &cfg.conf {
        None | Some(Value::Object(_)) => {}
        // A template renders to text: it must then read as a JSON object.
        Some(Value::String(text))
            if text.contains("{{")
                || matches!(serde_json::from_str(text), Ok(Value::Object(_))) => {}
        Some(other) => {
            return Err(TaskError::Config(format!(
                "`conf` must be a mapping (or a template that renders to a JSON object), not {other}"
            )));
        }
    }
    if let Some(at) = cfg.logical_date.as_deref().filter(|t| !t.contains("{{")) {
        parse_date(at)?;
    }
    Ok(())
}

/// A `logical_date` key's value.
pub(crate) fn parse_date(text: &str) -> Result<DateTime<Utc>, TaskError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| {
            TaskError::Config(format!(
                "`logical_date` `{text}` is not an ISO 8601 date and time: {e}"
            ))
        })
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    validate(config)?;
    let (patience, cfg) = parse(config)?;
    let Some(dag_runs) = &ctx.dag_runs else {
        return Err(TaskError::Config(
            "trigger_dag creates runs in the history: it runs only in a recorded run, not in `task test`"
                .into(),
        ));
    };
    let conf = match cfg.conf {
        None => Value::Object(Default::default()),
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Value::Object(map),
            _ => {
                return Err(TaskError::Config(format!(
                    "`conf` rendered to `{text}`, which is not a JSON object"
                )));
            }
        },
        Some(conf) => conf,
    };
    let logical_date = cfg.logical_date.as_deref().map(parse_date).transpose()?;
    let request = RunRequest {
        dag_id: cfg.dag_id.clone(),
        run_id: cfg.run_id.clone(),
        logical_date,
        conf,
        reset: cfg.reset,
        again: ctx.waiting_since.is_some(),
    };
    let run = dag_runs.trigger(request).await?;
    if ctx.waiting_since.is_none() {
        log_created(ctx, &run);
    }
    let outcome = TaskOutcome::default()
        .with_output("dag_id", run.dag_id.clone())
        .with_output("run_id", run.run_id.clone())
        .with_output(
            "logical_date",
            run.logical_date
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
        )
        .with("created", run.created);
    if !cfg.wait {
        return Ok(outcome);
    }
    let (dag_id, run_id) = (&run.dag_id, &run.run_id);
    let state = dag_runs
        .run(dag_id, RunAt::Id(run_id.clone()), None)
        .await?
        .map(|seen| seen.state);
    match state {
        Some(RunState::Success) => {
            ctx.log.line(format!("run {run_id} of {dag_id} succeeded"));
            Ok(outcome.with_output("state", "success"))
        }
        Some(RunState::Failed) => Err(TaskError::Fatal(format!("run {run_id} of {dag_id} failed"))),
        Some(state) => patience.not_yet(
            ctx,
            format!("run {run_id} of {dag_id} to finish (it is {state})"),
            None,
        ),
        None => Err(TaskError::Fatal(format!(
            "run {run_id} of {dag_id} is gone from the history (deleted while this task waited)"
        ))),
    }
}

fn log_created(ctx: &TaskContext, run: &updraft_core::dag_runs::RunCreated) {
    ctx.log.line(match (run.created, run.reset) {
        (_, true) => format!("cleared run {} of {} to run again", run.run_id, run.dag_id),
        (true, false) => format!("created run {} of {}", run.run_id, run.dag_id),
        (false, false) => format!(
            "run {} of {} was created by an earlier try of this task: not again",
            run.run_id, run.dag_id
        ),
    });
}
