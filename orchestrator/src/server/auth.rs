//! Who may call the API: bearer tokens, each with a role (`viewer` reads, `operator` also
//! triggers, clears, marks and pauses), compared in constant time and never shown.

use serde::Deserialize;
use std::fmt;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
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
        updraft_tasks::secrets::register(&t.token);
    }
    Ok(())
}

/// The role of the token presented, if it is one of `tokens`. Every configured token is
/// compared in full, whatever matches, so the time taken tells nothing about them.
pub fn role_of(tokens: &[ApiToken], presented: &str) -> Option<Role> {
    let mut found = None;
    for t in tokens {
        if constant_time_eq(t.token.as_bytes(), presented.as_bytes()) {
            found = found.max(Some(t.role));
        }
    }
    found
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_from_the_environment_form() {
        let tokens =
            parse_tokens("operator:abcdefghijklmnop1, viewer:abcdefghijklmnop2").expect("valid");
        assert_eq!(role_of(&tokens, "abcdefghijklmnop1"), Some(Role::Operator));
        assert_eq!(role_of(&tokens, "abcdefghijklmnop2"), Some(Role::Viewer));
        assert_eq!(role_of(&tokens, "abcdefghijklmnop"), None);
        assert_eq!(role_of(&tokens, ""), None);
        assert!(
            parse_tokens("admin:x")
                .expect_err("bad role")
                .contains("viewer or operator")
        );
        assert!(
            parse_tokens("tokenonly")
                .expect_err("no role")
                .contains("role:token")
        );
        assert!(format!("{tokens:?}").contains("***") && !format!("{tokens:?}").contains("abcdef"));
    }

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
