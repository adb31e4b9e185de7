//! dbt's singular tests: each `.sql` file of a folder is a query returning failing rows,
//! named after the file, reading models with `{{ ref('m') }}` and sources with
//! `{{ source('s', 't') }}`, and configured with `{{ config(severity='warn', ...) }}`.

use super::kinds::parse_relation;
use super::schema::{Relation, TestConfig};
use super::verdict::{Severity, Threshold};
use std::path::Path;

/// One singular test as read from its file.
#[derive(Debug, Clone)]
pub struct SingularTest {
    pub name: String,
    /// The query with `{{ ... }}` calls still in it.
    pub template: String,
    pub config: TestConfig,
    /// The relations its `ref()`/`source()` calls name.
    pub relations: Vec<Relation>,
}

/// The `.sql` files of `dir`, by name; errors say which file and what.
pub fn read_dir(dir: &Path) -> Result<Vec<SingularTest>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read the singular tests folder {}: {e}",
            dir.display()
        )
    })?;
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            parse(&text)
                .map_err(|e| format!("{}: {e}", path.display()))
                .map(|(config, relations)| SingularTest {
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    template: text,
                    config,
                    relations,
                })
        })
        .collect()
}

/// Every `{{ ... }}` call of a file: its config and the relations it reads.
fn parse(text: &str) -> Result<(TestConfig, Vec<Relation>), String> {
    let mut config = TestConfig::default();
    let mut relations = Vec::new();
    for call in calls(text)? {
        if call.starts_with("config(") {
            config = read_config(&call)?;
        } else {
            relations.push(parse_relation(&call)?);
        }
    }
    Ok((config, relations))
}

/// The expressions between `{{` and `}}`.
fn calls(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a `{{` is never closed")?;
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// `config(severity='warn', warn_if='>1', error_if='>5', limit=10, fail_calc='...')`.
fn read_config(call: &str) -> Result<TestConfig, String> {
    let inner = call
        .strip_prefix("config(")
        .and_then(|c| c.strip_suffix(')'))
        .ok_or("config(...) is not closed")?;
    let mut config = TestConfig::default();
    for pair in split_top_level(inner) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("`{pair}` in config(): expected key='value'"));
        };
        let key = key.trim();
        let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
        match key {
            "severity" => {
                config.severity =
                    Severity::parse(value).ok_or("severity must be 'error' or 'warn'")?
            }
            "warn_if" => config.warn_if = Threshold::parse(value)?,
            "error_if" => config.error_if = Threshold::parse(value)?,
            "limit" => {
                config.limit = Some(value.parse().map_err(|_| "limit must be a whole number")?)
            }
            "fail_calc" => config.fail_calc = value.to_string(),
            "store_failures" => config.store_failures = Some(value.eq_ignore_ascii_case("true")),
            "enabled" => config.enabled = !value.eq_ignore_ascii_case("false"),
            "tags" | "meta" => {}
            other => return Err(format!("unknown config `{other}`")),
        }
    }
    Ok(config)
}

/// Splits on commas outside quotes and brackets.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut current) = (0i32, None::<char>, String::new());
    for c in text.chars() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('(' | '[', None) => depth += 1,
            (')' | ']', None) => depth -= 1,
            (',', None) if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

/// The query with each `ref()`/`source()` replaced by what `relation` renders and the
/// config call removed.
pub fn render(template: &str, relation: &dyn Fn(&Relation) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let call = after[..end].trim();
        if let Ok(r) = parse_relation(call) {
            out.push_str(&relation(&r));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    // A trailing semicolon would end the wrapping query early.
    out.trim().trim_end_matches(';').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_sources_and_config() {
        let text = "{{ config(severity='warn', error_if='>5') }}\nselect * from {{ ref('tweets') }} t\njoin {{ source('raw', 'users') }} u using (user_id);\n";
        let (config, relations) = parse(text).unwrap();
        assert_eq!(config.severity, Severity::Warn);
        assert_eq!(relations.len(), 2);
        let sql = render(text, &|r| format!("<{}>", r.shown()));
        assert_eq!(
            sql,
            "select * from <tweets> t\njoin <raw.users> u using (user_id)"
        );
        assert!(parse("{{ config(colour='red') }}").is_err());
    }
}
