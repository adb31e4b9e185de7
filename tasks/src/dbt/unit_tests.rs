//! dbt's unit tests (1.8+): `unit_tests:` of the property files — a model's SQL run
//! with each `given` input (`ref()` or `source()`) replaced by fixture rows (a list of
//! rows, CSV or SQL), each value cast to its column's type in the warehouse (columns not
//! given are NULL), and `overrides` of vars and `is_incremental`; the rows it returns are
//! compared, as a multiset, with the `expect` rows on the columns they name. As in
//! `dbt build`, a model's unit tests run before it is built, and a failing one skips it.

use super::project::{Node, Project};
use super::relation::{Relation, quote};
use super::warehouse::Warehouse;
use crate::TaskError;
use serde_json::{Map, Value};

/// One unit test, as written.
#[derive(Debug, Clone)]
pub struct UnitTest {
    pub name: String,
    pub model: String,
    pub given: Vec<Given>,
    pub expect: Fixture,
    pub vars: Map<String, Value>,
    pub incremental: Option<bool>,
}

/// One input replaced by fixture rows.
#[derive(Debug, Clone)]
pub struct Given {
    /// `ref('x')` or `source('s', 't')` as written.
    pub input: String,
    pub rows: Fixture,
}

/// Fixture rows: objects, or a query.
#[derive(Debug, Clone)]
pub enum Fixture {
    Rows(Vec<Map<String, Value>>),
    Sql(String),
}

fn fixture(entry: &Value, what: &str) -> Result<Fixture, String> {
    let format = entry
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("dict");
    let rows = entry.get("rows");
    match (format, rows) {
        ("sql", Some(Value::String(sql))) => Ok(Fixture::Sql(sql.clone())),
        ("csv", Some(Value::String(text))) => {
            let mut reader = csv::Reader::from_reader(text.trim().as_bytes());
            let headers: Vec<String> = reader
                .headers()
                .map_err(|e| format!("{what}: {e}"))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let mut out = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| format!("{what}: {e}"))?;
                out.push(
                    headers
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| {
                            let v = v.trim();
                            let value = if v.eq_ignore_ascii_case("null") {
                                Value::Null
                            } else {
                                Value::from(v)
                            };
                            (h.clone(), value)
                        })
                        .collect(),
                );
            }
            Ok(Fixture::Rows(out))
        }
        ("dict", None) => Ok(Fixture::Rows(Vec::new())),
        ("dict", Some(Value::Array(items))) => items
            .iter()
            .map(|r| match r {
                Value::Object(m) => Ok(m.clone()),
                other => Err(format!("{what}: a row is a mapping, found {other}")),
            })
            .collect::<Result<_, _>>()
            .map(Fixture::Rows),
        (format, _) => Err(format!(
            "{what}: `format: {format}` with these rows: dict (a list of rows), csv or sql"
        )),
    }
}

/// The unit tests of property documents' `unit_tests:` entries.
pub fn read(entries: &[Value]) -> Result<Vec<UnitTest>, TaskError> {
    let mut out = Vec::new();
    for entry in entries {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let model = entry
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || model.is_empty() {
            return Err(TaskError::Config(
                "a unit test needs `name` and `model`".into(),
            ));
        }
        let what = format!("unit test `{name}`");
        let mut given = Vec::new();
        for g in entry
            .get("given")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let input = g.get("input").and_then(Value::as_str).ok_or_else(|| {
                TaskError::Config(format!("{what}: each `given` needs an `input`"))
            })?;
            given.push(Given {
                input: input.to_string(),
                rows: fixture(g, &what).map_err(TaskError::Config)?,
            });
        }
        let expect = match entry.get("expect") {
            Some(e) => fixture(e, &what).map_err(TaskError::Config)?,
            None => return Err(TaskError::Config(format!("{what}: `expect` is missing"))),
        };
        let overrides = entry.get("overrides");
        let vars = overrides
            .and_then(|o| o.get("vars"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let incremental = overrides
            .and_then(|o| o.get("macros"))
            .and_then(|m| m.get("is_incremental"))
            .and_then(Value::as_bool);
        out.push(UnitTest {
            name: name.to_string(),
            model: model.to_string(),
            given,
            expect,
            vars,
            incremental,
        });
    }
    Ok(out)
}

/// `ref('x')` / `ref("x")` → `x`; `source('s', 't')` → (s, t).
enum Input {
    Ref(String),
    Source(String, String),
}

fn parse_input(text: &str) -> Option<Input> {
    let inner = |prefix: &str| {
        text.trim()
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| {
                r.split(',')
                    .map(|p| p.trim().trim_matches(['\'', '"']).to_string())
                    .collect::<Vec<_>>()
            })
    };
    if let Some(parts) = inner("ref(") {
        return parts.last().cloned().map(Input::Ref);
    }
    match inner("source(")?.as_slice() {
        [s, t] => Some(Input::Source(s.clone(), t.clone())),
        _ => None,
    }
}

/// A value as a SQL literal cast to `data_type` (dbt's `safe_cast` of the fixture).
fn literal(value: &Value, data_type: &str) -> String {
    let text = match value {
        Value::Null => return format!("cast(null as {data_type})"),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    };
    format!("cast({text} as {data_type})")
}

