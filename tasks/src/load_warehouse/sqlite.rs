//! Loading into SQLite (the embedded default warehouse): one transaction, multi-row
//! `INSERT`s with bound values, the loaded version recorded in `updraft_loads`. SQLite
//! has no schemas, so `gold.x` is the table `gold_x`.

use super::cells::{Cell, Dialect, sqlite_columns};
use super::{Loaded, Plan, Source, TableName, clearing};
use crate::lake::quote_ident;
use crate::sql::{connect_sqlite, db_error};
use crate::{Connection, TaskError};
use futures::TryStreamExt;
use sqlx::{AssertSqlSafe, Connection as _, QueryBuilder, Row, Sqlite};

const LOADS_DDL: &str = "CREATE TABLE IF NOT EXISTS updraft_loads (\
    target TEXT PRIMARY KEY, source TEXT NOT NULL, version INTEGER NOT NULL, \
    loaded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

/// SQLite allows 32,766 bound values per statement.
const MAX_VALUES: usize = 30_000;

pub(super) async fn load(
    conn: &Connection,
    name: &TableName,
    source: &Source,
) -> Result<Loaded, TaskError> {
    let mut db = connect_sqlite(conn).await?;
    // BEGIN IMMEDIATE takes the write lock first, so concurrent loads queue up.
    let mut tx = db.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    sqlx::raw_sql(LOADS_DDL)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let key = name.key();
    let table_name = match &name.schema {
        Some(s) => format!("{s}_{}", name.table),
        None => name.table.clone(),
    };
    let loaded = sqlx::query("SELECT source, version FROM updraft_loads WHERE target = ?1")
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?
        .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)));
    let exists: bool = sqlx::query_scalar(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
    )
    .bind(&table_name)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    let plan = source.plan(loaded, exists).await?;
    let target = quote_ident(&table_name);
    if matches!(plan, Plan::UpToDate) {
        tx.commit().await.map_err(db_error)?;
        return Ok(Loaded::up_to_date());
    }
    let (statements, replaced) = clearing(&plan, &target, &source.schema, Dialect::Sqlite)?;
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    let insert = format!("INSERT INTO {target} ({}) ", source.column_list());
    let rows_per_statement = (MAX_VALUES / source.schema.fields().len().max(1)).max(1);
    let mut stream = source.rows(&plan).await?;
    let mut inserted = 0u64;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| crate::lake::datafusion_error("reading the Delta table", e))?
    {
        let cells = sqlite_columns(&batch)?;
        let mut start = 0;
        while start < batch.num_rows() {
            let end = (start + rows_per_statement).min(batch.num_rows());
            let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(insert.clone());
            query.push_values(start..end, |mut row, i| {
                for column in &cells {
                    match &column[i] {
                        Cell::Null => row.push_bind(None::<i64>),
                        Cell::Int(v) => row.push_bind(*v),
                        Cell::Real(v) => row.push_bind(*v),
                        Cell::Text(v) => row.push_bind(v.clone()),
                    };
                }
            });
            inserted += query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
            start = end;
        }
    }
    sqlx::query(
        "INSERT INTO updraft_loads (target, source, version) VALUES (?1, ?2, ?3) \
         ON CONFLICT (target) DO UPDATE SET source = excluded.source, version = excluded.version, \
         loaded_at = CURRENT_TIMESTAMP",
    )
    .bind(&key)
    .bind(&source.url)
    .bind(source.version)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Loaded {
        rows: inserted,
        replaced,
    })
}
