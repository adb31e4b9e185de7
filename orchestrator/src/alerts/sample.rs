//! `updraft alerts test`: every action a DAG configures, sent now with sample facts, so
//! that a user sees what each receiver answers before a real failure at 02:00. Nothing
//! is recorded.

use super::send::{Receivers, send};
use super::{Action, AlertEvent, run_facts, task_facts};
use crate::dag::Dag;
use crate::settings::Settings;
use serde::Serialize;

/// What one receiver answered to a sample.
#[derive(Debug, Serialize)]
pub struct SampleResult {
    pub event: AlertEvent,
    /// Empty for a run's event.
    pub task_id: String,
    pub action_kind: &'static str,
    pub target: String,
    /// `sent` or `failed`.
    pub result: &'static str,
    pub answer: String,
}

/// Sends a sample of each action `dag` configures for the events `wanted` accepts
/// (an action several tasks share is sent once per event).
pub async fn send_samples(
    dag: &Dag,
    settings: &Settings,
    wanted: impl Fn(AlertEvent) -> bool,
) -> Vec<SampleResult> {
    let http = reqwest::Client::new();
    let base = settings.base_url.as_ref().map(url::Url::as_str);
    let run_id = "alerts_test";
    let mut planned: Vec<(AlertEvent, String, Action)> = Vec::new();
    let mut plan = |event: AlertEvent, task_id: &str, actions: &[Action]| {
        for action in actions {
            let seen = planned.iter().any(|(e, _, a)| *e == event && a == action);
            if wanted(event) && !seen {
                planned.push((event, task_id.to_string(), action.clone()));
            }
        }
    };
    plan(AlertEvent::RunFailure, "", &dag.callbacks.on_failure);
    plan(AlertEvent::RunSuccess, "", &dag.callbacks.on_success);
    for rule in &dag.freshness {
        plan(AlertEvent::AssetStale, "", &rule.on_stale);
    }
    for deadline in &dag.deadlines {
        plan(AlertEvent::DeadlineMiss, "", &deadline.on_miss);
    }
    for task in dag.tasks.values() {
        let on = &task.callbacks;
        plan(AlertEvent::TaskFailure, &task.task_id, &on.on_failure);
        plan(AlertEvent::TaskRetry, &task.task_id, &on.on_retry);
        plan(AlertEvent::TaskSuccess, &task.task_id, &on.on_success);
        plan(AlertEvent::TaskSkipped, &task.task_id, &on.on_skipped);
        plan(AlertEvent::TestFailure, &task.task_id, &on.on_test_failure);
        plan(AlertEvent::TestWarn, &task.task_id, &on.on_test_warn);
    }
    let mut results = Vec::new();
    for (event, task_id, action) in planned {
        let mut facts = if task_id.is_empty() {
            run_facts((&dag.dag_id, run_id), "failed", base)
        } else {
            let error = "a sample alert from `updraft alerts test`";
            task_facts(
                (&dag.dag_id, run_id, &task_id),
                1,
                "failed",
                Some(error),
                base,
            )
        };
        if let serde_json::Value::Object(map) = &mut facts {
            map.insert("event".into(), event.as_str().into());
        }
        let receivers = Receivers {
            connections: &settings.connections,
            openlineage: settings.openlineage.as_ref(),
        };
        let outcome = send(&http, &receivers, &action, &facts).await;
        let (result, answer) = match outcome {
            Ok(sent) => ("sent", sent.answer),
            Err(not) => ("failed", not.message),
        };
        results.push(SampleResult {
            event,
            task_id,
            action_kind: action.kind(),
            target: action.target(),
            result,
            answer,
        });
    }
    results
}
