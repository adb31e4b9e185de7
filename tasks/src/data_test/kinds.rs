//! The generic tests and the SQL each compiles to, following dbt's macros (dbt-adapters'
//! `default__test_*`, dbt-utils' `generic_tests/`): the query returns the failing rows,
//! and what one failure counts is what one row of it is — a duplicated value (`unique`),
//! a NULL row (`not_null`), a distinct bad value (`accepted_values`), an orphan row
//! (`relationships`), a row out of range (`accepted_range`).

use super::schema::Relation;
use serde_json::{Map, Value};

/// A generic test this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unique,
    NotNull,
    AcceptedValues,
    Relationships,
    ExpressionIsTrue,
    AcceptedRange,
    UniqueCombinationOfColumns,
    NotNullProportion,
    Recency,
    EqualRowcount,
    RowCountBetween,
    /// A generic test the dbt project defines (`{% test name(model, column_name) %}`):
    /// its failing rows are the project's macro rendered (by the `dbt` engine).
    Project,
}

/// Names as written, the dbt-utils ones also under `dbt_utils.`.
const NAMES: &[(&str, Kind, bool)] = &[
    ("unique", Kind::Unique, false),
    ("not_null", Kind::NotNull, false),
    ("accepted_values", Kind::AcceptedValues, false),
    ("relationships", Kind::Relationships, false),
    ("expression_is_true", Kind::ExpressionIsTrue, true),
    ("accepted_range", Kind::AcceptedRange, true),
    (
        "unique_combination_of_columns",
        Kind::UniqueCombinationOfColumns,
        true,
    ),
    ("not_null_proportion", Kind::NotNullProportion, true),
    ("recency", Kind::Recency, true),
    ("equal_rowcount", Kind::EqualRowcount, true),
    ("row_count_between", Kind::RowCountBetween, false),
];

/// The SQL flavour a test runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    DataFusion,
    Postgres,
    Sqlite,
}

impl Kind {
    /// The kind of a test name (`unique`, `dbt_utils.accepted_range`).
    pub fn parse(written: &str) -> Option<Kind> {
        let (utils, name) = match written.strip_prefix("dbt_utils.") {
            Some(rest) => (true, rest),
            None => (false, written),
        };
        NAMES
            .iter()
            .find(|(n, _, from_utils)| *n == name && (!utils || *from_utils))
            .map(|(_, kind, _)| *kind)
    }

