//! What happened (an `AlertEvent`), what becomes of its message (a `CallbackState`), and
//! a message to record: one action of one event, with the facts it is rendered with.

use super::Action;
use serde_json::{Value, json};

updraft_core::stored_name! {
    /// What a callback answers.
    pub enum AlertEvent ("alert event") {
        /// A task failed for good (no tries left, or not retryable).
        TaskFailure = "task_failure",
        /// A task's attempt failed and it will be tried again.
        TaskRetry = "task_retry",
        TaskSuccess = "task_success",
        /// A task's `when:` rendered false: it was skipped without running.
        TaskSkipped = "task_skipped",
        /// A run ended failed.
        RunFailure = "run_failure",
        RunSuccess = "run_success",
        /// A run had not finished by one of its deadlines.
        DeadlineMiss = "deadline_miss",
        /// Data tests of an attempt failed (or errored).
        TestFailure = "test_failure",
        /// Data tests of an attempt warned (and none failed).
        TestWarn = "test_warn",
        /// An asset went longer than its `freshness:` `max_age` without a write.
        AssetStale = "asset_stale",
        /// An attempt started: its OpenLineage `START` event.
        LineageStart = "lineage_start",
        /// An attempt ended: its OpenLineage `COMPLETE` or `FAIL` event.
        LineageEnd = "lineage_end",
    }
}

updraft_core::stored_name! {
    /// Where a callback is.
    pub enum CallbackState ("callback state") {
        /// Waiting to be sent (first, or again after a retryable failure).
        Pending = "pending",
        /// Claimed by a scheduler, being sent.
        Sending = "sending",
        Sent = "sent",
        /// Its tries are spent, or the receiver refused it (4xx), or it timed out.
        Failed = "failed",
    }
}

/// One action of one event, to be recorded (and then sent).
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub dag_id: String,
    pub run_id: String,
    /// Empty for a run's event.
    pub task_id: String,
    /// 0 for a run's event.
    pub try_number: i64,
    /// The instance of a mapped task (-1: not mapped, or a run's event).
    pub map_index: i32,
    pub event: AlertEvent,
    /// Which action of the event's list.
    pub action_index: i64,
    pub action: Action,
    /// What the message says: dag, run, task, try, state, error, link.
    pub facts: Value,
}

impl NewCallback {
    /// `callbacks` as messages about instance `map_index` of a mapped task (the facts say
    /// which).
    pub fn of_instance(mut callbacks: Vec<NewCallback>, map_index: i32) -> Vec<NewCallback> {
        if map_index < 0 {
            return callbacks;
        }
        for c in &mut callbacks {
            c.map_index = map_index;
            if let Value::Object(map) = &mut c.facts {
                map.insert("map_index".into(), Value::from(map_index));
            }
        }
        callbacks
    }

    /// The callbacks `actions` make of `event`, whose facts are `facts`.
    pub fn for_actions(
        (dag_id, run_id, task_id): (&str, &str, &str),
        try_number: i64,
        event: AlertEvent,
        actions: &[Action],
        facts: &Value,
    ) -> Vec<NewCallback> {
        let mut facts = facts.clone();
        if let Value::Object(map) = &mut facts {
            map.insert("event".into(), Value::from(event.as_str()));
        }
        actions
            .iter()
            .enumerate()
            .map(|(i, action)| NewCallback {
                dag_id: dag_id.to_string(),
                run_id: run_id.to_string(),
                task_id: task_id.to_string(),
                try_number,
                map_index: -1,
                event,
                action_index: i64::try_from(i).unwrap_or(i64::MAX),
                action: action.clone(),
                facts: facts.clone(),
            })
            .collect()
    }

    /// The row's id: the same event and action always give the same id, so recording it
    /// twice records it once.
    pub fn id(&self) -> String {
        let mut key = [
            self.dag_id.as_str(),
            &self.run_id,
            &self.task_id,
            &self.try_number.to_string(),
            self.event.as_str(),
            &self.action_index.to_string(),
        ]
        .join("\0");
        // Ids of instances that are not mapped stay what they were before mapping.
        if self.map_index >= 0 {
            key.push_str(&format!("\0{}", self.map_index));
        }
        crate::dag::source::sha256(key.as_bytes())
    }
}

/// A URL as shown: its scheme and host (a template as written).
pub fn shown_url(url: &str) -> String {
    if url.contains("{{") {
        return updraft_core::secrets::mask(url).into_owned();
    }
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "(not a URL)".to_string(),
    }
}

/// Fact `key` of an event as text: a string as it is, null as nothing, anything else
/// as JSON.
pub fn fact(facts: &Value, key: &str) -> String {
    match &facts[key] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The facts of a task's event.
pub fn task_facts(
    (dag_id, run_id, task_id): (&str, &str, &str),
    try_number: i64,
    state: &str,
    error: Option<&str>,
    base_url: Option<&str>,
) -> Value {
    let link = base_url.map(|base| {
        format!(
            "{}{}",
            base.trim_end_matches('/'),
            crate::server::ui::task_path(dag_id, run_id, task_id)
        )
    });
    json!({
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "try_number": try_number,
        "state": state,
        "error": error,
        "url": link,
    })
}

/// The facts of a run's event.
pub fn run_facts((dag_id, run_id): (&str, &str), state: &str, base_url: Option<&str>) -> Value {
    let link = base_url.map(|base| {
        format!(
            "{}{}",
            base.trim_end_matches('/'),
            crate::server::ui::run_path(dag_id, run_id)
        )
    });
    json!({
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": null,
        "try_number": null,
        "state": state,
        "error": null,
        "url": link,
    })
}
