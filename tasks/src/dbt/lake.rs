//! Building nodes on the lake (`conn: lake`): each seed, model and snapshot is a Delta
//! table at `<lake>/<schema>/<name>`, computed by DataFusion in process. A table (and a
//! view: Delta has none, so a view is a table rebuilt with every build) replaces the
//! old one in one commit; an incremental model appends its new rows, merges them by
//! `unique_key` through delta-rs (`merge`), or replaces the rows of their keys in one
//! commit (`delete+insert`); a snapshot's new history is one commit too. Reads resolve
//! `"schema"."name"` to the lake's tables at their newest version ([`lake_session`]).

use super::relation::{Relation, quote};
use super::seeds::SeedData;
use super::settings::{Materialized, Strategy};
use super::warehouse::{Build, CatalogColumn, Kind, reconcile};
use crate::TaskError;
use crate::lake::{self, LakeRoot, Positions, Rows, WriteSpec, datafusion_error, lake_session};
use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A relation's columns: (name, SQL type).
type Columns = [(String, String)];

/// The lake as a dbt warehouse: its root and one DataFusion session over it.
#[derive(Clone)]
pub struct LakeWarehouse {
    pub root: LakeRoot,
    pub ctx: SessionContext,
}

impl LakeWarehouse {
    /// A session over the lake at `root`, with the source tables kept elsewhere
    /// (`(schema, identifier)` → location) registered under their names.
    pub async fn open(
        root: LakeRoot,
        elsewhere: &BTreeMap<(String, String), String>,
    ) -> Result<Self, TaskError> {
        let ctx = lake_session(&root);
        for ((schema, name), location) in elsewhere {
            let table = lake::open(location, &root.storage).await?;
            if table.version().is_none() {
                continue; // read as missing, with DataFusion's message
            }
            lake::register(&ctx, &format!("{}.{}", quote(schema), quote(name)), &table).await?;
        }
        Ok(Self { root, ctx })
    }

    /// The Delta table of `relation`.
    pub fn location(&self, relation: &Relation) -> String {
        self.root.location(&relation.schema, &relation.identifier)
    }

    /// The version of the relation's Delta table (None before its first commit).
    pub async fn version(&self, relation: &Relation) -> Result<Option<i64>, TaskError> {
        let table = lake::open(&self.location(relation), &self.root.storage).await?;
        Ok(table.version().map(|_| lake::version(&table)))
    }

    /// A table when the relation's Delta table has a commit (there are no views).
    pub async fn existing(&self, relation: &Relation) -> Result<Option<Kind>, TaskError> {
        Ok(self.version(relation).await?.map(|_| Kind::Table))
    }

    /// Plans `sql` in the session: a query only. A statement that would change the
    /// session (`CREATE TABLE`, `INSERT`, `SET`) is refused: its table would live in
    /// memory and be gone after the build, where a project expects a warehouse's.
    async fn frame(&self, sql: &str) -> Result<DataFrame, TaskError> {
        let queries_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        self.ctx
            .sql_with_options(sql, queries_only)
            .await
            .map_err(|e| match e {
                DataFusionError::Plan(m) if refused_statement(&m) => TaskError::Fatal(format!(
                    "{m}: on the lake, SQL in models, hooks and run_query is a query (DataFusion's); write a model to make a table"
                )),
                other => TaskError::Fatal(other.to_string()),
            })
    }

    /// The columns of a relation or a query (`from`), with their types as SQL names
    /// DataFusion reads back (`integer`, `text`, `numeric(10,2)`...).
    pub async fn columns(&self, from: &str) -> Result<Vec<(String, String)>, TaskError> {
        let frame = self.frame(&format!("SELECT * FROM {from} LIMIT 0")).await?;
        Ok(described(&frame))
    }

    /// The columns of a relation as dbt's catalog gives them.
    pub async fn catalog_columns(
        &self,
        relation: &Relation,
    ) -> Result<Vec<CatalogColumn>, TaskError> {
        Ok(self
            .columns(&relation.sql())
            .await?
            .into_iter()
            .map(|(name, dtype)| CatalogColumn::described(name, &dtype))
            .collect())
    }

