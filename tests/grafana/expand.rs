//! A panel's SQL as Grafana sends it to PostgreSQL: template variables interpolated as
//! the SQL datasources do (a multi-value or "All" variable becomes a comma-separated
//! list of quoted values), then the PostgreSQL datasource's macros expanded by the rules
//! of Grafana 11's `macros.go` for a time range.

use chrono::{DateTime, SecondsFormat, Utc};
use regex::{Captures, Regex};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The time range of the dashboard's time picker.
#[derive(Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Values of the template variables defined so far, by name.
pub type Variables = BTreeMap<String, Vec<String>>;

/// `$name`, `${name}`, `${name:format}` or `[[name]]`.
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]").expect("variable regex")
});

/// Grafana's `sExpr`: `$name(args)`, where the arguments hold no `)`.
static MACRO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$(\w+)\(([^)]*)\)").expect("macro regex"));

/// `sql` with its variables interpolated; an error names a variable that is not defined.
pub fn interpolate(sql: &str, variables: &Variables) -> Result<String, String> {
    let mut missing = None;
    let out = VARIABLE.replace_all(sql, |c: &Captures| {
        let name = [1, 2, 4]
            .iter()
            .find_map(|&i| c.get(i))
            .map_or("", |m| m.as_str());
        // `$__timeFilter(...)` and the other macros are the datasource's, expanded later.
        if name.starts_with("__") {
            return c[0].to_string();
        }
        match variables.get(name) {
            Some(values) if c.get(3).is_none() => quoted_list(values),
            Some(_) => {
                missing = Some(format!(
                    "format `{}` of `{name}` is not supported here",
                    &c[3]
                ));
                String::new()
            }
            None => {
                missing = Some(format!("variable `{name}` is used before it is defined"));
                String::new()
            }
        }
    });
    match missing {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

/// The SQL datasources' formatting of a multi-value variable: `'a','b'` (quotes doubled).
fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",")
}

/// `sql` with the PostgreSQL datasource's macros expanded for `range`.
pub fn expand_macros(sql: &str, range: Range) -> Result<String, String> {
    let mut error = None;
    let out = MACRO.replace_all(sql, |c: &Captures| {
        let args: Vec<&str> = c[2].split(',').map(str::trim).collect();
        match expand_one(&c[1], &args, range) {
            Ok(text) => text,
            Err(e) => {
                error.get_or_insert(format!("{}: {e}", &c[0]));
                String::new()
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if let Some(left) = out.find("$__") {
        return Err(format!("not a macro Grafana expands: `{}`", &out[left..]));
    }
    Ok(out.into_owned())
}

fn expand_one(name: &str, args: &[&str], range: Range) -> Result<String, String> {
    let column = || match args.first() {
        Some(c) if !c.is_empty() => Ok(*c),
        _ => Err("missing time column argument".to_string()),
    };
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(match name {
        "__time" => format!("{} AS \"time\"", column()?),
        "__timeEpoch" => format!("extract(epoch from {}) as \"time\"", column()?),
        "__timeFilter" => format!(
            "{} BETWEEN '{}' AND '{}'",
            column()?,
            stamp(range.from),
            stamp(range.to)
        ),
        "__timeFrom" => format!("'{}'", stamp(range.from)),
        "__timeTo" => format!("'{}'", stamp(range.to)),
        "__timeGroup" | "__timeGroupAlias" => {
            let column = column()?;
            let interval = args
                .get(1)
                .ok_or("missing interval argument")?
                .trim_matches(|c| c == '\'' || c == '"');
            let seconds = humantime::parse_duration(interval)
                .map_err(|e| format!("interval `{interval}`: {e}"))?
                .as_secs_f64();
            let group = format!("floor(extract(epoch from {column})/{seconds})*{seconds}");
            if name == "__timeGroupAlias" {
                format!("{group} AS \"time\"")
            } else {
                group
            }
        }
        "__unixEpochFilter" => {
            let column = column()?;
            format!(
                "{column} >= {} AND {column} <= {}",
                range.from.timestamp(),
                range.to.timestamp()
            )
        }
        other => return Err(format!("unknown macro `${other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn range() -> Range {
        Range {
            from: Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 11, 23, 4, 30, 0).unwrap(),
        }
    }

    #[test]
    fn macros_expand_as_grafana_postgres_does() {
        let sql = "SELECT $__timeGroupAlias(ended_at, '1h'), $__time(t), $__timeEpoch(t) \
                   WHERE $__timeFilter(ended_at) AND d BETWEEN $__timeFrom() AND $__timeTo() \
                   AND $__unixEpochFilter(e) GROUP BY $__timeGroup(ended_at,5m)";
        assert_eq!(
            expand_macros(sql, range()).unwrap(),
            "SELECT floor(extract(epoch from ended_at)/3600)*3600 AS \"time\", t AS \"time\", \
             extract(epoch from t) as \"time\" WHERE ended_at BETWEEN '2026-11-22T04:00:00Z' \
             AND '2026-11-23T04:30:00Z' AND d BETWEEN '2026-11-22T04:00:00Z' AND \
             '2026-11-23T04:30:00Z' AND e >= 1795320000 AND e <= 1795408200 \
             GROUP BY floor(extract(epoch from ended_at)/300)*300"
        );
    }

    #[test]
    fn unknown_macros_and_arguments_with_parentheses_are_errors() {
        assert!(expand_macros("WHERE $__timeFitler(t)", range()).is_err());
        // Grafana's pattern stops at the first `)`: the rest is left as SQL text.
        let nested = expand_macros("WHERE $__timeFilter(date_trunc('day', t))", range()).unwrap();
        assert!(nested.ends_with("AND '2026-11-23T04:30:00Z')"), "{nested}");
        assert!(expand_macros("WHERE $__interval_ms > 0", range()).is_err());
    }

    #[test]
    fn variables_become_quoted_lists_and_undefined_ones_are_errors() {
        let vars = Variables::from([("dag_id".to_string(), vec!["a".into(), "o'b".into()])]);
        assert_eq!(
            interpolate(
                "x IN ($dag_id) OR y IN (${dag_id}) OR z IN ([[dag_id]])",
                &vars
            )
            .unwrap(),
            "x IN ('a','o''b') OR y IN ('a','o''b') OR z IN ('a','o''b')"
        );
        assert_eq!(
            interpolate("$__timeFilter(t)", &vars).unwrap(),
            "$__timeFilter(t)"
        );
        assert!(interpolate("task_id IN ($task_id)", &vars).is_err());
        assert!(interpolate("x IN (${dag_id:csv})", &vars).is_err());
    }
}
