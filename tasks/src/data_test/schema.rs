//! dbt's `schema.yml` as written: models and sources, model- and column-level tests under
//! `data_tests:` (or the older `tests:`), inputs under `arguments:` (dbt ≥ 1.10) or inline,
//! configs under `config:` or inline. Each test becomes a [`TestCase`] named as dbt names
//! it; every problem is reported as `file:line:col`.

use super::kinds::Kind;
use super::verdict::{Severity, Threshold};
use crate::yaml_locations::Locations;
use serde_json::{Map, Value};
use std::path::Path;

/// Keys of a test that are configs, not arguments, when written inline.
const CONFIG_KEYS: &[&str] = &[
    "severity",
    "warn_if",
    "error_if",
    "where",
    "limit",
    "store_failures",
    "store_failures_as",
    "fail_calc",
    "enabled",
    "tags",
    "meta",
    "alias",
    "schema",
    "database",
];

/// Where a test's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// A model, by name.
    Model(String),
    /// `source('source', 'table')`.
    Source { source: String, table: String },
}

impl Relation {
    /// The name dbt puts in a test's name: `tweets`, or `raw_tweets` for a source.
    fn name_part(&self) -> String {
        match self {
            Relation::Model(m) => m.clone(),
            Relation::Source { source, table } => format!("{source}_{table}"),
        }
    }

    /// The name a report shows: `tweets` or `raw.tweets`.
    pub fn shown(&self) -> String {
        match self {
            Relation::Model(m) => m.clone(),
            Relation::Source { source, table } => format!("{source}.{table}"),
        }
    }
}

/// A test's configs, with dbt's defaults.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub severity: Severity,
    pub warn_if: Threshold,
    pub error_if: Threshold,
    pub where_: Option<String>,
    pub limit: Option<u64>,
    pub fail_calc: String,
    pub enabled: bool,
    /// Keep the failing rows (None: the task's `store_failures`).
    pub store_failures: Option<bool>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            severity: Severity::Error,
            warn_if: Threshold::default(),
            error_if: Threshold::default(),
            where_: None,
            limit: None,
            fail_calc: "count(*)".into(),
            enabled: true,
            store_failures: None,
        }
    }
}

/// One test of a schema file.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// dbt's name: `unique_tweets_tweet_id`, `source_not_null_raw_tweets_tweet_id`.
    pub name: String,
    pub kind: Kind,
    /// The name as written (`unique`, `dbt_utils.accepted_range`).
    pub written: String,
    pub relation: Relation,
    pub column: Option<String>,
    pub args: Map<String, Value>,
    pub config: TestConfig,
}

/// What a schema file says: its tests, and the database schema of each source (dbt's
/// default: the source's name).
#[derive(Debug, Clone, Default)]
pub struct SchemaFile {
    pub tests: Vec<TestCase>,
    pub source_schemas: std::collections::BTreeMap<String, String>,
}

/// Reads a schema file's tests; errors are `file:line:col: message`.
pub fn read(text: &str, file: &Path) -> Result<SchemaFile, Vec<String>> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        vec![format!("{}:{}:{}: {e}", file.display(), at.0, at.1)]
    })?;
    parse(&doc, &Locations::scan(text), file, &Default::default())
}

/// The tests of a schema document given inline (`models:` in the task's config).
pub fn from_value(doc: &Value, file: &Path) -> Result<SchemaFile, Vec<String>> {
    parse(doc, &Locations::default(), file, &Default::default())
}

/// The tests of a dbt project's property document, `custom` naming the generic tests
/// the project defines.
pub fn of_project(
    doc: &Value,
    file: &Path,
    custom: &std::collections::BTreeSet<String>,
) -> Result<SchemaFile, Vec<String>> {
    parse(doc, &Locations::default(), file, custom)
}

struct Reader<'a> {
    locations: &'a Locations,
    /// Generic tests a dbt project defines, by name.
    custom: &'a std::collections::BTreeSet<String>,
    file: &'a Path,
    errors: Vec<String>,
    out: SchemaFile,
}

