//! Building a node in a warehouse (PostgreSQL or SQLite), atomically, as dbt-postgres
//! does: a table or a view is created under a temporary name and swapped in within one
//! transaction (the old one dropped with what depends on it — later models rebuild it);
//! an incremental model's new rows go in by its strategy (`append`, `delete+insert`,
//! `merge`), after its columns are reconciled by `on_schema_change`; a seed's table is
//! created with its columns' types and its rows inserted. Hooks run in the same
//! transaction (or outside it, `transaction: false`). On SQLite the schema is a prefix
//! (`marts.dim_author` is the table `marts_dim_author`). The lake builds by its own path
//! ([`super::lake`]), behind the same calls.

use super::relation::{Relation, quote};
use super::settings::{Materialized, OnSchemaChange, Strategy};
use crate::TaskError;
use sqlx::{AssertSqlSafe, Connection};

/// A warehouse connection.
pub enum Warehouse {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
    /// The lake: Delta tables computed by DataFusion ([`super::lake`]).
    Lake(super::lake::LakeWarehouse),
}

/// What a relation is now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
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

/// How to build one node: its SQL, how it is materialized, and its incremental settings.
pub struct Build<'a> {
    pub relation: &'a Relation,
    pub sql: &'a str,
    pub materialized: Materialized,
    pub unique_key: &'a [String],
    pub strategy: Option<Strategy>,
    pub on_schema_change: OnSchemaChange,
    /// Rendered hooks: (sql, inside the transaction).
    pub pre_hooks: &'a [(String, bool)],
    pub post_hooks: &'a [(String, bool)],
    /// Rebuild an incremental model from scratch.
    pub full_refresh: bool,
}

impl Build<'_> {
    /// The model's incremental strategy, else dbt-postgres' default (`delete+insert`
    /// with a `unique_key`, `append` without); a keyed strategy needs a key.
    pub fn incremental_strategy(&self) -> Result<Strategy, TaskError> {
        let strategy = self.strategy.unwrap_or(if self.unique_key.is_empty() {
            Strategy::Append
        } else {
            Strategy::DeleteInsert
        });
        if strategy != Strategy::Append && self.unique_key.is_empty() {
            return Err(TaskError::Config(format!(
                "incremental_strategy `{}` needs a unique_key",
                if strategy == Strategy::Merge {
                    "merge"
                } else {
                    "delete+insert"
                }
            )));
        }
        Ok(strategy)
    }
}

