//! The lake as a catalog: every Delta table under a lake root, named `layer.table` after
//! its folders (`<lake>/gold/active_users_by_day` is `gold.active_users_by_day`), for
//! SQL from the command line.

use super::{datafusion_error, open, register, version};
use crate::TaskError;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::sql::parser::{DFParser, Statement as DFStatement};
use deltalake::datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use deltalake::datafusion::sql::sqlparser::parser::ParserError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One Delta table found under the lake root.
#[derive(Debug, Clone)]
pub struct LakeTable {
    /// `layer.table`.
    pub name: String,
    pub location: String,
    pub version: i64,
    /// Why the table cannot be read (a corrupt log, say); the others still can.
    pub error: Option<String>,
}

/// The Delta tables two folder levels below a local lake root, sorted by name.
pub async fn lake_tables(root: &str) -> Result<Vec<LakeTable>, TaskError> {
    let root_path = Path::new(root.strip_prefix("file://").unwrap_or(root));
    if root.contains("://") && !root.starts_with("file://") {
        return Err(TaskError::Config(format!(
            "listing tables is supported for local lakes only, not `{root}`"
        )));
    }
    let mut found = Vec::new();
    let Ok(layers) = std::fs::read_dir(root_path) else {
        return Ok(found);
    };
    for layer in layers.flatten().filter(|e| e.path().is_dir()) {
        let Ok(tables) = std::fs::read_dir(layer.path()) else {
            continue;
        };
        for table in tables.flatten() {
            if !table.path().join("_delta_log").is_dir() {
                continue;
            }
            let location = table.path().display().to_string();
            let (version, error) = match open(&location, &BTreeMap::new()).await {
                Ok(opened) => (version(&opened), None),
                Err(e) => (-1, Some(e.to_string())),
            };
            found.push(LakeTable {
                name: format!(
                    "{}.{}",
                    layer.file_name().to_string_lossy(),
                    table.file_name().to_string_lossy()
                ),
                location,
                version,
                error,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// A query's result: column names and rows as JSON objects.
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<serde_json::Value>,
}

/// Runs `sql` over every table of the lake at `root`.
pub async fn query_lake(root: &str, sql: &str) -> Result<QueryResult, TaskError> {
    let tables: Vec<(String, String)> = lake_tables(root)
        .await?
        .into_iter()
        .filter(|t| t.version >= 0 && t.error.is_none())
        .map(|t| (t.name, t.location))
        .collect();
    query_tables(&tables, &BTreeMap::new(), sql).await
}

/// Runs `sql` over the Delta tables given as `(name, location)`, opened with `storage`
/// options; a name `layer.table` is table `table` of schema `layer`.
pub async fn query_tables(
    tables: &[(String, String)],
    storage: &BTreeMap<String, String>,
    sql: &str,
) -> Result<QueryResult, TaskError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| TaskError::Config(query_error(e)))?;
    if !statements.iter().all(only_reads) {
        return Err(TaskError::Config(
            "only queries that read are run here (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE); \
             change tables with a delta_sql task"
                .into(),
        ));
    }
    let ctx = super::query_session();
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| TaskError::Fatal("DataFusion has no default catalog".into()))?;
    for (name, location) in tables {
        if let Some((layer, _)) = name.split_once('.')
            && catalog.schema(layer).is_none()
        {
            catalog
                .register_schema(layer, Arc::new(MemorySchemaProvider::new()))
                .map_err(|e| datafusion_error("registering a layer", e))?;
        }
        let opened = open(location, storage).await?;
        register(&ctx, name, &opened).await?;
    }
    let frame = ctx
        .sql(sql)
        .await
        .map_err(|e| TaskError::Config(query_error(e)))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame
        .collect()
        .await
        .map_err(|e| datafusion_error("running the query", e))?;
    Ok(QueryResult {
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
        rows: json_rows(&batches)?,
    })
}

/// Whether a statement only reads: `lake query` never changes the lake.
fn only_reads(statement: &DFStatement) -> bool {
    match statement {
        DFStatement::Statement(s) => sql_only_reads(s),
        DFStatement::Explain(e) => only_reads(&e.statement),
        _ => false,
    }
}

fn sql_only_reads(statement: &SqlStatement) -> bool {
    match statement {
        SqlStatement::Query(_)
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ExplainTable { .. } => true,
        // EXPLAIN ANALYZE runs what it explains.
        SqlStatement::Explain { statement, .. } => sql_only_reads(statement),
        _ => false,
    }
}

/// A query's error without DataFusion's debug formatting of parser errors.
fn query_error(e: DataFusionError) -> String {
    match e {
        DataFusionError::SQL(parse, _) => match *parse {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                format!("SQL syntax error: {m}")
            }
            ParserError::RecursionLimitExceeded => {
                "SQL syntax error: the query nests too deeply".into()
            }
        },
        other => other.to_string(),
    }
}

pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>, TaskError> {
    let mut buf = Vec::new();
    {
        let mut writer = deltalake::arrow::json::ArrayWriter::new(&mut buf);
        for batch in batches {
            writer
                .write(batch)
                .map_err(|e| TaskError::Fatal(format!("formatting rows: {e}")))?;
        }
        writer
            .finish()
            .map_err(|e| TaskError::Fatal(format!("formatting rows: {e}")))?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| TaskError::Fatal(format!("formatting rows: {e}")))
}
