//! The one masking function every output path uses (attempt logs, command output, the
//! process's log lines, errors, rendered configs, history rows): passwords in URIs,
//! password-like query parameters, and every value registered as secret (connection
//! passwords, environment variables with secret-sounding names) become `***`, as
//! Airflow's secrets masker does. Structured output (JSON answers, HTML pages) is masked in
//! its string values only, never in its syntax; values under password-like keys (a run's
//! `conf`) are hidden by their key's name.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// Values shorter than this are not registered: masking `1` or `db` everywhere would make
/// every output unreadable and protect nothing (Airflow's `min_length_masked_secret`).
const MIN_SECRET_LEN: usize = 5;

/// A number shorter than this (`2026`, `30000`) is a setting, not a secret: masked, it
/// would blank every year of every timestamp and every port.
const MIN_SECRET_NUMBER_LEN: usize = 6;

/// Values that are settings whatever variable holds them (`USE_SECRET_STORE=false`).
const NOT_SECRETS: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "null", "none", "enabled", "disabled",
];

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

/// Words that make a key of a JSON object (a run's `conf`, params) hold a secret.
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "credential",
    "authorization",
];

/// Whether `value` could be a secret at all: long enough, and not a boolean, a null or a
/// short number that would mask half of every output.
fn could_be_secret(value: &str) -> bool {
    let trimmed = value.trim();
    if trimmed.len() < MIN_SECRET_LEN {
        return false;
    }
    if NOT_SECRETS.iter().any(|w| trimmed.eq_ignore_ascii_case(w)) {
        return false;
    }
    let numeric = trimmed.parse::<f64>().is_ok();
    !(numeric && trimmed.len() < MIN_SECRET_NUMBER_LEN)
}

/// Whether a key's name says its value is a secret (`db_password`, `apiKey`, `TOKEN`).
pub fn is_secret_key(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_KEY_WORDS.iter().any(|w| lower.contains(w))
}

/// Registers every value under a password-like key of `value` (at any depth), so the logs
/// and answers that show it later mask it too.
pub fn register_secret_keys(value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if is_secret_key(key) {
                    register_scalars(v);
                } else {
                    register_secret_keys(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(register_secret_keys),
        _ => {}
    }
}

fn register_scalars(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => register(s),
        serde_json::Value::Number(n) => register(&n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(register_scalars),
        serde_json::Value::Object(map) => map.values().for_each(register_scalars),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

/// `value` with every value under a password-like key replaced by `***`, as shown to
/// people (the value itself is kept where tasks read it).
pub fn hide_secret_keys(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let shown = if is_secret_key(key) && !v.is_null() {
                        serde_json::Value::String(MASK.to_string())
                    } else {
                        hide_secret_keys(v)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(hide_secret_keys).collect())
        }
        other => other.clone(),
    }
}

/// Masks the string values of a JSON document (object keys included) in place; its
/// syntax, numbers and booleans are never touched, so it stays valid JSON.
pub fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(masked) = mask(s) {
                *s = masked;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        serde_json::Value::Object(map) => {
            let masked_keys = map.keys().any(|k| matches!(mask(k), Cow::Owned(_)));
            if masked_keys {
                let entries = std::mem::take(map);
                *map = entries
                    .into_iter()
                    .map(|(k, v)| (mask(&k).into_owned(), v))
                    .collect();
            }
            map.values_mut().for_each(mask_json);
        }
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) | serde_json::Value::Null => {}
    }
}

/// Masks an HTML page in its text and its quoted attribute values only: tag names,
/// attribute names and the markup itself stay as they are. (Pages are rendered with
/// every attribute value quoted.)
pub fn mask_html(page: &str) -> Cow<'_, str> {
    if matches!(mask(page), Cow::Borrowed(_)) {
        return Cow::Borrowed(page);
    }
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(open) = rest.find('<') {
        out.push_str(&mask(&rest[..open]));
        rest = &rest[open..];
        // Inside a tag: copied as it is up to each quote, the quoted value masked.
        loop {
            let Some(at) = rest.find(['"', '\'', '>']) else {
                // A tag that never closes: the rest is copied as it is.
                out.push_str(rest);
                return Cow::Owned(out);
            };
            let quote = &rest[at..=at];
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            if quote == ">" {
                break;
            }
            let close = rest.find(quote).unwrap_or(rest.len());
            out.push_str(&mask(&rest[..close]));
            rest = &rest[close..];
            if let Some(after) = rest.strip_prefix(quote) {
                out.push_str(quote);
                rest = after;
            }
        }
    }
    out.push_str(&mask(rest));
    Cow::Owned(out)
}

/// Registers a value to be masked wherever it appears (and its URL-decoded form), unless
/// it is too short or too common to be a secret (see `could_be_secret`).
pub fn register(value: &str) {
    let mut forms = vec![value.to_string()];
    if let Ok(decoded) = urlencoding_decode(value)
        && decoded != value
    {
        forms.push(decoded);
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if could_be_secret(&form) && !secrets.contains(&form) {
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

    #[test]
    fn settings_that_sound_secret_are_not_registered() {
        for value in ["false", "TRUE", "no", "2026", "30000", "null", "abc"] {
            register(value);
        }
        let text = r#"{"paused": false, "year": "2026-12-06", "port": 30000, "v": null}"#;
        assert_eq!(mask(text), text);
        register("482913");
        assert_eq!(mask("pin 482913"), "pin ***");
    }

    #[test]
    fn json_is_masked_in_its_strings_only() {
        register("json-secret-value");
        let mut doc = serde_json::json!({
            "error": "login with json-secret-value failed",
            "json-secret-value": 1,
            "ok": true,
            "n": 12.5,
            "list": ["json-secret-value", null],
        });
        mask_json(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({
                "error": "login with *** failed",
                "***": 1,
                "ok": true,
                "n": 12.5,
                "list": ["***", null],
            })
        );
    }

    #[test]
    fn values_under_secret_keys_are_hidden_and_registered() {
        let conf = serde_json::json!({
            "source": "file://x",
            "db_password": "conf-pass-1234",
            "nested": {"apiKey": 1234567, "token": null, "region": "eu"},
        });
        assert_eq!(
            hide_secret_keys(&conf),
            serde_json::json!({
                "source": "file://x",
                "db_password": "***",
                "nested": {"apiKey": "***", "token": null, "region": "eu"},
            })
        );
        register_secret_keys(&conf);
        assert_eq!(mask("echo conf-pass-1234 1234567"), "echo *** ***");
        assert!(is_secret_key("AWS_SECRET_ACCESS_KEY") && !is_secret_key("source"));
    }

    #[test]
    fn html_is_masked_in_text_and_attribute_values_only() {
        register("stylesheet");
        let page =
            r#"<link rel="stylesheet" href="/s.css"><p title='stylesheet'>a stylesheet</p><br>"#;
        assert_eq!(
            mask_html(page),
            r#"<link rel="***" href="/s.css"><p title='***'>a ***</p><br>"#
        );
        assert_eq!(mask_html("<p>plain</p>"), "<p>plain</p>");
        assert_eq!(mask_html("stylesheet <p unclosed"), "*** <p unclosed");
    }
}
