//! `load_warehouse`: copies a Delta table into a table of the warehouse connection
//! (PostgreSQL with `COPY`, or SQLite), in one transaction, creating the table from the
//! Arrow schema when missing. The warehouse records which Delta version it holds
//! (`updraft_loads`, in the same transaction), so a run replaces exactly the partitions
//! that changed since that version (everything the first time) and the warehouse table
//! always equals the Delta table.

mod cells;
mod postgres;
mod sqlite;

use crate::lake::{self, PartitionValues, datafusion_error, quote_ident};
use crate::sql::redact;
use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::physical_plan::SendableRecordBatchStream;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadConfig {
    /// The Delta table to copy.
    source: String,
    /// The warehouse connection.
    #[serde(default = "default_conn")]
    conn: String,
    /// The warehouse table, `schema.table` (on SQLite the schema becomes a name prefix:
    /// `gold.x` is the table `gold_x`).
    table: String,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
}

fn default_conn() -> String {
    "warehouse".into()
}

/// A warehouse table name split into schema and table.
#[derive(Debug, Clone)]
pub(crate) struct TableName {
    pub schema: Option<String>,
    pub table: String,
}

impl TableName {
    fn parse(text: &str) -> Result<Self, TaskError> {
        let parts: Vec<&str> = text.split('.').collect();
        let bad = || {
            TaskError::Config(format!(
                "`table` must be `table` or `schema.table`, not `{text}`"
            ))
        };
        match parts.as_slice() {
            [t] if !t.is_empty() => Ok(Self {
                schema: None,
                table: t.to_string(),
            }),
            [s, t] if !s.is_empty() && !t.is_empty() => Ok(Self {
                schema: Some(s.to_string()),
                table: t.to_string(),
            }),
            _ => Err(bad()),
        }
    }

    /// The name as written in the config (`gold.x`), the key of `updraft_loads`.
    fn key(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}
updraft_core::declare_task_type!(
    LoadWarehouse,
    "load_warehouse",
    |config, _| validate(config),
    reports = &[updraft_core::ReportKind::Asset]
);

pub(crate) fn validate(config: &Value) -> Result<(), TaskError> {
    let cfg: LoadConfig = parse_config(config)?;
    TableName::parse(&cfg.table)?;
    Ok(())
}

/// What one load must do, decided inside the warehouse transaction.
pub(crate) enum Plan {
    /// The warehouse already holds this version.
    UpToDate,
    /// Replace every row.
    Everything,
    /// Replace the rows of these partitions.
    Partitions(BTreeSet<PartitionValues>),
}

/// The Delta table being loaded, at the version read when the task started.
pub(crate) struct Source {
    pub table: DeltaTable,
    pub url: String,
    pub version: i64,
    pub schema: SchemaRef,
}

impl Source {
    /// Decides the plan from the version the warehouse says it holds.
    pub async fn plan(
        &self,
        loaded: Option<(String, i64)>,
        table_exists: bool,
    ) -> Result<Plan, TaskError> {
        let Some((_, version)) = loaded.filter(|(url, _)| *url == self.url) else {
            return Ok(Plan::Everything);
        };
        if !table_exists || version > self.version {
            return Ok(Plan::Everything);
        }
        if version == self.version {
            return Ok(Plan::UpToDate);
        }
        if lake::partition_columns(&self.table).is_empty() {
            return Ok(Plan::Everything);
        }
        let changes = lake::changes_since(&self.table, version).await?;
        Ok(if changes.incomplete {
            Plan::Everything
        } else {
            Plan::Partitions(changes.partitions)
        })
    }

    /// The quoted column names, comma-separated.
    pub fn column_list(&self) -> String {
        let columns: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect();
        columns.join(", ")
    }