    /// The rows of a relation.
    pub async fn count(&self, relation: &str) -> Result<i64, TaskError> {
        let rows = self
            .frame(&format!("SELECT * FROM {relation}"))
            .await?
            .count()
            .await
            .map_err(|e| datafusion_error("counting the rows", e))?;
        Ok(i64::try_from(rows).unwrap_or(i64::MAX))
    }

    /// Runs a query; its column names in order and its rows as JSON values.
    pub async fn query(
        &self,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), TaskError> {
        let frame = self.frame(sql.trim().trim_end_matches(';')).await?;
        let columns: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let batches = frame
            .collect()
            .await
            .map_err(|e| datafusion_error("running the query", e))?;
        let rows = lake::json_rows(&batches)?
            .into_iter()
            .map(|mut object| {
                columns
                    .iter()
                    .map(|c| object.get_mut(c).map(std::mem::take).unwrap_or_default())
                    .collect()
            })
            .collect();
        Ok((columns, rows))
    }

    /// Runs statements (hooks) one after the other: DataFusion's SQL, nothing in a
    /// transaction (a Delta table changes only by the build's commit).
    pub async fn execute(&self, statements: &[String]) -> Result<(), TaskError> {
        // A hook that renders to nothing (`{% if target.type == ... %}`) runs nothing.
        for sql in statements.iter().filter(|s| !s.trim().is_empty()) {
            self.frame(sql)
                .await?
                .collect()
                .await
                .map_err(|e| datafusion_error("running a hook", e))?;
        }
        Ok(())
    }

    /// Replaces the relation's table with the rows of `sql` (its schema too); the rows.
    pub async fn replace(&self, relation: &Relation, sql: &str) -> Result<i64, TaskError> {
        let frame = self.frame(sql).await?;
        self.write(
            relation,
            frame,
            SaveMode::Overwrite,
            Some(SchemaMode::Overwrite),
        )
        .await?;
        self.count(&relation.sql()).await
    }

    async fn write(
        &self,
        relation: &Relation,
        frame: DataFrame,
        mode: SaveMode,
        schema_mode: Option<SchemaMode>,
    ) -> Result<(), TaskError> {
        let frame = in_microseconds(frame)?;
        let mut table = lake::open(&self.location(relation), &self.root.storage).await?;
        let spec = WriteSpec {
            mode,
            schema_mode,
            ..WriteSpec::append(&[])
        };
        lake::write_rows_checked(&mut table, Rows::Plan(frame), &spec, &Positions::default()).await
    }

    /// Builds a model (hooks around it); its rows.
    pub async fn build(&self, b: &Build<'_>) -> Result<Option<i64>, TaskError> {
        let hooks =
            |list: &[(String, bool)]| list.iter().map(|(sql, _)| sql.clone()).collect::<Vec<_>>();
        self.execute(&hooks(b.pre_hooks)).await?;
        let incremental = b.materialized == Materialized::Incremental
            && !b.full_refresh
            && self.existing(b.relation).await?.is_some();
        let rows = if incremental {
            self.incremental(b).await?
        } else {
            self.replace(b.relation, b.sql).await?
        };
        self.execute(&hooks(b.post_hooks)).await?;
        // dbt tells no rows for a view.
        Ok((b.materialized != Materialized::View).then_some(rows))
    }

