//! From a test's failure count to its status, as dbt decides: `fail` when the severity is
//! `error` and `error_if` holds, else `warn` when `warn_if` holds, else `pass`; the
//! message is dbt's (`Got 3 results, configured to fail if != 0`).

/// How bad a failing test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warn,
}

impl Severity {
    /// `error` or `warn`, any case, as dbt accepts.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Error),
            "warn" => Some(Severity::Warn),
            _ => None,
        }
    }

    /// As stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warn => "WARN",
        }
    }
}

pub(super) use updraft_core::report::TestStatus;

/// A condition on the failure count, as written (`!= 0`, `>10`).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    op: &'static str,
    value: f64,
}

impl Default for Threshold {
    fn default() -> Self {
        Self {
            text: "!= 0".into(),
            op: "!=",
            value: 0.0,
        }
    }
}

impl Threshold {
    /// Parses an operator (`!=`, `<>`, `>=`, `<=`, `=`, `>`, `<`) and a number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let op = ["!=", "<>", ">=", "<=", "=", ">", "<"]
            .into_iter()
            .find(|op| trimmed.starts_with(op))
            .ok_or_else(|| {
                format!("`{text}` is not a condition such as `!= 0`, `>10` or `>= 5`")
            })?;
        let value = trimmed[op.len()..]
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{text}`: a number must follow `{op}`"))?;
        Ok(Self {
            text: text.to_string(),
            op,
            value,
        })
    }

    /// Whether `failures` meets the condition.
    pub fn holds(&self, failures: f64) -> bool {
        match self.op {
            "!=" | "<>" => failures != self.value,
            ">=" => failures >= self.value,
            "<=" => failures <= self.value,
            "=" => failures == self.value,
            ">" => failures > self.value,
            _ => failures < self.value,
        }
    }

    /// As written, for messages.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The status, the failures reported (0 for a pass, as dbt reports) and dbt's message.
pub fn decide(
    failures: i64,
    severity: Severity,
    warn_if: &Threshold,
    error_if: &Threshold,
) -> (TestStatus, i64, Option<String>) {
    let results = if failures == 1 {
        "1 result".to_string()
    } else {
        format!("{failures} results")
    };
    let n = failures as f64;
    if severity == Severity::Error && error_if.holds(n) {
        let message = format!("Got {results}, configured to fail if {}", error_if.text());
        (TestStatus::Fail, failures, Some(message))
    } else if warn_if.holds(n) {
        let message = format!("Got {results}, configured to warn if {}", warn_if.text());
        (TestStatus::Warn, failures, Some(message))
    } else {
        (TestStatus::Pass, 0, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_follow_dbt() {
        let any = Threshold::default();
        let over5 = Threshold::parse(">5").unwrap();
        let over1 = Threshold::parse(">1").unwrap();
        assert_eq!(decide(0, Severity::Error, &any, &any).0, TestStatus::Pass);
        assert_eq!(
            decide(1, Severity::Error, &any, &any),
            (
                TestStatus::Fail,
                1,
                Some("Got 1 result, configured to fail if != 0".into())
            )
        );
        assert_eq!(
            decide(2, Severity::Error, &over1, &over5),
            (
                TestStatus::Warn,
                2,
                Some("Got 2 results, configured to warn if >1".into())
            )
        );
        assert_eq!(decide(9, Severity::Warn, &any, &any).0, TestStatus::Warn);
        assert_eq!(
            decide(1, Severity::Error, &over1, &over5),
            (TestStatus::Pass, 0, None)
        );
        assert!(Threshold::parse("lots").is_err());
        assert!(Threshold::parse("> x").is_err());
    }
}
