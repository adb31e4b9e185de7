//! Named connections (`UPDRAFT_CONN_<NAME>` or `[connections]` in `updraft.toml`), as URIs.
//! A connection prints with its password masked, so secrets never reach logs or output.

use crate::TaskError;
use std::collections::BTreeMap;
use std::fmt;
use url::Url;

/// One named connection URI.
#[derive(Clone)]
pub struct Connection {
    /// The connection's name, lowercase.
    pub name: String,
    url: Url,
}

impl Connection {
    /// Parses a connection URI.
    pub fn parse(name: &str, uri: &str) -> Result<Self, String> {
        let url = Url::parse(uri).map_err(|e| {
            format!("connection `{name}` is not a valid URI ({e}); expected e.g. postgres://user:pass@host:5432/db")
        })?;
        Ok(Self {
            name: name.to_lowercase(),
            url,
        })
    }

    /// The full URI, password included: for drivers only, never for display.
    pub fn secret_uri(&self) -> &str {
        self.url.as_str()
    }

    /// The URI scheme (`postgres`, `sqlite`, `https`...).
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The password, when the URI carries one.
    pub fn password(&self) -> Option<&str> {
        self.url.password()
    }

    /// The secret the URI carries: its password, or a Spark Connect URL's `;token=`.
    pub fn secret(&self) -> Option<&str> {
        self.url
            .password()
            .or_else(|| spark_token(self.url.path()))
            .filter(|s| !s.is_empty())
    }

    /// Replaces the secret wherever it appears in `text` (driver errors may echo it).
    pub fn redact(&self, text: &str) -> String {
        match self.secret() {
            Some(secret) => text.replace(secret, "***"),
            None => text.to_string(),
        }
    }
}

/// The `token` parameter of a Spark Connect URL's path (`/;token=…;user_id=…`).
fn spark_token(path: &str) -> Option<&str> {
    path.split(';')
        .skip(1)
        .find_map(|param| param.strip_prefix("token="))
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        write!(f, "{}", self.redact(shown.as_str()))
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connection({}: {self})", self.name)
    }
}

/// All connections known to a process, by lowercase name.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    by_name: BTreeMap<String, Connection>,
}

impl Connections {
    /// Adds or replaces a connection; its password is masked in every output from now on.
    pub fn insert(&mut self, connection: Connection) {
        if let Some(secret) = connection.secret() {
            crate::secrets::register(secret);
        }
        self.by_name.insert(connection.name.clone(), connection);
    }

    /// Reads every `UPDRAFT_CONN_<NAME>` variable from the environment over the current set.
    pub fn overlay_env(&mut self) -> Result<(), String> {
        for (key, value) in std::env::vars() {
            if let Some(name) = key.strip_prefix("UPDRAFT_CONN_") {
                self.insert(Connection::parse(name, &value)?);
            }
        }
        Ok(())
    }

    /// Looks a connection up by name, case-insensitively.
    pub fn get(&self, name: &str) -> Result<&Connection, TaskError> {
        self.by_name.get(&name.to_lowercase()).ok_or_else(|| {
            TaskError::Config(format!(
                "no connection named `{name}`: set UPDRAFT_CONN_{} or add it under [connections] in updraft.toml",
                name.to_uppercase()
            ))
        })
    }

    /// Every connection, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_redact_hide_the_password() {
        let c = Connection::parse("WH", "postgres://bob:s3cret@db:5432/wh").unwrap();
        assert_eq!(c.to_string(), "postgres://bob:***@db:5432/wh");
        assert_eq!(c.redact("failed for s3cret"), "failed for ***");
        assert_eq!(c.name, "wh");
    }

    #[test]
    fn a_spark_connect_token_is_masked() {
        let c = Connection::parse("SPARK", "sc://spark:15002/;token=abc123;user_id=etl").unwrap();
        assert_eq!(c.to_string(), "sc://spark:15002/;token=***;user_id=etl");
        assert_eq!(c.redact("Bearer abc123 refused"), "Bearer *** refused");
        let plain = Connection::parse("SPARK", "sc://localhost:15002").unwrap();
        assert_eq!(plain.secret(), None);
    }
}
