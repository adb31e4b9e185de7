//! An alert action as a DAG file writes it (`- webhook: {...}`), and the actions a task
//! or a run has for each event.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One thing to do when an event happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// POST JSON to a URL: the event's facts, or `body` rendered with them.
    Webhook {
        /// The URL (templated, e.g. `{{ env.PAGER_URL }}`); or `conn`.
        #[serde(default)]
        url: Option<String>,
        /// A connection whose URI is the URL (`UPDRAFT_CONN_<NAME>`).
        #[serde(default)]
        conn: Option<String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: Option<Value>,
        /// Seconds to wait for an answer (default 30).
        #[serde(default)]
        timeout: Option<u64>,
    },
    /// A Slack incoming-webhook message (Block Kit): what happened, the error's first
    /// lines and the link.
    Slack {
        /// A connection whose URI is the incoming webhook's URL; or `url`.
        #[serde(default)]
        conn: Option<String>,
        #[serde(default)]
        url: Option<String>,
        /// Text instead of the default headline (templated).
        #[serde(default)]
        text: Option<String>,
        /// Seconds to wait for an answer (default 30).
        #[serde(default)]
        timeout: Option<u64>,
    },
    /// An email over SMTP, in plain text and HTML.
    Email {
        /// A connection to the SMTP server (`smtp://user:pass@host:587`, `smtps://...`).
        conn: String,
        to: Vec<String>,
        /// Default: the connection's `?from=`, else `updraft@<host>`.
        #[serde(default)]
        from: Option<String>,
        /// Templated; default `[Updraft] <dag>.<task> <state>`.
        #[serde(default)]
        subject: Option<String>,
        /// Templated; default the event's facts, one per line.
        #[serde(default)]
        body: Option<String>,
        /// Seconds to wait for the server (default 30).
        #[serde(default)]
        timeout: Option<u64>,
    },
    /// A command, with the event's facts in its environment (`UPDRAFT_DAG_ID`, ...).
    Shell {
        command: String,
        /// Seconds before it is stopped (default 30).
        #[serde(default)]
        timeout: Option<u64>,
    },
    /// An OpenLineage run event (the facts) to the configured backend: recorded by the
    /// engine for every attempt when `UPDRAFT_OPENLINEAGE_URL` is set, never in a DAG.
    #[serde(rename = "openlineage")]
    OpenLineage {},
}

impl Action {
    /// The action's kind, as recorded.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Webhook { .. } => "webhook",
            Action::Slack { .. } => "slack",
            Action::Email { .. } => "email",
            Action::Shell { .. } => "shell",
            Action::OpenLineage {} => "openlineage",
        }
    }

    /// Who receives it, as shown: a connection's name, a URL's scheme and host (the
    /// rest may be a secret), a command masked.
    pub fn target(&self) -> String {
        match self {
            Action::Webhook { conn: Some(c), .. } | Action::Slack { conn: Some(c), .. } => {
                format!("conn {c}")
            }
            Action::Webhook { url: Some(u), .. } | Action::Slack { url: Some(u), .. } => {
                super::event::shown_url(u)
            }
            Action::Email { conn, to, .. } => format!("conn {conn} to {}", to.join(", ")),
            Action::Shell { command, .. } => updraft_core::secrets::mask(command).into_owned(),
            Action::OpenLineage {} => "the OpenLineage backend".to_string(),
            Action::Webhook { .. } | Action::Slack { .. } => String::new(),
        }
    }
}

/// The actions of a task or a run, by event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Callbacks {
    pub on_failure: Vec<Action>,
    pub on_retry: Vec<Action>,
    pub on_success: Vec<Action>,
    /// The task's `when:` skipped it.
    pub on_skipped: Vec<Action>,
    /// Data tests the attempt reported failed (or errored); warned.
    pub on_test_failure: Vec<Action>,
    pub on_test_warn: Vec<Action>,
}

impl Callbacks {
    /// What a task's end in `state` says and to whom: the event, its actions (none: no
    /// message), and the state as messages show it.
    pub fn for_end(
        &self,
        state: updraft_core::TaskState,
    ) -> Option<(super::AlertEvent, &[Action], &'static str)> {
        use super::AlertEvent;
        use updraft_core::TaskState;
        let (event, actions, shown) = match state {
            TaskState::Failed => (AlertEvent::TaskFailure, &self.on_failure, "failed"),
            TaskState::UpForRetry => (
                AlertEvent::TaskRetry,
                &self.on_retry,
                "failed, to be retried",
            ),
            TaskState::Success => (AlertEvent::TaskSuccess, &self.on_success, "success"),
            TaskState::Skipped => (AlertEvent::TaskSkipped, &self.on_skipped, "skipped"),
            _ => return None,
        };
        (!actions.is_empty()).then_some((event, actions.as_slice(), shown))
    }
}

/// What is wrong with `actions` (at `path`, e.g. `tasks.load.on_failure`): each problem
/// with the key it is at.
pub fn check_actions(actions: &[Action], path: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        let at = format!("{path}.{i}.{}", action.kind());
        match action {
            Action::Webhook { url, conn, .. } | Action::Slack { url, conn, .. } => {
                match (url, conn) {
                    (None, None) => problems.push((
                        at,
                        "give the receiver as `conn:` (a connection holding its URL) or `url:`"
                            .to_string(),
                    )),
                    (Some(_), Some(_)) => {
                        problems.push((at, "give `conn:` or `url:`, not both".to_string()))
                    }
                    (None, Some(name)) => {
                        if let Some(problem) = connection_name_problem(name) {
                            problems.push((format!("{at}.conn"), problem));
                        }
                    }
                    (Some(url), None) => {
                        let templated = url.contains("{{");
                        let parsed = url::Url::parse(url);
                        let http = parsed
                            .as_ref()
                            .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                        if !templated && !http {
                            problems.push((
                                format!("{at}.url"),
                                format!(
                                    "`{}` is not an http(s) URL",
                                    updraft_core::secrets::mask(url)
                                ),
                            ));
                        }
                    }
                }
            }
            Action::Email { conn, to, .. } => {
                if let Some(problem) = connection_name_problem(conn) {
                    problems.push((format!("{at}.conn"), problem));
                }
                if to.is_empty() {
                    problems.push((at, "an email needs `to:` (one address or more)".into()));
                }
            }
            Action::Shell { command, .. } => {
                if command.trim().is_empty() {
                    problems.push((format!("{at}.command"), "the command is empty".to_string()));
                }
            }
            Action::OpenLineage {} => problems.push((
                at,
                "OpenLineage events are sent for every attempt when UPDRAFT_OPENLINEAGE_URL is \
                 set; they are not an alert action"
                    .to_string(),
            )),
        }
    }
    problems
}

/// Why `name` cannot name a connection, if it cannot.
fn connection_name_problem(name: &str) -> Option<String> {
    let fine = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!fine).then(|| {
        format!(
            "`{name}` is not a connection name (letters, digits and `_`, as in \
             UPDRAFT_CONN_<NAME>)"
        )
    })
}
