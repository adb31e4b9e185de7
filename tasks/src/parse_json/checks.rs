//! Row checks (`checks:`): SQL conditions over a row's typed columns, compiled once into
//! DataFusion expressions and evaluated on each parsed batch. A row for which a check is
//! false goes to the quarantine with the check's name as its reason; NULL passes, as in a
//! SQL `CHECK` constraint (`x IS NOT NULL` is a check of its own).

use crate::TaskError;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::common::DFSchema;
use deltalake::datafusion::physical_expr::PhysicalExpr;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use serde::Deserialize;
use std::sync::Arc;

/// One check as configured.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// The reason quarantined rows get.
    pub name: String,
    /// A boolean SQL expression over the schema's and the carried columns.
    pub sql: String,
}

/// A check ready to evaluate.
pub struct Check {
    name: String,
    condition: Arc<dyn PhysicalExpr>,
}

/// What can be told without the source table: names present and unique, SQL that parses.
pub fn validate(configs: &[CheckConfig]) -> Result<(), TaskError> {
    for (i, check) in configs.iter().enumerate() {
        if check.name.trim().is_empty() {
            return Err(TaskError::Config(format!("check {} has no name", i + 1)));
        }
        if configs[..i].iter().any(|c| c.name == check.name) {
            return Err(TaskError::Config(format!(
                "check `{}` is listed twice",
                check.name
            )));
        }
        Parser::new(&GenericDialect {})
            .try_with_sql(&check.sql)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| TaskError::Config(format!("check `{}`: {e}", check.name)))?;
    }
    Ok(())
}

/// Compiles the checks for rows of `schema`.
pub fn compile(configs: &[CheckConfig], schema: &Schema) -> Result<Vec<Check>, TaskError> {
    validate(configs)?;
    let ctx = SessionContext::new();
    let df_schema = DFSchema::try_from(schema.clone())
        .map_err(|e| TaskError::Fatal(format!("preparing checks: {e}")))?;
    configs
        .iter()
        .map(|check| {
            let bad = |e: &dyn std::fmt::Display| {
                TaskError::Config(format!("check `{}` ({}): {e}", check.name, check.sql))
            };
            let expr = ctx
                .parse_sql_expr(&check.sql, &df_schema)
                .map_err(|e| bad(&e))?;
            let condition = ctx
                .create_physical_expr(expr, &df_schema)
                .map_err(|e| bad(&e))?;
            match condition.data_type(schema) {
                Ok(DataType::Boolean) => Ok(Check {
                    name: check.name.clone(),
                    condition,
                }),
                Ok(other) => Err(bad(&format!("is {other}, not true or false"))),
                Err(e) => Err(bad(&e)),
            }
        })
        .collect()
}

/// For each row, the name of the first check it breaks (None when it breaks none).
pub fn broken<'a>(
    checks: &'a [Check],
    rows: &RecordBatch,
) -> Result<Vec<Option<&'a str>>, TaskError> {
    let mut out = vec![None; rows.num_rows()];
    for check in checks {
        let value = check
            .condition
            .evaluate(rows)
            .and_then(|v| v.into_array(rows.num_rows()))
            .map_err(|e| TaskError::Fatal(format!("check `{}`: {e}", check.name)))?;
        let value = value.as_boolean();
        for (row, slot) in out.iter_mut().enumerate() {
            if slot.is_none() && value.is_valid(row) && !value.value(row) {
                *slot = Some(check.name.as_str());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Float64Array, StringArray};
    use deltalake::arrow::datatypes::Field;

    fn config(name: &str, sql: &str) -> CheckConfig {
        CheckConfig {
            name: name.into(),
            sql: sql.into(),
        }
    }

    #[test]
    fn each_row_gets_the_first_check_it_breaks_and_null_passes() {
        let schema = Schema::new(vec![
            Field::new("rating", DataType::Float64, true),
            Field::new("author", DataType::Utf8, true),
        ]);
        let rows = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(4.5),
                    Some(7.0),
                    None,
                    Some(-1.0),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("A"),
                    Some("B"),
                    Some(""),
                    None,
                ])),
            ],
        )
        .unwrap();
        let checks = compile(
            &[
                config("rating_in_range", "rating BETWEEN 0 AND 5"),
                config(
                    "author_present",
                    "author IS NOT NULL AND trim(author) <> ''",
                ),
            ],
            &schema,
        )
        .unwrap();
        assert_eq!(
            broken(&checks, &rows).unwrap(),
            [
                None,
                Some("rating_in_range"),
                Some("author_present"),
                Some("rating_in_range")
            ]
        );
    }

    #[test]
    fn bad_checks_are_refused_with_their_name() {
        let schema = Schema::new(vec![Field::new("rating", DataType::Float64, true)]);
        let err = |checks: &[CheckConfig]| match compile(checks, &schema) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(&[config("typo", "ratign > 0")]).contains("check `typo`"));
        assert!(err(&[config("number", "rating + 1")]).contains("not true or false"));
        assert!(err(&[config("syntax", "rating >")]).contains("check `syntax`"));
        assert!(err(&[config("a", "rating > 0"), config("a", "rating < 9")]).contains("twice"));
    }
}