/// A database's answer, as the node's failure.
pub fn db_err(e: sqlx::Error) -> TaskError {
    TaskError::Fatal(crate::db_error::describe(&e))
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

    /// Whether `relation` is a table, a view, or nothing yet.
    pub async fn existing(&mut self, relation: &Relation) -> Result<Option<Kind>, TaskError> {
        let found: Option<String> = match self {
            Warehouse::Lake(lake) => return lake.existing(relation).await,
            Warehouse::Postgres(db) => sqlx::query_scalar(
                "SELECT CASE WHEN c.relkind = 'v' THEN 'view' ELSE 'table' END FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'v', 'p')",
            )
            .bind(&relation.schema)
            .bind(&relation.identifier)
            .fetch_optional(db)
            .await
            .map_err(db_err)?,
            Warehouse::Sqlite(db) => sqlx::query_scalar(
                "SELECT type FROM sqlite_master WHERE name = $1 AND type IN ('table', 'view')",
            )
            .bind(format!("{}_{}", relation.schema, relation.identifier))
            .fetch_optional(db)
            .await
            .map_err(db_err)?,
        };
        Ok(found.map(|k| if k == "view" { Kind::View } else { Kind::Table }))
    }

    /// Creates `schema` when PostgreSQL has none of that name, on its own (not in a
    /// build's transaction): two tasks creating one schema at once would otherwise make
    /// one fail (`CREATE SCHEMA IF NOT EXISTS` races in PostgreSQL).
    pub async fn ensure_schema(&mut self, schema: &str) -> Result<(), TaskError> {
        let Warehouse::Postgres(db) = self else {
            return Ok(());
        };
        let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema));
        match sqlx::raw_sql(AssertSqlSafe(sql)).execute(db).await {
            Ok(_) => Ok(()),
            // Created meanwhile by another session: there it is.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("23505") | Some("42P06")) =>
            {
                Ok(())
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// The columns of a table or view as the database's catalog describes them (what
    /// dbt's `get_columns_in_relation` reads): name, type, and the type's size,
    /// precision and scale where it has them.
    pub async fn catalog_columns(
        &mut self,
        relation: &Relation,
    ) -> Result<Vec<CatalogColumn>, TaskError> {
        match self {
            Warehouse::Lake(lake) => lake.catalog_columns(relation).await,
            Warehouse::Postgres(db) => {
                // name, type, size, precision, scale
                type Described = (String, String, Option<i32>, Option<i32>, Option<i32>);
                let rows: Vec<Described> = sqlx::query_as(
                    "SELECT column_name::text, data_type::text, character_maximum_length,
                                numeric_precision, numeric_scale
                         FROM information_schema.columns
                         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                )
                .bind(&relation.schema)
                .bind(&relation.identifier)
                .fetch_all(db)
                .await
                .map_err(db_err)?;
                Ok(rows
                    .into_iter()
                    .map(|(name, dtype, size, precision, scale)| CatalogColumn {
                        name,
                        dtype,
                        char_size: size.map(i64::from),
                        numeric_precision: precision.map(i64::from),
                        numeric_scale: scale.map(i64::from),
                    })
                    .collect())
            }
            Warehouse::Sqlite(db) => {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                        .bind(format!("{}_{}", relation.schema, relation.identifier))
                        .fetch_all(db)
                        .await
                        .map_err(db_err)?;
                Ok(rows
                    .into_iter()
                    .map(|(name, declared)| CatalogColumn::described(name, &declared))
                    .collect())
            }
        }
    }

    /// The columns of `relation` (or of a query, `from`), in order, with their types.
    pub async fn columns(&mut self, from: &str) -> Result<Vec<(String, String)>, TaskError> {
        use sqlx::{Column, Executor, Statement, TypeInfo};
        let sql =
            sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(format!("SELECT * FROM {from} LIMIT 0")));
        // The same code for both drivers: each arm has its own statement type.
        macro_rules! described {
            ($db:expr) => {{
                let prepared = (&mut *$db).prepare(sql).await.map_err(db_err)?;
                Ok(prepared
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_lowercase()))
                    .collect())
            }};
        }
        match self {
            Warehouse::Postgres(db) => described!(db),
            Warehouse::Sqlite(db) => described!(db),
            Warehouse::Lake(lake) => lake.columns(from).await,
        }
    }

    /// Builds a node; returns its rows (None for a view).
    pub async fn build(&mut self, b: &Build<'_>) -> Result<Option<i64>, TaskError> {
        if let Warehouse::Lake(lake) = self {
            return lake.build(b).await;
        }
        let existing = self.existing(b.relation).await?;
        let incremental = b.materialized == Materialized::Incremental
            && existing == Some(Kind::Table)
            && !b.full_refresh;
        let mut statements: Vec<String> = b
            .pre_hooks
            .iter()
            .filter(|(_, inside)| *inside)
            .map(|(sql, _)| sql.clone())
            .collect();
        if incremental {
            statements.extend(self.incremental_statements(b).await?);
        } else {
            let kind = if b.materialized == Materialized::View {
                Kind::View
            } else {
                Kind::Table
            };
            statements.extend(self.swap_statements(b.relation, b.sql, kind, existing));
        }
        statements.extend(
            b.post_hooks
                .iter()
                .filter(|(_, inside)| *inside)
                .map(|(sql, _)| sql.clone()),
        );
        self.outside(b.pre_hooks).await?;
        self.in_transaction(&statements).await?;
        self.outside(b.post_hooks).await?;
        if b.materialized == Materialized::View {
            return Ok(None);
        }
        self.count(&b.relation.sql()).await.map(Some)
    }

    /// The rows of a relation.
    pub async fn count(&mut self, relation: &str) -> Result<i64, TaskError> {
        let count = format!("SELECT count(*) FROM {relation}");
        match self {
            Warehouse::Postgres(db) => sqlx::query_scalar(AssertSqlSafe(count)).fetch_one(db).await,
            Warehouse::Sqlite(db) => sqlx::query_scalar(AssertSqlSafe(count)).fetch_one(db).await,
            Warehouse::Lake(lake) => return lake.count(relation).await,
        }
        .map_err(db_err)
    }

    /// Runs the hooks that run outside the build's transaction.
    async fn outside(&mut self, hooks: &[(String, bool)]) -> Result<(), TaskError> {
        for (sql, inside) in hooks {
            if !inside {
                self.in_transaction(std::slice::from_ref(sql)).await?;
            }
        }
        Ok(())
    }

    /// Create under a temporary name, then swap: the old relation (of whatever kind)
    /// goes, the new one takes its name.
    fn swap_statements(
        &self,
        target: &Relation,
        sql: &str,
        kind: Kind,
        existing: Option<Kind>,
    ) -> Vec<String> {
        let (schema, name) = (&target.schema, &target.identifier);
        let named = |n: &str| Relation::new(schema, n, target.naming).sql();
        let temp_name = format!("{name}__dbt_tmp");
        let temp = named(&temp_name);
        let new = kind.keyword();
        match self {
            Warehouse::Postgres(_) => {
                let backup_name = format!("{name}__dbt_backup");
                let mut out = vec![
                    format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema)),
                    format!("DROP {new} IF EXISTS {temp} CASCADE"),
                    format!("CREATE {new} {temp} AS (\n{sql}\n)"),
                ];
                if let Some(old) = existing {
                    out.push(format!(
                        "DROP {} IF EXISTS {} CASCADE",
                        old.keyword(),
                        named(&backup_name)
                    ));
                    out.push(format!(
                        "ALTER {} {} RENAME TO {}",
                        old.keyword(),
                        target.sql(),
                        quote(&backup_name)
                    ));
                }
                out.push(format!("ALTER {new} {temp} RENAME TO {}", quote(name)));
                if let Some(old) = existing {
                    out.push(format!(
                        "DROP {} {} CASCADE",
                        old.keyword(),
                        named(&backup_name)
                    ));
                }
                out
            }
            // SQLite cannot rename a view: a view is dropped and created in the transaction.
            // (The lake builds by its own path.)
            Warehouse::Sqlite(_) | Warehouse::Lake(_) => {
                let mut out = Vec::new();
                if kind == Kind::Table {
                    out.push(format!("DROP TABLE IF EXISTS {temp}"));
                    out.push(format!("CREATE TABLE {temp} AS {sql}"));
                }
                if let Some(old) = existing {
                    out.push(format!("DROP {} {}", old.keyword(), target.sql()));
                }
                out.push(match kind {
                    Kind::Table => format!(
                        "ALTER TABLE {temp} RENAME TO {}",
                        quote(&format!("{schema}_{name}"))
                    ),
                    Kind::View => format!("CREATE VIEW {} AS {sql}", target.sql()),
                });
                out
            }
        }
    }

    /// An incremental model's new rows: columns reconciled by `on_schema_change`, then
    /// added by its strategy (dbt-postgres' default: `delete+insert` with a
    /// `unique_key`, `append` without).
    async fn incremental_statements(&mut self, b: &Build<'_>) -> Result<Vec<String>, TaskError> {
        let target = b.relation.sql();
        let new_rows = quote(&format!("{}__dbt_new", b.relation.identifier));
        let wanted = self.columns(&format!("({}) dbt_new", b.sql)).await?;
        let have = self.columns(&target).await?;
        let mut out = Vec::new();
        let reconciled = reconcile(&wanted, &have, b.on_schema_change)?;
        for (column, data_type) in &reconciled.added {
            out.push(format!(
                "ALTER TABLE {target} ADD COLUMN {} {}",
                quote(column),
                column_type(data_type)
            ));
        }
        for column in &reconciled.dropped {
            out.push(format!(
                "ALTER TABLE {target} DROP COLUMN {}",
                quote(column)
            ));
        }
        let columns: Vec<String> = reconciled.written.iter().map(|c| quote(c)).collect();
        let list = columns.join(", ");
        out.push(format!("DROP TABLE IF EXISTS {new_rows}"));
        out.push(format!("CREATE TEMPORARY TABLE {new_rows} AS {}", b.sql));
        let strategy = b.incremental_strategy()?;
        let same_key = b
            .unique_key
            .iter()
            .map(|k| format!("{target}.{k} = {new_rows}.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        match strategy {
            Strategy::Append => {}
            Strategy::DeleteInsert | Strategy::Merge => out.push(format!(
                "DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {new_rows} WHERE {same_key})"
            )),
        }
        out.push(format!(
            "INSERT INTO {target} ({list}) SELECT {list} FROM {new_rows}"
        ));
        out.push(format!("DROP TABLE {new_rows}"));
        Ok(out)
    }

    /// Runs statements (each may hold several) in one transaction.
    pub async fn in_transaction(&mut self, statements: &[String]) -> Result<(), TaskError> {
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
            Warehouse::Lake(lake) => lake.execute(statements).await,
        }
    }
}