impl Reader<'_> {
    fn error(&mut self, path: &str, message: impl std::fmt::Display) {
        let pos = self.locations.nearest(path);
        self.errors.push(format!(
            "{}:{}:{}: {message}",
            self.file.display(),
            pos.line,
            pos.col
        ));
    }

    fn check_keys(&mut self, node: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in node.keys() {
            if !allowed.contains(&key.as_str()) {
                self.error(
                    &format!("{path}.{key}"),
                    format!(
                        "unknown key `{key}` (expected one of: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}

/// The keys dbt allows at the top of a schema file.
const TOP_KEYS: &[&str] = &[
    "version",
    "models",
    "sources",
    "seeds",
    "snapshots",
    "exposures",
    "macros",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
    "groups",
];

/// The keys dbt allows in a model.
const MODEL_KEYS: &[&str] = &[
    "name",
    "description",
    "columns",
    "data_tests",
    "tests",
    "config",
    "meta",
    "docs",
    "access",
    "constraints",
    "latest_version",
    "versions",
    "group",
    "deprecation_date",
];

/// The keys dbt allows in a source.
const SOURCE_KEYS: &[&str] = &[
    "name",
    "description",
    "schema",
    "database",
    "tables",
    "loader",
    "meta",
    "tags",
    "config",
    "freshness",
    "loaded_at_field",
    "quoting",
    "overrides",
];

/// The keys dbt allows in a source's table.
const TABLE_KEYS: &[&str] = &[
    "name",
    "description",
    "identifier",
    "columns",
    "data_tests",
    "tests",
    "meta",
    "tags",
    "config",
    "freshness",
    "loaded_at_field",
    "quoting",
    "external",
];

fn parse(
    doc: &Value,
    locations: &Locations,
    file: &Path,
    custom: &std::collections::BTreeSet<String>,
) -> Result<SchemaFile, Vec<String>> {
    let mut r = Reader {
        locations,
        custom,
        file,
        errors: Vec::new(),
        out: SchemaFile::default(),
    };
    let Some(top) = doc.as_object() else {
        r.error(
            "",
            "a schema file is a mapping with `version: 2` and `models:` or `sources:`",
        );
        return Err(r.errors);
    };
    r.check_keys(top, "", TOP_KEYS);
    for (i, model) in list(&mut r, top.get("models"), "models").iter().enumerate() {
        let path = format!("models.{i}");
        let Some((m, name)) = named(&mut r, model, &path, "a model", MODEL_KEYS) else {
            continue;
        };
        owner(&mut r, m, &path, &Relation::Model(name.to_string()));
    }
    sources(&mut r, top);
    let mut seen = std::collections::HashSet::new();
    for t in &r.out.tests {
        if !seen.insert(t.name.clone()) {
            r.errors.push(format!(
                "{}: two tests are named `{}` (dbt refuses this too); remove one",
                file.display(),
                t.name
            ));
        }
    }
    if r.errors.is_empty() {
        Ok(r.out)
    } else {
        Err(r.errors)
    }
}

/// The `sources:` of a schema file: each source's schema, and its tables' tests.
fn sources(r: &mut Reader<'_>, top: &Map<String, Value>) {
    for (i, source) in list(r, top.get("sources"), "sources").iter().enumerate() {
        let path = format!("sources.{i}");
        let Some((s, name)) = named(r, source, &path, "a source", SOURCE_KEYS) else {
            continue;
        };
        let schema = s.get("schema").and_then(Value::as_str).unwrap_or(name);
        r.out
            .source_schemas
            .insert(name.to_string(), schema.to_string());
        for (j, table) in list(r, s.get("tables"), &format!("{path}.tables"))
            .iter()
            .enumerate()
        {
            let tpath = format!("{path}.tables.{j}");
            let Some((t, tname)) = named(r, table, &tpath, "a source table", TABLE_KEYS) else {
                continue;
            };
            let relation = Relation::Source {
                source: name.to_string(),
                table: tname.to_string(),
            };
            owner(r, t, &tpath, &relation);
        }
    }
}

fn list<'v>(r: &mut Reader, value: Option<&'v Value>, path: &str) -> Vec<&'v Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => {
            r.error(
                path,
                format!(
                    "`{}` must be a list",
                    path.rsplit('.').next().unwrap_or(path)
                ),
            );
            Vec::new()
        }
    }
}

/// A list entry that must be a mapping with a `name:` and only `allowed` keys: the
/// mapping and the name, or None after saying what is wrong.
fn named<'v>(
    r: &mut Reader,
    node: &'v Value,
    path: &str,
    what: &str,
    allowed: &[&str],
) -> Option<(&'v Map<String, Value>, &'v str)> {
    let Some(map) = node.as_object() else {
        r.error(path, format!("{what} is a mapping with `name:`"));
        return None;
    };
    r.check_keys(map, path, allowed);
    let Some(name) = map.get("name").and_then(Value::as_str) else {
        r.error(path, format!("{what} needs a `name`"));
        return None;
    };
    Some((map, name))
}

