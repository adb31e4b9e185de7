//! `http`: one HTTP request with reqwest. The attempt fails when the status is not the
//! expected one; 5xx, 408, 429 and network errors can be retried, other statuses cannot.
//! Its status is an output (as a metric); with `output: json`, its body too.

use crate::{TaskContext, TaskError, TaskOutcome, parse_config, parse_duration};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How much of a response body is copied into the attempt log.
const LOGGED_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpConfig {
    url: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    expected_status: Option<ExpectedStatus>,
    #[serde(default = "default_timeout")]
    timeout: String,
    /// `json`: the response body, parsed, is the output `json`.
    output: Option<HttpOutput>,
}

/// What of the response the task hands on besides its status.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum HttpOutput {
    Json,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "expected an HTTP status code or a list of them")]
pub(crate) enum ExpectedStatus {
    One(u16),
    Many(Vec<u16>),
}

pub(crate) fn default_method() -> String {
    "GET".into()
}

fn default_timeout() -> String {
    "30s".into()
}

impl ExpectedStatus {
    /// Whether `status` is expected (`None`: any 2xx).
    pub(crate) fn accepts(expected: Option<&Self>, status: u16) -> bool {
        match expected {
            None => (200..300).contains(&status),
            Some(ExpectedStatus::One(s)) => *s == status,
            Some(ExpectedStatus::Many(v)) => v.contains(&status),
        }
    }
}

impl HttpConfig {
    fn accepts(&self, status: u16) -> bool {
        ExpectedStatus::accepts(self.expected_status.as_ref(), status)
    }

    fn timeout(&self) -> Result<Duration, TaskError> {
        parse_duration(&self.timeout).map_err(TaskError::Config)
    }
}
updraft_core::declare_task_type!(Http, "http", |config, _| validate(config));

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: HttpConfig = parse_config(config)?;
    method(&cfg.method)?;
    // The URL may still hold templates; it is checked after rendering.
    if !cfg.url.contains("{{") {
        reqwest::Url::parse(&cfg.url)
            .map_err(|e| TaskError::Config(format!("bad url `{}`: {e}", cfg.url)))?;
    }
    if !cfg.timeout.contains("{{") {
        cfg.timeout()?;
    }
    Ok(())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: HttpConfig = parse_config(config)?;
    let request = Request {
        method: &cfg.method,
        url: &cfg.url,
        headers: &cfg.headers,
        body: cfg.body.as_ref(),
        timeout: cfg.timeout()?,
    };
    let (status, body, elapsed) = match send(&request, ctx).await? {
        Ok(answer) => answer,
        Err(failed) => return Err(TaskError::Retryable(failed)),
    };
    if !cfg.accepts(status) {
        let message = format!("unexpected HTTP status {status}");
        return Err(if status >= 500 || status == 408 || status == 429 {
            TaskError::Retryable(message)
        } else {
            TaskError::Fatal(message)
        });
    }
    let outcome = TaskOutcome::default()
        .with("status", status)
        .with("bytes", body.len())
        .with("seconds", elapsed.as_secs_f64());
    match cfg.output {
        None => Ok(outcome),
        Some(HttpOutput::Json) => {
            let json: Value = serde_json::from_slice(&body).map_err(|e| {
                TaskError::Fatal(format!("`output: json`, but the response is not JSON: {e}"))
            })?;
            Ok(outcome.with_output("json", json))
        }
    }
}

/// The HTTP method `text` names (any case).
pub(crate) fn method(text: &str) -> Result<reqwest::Method, TaskError> {
    reqwest::Method::from_bytes(text.to_uppercase().as_bytes())
        .map_err(|_| TaskError::Config(format!("bad HTTP method `{text}`")))
}

/// One request, as the `http` task and the `wait` task's `for: http` send it.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    /// Text is sent as it is; anything else as JSON.
    pub body: Option<&'a Value>,
    pub timeout: Duration,
}

/// Sends `request`, logging it and the answer: the status, the body and how long it
/// took, or (inner `Err`) why no answer came (network errors, the timeout).
pub(crate) async fn send(
    request: &Request<'_>,
    ctx: &TaskContext,
) -> Result<Result<(u16, Vec<u8>, Duration), String>, TaskError> {
    let url = reqwest::Url::parse(request.url)
        .map_err(|e| TaskError::Config(format!("bad url `{}`: {e}", request.url)))?;
    let method = method(request.method)?;
    let client = reqwest::Client::builder()
        .timeout(request.timeout)
        .build()
        .map_err(|e| TaskError::Retryable(format!("cannot build HTTP client: {e}")))?;
    let mut builder = client.request(method.clone(), url.clone());
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    builder = match request.body {
        None => builder,
        Some(Value::String(text)) => builder.body(text.clone()),
        Some(json) => builder.json(json),
    };
    ctx.log.line(format!("{method} {}", shown_url(&url)));
    let started = Instant::now();
    let exchange = async {
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?.to_vec();
        Ok::<_, reqwest::Error>((status, body))
    };
    let (status, body) = tokio::select! {
        r = exchange => match r {
            Ok(answer) => answer,
            Err(e) => return Ok(Err(format!("request failed: {}", without_url(e)))),
        },
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled("the request was abandoned".into())),
    };
    let elapsed = started.elapsed();
    let shown = &body[..body.len().min(LOGGED_BODY_BYTES)];
    ctx.log.line(format!(
        "status {status}, {} bytes in {:.3}s",
        body.len(),
        elapsed.as_secs_f64()
    ));
    ctx.log.line(String::from_utf8_lossy(shown));
    Ok(Ok((status, body, elapsed)))
}

/// The URL without user info, fit for the log.
fn shown_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
