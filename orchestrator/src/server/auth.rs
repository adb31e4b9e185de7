//! Who may call the API: the bearer token presented — one of the configured tokens
//! (`settings::api_tokens`, compared in constant time) or a login token (a JWT that `POST
//! /auth/token` signed for a configured user, checked for its signature and expiry, its
//! role no more than the user has now).

use crate::settings::{ApiToken, ApiUser, JwtSettings, Role, Settings};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Who signs login tokens (Airflow's claims: subject, issued, expiry).
const ISSUER: &str = "updraft";

/// What a login token says.
#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iss: String,
    iat: u64,
    exp: u64,
}

/// The role the presented token carries: a configured token's, or a valid login token's.
pub fn role_of_presented(settings: &Settings, presented: &str) -> Option<Role> {
    role_of(&settings.api_tokens, presented).or_else(|| {
        let jwt = settings.jwt.as_ref()?;
        login_role(&settings.api_users, jwt, presented)
    })
}

/// A signed login token for `user`, good for the configured time.
pub fn issue(user: &ApiUser, jwt: &JwtSettings) -> Result<String, jsonwebtoken::errors::Error> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: user.username.clone(),
        role: user.role,
        iss: ISSUER.to_string(),
        iat: now,
        exp: now.saturating_add(jwt.expiration.as_secs()),
    };
    let key = EncodingKey::from_secret(jwt.secret.as_bytes())?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
}

/// The role of a valid login token: signed with the secret, not expired, for a user who is
/// still configured (with the lesser of the token's role and the user's now).
fn login_role(users: &[ApiUser], jwt: &JwtSettings, token: &str) -> Option<Role> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    let key = DecodingKey::from_secret(jwt.secret.as_bytes()).ok()?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .ok()?
        .claims;
    let user = users.iter().find(|u| u.username == claims.sub)?;
    Some(claims.role.min(user.role))
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

    #[test]
    fn login_tokens_carry_the_users_role_until_they_expire() {
        let ann = ApiUser {
            username: "ann".into(),
            role: Role::Operator,
            password_hash: String::new(),
        };
        let jwt = JwtSettings {
            secret: "x".repeat(40),
            expiration: std::time::Duration::from_secs(60),
        };
        let token = issue(&ann, &jwt).expect("token");
        assert_eq!(
            login_role(std::slice::from_ref(&ann), &jwt, &token),
            Some(Role::Operator)
        );
        let demoted = ApiUser {
            role: Role::Viewer,
            ..ann.clone()
        };
        assert_eq!(login_role(&[demoted], &jwt, &token), Some(Role::Viewer));
        assert_eq!(login_role(&[], &jwt, &token), None, "a user removed");
        let other = JwtSettings {
            secret: "y".repeat(40),
            ..jwt.clone()
        };
        assert_eq!(login_role(std::slice::from_ref(&ann), &other, &token), None);
        let expired = JwtSettings {
            expiration: std::time::Duration::ZERO,
            ..jwt.clone()
        };
        let old = issue(&ann, &expired).expect("token");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(login_role(std::slice::from_ref(&ann), &jwt, &old), None);
    }
}
