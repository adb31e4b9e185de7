//! `wait`: a sensor. Each attempt checks one condition (`for:` file, sql, http, delta,
//! dag_run or time) once and ends at once: met, the task succeeds; not met, it waits —
//! holding no slot, `up_for_reschedule` in the history — until the orchestrator checks it
//! again in the same try, until its `timeout` (counted from the try's first check).

mod dag_run;
mod delta;
mod files;
mod http;
pub(crate) mod patience;
mod sql;
mod time;

use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use patience::Patience;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a sensor waits for (`for:` and its keys).
#[derive(Deserialize)]
#[serde(tag = "for", rename_all = "snake_case", deny_unknown_fields)]
enum Condition {
    File(files::FileCondition),
    Sql(sql::SqlCondition),
    Http(http::HttpCondition),
    Delta(delta::DeltaCondition),
    DagRun(dag_run::DagRunCondition),
    Time(time::TimeCondition),
}

/// What one check found.
pub(crate) enum Check {
    /// The condition holds; the outcome carries what the check found (files, a row...).
    Met(TaskOutcome),
    /// It does not yet: what the task waits for, and when it will surely hold, if known.
    NotYet(String, Option<chrono::DateTime<chrono::Utc>>),
}

updraft_core::declare_task_type!(Wait, "wait", |config, _| validate(config));

fn parse(config: &Value) -> Result<(Patience, Condition), TaskError> {
    let (patience, rest) = Patience::split(config)?;
    if rest.get("for").is_none() {
        return Err(TaskError::Config(
            "`for:` is missing: one of file, sql, http, delta, dag_run, time".into(),
        ));
    }
    let condition: Condition = parse_config(&rest)?;
    Ok((patience, condition))
}

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let (_, condition) = parse(config)?;
    match &condition {
        Condition::Http(c) => c.validate(),
        Condition::DagRun(c) => c.validate(),
        Condition::File(_) | Condition::Sql(_) | Condition::Delta(_) | Condition::Time(_) => Ok(()),
    }
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let (patience, condition) = parse(config)?;
    let check = tokio::select! {
        check = condition.check(ctx) => check?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled("the check was abandoned".into())),
    };
    match check {
        Check::Met(outcome) => {
            let waited = ctx
                .waiting_since
                .map_or(0.0, |since| (chrono::Utc::now() - since).as_seconds_f64());
            ctx.log.line(format!("condition met after {waited:.1}s"));
            Ok(outcome.with("waited_seconds", waited))
        }
        Check::NotYet(waiting_for, ready_at) => patience.not_yet(ctx, waiting_for, ready_at),
    }
}

impl Condition {
    async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        match self {
            Condition::File(c) => c.check(ctx).await,
            Condition::Sql(c) => c.check(ctx).await,
            Condition::Http(c) => c.check(ctx).await,
            Condition::Delta(c) => c.check(ctx).await,
            Condition::DagRun(c) => c.check(ctx).await,
            Condition::Time(c) => c.check(ctx),
        }
    }
}

/// Storage options of a table or object-store location (`storage_options:`).
pub(crate) type StorageOptions = BTreeMap<String, String>;
