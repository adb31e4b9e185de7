//! Sending one action: a webhook's POST, a Slack message, a shell command. Templates and
//! connections are resolved here, at the last moment, so no URL, token or password is
//! ever stored; what the receiver answered comes back masked.

use super::Action;
use serde_json::{Value, json};
use std::time::Duration;
use updraft_core::Connections;
use updraft_core::secrets::mask;

/// How long an action may take unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a receiver's answer kept.
const ANSWER_CHARS: usize = 500;

/// What the receiver answered to a message it took.
#[derive(Debug)]
pub struct Sent {
    pub answer: String,
}

/// Why a message was not taken, and whether trying again may help (a 5xx, a connection
/// error, a time-out) or not (a 4xx, a bad action, a missing connection).
#[derive(Debug)]
pub struct NotSent {
    pub message: String,
    pub retryable: bool,
    pub timed_out: bool,
}

impl NotSent {
    pub(super) fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: mask(&message.into()).into_owned(),
            retryable: false,
            timed_out: false,
        }
    }

    fn transient(message: impl Into<String>) -> Self {
        Self {
            message: mask(&message.into()).into_owned(),
            retryable: true,
            timed_out: false,
        }
    }
}

/// Where messages may go: the connections, and the OpenLineage backend if any.
pub struct Receivers<'a> {
    pub connections: &'a Connections,
    pub openlineage: Option<&'a crate::settings::OpenLineageTarget>,
}

/// Sends `action` with the event's `facts`.
pub async fn send(
    http: &reqwest::Client,
    receivers: &Receivers<'_>,
    action: &Action,
    facts: &Value,
) -> Result<Sent, NotSent> {
    let connections = receivers.connections;
    if let Action::OpenLineage {} = action {
        // The facts are the run event, sent as they are (no templates in them).
        let target = receivers.openlineage.ok_or_else(|| {
            NotSent::permanent("UPDRAFT_OPENLINEAGE_URL is not set here any more")
        })?;
        let mut headers = std::collections::BTreeMap::new();
        if let Some(key) = &target.api_key {
            headers.insert("Authorization".to_string(), format!("Bearer {key}"));
        }
        return post(http, &target.endpoint(), &headers, facts, DEFAULT_TIMEOUT).await;
    }
    let rendered = crate::template::render_alert(
        &serde_json::to_value(action).map_err(|e| NotSent::permanent(e.to_string()))?,
        facts,
    )
    .map_err(NotSent::permanent)?;
    let action: Action =
        serde_json::from_value(rendered).map_err(|e| NotSent::permanent(e.to_string()))?;
    match &action {
        Action::Webhook {
            url,
            conn,
            headers,
            body,
            timeout,
        } => {
            let url = receiver(connections, url.as_deref(), conn.as_deref())?;
            let body = body.clone().unwrap_or_else(|| facts.clone());
            post(http, &url, headers, &body, limit(*timeout)).await
        }
        Action::Slack {
            conn,
            url,
            text,
            timeout,
        } => {
            let url = receiver(connections, url.as_deref(), conn.as_deref())?;
            let message = slack_message(facts, text.as_deref());
            post(http, &url, &Default::default(), &message, limit(*timeout)).await
        }
        Action::Email {
            conn,
            to,
            from,
            subject,
            body,
            timeout,
        } => {
            let server = connections
                .get(conn)
                .map_err(|e| NotSent::permanent(e.to_string()))?;
            let email = super::email::Email {
                to,
                from: from.as_deref(),
                subject: subject.as_deref(),
                body: body.as_deref(),
            };
            let answer = super::email::send_email(server, &email, facts, limit(*timeout)).await?;
            Ok(Sent {
                answer: mask(&answer).into_owned(),
            })
        }
        Action::Shell { command, timeout } => shell(command, facts, limit(*timeout)).await,
        Action::OpenLineage {} => Err(NotSent::permanent("sent above")),
    }
}

/// An action's time limit: its `timeout:` in seconds, or the default.
fn limit(timeout: Option<u64>) -> Duration {
    timeout.map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

/// The receiver's URL: `url` as rendered, or the URI of connection `conn`.
fn receiver(
    connections: &Connections,
    url: Option<&str>,
    conn: Option<&str>,
) -> Result<String, NotSent> {
    match (url, conn) {
        (Some(url), _) => {
            // A rendered URL is as secret as the variable it came from.
            updraft_core::secrets::register(url);
            Ok(url.to_string())
        }
        (None, Some(name)) => connections
            .get(name)
            .map(|c| c.secret_uri().to_string())
            .map_err(|e| NotSent::permanent(e.to_string())),
        (None, None) => Err(NotSent::permanent("no receiver: give `conn:` or `url:`")),
    }
}

/// POSTs `body` as JSON to `url`.
async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    body: &Value,
    limit: Duration,
) -> Result<Sent, NotSent> {
    for value in headers.values() {
        updraft_core::secrets::register(value);
    }
    let mut request = http.post(url).timeout(limit).json(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return Err(NotSent {
                message: format!("no answer within {} s", limit.as_secs()),
                retryable: true,
                timed_out: true,
            });
        }
        // reqwest's message names the URL: masked, and its path left out.
        Err(e) => return Err(NotSent::transient(e.without_url().to_string())),
    };
    let status = response.status();
    let text: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(ANSWER_CHARS)
        .collect();
    let answer = mask(&format!("{} {}", status.as_u16(), text.trim())).into_owned();
    if status.is_success() {
        Ok(Sent { answer })
    } else if status.is_server_error() || status.as_u16() == 429 {
        Err(NotSent::transient(answer))
    } else {
        Err(NotSent::permanent(answer))
    }
}

