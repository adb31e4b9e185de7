//! The warehouse as a project's Jinja reads it while rendering: `run_query()`,
//! `{% call statement(...) %}` with `load_result()`, `adapter.get_columns_in_relation()`
//! and `adapter.get_relation()`. Rendering is synchronous; these run on a connection of
//! their own, waiting for the database where they are called (as dbt does). While a
//! project is only parsed (`execute` false) they run nothing: `run_query` gives none.

use super::relation::Relation;
use super::warehouse::{CatalogColumn, Warehouse};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A lazily opened connection for the templates' queries.
pub struct Runner {
    /// The connection's URI (None: the warehouse was given open).
    uri: Option<String>,
    conn: tokio::sync::Mutex<Option<Warehouse>>,
    /// `statement` results by name, for `load_result`.
    results: Mutex<BTreeMap<String, Value>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runner")
    }
}

fn fail(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

impl Runner {
    /// A runner for the connection at `uri` (opened on the first query).
    pub fn new(uri: &str) -> Self {
        Self {
            uri: Some(uri.to_string()),
            conn: tokio::sync::Mutex::new(None),
            results: Mutex::new(BTreeMap::new()),
        }
    }

    /// A runner on a warehouse already open (the lake's session, shared with the build).
    pub fn ready(warehouse: Warehouse) -> Self {
        Self {
            uri: None,
            conn: tokio::sync::Mutex::new(Some(warehouse)),
            results: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs `work` on the connection, waiting for it here (the rendering is synchronous).
    fn with_conn<T>(
        &self,
        work: impl for<'c> FnOnce(
            &'c mut Warehouse,
        )
            -> futures::future::BoxFuture<'c, Result<T, crate::TaskError>>,
    ) -> Result<T, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| fail("the warehouse can be queried only while the project runs"))?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(fail(
                "the warehouse can be queried only on a multi-threaded runtime",
            ));
        }
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut guard = self.conn.lock().await;
                if let (None, Some(uri)) = (guard.as_ref(), &self.uri) {
                    let opened = Warehouse::connect(uri)
                        .await
                        .map_err(|e| fail(crate::db_error::describe(&e)))?;
                    *guard = Some(opened);
                }
                let Some(conn) = guard.as_mut() else {
                    return Err(fail("no connection"));
                };
                work(conn).await.map_err(|e| fail(e.to_string()))
            })
        })
    }

    /// Runs `sql`; its rows as a dbt table (agate's shape).
    pub fn query(&self, sql: &str) -> Result<Table, Error> {
        let sql = sql.to_string();
        let (columns, rows) =
            self.with_conn(move |conn| Box::pin(async move { conn.query(&sql).await }))?;
        Ok(Table { columns, rows })
    }

    /// The columns of `relation`, as dbt's `Column` objects.
    pub fn columns(&self, relation: &Value) -> Result<Vec<Value>, Error> {
        let found = match relation.downcast_object::<Relation>() {
            // A table or view: as the catalog describes it, as dbt reads it.
            Some(r) if r.kind != Some("cte") => {
                let r = (*r).clone();
                self.with_conn(move |conn| Box::pin(async move { conn.catalog_columns(&r).await }))?
            }
            // A query or an inlined model: the types its statement describes.
            _ => {
                let from = relation.to_string();
                let described =
                    self.with_conn(move |conn| Box::pin(async move { conn.columns(&from).await }))?;
                described
                    .into_iter()
                    .map(|(name, dtype)| CatalogColumn::described(name, &dtype))
                    .collect()
            }
        };
        Ok(found.into_iter().map(column).collect())
    }

    /// Whether `relation` exists, and what it is.
    pub fn existing(&self, relation: &Relation) -> Result<Option<&'static str>, Error> {
        let relation = relation.clone();
        let found =
            self.with_conn(move |conn| Box::pin(async move { conn.existing(&relation).await }))?;
        Ok(found.map(|k| match k {
            super::warehouse::Kind::Table => "table",
            super::warehouse::Kind::View => "view",
        }))
    }

    /// Keeps a statement's result for `load_result`.
    pub fn keep(&self, name: &str, result: Value) {
        if let Ok(mut results) = self.results.lock() {
            results.insert(name.to_string(), result);
        }
    }

    /// A kept statement's result.
    pub fn load(&self, name: &str) -> Option<Value> {
        self.results.lock().ok().and_then(|r| r.get(name).cloned())
    }
}

/// A column as dbt's `Column` shows it to templates.
pub fn column(column: CatalogColumn) -> Value {
    Value::from_object(DbtColumn(column))
}

/// dbt's `Column`: `name`, `quoted`, `dtype`, `data_type` (with its size or precision),
/// and `is_string()`, `is_number()`, `is_integer()`, `is_float()`, `is_numeric()`,
/// `string_size()`, `literal()`.
#[derive(Debug)]
struct DbtColumn(CatalogColumn);

impl DbtColumn {
    fn is_string(&self) -> bool {
        matches!(
            self.0.dtype.to_lowercase().as_str(),
            "text" | "character varying" | "character" | "varchar"
        )
    }

