//! DataFusion sessions over Delta tables, and SQL predicates that select partitions.

use super::{PartitionValues, datafusion_error};
use crate::TaskError;
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::{DataType, Schema};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::DeltaSessionContext;
use std::collections::{BTreeSet, HashMap};

/// A DataFusion session for SQL over Delta tables (delta-rs's settings, and `count`
/// with our accumulator for distinct text).
pub fn query_session() -> SessionContext {
    let ctx: SessionContext = deltalake::delta_datafusion::create_session().into_inner();
    super::count_distinct::register(&ctx);
    ctx
}

/// A DataFusion session where each `(name, table)` can be queried by name.
pub async fn sql_session(tables: &[(String, DeltaTable)]) -> Result<SessionContext, TaskError> {
    let ctx = query_session();
    for (name, table) in tables {
        register(&ctx, name, table).await?;
    }
    Ok(ctx)
}

/// A session that runs every plan on one stream, keeping the order of its input.
pub fn single_stream_session() -> Result<SessionContext, TaskError> {
    let settings = HashMap::from([(
        "datafusion.execution.target_partitions".to_string(),
        "1".to_string(),
    )]);
    DeltaSessionContext::new_with_session_overrides(&settings)
        .map(DeltaSessionContext::into_inner)
        .map_err(|e| super::delta_error("preparing a session", e))
}

/// Registers one Delta table under `name` in `ctx`.
pub async fn register(
    ctx: &SessionContext,
    name: &str,
    table: &DeltaTable,
) -> Result<(), TaskError> {
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| super::delta_error("preparing the object store", e))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| datafusion_error(&format!("reading table `{name}`"), e))?;
    ctx.register_table(name, provider)
        .map_err(|e| datafusion_error(&format!("registering table `{name}`"), e))?;
    Ok(())
}

/// A SQL predicate true exactly for rows in `partitions` (typed by `schema`, so that
/// DataFusion and delta-rs can prune files by it). `None` when `partitions` is empty.
pub fn partition_filter(partitions: &BTreeSet<PartitionValues>, schema: &Schema) -> Option<String> {
    let terms: Vec<String> = partitions
        .iter()
        .map(|values| {
            let parts: Vec<String> = values
                .iter()
                .map(|(column, value)| {
                    let quoted = quote_ident(column);
                    match value {
                        None => format!("{quoted} IS NULL"),
                        Some(v) => {
                            let literal = format!("'{}'", v.replace('\'', "''"));
                            match schema
                                .field_with_name(column)
                                .map(|f| sql_type(f.data_type()))
                            {
                                Ok(Some(t)) => format!("{quoted} = CAST({literal} AS {t})"),
                                _ => format!("{quoted} = {literal}"),
                            }
                        }
                    }
                })
                .collect();
            if parts.is_empty() {
                "TRUE".to_string()
            } else {
                format!("({})", parts.join(" AND "))
            }
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// The SQL type a partition value (always a string in the log) is cast to.
fn sql_type(t: &DataType) -> Option<&'static str> {
    Some(match t {
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "INT",
        DataType::Int64 => "BIGINT",
        DataType::Boolean => "BOOLEAN",
        DataType::Float32 | DataType::Float64 => "DOUBLE",
        DataType::Timestamp(_, _) => "TIMESTAMP",
        _ => return None,
    })
}

/// Quotes an identifier for DataFusion SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