/// Runs `command` with the facts in its environment.
async fn shell(command: &str, facts: &Value, limit: Duration) -> Result<Sent, NotSent> {
    let fact = |key: &str| super::event::fact(facts, key);
    let mut child = tokio::process::Command::new("sh");
    child
        .arg("-c")
        .arg(command)
        .env("UPDRAFT_DAG_ID", fact("dag_id"))
        .env("UPDRAFT_RUN_ID", fact("run_id"))
        .env("UPDRAFT_TASK_ID", fact("task_id"))
        .env("UPDRAFT_TRY_NUMBER", fact("try_number"))
        .env("UPDRAFT_STATE", fact("state"))
        .env("UPDRAFT_ERROR", fact("error"))
        .env("UPDRAFT_EVENT", fact("event"))
        .env("UPDRAFT_URL", fact("url"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(limit, child.output()).await {
        Err(_) => {
            return Err(NotSent {
                message: format!("the command did not end within {} s", limit.as_secs()),
                retryable: true,
                timed_out: true,
            });
        }
        Ok(Err(e)) => return Err(NotSent::permanent(format!("cannot run sh: {e}"))),
        Ok(Ok(output)) => output,
    };
    let said = String::from_utf8_lossy(if output.stderr.is_empty() {
        &output.stdout
    } else {
        &output.stderr
    })
    .chars()
    .take(ANSWER_CHARS)
    .collect::<String>();
    let answer = mask(&format!("{} {}", output.status, said.trim())).into_owned();
    if output.status.success() {
        Ok(Sent { answer })
    } else {
        Err(NotSent::transient(answer))
    }
}

/// A Slack message (Block Kit) for the event: a headline a phone shows in its
/// notification, the DAG, run and task, the error's first lines, and the link.
pub fn slack_message(facts: &Value, text: Option<&str>) -> Value {
    let get = |key: &str| super::event::fact(facts, key);
    let (dag, run, task, state) = (get("dag_id"), get("run_id"), get("task_id"), get("state"));
    let what = if task.is_empty() {
        format!("DAG {dag}: run {run} {state}")
    } else {
        format!("{dag}.{task} {state} (try {})", facts["try_number"])
    };
    let what = facts["summary"].as_str().map_or(what, str::to_string);
    let headline = text.map_or(what, str::to_string);
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*DAG*\n`{dag}`")}),
        json!({"type": "mrkdwn", "text": format!("*Run*\n`{run}`")}),
    ];
    if !task.is_empty() {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Task*\n`{task}`")}));
    }
    fields.push(json!({"type": "mrkdwn", "text": format!("*State*\n{state}")}));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": headline}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(error) = facts["error"].as_str().filter(|e| !e.is_empty()) {
        let first: Vec<&str> = error.lines().take(8).collect();
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("```{}```", first.join("\n"))},
        }));
    }
    for test in facts["tests"].as_array().into_iter().flatten() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": test_line(test)},
        }));
    }
    if let Some(url) = facts["url"].as_str() {
        blocks.push(json!({
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in Updraft"}, "url": url}],
        }));
    }
    json!({"text": headline, "blocks": blocks})
}

/// One test of a data-quality message: its verdict, failing rows counted, message, and
/// the first rows it kept.
pub fn test_line(test: &Value) -> String {
    let mut line = format!(
        "`{}`: {}",
        test["test_name"].as_str().unwrap_or_default(),
        test["status"].as_str().unwrap_or_default()
    );
    if let Some(n) = test["failures"].as_i64() {
        line.push_str(&format!(", {n} failing rows"));
    }
    if let Some(message) = test["message"].as_str() {
        line.push_str(&format!("\n{message}"));
    }
    let sample: Vec<String> = test["sample_rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    if !sample.is_empty() {
        line.push_str(&format!("\n```{}```", sample.join("\n")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_message_says_what_failed_and_where() {
        let facts = json!({
            "dag_id": "etl", "run_id": "r1", "task_id": "load", "try_number": 3,
            "state": "failed", "error": "exit 3\nsecond line", "url": "http://u/x",
        });
        let message = slack_message(&facts, None);
        assert_eq!(message["text"], "etl.load failed (try 3)");
        assert_eq!(
            message["blocks"][0]["text"]["text"],
            "etl.load failed (try 3)"
        );
        assert_eq!(
            message["blocks"][2]["text"]["text"],
            "```exit 3\nsecond line```"
        );
        assert_eq!(message["blocks"][3]["elements"][0]["url"], "http://u/x");
    }
}
