//! `spark_sql`: SQL sent as written to a Spark Connect server, for a cluster with its
//! own catalog or Delta (`delta.\`s3://…\``, Hive or Unity tables). The statements run
//! in order in a new session of the attempt; the last one's rows can be outputs.

use crate::sql::{SqlOutput, Statements, at_most_max_rows};
use crate::{TaskContext, TaskError, TaskOutcome, lake, parse_config, spark};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SparkSqlConfig {
    #[serde(default = "default_conn")]
    conn: String,
    #[serde(default)]
    sql: Option<Statements>,
    /// A file of statements separated by `;`, relative to the DAG file's folder.
    #[serde(default)]
    sql_file: Option<String>,
    /// Session settings (`spark.sql.shuffle.partitions: "8"`).
    #[serde(default)]
    spark_conf: BTreeMap<String, String>,
    output: Option<SqlOutput>,
}

fn default_conn() -> String {
    spark::DEFAULT_CONN.into()
}

updraft_core::declare_task_type!(
    SparkSql,
    "spark_sql",
    |config, _| validate(config).map(|_| ()),
    files = &["sql_file"]
);

fn validate(config: &Value) -> Result<SparkSqlConfig, TaskError> {
    let cfg: SparkSqlConfig = parse_config(config)?;
    if cfg.sql.is_some() == cfg.sql_file.is_some() {
        return Err(TaskError::Config(
            "give exactly one of `sql` and `sql_file`".into(),
        ));
    }
    if let Some(sql) = &cfg.sql
        && sql.list().iter().all(|s| s.trim().is_empty())
    {
        return Err(TaskError::Config("`sql` is empty".into()));
    }
    Ok(cfg)
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg = validate(config)?;
    let statements = statements(&cfg, &ctx.dag_folder)?;
    let session = spark::attempt_session(ctx, &cfg.conn, &cfg.spark_conf).await?;
    let ran = run_statements(&session, &statements).await;
    session.close().await;
    let batches = ran?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let outcome = TaskOutcome::default()
        .with("statements", statements.len())
        .with("rows", rows);
    Ok(match cfg.output {
        None => outcome,
        Some(kind) => {
            let found = at_most_max_rows(lake::json_rows(&batches)?)?;
            match kind {
                SqlOutput::Rows => outcome.with_output("rows", found),
                SqlOutput::FirstRow => match found.into_iter().next() {
                    Some(Value::Object(first)) => TaskOutcome {
                        outputs: first,
                        ..outcome
                    },
                    _ => outcome,
                },
            }
        }
    })
}

/// Runs the statements in order; returns the last one's rows.
async fn run_statements(
    session: &spark::SparkSession,
    statements: &[String],
) -> Result<Vec<deltalake::arrow::array::RecordBatch>, TaskError> {
    let mut last = Vec::new();
    for sql in statements {
        last = session.sql(sql).await?;
    }
    Ok(last)
}

/// The statements of `sql`, or of `sql_file` split at the `;` that end them.
fn statements(
    cfg: &SparkSqlConfig,
    dag_folder: &std::path::Path,
) -> Result<Vec<String>, TaskError> {
    if let Some(sql) = &cfg.sql {
        return Ok(sql.list().iter().map(|s| s.to_string()).collect());
    }
    let file = cfg.sql_file.as_deref().unwrap_or_default();
    let path = dag_folder.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TaskError::Config(format!("cannot read sql_file {}: {e}", path.display())))?;
    let found: Vec<String> = split_statements(&text)
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if found.is_empty() {
        return Err(TaskError::Config(format!(
            "{} holds no statement",
            path.display()
        )));
    }
    Ok(found)
}

/// `text` split at the `;` that end statements: not those inside quotes, backticks or
/// comments.
fn split_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                current.push(c);
                for inner in chars.by_ref() {
                    current.push(inner);
                    if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut previous = ' ';
                for inner in chars.by_ref() {
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
            }
            ';' => statements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements.retain(|s| !s.trim().is_empty());
    statements
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let text = "CREATE VIEW v AS SELECT 'a;b' AS `x;y`; -- one; two\n\
                    /* three; */ SELECT \"c;d\" FROM v;\n\n";
        let found = split_statements(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("'a;b' AS `x;y`"), "{found:?}");
        assert_eq!(found[1].trim(), "SELECT \"c;d\" FROM v");
    }
}