    fn is_integer(&self) -> bool {
        matches!(
            self.0.dtype.to_lowercase().as_str(),
            "smallint"
                | "integer"
                | "bigint"
                | "smallserial"
                | "serial"
                | "bigserial"
                | "int2"
                | "int4"
                | "int8"
                | "serial2"
                | "serial4"
                | "serial8"
        )
    }

    fn is_float(&self) -> bool {
        matches!(
            self.0.dtype.to_lowercase().as_str(),
            "real" | "float4" | "float" | "double precision" | "float8" | "double"
        )
    }

    fn is_numeric(&self) -> bool {
        matches!(self.0.dtype.to_lowercase().as_str(), "numeric" | "decimal")
    }

    fn string_size(&self) -> i64 {
        match self.0.char_size {
            Some(size) if self.0.dtype != "text" => size,
            _ => 256,
        }
    }

    /// As dbt-postgres shows it: `text` and unsized varchar as they are, other strings
    /// with their size, numerics with precision and scale.
    fn data_type(&self) -> String {
        let c = &self.0;
        let lower = c.dtype.to_lowercase();
        if lower == "text" || (lower == "character varying" && c.char_size.is_none()) {
            return c.dtype.clone();
        }
        if self.is_string() {
            return format!("character varying({})", self.string_size());
        }
        match (self.is_numeric(), c.numeric_precision, c.numeric_scale) {
            (true, Some(p), Some(s)) => format!("{}({p},{s})", c.dtype),
            _ => c.dtype.clone(),
        }
    }
}

impl Object for DbtColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let c = &self.0;
        Some(match key.as_str()? {
            "name" | "column" => Value::from(c.name.clone()),
            "quoted" => Value::from(super::relation::quote(&c.name)),
            "dtype" => Value::from(c.dtype.clone()),
            "data_type" | "expanded_data_type" => Value::from(self.data_type()),
            "char_size" => Value::from(c.char_size),
            "numeric_precision" => Value::from(c.numeric_precision),
            "numeric_scale" => Value::from(c.numeric_scale),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        Ok(match method {
            "is_string" => Value::from(self.is_string()),
            "is_integer" => Value::from(self.is_integer()),
            "is_float" => Value::from(self.is_float()),
            "is_numeric" => Value::from(self.is_numeric()),
            "is_number" => Value::from(self.is_integer() || self.is_numeric() || self.is_float()),
            "string_size" => Value::from(self.string_size()),
            "literal" => {
                let value = args.first().map(Value::to_string).unwrap_or_default();
                Value::from(format!("{value}::{}", self.data_type()))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("a column has no method {method}()"),
                ));
            }
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Column {} ({})>", self.0.name, self.data_type())
    }
}

/// A query's rows as agate's `Table`: `rows` (each indexable by position and by
/// column name), `columns` (each with `name` and `values()`), `column_names`.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Table {
    /// dbt's `data` of a statement: the rows as lists.
    pub fn data(&self) -> Value {
        Value::from_serialize(&self.rows)
    }

    fn row(&self, i: usize) -> Option<Value> {
        self.rows.get(i).map(|values| {
            Value::from_object(Row {
                columns: self.columns.clone(),
                values: values.clone(),
            })
        })
    }
}

impl Object for Table {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_usize() {
            return self.row(i);
        }
        match key.as_str()? {
            "rows" => Some(Value::from(
                (0..self.rows.len())
                    .filter_map(|i| self.row(i))
                    .collect::<Vec<_>>(),
            )),
            "columns" => Some(Value::from_object(Columns((**self).clone()))),
            "column_names" => Some(Value::from(self.columns.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.rows.len())
    }
}

/// One row: `row[0]`, `row['name']`.
#[derive(Debug)]
struct Row {
    columns: Vec<String>,
    values: Vec<serde_json::Value>,
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = match key.as_usize() {
            Some(i) => i,
            None => self
                .columns
                .iter()
                .position(|c| Some(c.as_str()) == key.as_str())?,
        };
        self.values.get(i).map(Value::from_serialize)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.values.len())
    }
}

/// The columns of a table: `columns[0]`, `columns['name']`.
#[derive(Debug)]
struct Columns(Table);

impl Object for Columns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let table = &self.0;
        let i = match key.as_usize() {
            Some(i) => i,
            None => table
                .columns
                .iter()
                .position(|c| Some(c.as_str()) == key.as_str())?,
        };
        let name = table.columns.get(i)?.clone();
        let values: Vec<serde_json::Value> = table
            .rows
            .iter()
            .map(|r| r.get(i).cloned().unwrap_or_default())
            .collect();
        Some(Value::from_object(TableColumn { name, values }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.columns.len())
    }
}

/// One column of a query's table (agate's): `name`, `values()`.
#[derive(Debug)]
struct TableColumn {
    name: String,
    values: Vec<serde_json::Value>,
}

impl Object for TableColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" => Ok(Value::from_serialize(&self.values)),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a column has no method `{method}`"),
            )),
        }
    }
}