    /// An incremental model's new rows, added by its strategy after its columns are
    /// reconciled by `on_schema_change`.
    async fn incremental(&self, b: &Build<'_>) -> Result<i64, TaskError> {
        let strategy = b.incremental_strategy()?;
        let target = b.relation.sql();
        // The new rows, computed once: a merge and a rewrite read them more than once.
        let frame = self.frame(b.sql).await?;
        let wanted = described(&frame);
        let have = self.columns(&target).await?;
        let reconciled = reconcile(&wanted, &have, b.on_schema_change)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame
            .collect()
            .await
            .map_err(|e| datafusion_error("computing the new rows", e))?;
        let new_name = TableReference::partial(
            b.relation.schema.as_str(),
            format!("{}__dbt_new", b.relation.identifier),
        );
        let rows = MemTable::try_new(schema, vec![batches])
            .map_err(|e| datafusion_error("keeping the new rows", e))?;
        self.ctx
            .register_table(new_name.clone(), Arc::new(rows))
            .map_err(|e| datafusion_error("keeping the new rows", e))?;
        let new_rows = format!(
            "{}.{}",
            quote(&b.relation.schema),
            quote(&format!("{}__dbt_new", b.relation.identifier))
        );
        let done = self
            .add_rows(b, strategy, &reconciled, (&new_rows, &wanted, &have))
            .await;
        let _ = self.ctx.deregister_table(new_name);
        done?;
        self.count(&target).await
    }

