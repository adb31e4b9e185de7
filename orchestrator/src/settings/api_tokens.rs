//! The API's bearer tokens as configured (`UPDRAFT_API_TOKENS`, `[server] tokens`): each
//! with a role (`viewer` reads, `operator` also triggers, clears, marks and pauses), long
//! enough, and registered with the secrets masker so they are never shown.

use serde::Deserialize;
use std::fmt;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads, and triggers, clears, marks and pauses.
    Operator,
}

impl Role {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// A configured token and its role.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub role: Role,
    pub token: String,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token itself is a secret.
        write!(f, "ApiToken({:?}, ***)", self.role)
    }
}

/// The shortest token accepted: a guessable one protects nothing.
const MIN_TOKEN_LEN: usize = 16;

/// Reads `UPDRAFT_API_TOKENS`: `role:token` pairs separated by commas.
pub fn parse_tokens(text: &str) -> Result<Vec<ApiToken>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .enumerate()
        .map(|(i, pair)| {
            let (role, token) = pair
                .split_once(':')
                .ok_or_else(|| format!("entry {}: use role:token", i + 1))?;
            let role = Role::parse(role.trim()).ok_or_else(|| {
                format!(
                    "entry {}: role `{}`: use viewer or operator",
                    i + 1,
                    role.trim()
                )
            })?;
            Ok(ApiToken {
                role,
                token: token.trim().to_string(),
            })
        })
        .collect()
}

/// Checks configured tokens: long enough, and each registered with the secrets masker so
/// that no log line or error can show it.
pub fn check_tokens(tokens: &[ApiToken]) -> Result<(), String> {
    for (i, t) in tokens.iter().enumerate() {
        if t.token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "API token {} ({:?}) is shorter than {MIN_TOKEN_LEN} characters",
                i + 1,
                t.role
            ));
        }
        updraft_core::secrets::register(&t.token);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_are_refused() {
        let tokens = parse_tokens("viewer:short").expect("parses");
        assert!(
            check_tokens(&tokens)
                .expect_err("too short")
                .contains("shorter than 16")
        );
    }
}