impl Warehouse {
    /// Runs a query; its column names in order and its rows as JSON values.
    pub async fn query(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), TaskError> {
        let statement = sql.trim().trim_end_matches(';');
        let objects: Vec<serde_json::Map<String, serde_json::Value>> = match self {
            Warehouse::Lake(lake) => return lake.query(statement).await,
            Warehouse::Postgres(db) => {
                let wrapped = format!("WITH t AS ({statement}) SELECT row_to_json(t)::text FROM t");
                let texts: Vec<String> = sqlx::query_scalar(AssertSqlSafe(wrapped))
                    .fetch_all(&mut *db)
                    .await
                    .map_err(db_err)?;
                texts
                    .iter()
                    .filter_map(|t| serde_json::from_str(t).ok())
                    .collect()
            }
            Warehouse::Sqlite(db) => {
                let rows = sqlx::query(AssertSqlSafe(statement.to_string()))
                    .fetch_all(&mut *db)
                    .await
                    .map_err(db_err)?;
                crate::sql::sqlite_json_rows(&rows)
                    .rows
                    .into_iter()
                    .filter_map(|r| match r {
                        serde_json::Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect()
            }
        };
        let columns: Vec<String> = self
            .columns(&format!("({statement}) q"))
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let rows = objects
            .into_iter()
            .map(|mut object| {
                columns
                    .iter()
                    .map(|c| object.remove(c).unwrap_or_default())
                    .collect()
            })
            .collect();
        Ok((columns, rows))
    }
}

/// How an incremental model's new rows meet its table, by `on_schema_change`.
#[derive(Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// Columns added to the table: (name, type as the new rows have it).
    pub added: Vec<(String, String)>,
    /// Columns dropped from the table.
    pub dropped: Vec<String>,
    /// The table's columns afterwards, in order.
    pub after: Vec<String>,
    /// The columns the new rows fill (the others of `after` are left null).
    pub written: Vec<String>,
}

/// dbt's `on_schema_change` for new rows with columns `wanted` and a table with `have`
/// (each (name, type)): `fail` refuses any difference, `ignore` writes the columns
/// both have, `append_new_columns` adds the new ones, `sync_all_columns` also drops
/// the table's columns the rows no longer have.
pub fn reconcile(
    wanted: &[(String, String)],
    have: &[(String, String)],
    policy: OnSchemaChange,
) -> Result<Reconciled, TaskError> {
    let has = |list: &[(String, String)], name: &str| list.iter().any(|(c, _)| c == name);
    let missing: Vec<(String, String)> = wanted
        .iter()
        .filter(|(c, _)| !has(have, c))
        .cloned()
        .collect();
    let gone: Vec<String> = have
        .iter()
        .filter(|(h, _)| !has(wanted, h))
        .map(|(h, _)| h.clone())
        .collect();
    let names = |list: &[(String, String)]| list.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    let both: Vec<String> = have
        .iter()
        .filter(|(h, _)| has(wanted, h))
        .map(|(h, _)| h.clone())
        .collect();
    Ok(match policy {
        OnSchemaChange::Fail if !missing.is_empty() || !gone.is_empty() => {
            return Err(TaskError::Fatal(format!(
                "The source and target schemas on this incremental model are out of sync (on_schema_change: fail): new columns {:?}, removed columns {:?}",
                names(&missing),
                gone
            )));
        }
        OnSchemaChange::Ignore | OnSchemaChange::Fail => Reconciled {
            added: Vec::new(),
            dropped: Vec::new(),
            after: names(have),
            written: both,
        },
        OnSchemaChange::AppendNewColumns => Reconciled {
            after: names(have).into_iter().chain(names(&missing)).collect(),
            added: missing,
            dropped: Vec::new(),
            written: names(wanted),
        },
        OnSchemaChange::SyncAllColumns => Reconciled {
            after: both.into_iter().chain(names(&missing)).collect(),
            added: missing,
            dropped: gone,
            written: names(wanted),
        },
    })
}

/// A column type from what the driver reports, as DDL accepts it.
fn column_type(reported: &str) -> String {
    match reported {
        "int4" => "integer".into(),
        "int8" => "bigint".into(),
        "float8" => "double precision".into(),
        "bool" => "boolean".into(),
        "timestamptz" => "timestamp with time zone".into(),
        "timestamp" => "timestamp without time zone".into(),
        "null" | "" => "text".into(),
        other => other.to_string(),
    }
}

/// A column as a database's catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    /// The type's name without size (`character varying`, `numeric`).
    pub dtype: String,
    pub char_size: Option<i64>,
    pub numeric_precision: Option<i64>,
    pub numeric_scale: Option<i64>,
}

impl CatalogColumn {
    /// A column whose type is written whole (`varchar(10)`, `numeric(28,6)`).
    pub fn described(name: String, written: &str) -> Self {
        let (dtype, sizes) = match written.split_once('(') {
            Some((base, rest)) => (base.trim(), rest.trim_end_matches(')')),
            None => (written.trim(), ""),
        };
        let numbers: Vec<Option<i64>> = sizes
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse().ok())
            .collect();
        let (char_size, numeric_precision, numeric_scale) = match numbers.as_slice() {
            [size] => (*size, None, None),
            [precision, scale] => (None, *precision, *scale),
            _ => (None, None, None),
        };
        Self {
            name,
            dtype: dtype.to_string(),
            char_size,
            numeric_precision,
            numeric_scale,
        }
    }
}