/// The tests of a model or source table and of its columns.
fn owner(r: &mut Reader, node: &Map<String, Value>, path: &str, relation: &Relation) {
    tests_of(r, node, path, relation, None);
    for (k, column) in list(r, node.get("columns"), &format!("{path}.columns"))
        .iter()
        .enumerate()
    {
        let cpath = format!("{path}.columns.{k}");
        let Some((c, name)) = named(
            r,
            column,
            &cpath,
            "a column",
            &[
                "name",
                "description",
                "data_type",
                "data_tests",
                "tests",
                "meta",
                "tags",
                "quote",
                "constraints",
                "config",
                "granularity",
            ],
        ) else {
            continue;
        };
        tests_of(r, c, &cpath, relation, Some(name));
    }
}

fn tests_of(
    r: &mut Reader,
    node: &Map<String, Value>,
    path: &str,
    relation: &Relation,
    column: Option<&str>,
) {
    for key in ["data_tests", "tests"] {
        let tpath = format!("{path}.{key}");
        for (i, test) in list(r, node.get(key), &tpath).iter().enumerate() {
            let at = format!("{tpath}.{i}");
            match test_case(test, relation, column, r.custom) {
                Ok(case) => r.out.tests.push(case),
                Err((sub, message)) => r.error(&format!("{at}{sub}"), message),
            }
        }
    }
}

/// One entry of `data_tests:`; an error carries the path below the entry.
fn test_case(
    entry: &Value,
    relation: &Relation,
    column: Option<&str>,
    custom: &std::collections::BTreeSet<String>,
) -> Result<TestCase, (String, String)> {
    let (written, body) = match entry {
        Value::String(name) => (name.clone(), Map::new()),
        Value::Object(m) if m.len() == 1 => {
            let (name, body) = m
                .iter()
                .next()
                .ok_or((String::new(), "empty test".to_string()))?;
            match body {
                Value::Object(b) => (name.clone(), b.clone()),
                Value::Null => (name.clone(), Map::new()),
                _ => {
                    return Err((
                        format!(".{name}"),
                        format!("the inputs of `{name}` must be a mapping"),
                    ));
                }
            }
        }
        _ => {
            return Err((
                String::new(),
                "a test is a name (`unique`) or a mapping of one name to its inputs".into(),
            ));
        }
    };
    let at = |key: &str| format!(".{written}.{key}");
    // A test the dbt project or its packages define is theirs, before a built-in of the
    // same name (dbt's resolution: the root project's macro first).
    let kind = custom
        .contains(&written)
        .then_some(Kind::Project)
        .or_else(|| Kind::parse(&written))
        .ok_or_else(|| {
            (
                String::new(),
                format!(
                    "unknown test `{written}` (known: {})",
                    Kind::known().join(", ")
                ),
            )
        })?;
    let mut args = Map::new();
    let mut config = Map::new();
    for (key, value) in &body {
        match key.as_str() {
            "arguments" => match value {
                Value::Object(a) => args.extend(a.clone()),
                _ => return Err((at(key), "`arguments` must be a mapping".into())),
            },
            "config" => match value {
                Value::Object(c) => config.extend(c.clone()),
                _ => return Err((at(key), "`config` must be a mapping".into())),
            },
            "name" | "description" => {}
            k if CONFIG_KEYS.contains(&k) => {
                config.insert(key.clone(), value.clone());
            }
            _ => {
                args.insert(key.clone(), value.clone());
            }
        }
    }
    let column = match args.remove("column_name") {
        Some(Value::String(c)) => Some(c),
        Some(_) => return Err((at("column_name"), "`column_name` must be a string".into())),
        None => column.map(str::to_string),
    };
    kind.check_args(&args, column.is_some())
        .map_err(|(key, message)| (at(&format!("arguments.{key}")), message))?;
    let config = read_config(&config).map_err(|(key, message)| (at(&key), message))?;
    let name = dbt_name(&written, relation, column.as_deref(), &args);
    Ok(TestCase {
        name,
        kind,
        written,
        relation: relation.clone(),
        column,
        args,
        config,
    })
}

