//! The API's users (`[[api.users]]`: a name, a role and an Argon2 password hash) and the
//! secret their login tokens are signed with (`UPDRAFT_API_JWT_SECRET` > `[api]
//! jwt_secret`): what `POST /auth/token` checks, as Airflow 3's token login.

use super::Role;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The shortest signing secret accepted: a guessable one lets anyone mint tokens.
const MIN_SECRET_LEN: usize = 32;

/// How long a login token is good for unless `[api] jwt_expiration` says (Airflow's 24 h).
pub const DEFAULT_JWT_EXPIRATION: Duration = Duration::from_secs(24 * 3600);

/// A user who may log in.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUser {
    pub username: String,
    pub role: Role,
    /// An Argon2 PHC string (`updraft users hash-password` makes one).
    pub password_hash: String,
}

impl fmt::Debug for ApiUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiUser({:?}, {:?}, ***)", self.username, self.role)
    }
}

impl ApiUser {
    /// Whether `password` is this user's (a slow hash: call it off the async workers).
    pub fn has_password(&self, password: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), self.password_hash.as_str())
            .is_ok()
    }
}

/// How login tokens are signed and for how long they hold.
#[derive(Clone)]
pub struct JwtSettings {
    pub secret: String,
    pub expiration: Duration,
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtSettings(***, {:?})", self.expiration)
    }
}

/// Checks the users and the secret: unique names, hashes that parse, and a long enough
/// secret whenever there are users (registered with the masker, never shown).
pub fn check_users(users: &[ApiUser], jwt: Option<&JwtSettings>) -> Result<(), String> {
    for (i, user) in users.iter().enumerate() {
        if users[..i].iter().any(|u| u.username == user.username) {
            return Err(format!("API user `{}` is listed twice", user.username));
        }
        if argon2::PasswordHash::new(&user.password_hash).is_err() {
            return Err(format!(
                "API user `{}`: password_hash is not an Argon2 hash (make one with `updraft users hash-password`)",
                user.username
            ));
        }
    }
    match jwt {
        Some(jwt) if jwt.secret.len() < MIN_SECRET_LEN => Err(format!(
            "the API's JWT secret is shorter than {MIN_SECRET_LEN} characters"
        )),
        Some(jwt) => {
            updraft_core::secrets::register(&jwt.secret);
            Ok(())
        }
        None if !users.is_empty() => Err(
            "API users need a secret to sign their tokens: set UPDRAFT_API_JWT_SECRET (or [api] jwt_secret) to 32 or more random characters"
                .into(),
        ),
        None => Ok(()),
    }
}

/// An Argon2id hash of `password` with a random salt, as `[[api.users]]` takes it.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, hash: &str) -> ApiUser {
        ApiUser {
            username: name.into(),
            role: Role::Viewer,
            password_hash: hash.into(),
        }
    }

    #[test]
    fn hashes_verify_and_bad_configs_say_why() {
        let hash = hash_password("correct horse").expect("hash");
        let ann = user("ann", &hash);
        assert!(ann.has_password("correct horse") && !ann.has_password("wrong"));
        assert!(!format!("{ann:?}").contains("argon2"));
        let secret = JwtSettings {
            secret: "s".repeat(40),
            expiration: DEFAULT_JWT_EXPIRATION,
        };
        assert_eq!(
            check_users(std::slice::from_ref(&ann), Some(&secret)),
            Ok(())
        );
        let no_secret = check_users(std::slice::from_ref(&ann), None).expect_err("no secret");
        assert!(no_secret.contains("UPDRAFT_API_JWT_SECRET"), "{no_secret}");
        let twice = check_users(&[ann.clone(), ann.clone()], Some(&secret)).expect_err("twice");
        assert!(twice.contains("twice"), "{twice}");
        let bad = check_users(&[user("bob", "plain")], Some(&secret)).expect_err("bad hash");
        assert!(bad.contains("hash-password"), "{bad}");
        let short = JwtSettings {
            secret: "short".into(),
            ..secret
        };
        assert!(check_users(&[], Some(&short)).is_err());
    }
}
