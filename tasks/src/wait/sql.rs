//! `for: sql`: a query on a named connection (PostgreSQL or SQLite) whose first cell is
//! true or non-zero (Airflow's SqlSensor); no row, NULL, 0, false or empty text is not.

use super::Check;
use crate::{TaskContext, TaskError, TaskOutcome};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlCondition {
    conn: String,
    sql: String,
}

impl SqlCondition {
    pub(crate) async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        let conn = ctx.connections.get(&self.conn)?;
        let cell = crate::sql::first_cell(conn, &self.sql)
            .await
            .map_err(|e| crate::sql::redact(conn, e))?;
        let shown = cell.as_ref().map_or("no row".to_string(), Value::to_string);
        ctx.log.line(format!(
            "`{}` on `{}` gave {shown}",
            self.sql.trim(),
            self.conn
        ));
        match cell {
            Some(value) if truthy(&value) => Ok(Check::Met(
                TaskOutcome::default().with_output("value", value),
            )),
            _ => Ok(Check::NotYet(
                format!(
                    "a true first cell from `{}` on `{}` (got {shown})",
                    self.sql.trim(),
                    self.conn
                ),
                None,
            )),
        }
    }
}

/// Whether a cell counts as true: true, a non-zero number, or text other than empty,
/// `0`, `f` and `false`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(s.trim().to_lowercase().as_str(), "" | "0" | "f" | "false"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_that_count_as_true() {
        for yes in [json!(true), json!(1), json!(0.5), json!("t"), json!("yes")] {
            assert!(truthy(&yes), "{yes}");
        }
        for no in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!("0"),
            json!("false"),
        ] {
            assert!(!truthy(&no), "{no}");
        }
    }
}
