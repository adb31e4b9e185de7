//! Where tests run: a DataFusion session over the task's Delta tables, or one connection
//! to PostgreSQL or SQLite. Each answers a test's counting query with its failures.

use super::kinds::Dialect;
use super::schema::Relation;
use crate::lake::{self, quote_ident};
use crate::{Connection, TaskError};
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::datafusion::prelude::SessionContext;
use sqlx::Row;
use std::collections::BTreeMap;
use tokio::sync::Mutex;

/// The tables tests read.
pub enum Target {
    /// Each `tables` entry registered under [`alias`] of its key.
    Delta(SessionContext),
    Postgres {
        db: Mutex<sqlx::PgConnection>,
        source_schemas: BTreeMap<String, String>,
    },
    Sqlite(Mutex<sqlx::SqliteConnection>),
}

/// The name a `tables` key is registered under (DataFusion reads a dot as a schema).
fn alias(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl Target {
    /// Opens every Delta table of `tables` in one session.
    pub async fn delta(
        tables: &BTreeMap<String, String>,
        storage: &BTreeMap<String, String>,
    ) -> Result<Self, TaskError> {
        let ctx = lake::query_session();
        for (key, location) in tables {
            let table = lake::open(location, storage).await?;
            if table.version().is_none() {
                return Err(TaskError::Retryable(format!(
                    "`{key}` ({location}) has no commits yet: nothing to test"
                )));
            }
            lake::register(&ctx, &alias(key), &table).await?;
        }
        Ok(Target::Delta(ctx))
    }

    /// Connects to a PostgreSQL or SQLite connection.
    pub async fn connect(
        conn: &Connection,
        source_schemas: &BTreeMap<String, String>,
    ) -> Result<Self, TaskError> {
        match conn.scheme() {
            "postgres" | "postgresql" => Ok(Target::Postgres {
                db: Mutex::new(crate::sql::connect_postgres(conn).await?),
                source_schemas: source_schemas.clone(),
            }),
            "sqlite" => Ok(Target::Sqlite(Mutex::new(
                crate::sql::connect_sqlite(conn).await?,
            ))),
            other => Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`; data tests run on postgres:// and sqlite://",
                conn.name
            ))),
        }
    }

    /// The SQL flavour.
    pub fn dialect(&self) -> Dialect {
        match self {
            Target::Delta(_) => Dialect::DataFusion,
            Target::Postgres { .. } => Dialect::Postgres,
            Target::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// A relation as a FROM item: the registered Delta table (`key`: its `tables` key),
    /// or the database table dbt would read (`schema.table` for a dotted model name, the
    /// source's schema for a source table).
    pub fn relation(&self, relation: &Relation, key: Option<&str>) -> String {
        let dotted = |name: &str| {
            name.split('.')
                .map(quote_ident)
                .collect::<Vec<_>>()
                .join(".")
        };
        match (self, relation) {
            (Target::Delta(_), _) => quote_ident(&alias(key.unwrap_or_default())),
            // As load_warehouse names them: on SQLite `gold.x` is the table `gold_x`.
            (Target::Sqlite(_), Relation::Model(m)) => quote_ident(&m.replace('.', "_")),
            (_, Relation::Model(m)) => dotted(m),
            (Target::Postgres { source_schemas, .. }, Relation::Source { source, table }) => {
                let schema = source_schemas.get(source).unwrap_or(source);
                format!("{}.{}", quote_ident(schema), quote_ident(table))
            }
            // SQLite has one schema: a source table is its table name.
            (_, Relation::Source { table, .. }) => quote_ident(table),
        }
    }

    /// Runs statements that return nothing (PostgreSQL and SQLite only).
    pub async fn execute(&self, sql: &str) -> Result<(), String> {
        match self {
            Target::Delta(_) => Err("statements run on a connection only".into()),
            Target::Postgres { db, .. } => {
                let mut db = db.lock().await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut *db)
                    .await
                    .map(|_| ())
                    .map_err(|e| crate::db_error::describe(&e))
            }
            Target::Sqlite(db) => {
                let mut db = db.lock().await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut *db)
                    .await
                    .map(|_| ())
                    .map_err(|e| crate::db_error::describe(&e))
            }
        }
    }

    /// Runs a counting query (one row, column `failures`); NULL counts as 0.
    pub async fn count_failures(&self, sql: &str) -> Result<i64, String> {
        match self {
            Target::Delta(ctx) => {
                let frame = ctx.sql(sql).await.map_err(|e| e.to_string())?;
                let batches = frame.collect().await.map_err(|e| e.to_string())?;
                let column = batches
                    .iter()
                    .find(|b| b.num_rows() > 0)
                    .map(|b| b.column(0).clone());
                Ok(match column {
                    Some(c) => {
                        let ints = c
                            .as_primitive_opt::<Int64Type>()
                            .ok_or("failures is not a whole number")?;
                        if ints.is_null(0) { 0 } else { ints.value(0) }
                    }
                    None => 0,
                })
            }
            Target::Postgres { db, .. } => {
                let mut db = db.lock().await;
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut *db)
                    .await
                    .map_err(|e| crate::db_error::describe(&e))?;
                let n: Option<i64> = row.try_get(0).map_err(|e| e.to_string())?;
                Ok(n.unwrap_or(0))
            }
            Target::Sqlite(db) => {
                let mut db = db.lock().await;
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut *db)
                    .await
                    .map_err(|e| crate::db_error::describe(&e))?;
                let n: Option<i64> = row.try_get(0).map_err(|e| e.to_string())?;
                Ok(n.unwrap_or(0))
            }
        }
    }
}