/// Fixture rows as a query with the columns (name, type) of what they stand for.
fn rows_sql(rows: &[Map<String, Value>], columns: &[(String, String)]) -> Result<String, String> {
    for row in rows {
        if let Some(bad) = row
            .keys()
            .find(|k| !columns.iter().any(|(c, _)| c.eq_ignore_ascii_case(k)))
        {
            return Err(format!(
                "Invalid column name: '{bad}' in unit test fixture (its columns: {})",
                columns
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let select = |row: Option<&Map<String, Value>>| {
        let cells: Vec<String> = columns
            .iter()
            .map(|(c, t)| {
                let value = row
                    .and_then(|r| r.iter().find(|(k, _)| k.eq_ignore_ascii_case(c)))
                    .map_or(&Value::Null, |(_, v)| v);
                format!("{} as {}", literal(value, t), quote(c))
            })
            .collect();
        format!("select {}", cells.join(", "))
    };
    if rows.is_empty() {
        return Ok(format!("{} limit 0", select(None)));
    }
    Ok(rows
        .iter()
        .map(|r| select(Some(r)))
        .collect::<Vec<_>>()
        .join("\nunion all\n"))
}

/// Runs one unit test; `Ok(differing rows)` or why it could not run.
pub async fn run(
    project: &Project,
    test: &UnitTest,
    warehouse: &mut Warehouse,
) -> Result<(i64, String), String> {
    let node: &Node = project
        .node(&test.model)
        .ok_or_else(|| format!("unit test `{}`: no model `{}`", test.name, test.model))?;
    let mut fixtures: Vec<(String, String)> = Vec::new();
    let mut relations = project.invocation.relations.clone();
    let mut sources = project.invocation.sources.clone();
    for (i, given) in test.given.iter().enumerate() {
        let cte = format!("{}{i}", super::project::FIXTURE_PREFIX);
        let real = match parse_input(&given.input) {
            Some(Input::Ref(name)) => relations.get(&name).cloned().map(|r| (Some(name), None, r)),
            Some(Input::Source(s, t)) => sources
                .get(&(s.clone(), t.clone()))
                .cloned()
                .map(|r| (None, Some((s, t)), r)),
            None => None,
        };
        let Some((model, source, real)) = real else {
            return Err(format!(
                "`input: {}` names no model or source of the project",
                given.input
            ));
        };
        let sql = match &given.rows {
            Fixture::Sql(sql) => sql.clone(),
            // An ephemeral model has no table to type the rows by.
            Fixture::Rows(_) if real.kind == Some("cte") => {
                return Err(format!(
                    "`input: {}` is an ephemeral model: give its rows with `format: sql`, as dbt requires",
                    given.input
                ));
            }
            Fixture::Rows(rows) => {
                let columns = warehouse
                    .columns(&real.sql())
                    .await
                    .map_err(|e| format!("the columns of {} (build it first): {e}", real.sql()))?;
                rows_sql(rows, &columns)?
            }
        };
        let mut stand_in = Relation::new("", &cte, real.naming);
        stand_in.kind = Some("cte");
        match (model, source) {
            (Some(name), _) => {
                relations.insert(name, stand_in);
            }
            (_, Some(key)) => {
                sources.insert(key, stand_in);
            }
            _ => {}
        }
        fixtures.push((cte, sql));
    }
    let mut vars = project.invocation.cli_vars.clone();
    vars.extend(test.vars.clone());
    let sql = project
        .compile_with(
            node,
            test.incremental.unwrap_or(false),
            (relations, sources, vars),
        )
        .map_err(|e| e.to_string())?;
    let defs: Vec<String> = fixtures
        .iter()
        .map(|(name, body)| format!("{name} as (\n{body}\n)"))
        .collect();
    let actual = super::run::with_ctes(&sql, &defs);
    let output = warehouse
        .columns(&format!("(\n{actual}\n) q"))
        .await
        .map_err(|e| e.to_string())?;
    let expected = match &test.expect {
        Fixture::Sql(sql) => sql.clone(),
        Fixture::Rows(rows) => {
            let named: Vec<(String, String)> = match rows.first() {
                Some(first) => output
                    .iter()
                    .filter(|(c, _)| first.keys().any(|k| k.eq_ignore_ascii_case(c)))
                    .cloned()
                    .collect(),
                None => output.clone(),
            };
            rows_sql(rows, &named)?
        }
    };
    let compared: Vec<String> = match &test.expect {
        Fixture::Rows(rows) if !rows.is_empty() => output
            .iter()
            .filter(|(c, _)| rows[0].keys().any(|k| k.eq_ignore_ascii_case(c)))
            .map(|(c, _)| quote(c))
            .collect(),
        _ => output.iter().map(|(c, _)| quote(c)).collect(),
    };
    let list = compared.join(", ");
    let diff = format!(
        "with dbt_internal_unit_test_actual as (select {list} from (\n{actual}\n) a), \
         dbt_internal_unit_test_expected as (select {list} from (\n{expected}\n) e) \
         select count(*) from ((select * from dbt_internal_unit_test_actual except all \
         select * from dbt_internal_unit_test_expected) union all (select * from \
         dbt_internal_unit_test_expected except all select * from dbt_internal_unit_test_actual)) d"
    );
    let (_, rows) = warehouse.query(&diff).await.map_err(|e| e.to_string())?;
    let differing = rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok((differing, diff))
}
