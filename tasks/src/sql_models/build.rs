//! Building one model in the warehouse, atomically: a table or a view is created under a
//! temporary name and swapped in within one transaction (the old one dropped, with what
//! depends on it — later models rebuild it, as dbt does); an incremental model's new rows
//! replace those with the same `unique_key`. PostgreSQL has schemas; on SQLite the
//! schema is a prefix (`marts.dim_author` is the table `marts_dim_author`).

use super::project::Materialized;
use crate::TaskError;
use sqlx::{AssertSqlSafe, Connection};

/// A warehouse connection.
pub enum Warehouse {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

/// What a relation is now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Table,
    View,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::Table => "TABLE",
            Kind::View => "VIEW",
        }
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Warehouse {
    /// Connects to a `postgres://` or `sqlite://` URI.
    pub async fn connect(uri: &str) -> Result<Self, sqlx::Error> {
        if uri.starts_with("sqlite:") {
            let mut db = sqlx::SqliteConnection::connect(uri).await?;
            // Renaming a table must not re-check views that read a table being replaced.
            sqlx::query("PRAGMA legacy_alter_table = ON")
                .execute(&mut db)
                .await?;
            Ok(Self::Sqlite(db))
        } else {
            Ok(Self::Postgres(sqlx::PgConnection::connect(uri).await?))
        }
    }

    /// The SQL name of `table` in `schema`.
    pub fn relation(&self, schema: &str, table: &str) -> String {
        match self {
            Warehouse::Postgres(_) => format!("{}.{}", quote(schema), quote(table)),
            Warehouse::Sqlite(_) => quote(&format!("{schema}_{table}")),
        }
    }

    /// Whether `schema.name` is a table, a view, or nothing yet.
    async fn kind(&mut self, schema: &str, name: &str) -> Result<Option<Kind>, sqlx::Error> {
        let found: Option<String> =
            match self {
                Warehouse::Postgres(db) => sqlx::query_scalar(
                    "SELECT CASE WHEN c.relkind = 'v' THEN 'view' ELSE 'table' END FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'v', 'p')",
                )
                .bind(schema)
                .bind(name)
                .fetch_optional(db)
                .await?,
                Warehouse::Sqlite(db) => sqlx::query_scalar(
                    "SELECT type FROM sqlite_master WHERE name = $1 AND type IN ('table', 'view')",
                )
                .bind(format!("{schema}_{name}"))
                .fetch_optional(db)
                .await?,
            };
        Ok(found.map(|k| if k == "view" { Kind::View } else { Kind::Table }))
    }

    /// Whether an incremental model's table exists, so that `is_incremental()` is true.
    pub async fn has_table(&mut self, schema: &str, name: &str) -> Result<bool, sqlx::Error> {
        Ok(self.kind(schema, name).await? == Some(Kind::Table))
    }

    /// Builds `schema.name` from `sql`; returns its rows (None for a view).
    pub async fn build(
        &mut self,
        schema: &str,
        name: &str,
        sql: &str,
        materialized: Materialized,
        unique_key: &[String],
    ) -> Result<Option<i64>, TaskError> {
        let existing = self.kind(schema, name).await.map_err(db_err)?;
        let target = self.relation(schema, name);
        let statements = match (materialized, existing) {
            (Materialized::Incremental, Some(Kind::Table)) => {
                self.merge_statements(&target, sql, unique_key)
            }
            (Materialized::View, _) => {
                self.swap_statements(schema, name, sql, Kind::View, existing)
            }
            _ => self.swap_statements(schema, name, sql, Kind::Table, existing),
        };
        self.in_transaction(&statements).await?;
        if materialized == Materialized::View {
            return Ok(None);
        }
        let count = format!("SELECT count(*) FROM {target}");
        let rows: i64 = match self {
            Warehouse::Postgres(db) => sqlx::query_scalar(AssertSqlSafe(count)).fetch_one(db).await,
            Warehouse::Sqlite(db) => sqlx::query_scalar(AssertSqlSafe(count)).fetch_one(db).await,
        }
        .map_err(db_err)?;
        Ok(Some(rows))
    }

    /// Create under a temporary name, then swap: the old relation (of whatever kind)
    /// goes, the new one takes its name.
    fn swap_statements(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        kind: Kind,
        existing: Option<Kind>,
    ) -> Vec<String> {
        let target = self.relation(schema, name);
        let temp_name = format!("{name}__updraft_tmp");
        let temp = self.relation(schema, &temp_name);
        let new = kind.keyword();
        match self {
            Warehouse::Postgres(_) => {
                let backup_name = format!("{name}__updraft_backup");
                let mut out = vec![
                    format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)),
                    format!("DROP {new} IF EXISTS {temp} CASCADE"),
                    format!("CREATE {new} {temp} AS {sql}"),
                ];
                if let Some(old) = existing {
                    out.push(format!(
                        "ALTER {} {target} RENAME TO {}",
                        old.keyword(),
                        quote(&backup_name)
                    ));
                }
                out.push(format!("ALTER {new} {temp} RENAME TO {}", quote(name)));
                if let Some(old) = existing {
                    let backup = self.relation(schema, &backup_name);
                    out.push(format!("DROP {} {backup} CASCADE", old.keyword()));
                }
                out
            }
            // SQLite cannot rename a view: a view is dropped and created in the transaction.
            Warehouse::Sqlite(_) => {
                let mut out = Vec::new();
                if kind == Kind::Table {
                    out.push(format!("DROP TABLE IF EXISTS {temp}"));
                    out.push(format!("CREATE TABLE {temp} AS {sql}"));
                }
                if let Some(old) = existing {
                    out.push(format!("DROP {} {target}", old.keyword()));
                }
                out.push(match kind {
                    Kind::Table => format!(
                        "ALTER TABLE {temp} RENAME TO {}",
                        quote(&format!("{schema}_{name}"))
                    ),
                    Kind::View => format!("CREATE VIEW {target} AS {sql}"),
                });
                out
            }
        }
    }

    /// An incremental model's new rows: those with a key already present replace it.
    fn merge_statements(&self, target: &str, sql: &str, unique_key: &[String]) -> Vec<String> {
        let new = quote("updraft__new_rows");
        let same_key = unique_key
            .iter()
            .map(|k| format!("{target}.{k} = {new}.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut out = vec![format!("CREATE TEMP TABLE {new} AS {sql}")];
        if !unique_key.is_empty() {
            out.push(format!(
                "DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {new} WHERE {same_key})"
            ));
        }
        out.push(format!("INSERT INTO {target} SELECT * FROM {new}"));
        out.push(format!("DROP TABLE {new}"));
        out
    }

    /// Runs the statements in one transaction.
    async fn in_transaction(&mut self, statements: &[String]) -> Result<(), TaskError> {
        // The same code for both drivers: each arm has its own connection type.
        macro_rules! run_all {
            ($db:expr) => {{
                let mut tx = $db.begin().await.map_err(db_err)?;
                for s in statements {
                    sqlx::raw_sql(AssertSqlSafe(s.clone()))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            }};
        }
        match self {
            Warehouse::Postgres(db) => run_all!(db),
            Warehouse::Sqlite(db) => run_all!(db),
        }
    }
}

/// A database's answer, as the model's failure.
fn db_err(e: sqlx::Error) -> TaskError {
    TaskError::Fatal(crate::db_error::describe(&e))
}