    /// The rows to copy under `plan`, streamed.
    pub async fn rows(&self, plan: &Plan) -> Result<SendableRecordBatchStream, TaskError> {
        let ctx = lake::sql_session(&[("source".to_string(), self.table.clone())]).await?;
        let filter = match plan {
            Plan::Partitions(p) => {
                lake::partition_filter(p, &self.schema).unwrap_or("FALSE".into())
            }
            _ => "TRUE".into(),
        };
        let sql = format!("SELECT {} FROM source WHERE {filter}", self.column_list());
        ctx.sql(&sql)
            .await
            .map_err(|e| datafusion_error("planning the read of the Delta table", e))?
            .execute_stream()
            .await
            .map_err(|e| datafusion_error("reading the Delta table", e))
    }
}

/// The warehouse `WHERE` clause selecting `partitions` (literals are untyped strings,
/// which both PostgreSQL and SQLite compare with the column's own type).
pub(crate) fn warehouse_filter(partitions: &BTreeSet<PartitionValues>) -> String {
    let terms: Vec<String> = partitions
        .iter()
        .map(|values| {
            let parts: Vec<String> = values
                .iter()
                .map(|(column, value)| match value {
                    None => format!("{} IS NULL", quote_ident(column)),
                    Some(v) => format!("{} = '{}'", quote_ident(column), v.replace('\'', "''")),
                })
                .collect();
            format!("({})", parts.join(" AND "))
        })
        .collect();
    if terms.is_empty() {
        "FALSE".into()
    } else {
        terms.join(" OR ")
    }
}

/// What a load did.
pub(crate) struct Loaded {
    pub rows: u64,
    pub replaced: String,
}

impl Loaded {
    fn up_to_date() -> Self {
        Self {
            rows: 0,
            replaced: "already up to date".into(),
        }
    }
}

/// The statements that make room for the plan's rows in `target` (quoted): create the
/// table when missing and delete what will be replaced; and a description of it.
pub(crate) fn clearing(
    plan: &Plan,
    target: &str,
    schema: &SchemaRef,
    dialect: cells::Dialect,
) -> Result<(Vec<String>, String), TaskError> {
    Ok(match plan {
        Plan::UpToDate => (Vec::new(), "nothing".into()),
        Plan::Everything => {
            let fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            let ddl = cells::create_table(target, &fields, dialect)?;
            (
                vec![ddl, format!("DELETE FROM {target}")],
                "all rows".into(),
            )
        }
        Plan::Partitions(partitions) => (
            vec![format!(
                "DELETE FROM {target} WHERE {}",
                warehouse_filter(partitions)
            )],
            format!("{} partitions", partitions.len()),
        ),
    })
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: LoadConfig = parse_config(config)?;
    let name = TableName::parse(&cfg.table)?;
    let conn = ctx.connections.get(&cfg.conn)?;
    let started = std::time::Instant::now();
    let table = lake::open(&cfg.source, &cfg.storage_options).await?;
    if table.version().is_none() {
        ctx.log.line(format!(
            "{} has no commits yet; nothing to load",
            cfg.source
        ));
        return Ok(TaskOutcome::nothing_to_do());
    }
    let schema = table
        .snapshot()
        .map_err(|e| lake::delta_error("reading the table schema", e))?
        .snapshot()
        .arrow_schema();
    let source = Source {
        url: table.log_store().root_url().to_string(),
        version: lake::version(&table),
        schema,
        table,
    };
    ctx.log.line(format!(
        "loading {} (version {}) into `{}` table {}",
        cfg.source, source.version, cfg.conn, cfg.table
    ));
    let work = async {
        match conn.scheme() {
            "postgres" | "postgresql" => postgres::load(conn, &name, &source).await,
            "sqlite" => sqlite::load(conn, &name, &source).await,
            other => Err(TaskError::Config(format!(
                "connection `{}` has scheme `{other}`; load_warehouse supports postgres:// and sqlite://",
                cfg.conn
            ))),
        }
    };
    let loaded = tokio::select! {
        r = work => r.map_err(|e| redact(conn, e))?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled("the transaction was rolled back".into())),
    };
    lake::report_read(ctx, &cfg.source, source.version);
    if loaded.replaced != Loaded::up_to_date().replaced {
        use updraft_core::report::{AssetAccess, AssetEvent, Report, warehouse_asset_uri};
        ctx.reports.push(Report::Asset(AssetEvent {
            uri: warehouse_asset_uri(&cfg.conn, &cfg.table),
            access: AssetAccess::Write,
            version: None,
            rows: i64::try_from(loaded.rows).ok(),
            partitions: Vec::new(),
        }));
    }
    let seconds = started.elapsed().as_secs_f64();
    ctx.log.line(format!(
        "loaded {} rows ({}) in {seconds:.2}s ({:.0} rows/s)",
        loaded.rows,
        loaded.replaced,
        loaded.rows as f64 / seconds.max(1e-9)
    ));
    Ok(TaskOutcome::default()
        .with("rows", loaded.rows)
        .with("replaced", loaded.replaced)
        .with("source_version", source.version)
        .with("seconds", seconds))
}
