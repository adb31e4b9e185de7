//! Who may call the API: the bearer token presented, compared in constant time with the
//! configured ones (`settings::api_tokens`).

use crate::settings::{ApiToken, Role};

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
    use crate::settings::parse_tokens;

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
}
