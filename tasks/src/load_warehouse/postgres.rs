//! Loading into PostgreSQL: one transaction per table, rows sent with `COPY ... FROM
//! STDIN (FORMAT csv)`, the loaded version recorded in `updraft_loads`, whose row lock
//! serialises concurrent loads of the same table.

use super::cells::{Dialect, write_csv};
use super::{Loaded, Plan, Source, TableName, clearing};
use crate::lake::quote_ident;
use crate::sql::{connect_postgres, db_error};
use crate::{Connection, TaskError};
use futures::TryStreamExt;
use sqlx::{AssertSqlSafe, Connection as _, Row};

const LOADS_DDL: &str = "CREATE TABLE IF NOT EXISTS updraft_loads (\
    target TEXT PRIMARY KEY, source TEXT NOT NULL, version BIGINT NOT NULL, \
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// Bytes of CSV sent to the server at a time.
const COPY_CHUNK: usize = 4 << 20;

pub(super) async fn load(
    conn: &Connection,
    name: &TableName,
    source: &Source,
) -> Result<Loaded, TaskError> {
    let mut db = connect_postgres(conn).await?;
    // Concurrent `CREATE ... IF NOT EXISTS` of one name can both pass the check and
    // collide in the catalog; loads running side by side create the shared objects one
    // at a time, in a short transaction of their own.
    let mut setup = db.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('updraft_loads'))")
        .execute(&mut *setup)
        .await
        .map_err(db_error)?;
    sqlx::raw_sql(LOADS_DDL)
        .execute(&mut *setup)
        .await
        .map_err(db_error)?;
    if let Some(schema) = &name.schema {
        let ddl = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
        sqlx::raw_sql(AssertSqlSafe(ddl))
            .execute(&mut *setup)
            .await
            .map_err(db_error)?;
    }
    setup.commit().await.map_err(db_error)?;
    let mut tx = db.begin().await.map_err(db_error)?;
    let key = name.key();
    sqlx::query("INSERT INTO updraft_loads (target, source, version) VALUES ($1, $2, -1) ON CONFLICT (target) DO NOTHING")
        .bind(&key)
        .bind(&source.url)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let row = sqlx::query("SELECT source, version FROM updraft_loads WHERE target = $1 FOR UPDATE")
        .bind(&key)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let loaded: (String, i64) = (row.get(0), row.get(1));
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(quoted(name))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let plan = source
        .plan(Some(loaded).filter(|(_, v)| *v >= 0), exists)
        .await?;
    let target = quoted(name);
    if matches!(plan, Plan::UpToDate) {
        tx.commit().await.map_err(db_error)?;
        return Ok(Loaded::up_to_date());
    }
    let (statements, replaced) = clearing(&plan, &target, &source.schema, Dialect::Postgres)?;
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    let statement = format!(
        "COPY {target} ({}) FROM STDIN (FORMAT csv)",
        source.column_list()
    );
    let mut rows = source.rows(&plan).await?;
    let mut copy = tx.copy_in_raw(&statement).await.map_err(db_error)?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK + (64 << 10));
    while let Some(batch) = rows
        .try_next()
        .await
        .map_err(|e| crate::lake::datafusion_error("reading the Delta table", e))?
    {
        write_csv(&batch, &mut buffer)?;
        if buffer.len() >= COPY_CHUNK {
            copy.send(buffer.as_slice()).await.map_err(db_error)?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_slice()).await.map_err(db_error)?;
    }
    let copied = copy.finish().await.map_err(db_error)?;
    sqlx::query(
        "UPDATE updraft_loads SET source = $2, version = $3, loaded_at = now() WHERE target = $1",
    )
    .bind(&key)
    .bind(&source.url)
    .bind(source.version)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Loaded {
        rows: copied,
        replaced,
    })
}

fn quoted(name: &TableName) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&name.table)),
        None => quote_ident(&name.table),
    }
}
