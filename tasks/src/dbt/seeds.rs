//! Seeds: a CSV file loaded as a table, with the column types dbt-postgres infers (its
//! agate type tester: a column is the first of number, date, timestamp, ISO timestamp,
//! boolean that every non-empty value reads as, else text; a number is `integer` when no
//! value has decimals, else `float8`; a column with no value at all is `integer`),
//! `column_types` over them, `quote_columns` and `delimiter`. A seed's table that exists
//! is emptied and refilled (what depends on it stays); a new one is created.

use super::relation::{Relation, quote};
use super::settings::Settings;
use crate::TaskError;
use std::path::Path;

/// A column type as dbt infers it from the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inferred {
    Integer,
    Float,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl Inferred {
    /// The PostgreSQL type dbt-postgres creates (SQLite takes the same names).
    pub fn sql(self) -> &'static str {
        match self {
            Inferred::Integer => "integer",
            Inferred::Float => "float8",
            Inferred::Date => "date",
            Inferred::Timestamp => "timestamp without time zone",
            Inferred::Boolean => "boolean",
            Inferred::Text => "text",
        }
    }
}

/// A seed's rows, read.
pub struct SeedData {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    /// Each row's values; None for an empty or `null` cell.
    pub rows: Vec<Vec<Option<String>>>,
}

fn is_null(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v.eq_ignore_ascii_case("null")
}

/// Decimal places of a number as agate reads it (`1,234.50` → 2), or None if not one.
fn number_places(value: &str) -> Option<usize> {
    let v: String = value.trim().chars().filter(|c| *c != ',').collect();
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(&v);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let places = i64::try_from(fraction.len()).ok()?.saturating_sub(exponent);
    Some(usize::try_from(places.max(0)).unwrap_or(0))
}

fn is_date(value: &str) -> bool {
    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").is_ok()
}

fn is_timestamp(value: &str) -> bool {
    let v = value.trim();
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::DateTime::parse_from_rfc3339(v).is_ok()
}

fn is_bool(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "false")
}

/// The type of a column of values, as dbt-postgres infers it.
pub fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> Inferred {
    let mut present = values.filter(|v| !is_null(v)).peekable();
    if present.peek().is_none() {
        return Inferred::Integer;
    }
    let present: Vec<&str> = present.collect();
    let places: Option<Vec<usize>> = present.iter().map(|v| number_places(v)).collect();
    if let Some(places) = places {
        return if places.iter().any(|p| *p > 0) {
            Inferred::Float
        } else {
            Inferred::Integer
        };
    }
    if present.iter().all(|v| is_date(v)) {
        Inferred::Date
    } else if present.iter().all(|v| is_timestamp(v)) {
        Inferred::Timestamp
    } else if present.iter().all(|v| is_bool(v)) {
        Inferred::Boolean
    } else {
        Inferred::Text
    }
}

/// Reads a seed's CSV file and types its columns.
pub fn read(path: &Path, settings: &Settings) -> Result<SeedData, TaskError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(settings.delimiter)
        .from_path(path)
        .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| TaskError::Config(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut raw: Vec<Vec<String>> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            TaskError::Config(format!("{}:{}: {e}", path.display(), i.saturating_add(2)))
        })?;
        if record.len() != columns.len() {
            return Err(TaskError::Config(format!(
                "{}:{}: {} values for {} columns",
                path.display(),
                i.saturating_add(2),
                record.len(),
                columns.len()
            )));
        }
        raw.push(record.iter().map(str::to_string).collect());
    }
    let inferred: Vec<Inferred> = (0..columns.len())
        .map(|i| infer(raw.iter().map(|r| r[i].as_str())))
        .collect();
    let types = columns
        .iter()
        .zip(&inferred)
        .map(|(name, inferred)| match settings.column_types.get(name) {
            Some(given) => given.clone(),
            None => inferred.sql().to_string(),
        })
        .collect();
    // agate keeps a text value as written; the other types read it trimmed.
    let rows = raw
        .into_iter()
        .map(|r| {
            r.into_iter()
                .zip(&inferred)
                .map(|(v, t)| match (is_null(&v), t) {
                    (true, _) => None,
                    (false, Inferred::Text) => Some(v),
                    (false, _) => Some(v.trim().to_string()),
                })
                .collect()
        })
        .collect();
    Ok(SeedData {
        columns,
        types,
        rows,
    })
}

fn literal(value: &Option<String>, data_type: &str) -> String {
    match value {
        None => "NULL".into(),
        Some(v) => {
            let v = if data_type == "integer" || data_type == "float8" {
                v.replace(',', "")
            } else {
                v.clone()
            };
            format!("CAST('{}' AS {data_type})", v.replace('\'', "''"))
        }
    }
}

/// The statements that load `data` into `target` (one transaction): created when
/// `exists` is false, else emptied and refilled.
pub fn statements(
    target: &Relation,
    data: &SeedData,
    settings: &Settings,
    exists: bool,
    postgres: bool,
) -> Vec<String> {
    let column = |c: &str| {
        if settings.quote_columns {
            quote(c)
        } else {
            c.to_string()
        }
    };
    let table = target.sql();
    let mut out = Vec::new();
    if exists {
        out.push(if postgres {
            format!("TRUNCATE TABLE {table}")
        } else {
            format!("DELETE FROM {table}")
        });
    } else {
        if postgres {
            out.push(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote(&target.schema)
            ));
        }
        let defs: Vec<String> = data
            .columns
            .iter()
            .zip(&data.types)
            .map(|(c, t)| format!("{} {t}", column(c)))
            .collect();
        out.push(format!("CREATE TABLE {table} ({})", defs.join(", ")));
    }
    let names: Vec<String> = data.columns.iter().map(|c| column(c)).collect();
    for chunk in data.rows.chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&data.types)
                    .map(|(v, t)| literal(v, t))
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        out.push(format!(
            "INSERT INTO {table} ({}) VALUES {}",
            names.join(", "),
            values.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_as_dbt_postgres_types_them() {
        let t = |v: &[&str]| infer(v.iter().copied());
        assert_eq!(t(&["1", "2", ""]), Inferred::Integer);
        assert_eq!(t(&["1", "2.50"]), Inferred::Float);
        assert_eq!(t(&["1,000", "-3"]), Inferred::Integer);
        assert_eq!(t(&["2024-01-31", "null"]), Inferred::Date);
        assert_eq!(t(&["2024-01-31 10:00:00"]), Inferred::Timestamp);
        assert_eq!(t(&["2024-01-31T10:00:00"]), Inferred::Timestamp);
        assert_eq!(t(&["true", "False"]), Inferred::Boolean);
        assert_eq!(t(&["a", "1"]), Inferred::Text);
        assert_eq!(t(&["", ""]), Inferred::Integer);
    }
}
