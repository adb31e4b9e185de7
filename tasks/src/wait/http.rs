//! `for: http`: a URL answers with an expected status (default any 2xx) and, with
//! `condition`, a Jinja expression over the response (`response.status`, `response.json`,
//! `response.text`) is true (Airflow's HttpSensor and its `response_check`). A request
//! that gets no answer is not a failure: the service may not be up yet.

use super::Check;
use crate::http::{ExpectedStatus, Request, default_method};
use crate::{TaskContext, TaskError, TaskOutcome};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long one check waits for an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpCondition {
    url: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<Value>,
    expected_status: Option<ExpectedStatus>,
    /// A Jinja expression, without `{{ }}` (those are rendered before the check).
    condition: Option<String>,
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env
}

impl HttpCondition {
    pub(crate) fn validate(&self) -> Result<(), TaskError> {
        crate::http::method(&self.method)?;
        if let Some(condition) = &self.condition {
            if condition.contains("{{") {
                return Err(TaskError::Config(format!(
                    "`condition` is an expression checked with each response, written without \
                     {{{{ }}}} (those are filled in before the check): `{condition}`"
                )));
            }
            environment().compile_expression(condition).map_err(|e| {
                TaskError::Config(format!(
                    "`condition` `{condition}` is not an expression: {e}"
                ))
            })?;
        }
        Ok(())
    }

    pub(crate) async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        self.validate()?;
        let request = Request {
            method: &self.method,
            url: &self.url,
            headers: &self.headers,
            body: self.body.as_ref(),
            timeout: REQUEST_TIMEOUT,
        };
        let expected = match &self.expected_status {
            None => "a 2xx status".to_string(),
            Some(ExpectedStatus::One(s)) => format!("status {s}"),
            Some(ExpectedStatus::Many(v)) => format!("a status in {v:?}"),
        };
        let wanted = match &self.condition {
            Some(c) => format!("{expected} and `{c}` from {}", self.url),
            None => format!("{expected} from {}", self.url),
        };
        let (status, body) = match crate::http::send(&request, ctx).await? {
            Ok((status, body, _)) => (status, body),
            Err(failed) => return Ok(Check::NotYet(format!("{wanted} ({failed})"), None)),
        };
        if !ExpectedStatus::accepts(self.expected_status.as_ref(), status) {
            return Ok(Check::NotYet(format!("{wanted} (got {status})"), None));
        }
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(condition) = &self.condition {
            let response = serde_json::json!({
                "status": status,
                "json": json,
                "text": String::from_utf8_lossy(&body),
            });
            let env = environment();
            let expression = env.compile_expression(condition).map_err(|e| {
                TaskError::Config(format!(
                    "`condition` `{condition}` is not an expression: {e}"
                ))
            })?;
            let holds = expression
                .eval(minijinja::context! { response => response })
                .map_err(|e| TaskError::Fatal(format!("`condition` `{condition}` failed: {e}")))?
                .is_true();
            if !holds {
                return Ok(Check::NotYet(format!("{wanted} (it was false)"), None));
            }
        }
        Ok(Check::Met(
            TaskOutcome::default().with_output("status", status),
        ))
    }
}
