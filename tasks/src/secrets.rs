//! The one masking function every output path uses (attempt logs, command output, the
//! process's log lines, errors, rendered configs, history rows): passwords in URIs,
//! password-like query parameters, and every value registered as secret (connection
//! passwords, environment variables with secret-sounding names) become `***`, as
//! Airflow's secrets masker does.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// Values shorter than this are not registered: masking `1` or `db` everywhere would make
/// every output unreadable and protect nothing.
const MIN_SECRET_LEN: usize = 4;

/// Words that make an environment variable's value a secret (as in Airflow).
const SECRET_NAME_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTHORIZATION",
];

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `scheme://user:PASSWORD@`: the password is everything up to the last `@` of the
/// authority.
static URI_PASSWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s/]*@")
        .unwrap_or_else(|e| unreachable!("URI_PASSWORD is a valid pattern: {e}"))
});

/// `?password=...`, `&sslpassword=...`, `token=...` in URIs and option strings.
static PASSWORD_PARAM: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)((?:^|[?&;\s])[a-z_]*(?:password|passwd|pwd|secret|token|api_?key|access_key)=)[^&;\s#'\x22]+",
    )
    .unwrap_or_else(|e| unreachable!("PASSWORD_PARAM is a valid pattern: {e}"))
});

/// Registers a value to be masked wherever it appears (and its URL-decoded form).
pub fn register(value: &str) {
    let mut forms = vec![value.to_string()];
    if let Ok(decoded) = urlencoding_decode(value)
        && decoded != value
    {
        forms.push(decoded);
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if form.len() >= MIN_SECRET_LEN && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the secrets of this process's environment: values of variables whose names
/// sound secret, and passwords of URIs held by any variable.
pub fn register_environment() {
    for (name, value) in std::env::vars() {
        let upper = name.to_uppercase();
        if SECRET_NAME_WORDS.iter().any(|w| upper.contains(w)) {
            register(&value);
        }
        if let Ok(url) = url::Url::parse(&value)
            && let Some(password) = url.password()
        {
            register(password);
        }
    }
}

/// `text` with every secret masked.
pub fn mask(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    // Both patterns need a character most text lacks; looking for it first (memchr)
    // spares every answer of the web server two regex scans.
    if out.contains("://") && out.contains('@') && URI_PASSWORD.is_match(&out) {
        out = Cow::Owned(
            URI_PASSWORD
                .replace_all(&out, format!("${{1}}{MASK}@"))
                .into_owned(),
        );
    }
    if out.contains('=') && PASSWORD_PARAM.is_match(&out) {
        out = Cow::Owned(
            PASSWORD_PARAM
                .replace_all(&out, format!("${{1}}{MASK}"))
                .into_owned(),
        );
    }
    out
}

/// Percent-decoding of a URI component (passwords are stored encoded in URLs).
fn urlencoding_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_uri_passwords_params_and_registered_values() {
        assert_eq!(
            mask("connecting to postgres://app:s3cr%40t@db:5432/wh failed"),
            "connecting to postgres://app:***@db:5432/wh failed"
        );
        assert_eq!(
            mask("postgres://db/wh?user=app&password=Hunter2&sslmode=require"),
            "postgres://db/wh?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            mask("kafka://broker:9092/topic"),
            "kafka://broker:9092/topic"
        );
        assert_eq!(mask("s3://bucket/lake"), "s3://bucket/lake");
        register("Plain-Token-Value");
        register("x");
        assert_eq!(
            mask("curl -H 'auth: Plain-Token-Value' x"),
            "curl -H 'auth: ***' x"
        );
        register("p%40ss_word");
        assert_eq!(mask("login p@ss_word"), "login ***");
    }
}
