//! `store_failures`: a test's failing rows kept for a person to look at, replaced on each
//! run — a Delta table `<lake>/audit/<test name>` for Delta models, the table
//! `dbt_test__audit."<test name>"` (SQLite: `dbt_test__audit_<test name>`) in the
//! warehouse — and read back by `updraft test failures`.

use super::target::Target;
use crate::lake::{self, QueryResult, quote_ident};
use crate::{Connections, TaskError};
use deltalake::arrow::array::RecordBatch;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use std::collections::BTreeMap;

/// The schema (PostgreSQL) or name prefix (SQLite) of stored failures, as dbt's.
const AUDIT_SCHEMA: &str = "dbt_test__audit";

/// The most rows `updraft test failures` shows.
pub const SHOWN_ROWS: usize = 1000;

/// A relation name PostgreSQL keeps whole (63 bytes): longer test names are cut and
/// given a hash of the whole, as dbt does with its own hash.
fn relation_name(test_name: &str) -> String {
    if test_name.len() < 64 {
        return test_name.to_string();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in test_name.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}_{hash:016x}", &test_name[..30])
}

/// Replaces the stored failing rows of a test; returns where they are, as
/// `delta:<location>` or `conn:<name>:<relation>`.
pub async fn store(
    target: &Target,
    rows_sql: &str,
    test_name: &str,
    lake_root: &str,
    conn: Option<&str>,
    storage: &BTreeMap<String, String>,
) -> Result<String, String> {
    let name = relation_name(test_name);
    match target {
        Target::Delta(ctx) => {
            let frame = ctx.sql(rows_sql).await.map_err(|e| e.to_string())?;
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let mut batches = frame.collect().await.map_err(|e| e.to_string())?;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            let location = format!("{}/audit/{name}", lake_root.trim_end_matches('/'));
            let table = lake::open(&location, storage)
                .await
                .map_err(|e| e.to_string())?;
            table
                .write(batches)
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!("delta:{location}"))
        }
        Target::Postgres { .. } => {
            let relation = format!("{AUDIT_SCHEMA}.{}", quote_ident(&name));
            let sql = format!(
                "CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}; DROP TABLE IF EXISTS {relation}; CREATE TABLE {relation} AS {rows_sql}"
            );
            target.execute(&sql).await?;
            Ok(format!("conn:{}:{relation}", conn.unwrap_or_default()))
        }
        Target::Sqlite(_) => {
            let relation = quote_ident(&format!("{AUDIT_SCHEMA}_{name}"));
            let sql =
                format!("DROP TABLE IF EXISTS {relation}; CREATE TABLE {relation} AS {rows_sql}");
            target.execute(&sql).await?;
            Ok(format!("conn:{}:{relation}", conn.unwrap_or_default()))
        }
    }
}

/// The stored failing rows at `at` (as [`store`] returned it), at most [`SHOWN_ROWS`].
pub async fn read(at: &str, connections: &Connections) -> Result<QueryResult, TaskError> {
    if let Some(location) = at.strip_prefix("delta:") {
        let sql = format!("SELECT * FROM failures LIMIT {SHOWN_ROWS}");
        return lake::query_tables(
            &[("failures".into(), location.into())],
            &BTreeMap::new(),
            &sql,
        )
        .await;
    }
    let Some((name, relation)) = at.strip_prefix("conn:").and_then(|r| r.split_once(':')) else {
        return Err(TaskError::Fatal(format!(
            "unknown failures location `{at}`"
        )));
    };
    let conn = connections.get(name)?;
    let select = format!("SELECT * FROM {relation} LIMIT {SHOWN_ROWS}");
    match conn.scheme() {
        "sqlite" => {
            let mut db = crate::sql::connect_sqlite(conn).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                .fetch_all(&mut db)
                .await
                .map_err(crate::db_error::task_error)?;
            Ok(crate::sql::sqlite_json_rows(&rows))
        }
        _ => {
            let mut db = crate::sql::connect_postgres(conn).await?;
            let rows = crate::sql::postgres_rows(&mut db, &select, &[]).await?;
            let columns = rows
                .first()
                .and_then(|r| r.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            Ok(QueryResult { columns, rows })
        }
    }
}