    async fn add_rows(
        &self,
        b: &Build<'_>,
        strategy: Strategy,
        reconciled: &super::warehouse::Reconciled,
        (new_rows, wanted, have): (&str, &Columns, &Columns),
    ) -> Result<(), TaskError> {
        let target = b.relation.sql();
        let type_of = |name: &str| {
            wanted
                .iter()
                .chain(have)
                .find(|(c, _)| c == name)
                .map_or("text".to_string(), |(_, t)| t.clone())
        };
        let in_list = |list: &[(String, String)], name: &str| list.iter().any(|(c, _)| c == name);
        // Each column of the table afterwards, from a row of `list` or null.
        let select = |list: &[(String, String)], written_only: bool| -> String {
            reconciled
                .after
                .iter()
                .map(|c| {
                    let from_list =
                        in_list(list, c) && (!written_only || reconciled.written.contains(c));
                    if from_list {
                        quote(c)
                    } else {
                        format!("cast(null as {}) as {}", type_of(c), quote(c))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fresh = format!("select {} from {new_rows}", select(wanted, true));
        let schema_changes = !reconciled.added.is_empty() || !reconciled.dropped.is_empty();
        let rewrite = |kept: String| {
            format!(
                "select {} from {target} t{kept} union all {fresh}",
                select(have, false)
            )
        };
        let same_key = b
            .unique_key
            .iter()
            .map(|k| format!("t.{k} = n.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" and ");
        let not_replaced =
            format!(" where not exists (select 1 from {new_rows} n where {same_key})");
        match strategy {
            Strategy::Append if reconciled.dropped.is_empty() => {
                let frame = self.frame(&fresh).await?;
                let mode = schema_changes.then_some(SchemaMode::Merge);
                self.write(b.relation, frame, SaveMode::Append, mode).await
            }
            Strategy::Merge if reconciled.dropped.is_empty() => {
                let frame = self.frame(&fresh).await?;
                let mut table = lake::open(&self.location(b.relation), &self.root.storage).await?;
                lake::merge(
                    &mut table,
                    frame,
                    b.unique_key,
                    &reconciled.written,
                    schema_changes,
                )
                .await
                .map(|_| ())
            }
            // Columns dropped, or keys replaced: the table is rewritten in one commit.
            Strategy::Append => self
                .replace(b.relation, &rewrite(String::new()))
                .await
                .map(|_| ()),
            Strategy::Merge | Strategy::DeleteInsert => self
                .replace(b.relation, &rewrite(not_replaced))
                .await
                .map(|_| ()),
        }
    }

    /// Loads a seed's rows as its table (replaced whole), typed as dbt types them.
    pub async fn load_seed(
        &self,
        relation: &Relation,
        data: &SeedData,
        quote_columns: bool,
    ) -> Result<i64, TaskError> {
        let raw: Vec<String> = (0..data.columns.len()).map(|i| format!("c{i}")).collect();
        let fields: Vec<Field> = raw
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = (0..data.columns.len())
            .map(|i| {
                let values: StringArray = data
                    .rows
                    .iter()
                    .map(|row| row.get(i).cloned().flatten())
                    .collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| TaskError::Fatal(format!("reading the seed's rows: {e}")))?;
        let staged = TableReference::partial(
            relation.schema.as_str(),
            format!("{}__dbt_seed", relation.identifier),
        );
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(|e| datafusion_error("reading the seed's rows", e))?;
        self.ctx
            .register_table(staged.clone(), Arc::new(table))
            .map_err(|e| datafusion_error("reading the seed's rows", e))?;
        let columns: Vec<String> = data
            .columns
            .iter()
            .zip(&data.types)
            .zip(&raw)
            .map(|((name, data_type), raw)| {
                let name = if quote_columns {
                    name.clone()
                } else {
                    name.to_lowercase()
                };
                let value = if matches!(data_type.as_str(), "integer" | "float8") {
                    format!("replace({raw}, ',', '')")
                } else {
                    raw.clone()
                };
                format!("cast({value} as {data_type}) as {}", quote(&name))
            })
            .collect();
        let sql = format!(
            "select {} from {}.{}",
            columns.join(", "),
            quote(&relation.schema),
            quote(&format!("{}__dbt_seed", relation.identifier))
        );
        let done = self.replace(relation, &sql).await;
        let _ = self.ctx.deregister_table(staged);
        done
    }
}

/// The frame with its nanosecond timestamps (DataFusion's) as microseconds, Delta's
/// precision: written as they are, delta-rs truncates them with a warning per file.
fn in_microseconds(frame: DataFrame) -> Result<DataFrame, TaskError> {
    use deltalake::datafusion::common::Column;
    use deltalake::datafusion::logical_expr::{Expr, cast};
    let mut changed = false;
    let columns: Vec<Expr> = frame
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            match field.data_type() {
                DataType::Timestamp(TimeUnit::Nanosecond, zone) => {
                    changed = true;
                    cast(
                        column,
                        DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
                    )
                    .alias(field.name())
                }
                _ => column,
            }
        })
        .collect();
    if !changed {
        return Ok(frame);
    }
    frame
        .select(columns)
        .map_err(|e| datafusion_error("keeping timestamps in microseconds", e))
}

/// A plan's columns with their types as SQL names DataFusion reads back.
fn described(frame: &DataFrame) -> Vec<(String, String)> {
    frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), sql_type(f.data_type())))
        .collect()
}

/// Whether DataFusion refused a statement for what it is (`DDL not supported: ...`).
fn refused_statement(message: &str) -> bool {
    ["DDL", "DML", "Statement"]
        .iter()
        .any(|what| message.contains(&format!("{what} not supported")))
}

/// An Arrow type as the SQL name dbt's `Column` reads and DataFusion casts to.
fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Interval(_) | DataType::Duration(TimeUnit::Microsecond) => "interval".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        _ => "text".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook or `run_query` on the lake may only query: a table it made would live in
    /// the session's memory and be gone after the build.
    #[tokio::test]
    async fn statements_that_would_make_tables_in_memory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot {
            root: dir.path().display().to_string(),
            storage: BTreeMap::new(),
        };
        let lake = LakeWarehouse::open(root, &BTreeMap::new()).await.unwrap();
        for statement in [
            "CREATE TABLE audit AS SELECT 1 AS n",
            "CREATE SCHEMA audit",
            "SET datafusion.execution.batch_size = 10",
        ] {
            let refused = lake.execute(&[statement.to_string()]).await.unwrap_err();
            assert!(
                refused.to_string().contains("write a model"),
                "{statement}: {refused}"
            );
        }
        lake.execute(&["SELECT 1".into(), "  ".into()])
            .await
            .unwrap();
        let (columns, rows) = lake.query("SELECT 2 AS two").await.unwrap();
        assert_eq!(
            (columns, rows),
            (vec!["two".to_string()], vec![vec![serde_json::json!(2)]])
        );
    }
}