/// A test's configs (`severity`, `warn_if`, `where`...) from their map; an error names
/// the key.
pub fn read_config(c: &Map<String, Value>) -> Result<TestConfig, (String, String)> {
    let mut config = TestConfig::default();
    for (key, value) in c {
        let bad = |what: &str| (key.clone(), format!("`{key}` must be {what}"));
        match key.as_str() {
            "severity" => {
                config.severity = value
                    .as_str()
                    .and_then(Severity::parse)
                    .ok_or_else(|| bad("`error` or `warn`"))?;
            }
            "warn_if" | "error_if" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| bad("a condition such as `!= 0` or `>10`"))?;
                let threshold =
                    Threshold::parse(text).map_err(|e| (key.clone(), format!("`{key}`: {e}")))?;
                if key == "warn_if" {
                    config.warn_if = threshold;
                } else {
                    config.error_if = threshold;
                }
            }
            "where" => {
                config.where_ = Some(
                    value
                        .as_str()
                        .ok_or_else(|| bad("a SQL condition"))?
                        .to_string(),
                )
            }
            "limit" => config.limit = Some(value.as_u64().ok_or_else(|| bad("a whole number"))?),
            "fail_calc" => {
                config.fail_calc = value
                    .as_str()
                    .ok_or_else(|| bad("a SQL expression"))?
                    .to_string()
            }
            "enabled" => config.enabled = value.as_bool().ok_or_else(|| bad("true or false"))?,
            "store_failures" | "store_failures_as" | "tags" | "meta" | "alias" | "schema"
            | "database" => {}
            other => return Err((other.to_string(), format!("unknown config `{other}`"))),
        }
    }
    Ok(config)
}

/// dbt's test name: `<type>_<model>_<arguments flattened>`, each argument cleaned to
/// `[0-9a-zA-Z_]` and joined by `__`, arguments in name order (`column_name` first as an
/// argument like the others); a source's tests start with `source_`.
fn dbt_name(
    written: &str,
    relation: &Relation,
    column: Option<&str>,
    args: &Map<String, Value>,
) -> String {
    let mut all: Vec<(&str, &Value)> = args.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let column_value = column.map(|c| Value::String(c.to_string()));
    if let Some(c) = &column_value {
        all.push(("column_name", c));
    }
    all.sort_by(|a, b| a.0.cmp(b.0));
    let mut flat = Vec::new();
    for (_, value) in all {
        match value {
            Value::Object(m) => flat.extend(m.values().map(scalar_text)),
            Value::Array(items) => flat.extend(items.iter().map(scalar_text)),
            other => flat.push(scalar_text(other)),
        }
    }
    let cleaned: Vec<String> = flat.iter().map(|a| clean(a)).collect();
    let test_type = written.replace('.', "_");
    let prefix = match relation {
        Relation::Source { .. } => "source_",
        Relation::Model(_) => "",
    };
    format!(
        "{prefix}{test_type}_{}_{}",
        relation.name_part(),
        cleaned.join("__")
    )
}

/// A value as Python's `str()` shows it, as dbt flattens arguments.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Runs of characters outside `[0-9a-zA-Z_]` become one `_`.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_forms_follow_dbt() {
        let text = r#"version: 2
sources:
  - name: raw
    tables:
      - name: tweets
        columns:
          - name: user_id
            data_tests:
              - relationships:
                  arguments: {to: "source('raw', 'users')", field: user_id}
                  config: {limit: 1}
models:
  - name: tweets
    columns:
      - name: tweet_id
        tests: [unique, not_null]
      - name: sentiment_category
        data_tests:
          - accepted_values:
              values: [positive, neutral, negative]
              severity: warn
"#;
        let tests = read(text, Path::new("s.yml")).unwrap().tests;
        let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "unique_tweets_tweet_id",
                "not_null_tweets_tweet_id",
                "accepted_values_tweets_sentiment_category__positive__neutral__negative",
                "source_relationships_raw_tweets_user_id__user_id__source_raw_users_",
            ]
        );
        assert_eq!(tests[2].config.severity, Severity::Warn);
        assert_eq!(tests[3].config.limit, Some(1));
    }

    #[test]
    fn problems_point_into_the_file() {
        let text = "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: c\n        data_tests: [uniq]\n      - name: d\n        data_tests:\n          - accepted_values: {config: {warn_if: 'lots'}, values: [a]}\n";
        let errors = read(text, Path::new("s.yml")).unwrap_err();
        assert!(
            errors[0].starts_with("s.yml:6:22: unknown test `uniq`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("warn_if"), "{errors:?}");
        assert!(errors[1].starts_with("s.yml:9:"), "{errors:?}");
    }
}
