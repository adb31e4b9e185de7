//! The warehouse as a project's Jinja reads it while rendering: `run_query()`,
//! `{% call statement(...) %}` with `load_result()`, `adapter.get_columns_in_relation()`
//! and `adapter.get_relation()`. Rendering is synchronous; these run on a connection of
//! their own, waiting for the database where they are called (as dbt does). While a
//! project is only parsed (`execute` false) they run nothing: `run_query` gives none.

use super::relation::Relation;
use super::warehouse::Warehouse;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A lazily opened connection for the templates' queries.
pub struct Runner {
    uri: String,
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
            uri: uri.to_string(),
            conn: tokio::sync::Mutex::new(None),
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
                if guard.is_none() {
                    let opened = Warehouse::connect(&self.uri)
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
    pub fn columns(&self, relation: &str) -> Result<Vec<Value>, Error> {
        let relation = relation.to_string();
        let found =
            self.with_conn(move |conn| Box::pin(async move { conn.columns(&relation).await }))?;
        Ok(found
            .into_iter()
            .map(|(name, data_type)| column(&name, &data_type))
            .collect())
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
pub fn column(name: &str, data_type: &str) -> Value {
    Value::from_serialize(serde_json::json!({
        "name": name, "column": name, "quoted": super::relation::quote(name),
        "data_type": data_type, "dtype": data_type,
    }))
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
        Some(Value::from_object(Column { name, values }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.columns.len())
    }
}

/// One column: `name`, `values()`.
#[derive(Debug)]
struct Column {
    name: String,
    values: Vec<serde_json::Value>,
}

impl Object for Column {
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