    /// Every name accepted.
    pub fn known() -> Vec<&'static str> {
        NAMES.iter().map(|(n, _, _)| *n).collect()
    }

    /// The name stored as `test_type`.
    pub fn as_str(self) -> &'static str {
        if self == Kind::Project {
            return "project";
        }
        NAMES
            .iter()
            .find(|(_, k, _)| *k == self)
            .map_or("unknown", |(n, _, _)| n)
    }

    /// Checks the arguments; an error names the argument.
    pub fn check_args(
        self,
        args: &Map<String, Value>,
        has_column: bool,
    ) -> Result<(), (String, String)> {
        let (required, optional): (&[&str], &[&str]) = match self {
            // The project's macro says what it takes; rendering it checks.
            Kind::Project => return Ok(()),
            Kind::Unique | Kind::NotNull => (&[], &[]),
            Kind::AcceptedValues => (&["values"], &["quote"]),
            Kind::Relationships => (&["to", "field"], &[]),
            Kind::ExpressionIsTrue => (&["expression"], &[]),
            Kind::AcceptedRange => (&[], &["min_value", "max_value", "inclusive"]),
            Kind::UniqueCombinationOfColumns => (&["combination_of_columns"], &["quote_columns"]),
            Kind::NotNullProportion => (&["at_least"], &["at_most"]),
            Kind::Recency => (
                &["datepart", "field", "interval"],
                &["ignore_time_component"],
            ),
            Kind::EqualRowcount => (&["compare_model"], &[]),
            Kind::RowCountBetween => (&[], &["min", "max"]),
        };
        for key in args.keys() {
            if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
                let mut all: Vec<&str> = required.iter().chain(optional).copied().collect();
                all.push("column_name");
                return Err((
                    key.clone(),
                    format!(
                        "`{}` takes no argument `{key}` (it takes: {})",
                        self.as_str(),
                        all.join(", ")
                    ),
                ));
            }
        }
        if let Some(missing) = required.iter().find(|k| !args.contains_key(**k)) {
            return Err((
                missing.to_string(),
                format!("`{}` needs the argument `{missing}`", self.as_str()),
            ));
        }
        let needs_column = matches!(
            self,
            Kind::Unique
                | Kind::NotNull
                | Kind::AcceptedValues
                | Kind::Relationships
                | Kind::AcceptedRange
                | Kind::NotNullProportion
        );
        if needs_column && !has_column {
            return Err((
                String::new(),
                format!(
                    "`{}` tests a column: list it under a column, or give `column_name`",
                    self.as_str()
                ),
            ));
        }
        let number = |key: &str| args.get(key).is_none_or(|v| v.is_number());
        let list = |key: &str| {
            args.get(key)
                .is_none_or(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        };
        let text = |key: &str| args.get(key).is_none_or(Value::is_string);
        let bad = |key: &str, what: &str| Err((key.to_string(), format!("`{key}` must be {what}")));
        match self {
            Kind::AcceptedValues if !list("values") => bad("values", "a non-empty list"),
            Kind::UniqueCombinationOfColumns if !list("combination_of_columns") => {
                bad("combination_of_columns", "a non-empty list of columns")
            }
            Kind::Relationships if !text("to") || !text("field") => bad(
                "to",
                "`ref('model')`, `source('source', 'table')` or a table name, with `field` a column",
            ),
            Kind::Relationships => parse_relation(args["to"].as_str().unwrap_or_default())
                .map(|_| ())
                .map_err(|e| ("to".into(), e)),
            Kind::EqualRowcount => match args["compare_model"].as_str() {
                Some(t) => parse_relation(t)
                    .map(|_| ())
                    .map_err(|e| ("compare_model".into(), e)),
                None => bad("compare_model", "`ref('model')` or a table name"),
            },
            Kind::AcceptedRange if !number("min_value") || !number("max_value") => {
                bad("min_value", "numbers (min_value, max_value)")
            }
            Kind::AcceptedRange
                if !args.contains_key("min_value") && !args.contains_key("max_value") =>
            {
                bad("min_value", "given, or `max_value`")
            }
            Kind::NotNullProportion if !number("at_least") || !number("at_most") => {
                bad("at_least", "a number between 0 and 1")
            }
            Kind::RowCountBetween if !number("min") || !number("max") => {
                bad("min", "a whole number (min, max)")
            }
            Kind::Recency if !args["interval"].is_number() => bad("interval", "a whole number"),
            Kind::Recency
                if !["year", "month", "week", "day", "hour", "minute", "second"]
                    .contains(&args["datepart"].as_str().unwrap_or_default()) =>
            {
                bad(
                    "datepart",
                    "one of year, month, week, day, hour, minute, second",
                )
            }
            Kind::ExpressionIsTrue if !text("expression") => bad("expression", "a SQL expression"),
            _ => Ok(()),
        }
    }

    /// Relations the test reads besides its model (`relationships: to`, `compare_model`).
    pub fn other_relations(self, args: &Map<String, Value>) -> Vec<Relation> {
        let key = match self {
            Kind::Relationships => "to",
            Kind::EqualRowcount => "compare_model",
            _ => return Vec::new(),
        };
        args.get(key)
            .and_then(Value::as_str)
            .and_then(|t| parse_relation(t).ok())
            .into_iter()
            .collect()
    }

    /// The failure count dbt computes for this test unless `fail_calc` is set.
    pub fn default_fail_calc(self) -> &'static str {
        match self {
            Kind::EqualRowcount => "sum(coalesce(diff_count, 0))",
            _ => "count(*)",
        }
    }

    /// The query returning the failing rows. `model` is the (filtered) model as a FROM
    /// item; `relation` renders the other relations the test names.
    pub fn failing_rows(
        self,
        model: &str,
        column: Option<&str>,
        args: &Map<String, Value>,
        dialect: Dialect,
        relation: &dyn Fn(&Relation) -> String,
    ) -> String {
        let col = column.unwrap_or_default();
        let arg = |k: &str| args.get(k).map(text_of).unwrap_or_default();
        match self {
            Kind::Unique => format!(
                "select {col} as unique_field, count(*) as n_records from {model} where {col} is not null group by {col} having count(*) > 1"
            ),
            Kind::NotNull => format!("select {col} from {model} where {col} is null"),
            Kind::AcceptedValues => {
                let quote = args.get("quote").and_then(Value::as_bool).unwrap_or(true);
                let values: Vec<String> = args["values"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .map(|x| {
                                if quote {
                                    sql_string(&text_of(x))
                                } else {
                                    text_of(x)
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "with all_values as (select {col} as value_field, count(*) as n_records from {model} group by {col}) \
                     select * from all_values where value_field not in ({})",
                    values.join(", ")
                )
            }
            Kind::Relationships => {
                let to = Kind::Relationships
                    .other_relations(args)
                    .first()
                    .map(relation)
                    .unwrap_or_default();
                let field = arg("field");
                format!(
                    "with child as (select {col} as from_field from {model} where {col} is not null), \
                     parent as (select {field} as to_field from {to}) \
                     select from_field from child left join parent on child.from_field = parent.to_field \
                     where parent.to_field is null"
                )
            }
            Kind::ExpressionIsTrue => match column {
                Some(c) => format!("select * from {model} where not({c} {})", arg("expression")),
                None => format!("select * from {model} where not({})", arg("expression")),
            },
            Kind::AcceptedRange => {
                let inclusive = args
                    .get("inclusive")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let eq = if inclusive { "=" } else { "" };
                let mut conditions = String::from("1 = 2");
                if let Some(min) = args.get("min_value") {
                    conditions.push_str(&format!(" or not {col} >{eq} {}", text_of(min)));
                }
                if let Some(max) = args.get("max_value") {
                    conditions.push_str(&format!(" or not {col} <{eq} {}", text_of(max)));
                }
                format!("select * from {model} where {conditions}")
            }
            Kind::UniqueCombinationOfColumns => {
                let columns: Vec<String> = args["combination_of_columns"]
                    .as_array()
                    .map(|c| c.iter().map(text_of).collect())
                    .unwrap_or_default();
                let csv = columns.join(", ");
                format!(
                    "select {csv}, count(*) as n_records from {model} group by {csv} having count(*) > 1"
                )
            }
            Kind::NotNullProportion => {
                let numeric = match dialect {
                    Dialect::Postgres => "numeric",
                    Dialect::DataFusion => "double",
                    Dialect::Sqlite => "real",
                };
                let at_most = args
                    .get("at_most")
                    .map(text_of)
                    .unwrap_or_else(|| "1.0".into());
                format!(
                    "with validation as (select sum(case when {col} is null then 0 else 1 end) / cast(count(*) as {numeric}) as not_null_proportion from {model}) \
                     select not_null_proportion from validation where not_null_proportion < {} or not_null_proportion > {at_most}",
                    arg("at_least")
                )
            }
            Kind::Recency => {
                let field = arg("field");
                let interval = arg("interval");
                let datepart = arg("datepart");
                let threshold = match dialect {
                    Dialect::Postgres => format!("now() - interval '{interval} {datepart}'"),
                    Dialect::DataFusion => format!("now() - interval '{interval} {datepart}'"),
                    Dialect::Sqlite => {
                        // SQLite has no weeks: seven days each.
                        let (n, part) = match datepart.as_str() {
                            "week" => (interval.parse::<i64>().unwrap_or(0) * 7, "day".to_string()),
                            other => (interval.parse::<i64>().unwrap_or(0), other.to_string()),
                        };
                        format!("datetime('now', '-{n} {part}s')")
                    }
                };
                // An empty table has no recent row either.
                format!(
                    "with recency as (select max({field}) as most_recent from {model}) \
                     select most_recent, {threshold} as threshold from recency \
                     where most_recent < {threshold} or most_recent is null"
                )
            }
            Kind::EqualRowcount => {
                let other = Kind::EqualRowcount
                    .other_relations(args)
                    .first()
                    .map(relation)
                    .unwrap_or_default();
                format!(
                    "with a as (select count(*) as count_a from {model}), b as (select count(*) as count_b from {other}), \
                     final as (select count_a, count_b, abs(count_a - count_b) as diff_count from a cross join b) \
                     select * from final where diff_count > 0"
                )
            }
            Kind::RowCountBetween => {
                let mut conditions = vec!["1 = 2".to_string()];
                if let Some(min) = args.get("min") {
                    conditions.push(format!("row_count < {}", text_of(min)));
                }
                if let Some(max) = args.get("max") {
                    conditions.push(format!("row_count > {}", text_of(max)));
                }
                format!(
                    "select * from (select count(*) as row_count from {model}) counted where {}",
                    conditions.join(" or ")
                )
            }
            // Only the dbt engine renders these; a query that names why, should it run.
            Kind::Project => {
                "select * from \"a generic test of a dbt project runs only in its project\"".into()
            }
        }
    }
}

/// `ref('m')`, `source('s', 't')` or a bare name, as a relation.
pub fn parse_relation(text: &str) -> Result<Relation, String> {
    let text = text.trim();
    let inner = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| {
                r.split(',')
                    .map(|p| p.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
                    .collect::<Vec<_>>()
            })
    };
    if let Some(parts) = inner("ref(") {
        return match parts.as_slice() {
            [m] if !m.is_empty() => Ok(Relation::Model(m.clone())),
            _ => Err(format!("`{text}`: ref() takes one model name")),
        };
    }
    if let Some(parts) = inner("source(") {
        return match parts.as_slice() {
            [s, t] if !s.is_empty() && !t.is_empty() => Ok(Relation::Source {
                source: s.clone(),
                table: t.clone(),
            }),
            _ => Err(format!(
                "`{text}`: source() takes a source and a table name"
            )),
        };
    }
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Ok(Relation::Model(text.to_string()));
    }
    Err(format!(
        "`{text}` is not `ref('model')`, `source('source', 'table')` or a table name"
    ))
}

/// A YAML scalar as SQL text (numbers and names as written).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A SQL string literal.
fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
