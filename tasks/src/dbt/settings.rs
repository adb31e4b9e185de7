//! A node's merged configs read into what building it needs, each key checked for its
//! type (a wrong one is an error naming the file, as dbt's parse gives).

use super::config::Layer;
use crate::TaskError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// How a node is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    View,
    Table,
    Incremental,
    /// Not built: inlined as a CTE into the models that read it.
    Ephemeral,
    /// A CSV file loaded as a table.
    Seed,
    /// A type-2 history of a query's rows (dbt's snapshot).
    Snapshot,
}

impl Materialized {
    /// The name dbt gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialized::View => "view",
            Materialized::Table => "table",
            Materialized::Incremental => "incremental",
            Materialized::Ephemeral => "ephemeral",
            Materialized::Seed => "seed",
            Materialized::Snapshot => "snapshot",
        }
    }
}

/// `incremental_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Append,
    DeleteInsert,
    Merge,
}

/// `on_schema_change`: what an incremental run does when the model's columns changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSchemaChange {
    Ignore,
    Fail,
    AppendNewColumns,
    SyncAllColumns,
}

/// A hook: SQL run before or after the node is built.
#[derive(Debug, Clone)]
pub struct Hook {
    pub sql: String,
    /// Whether it runs inside the build's transaction (dbt's default) or outside.
    pub transaction: bool,
}

/// The configs building needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub materialized: Materialized,
    pub unique_key: Vec<String>,
    pub strategy: Option<Strategy>,
    pub on_schema_change: OnSchemaChange,
    /// `full_refresh: false` keeps an incremental model's rows even under `--full-refresh`.
    pub full_refresh: Option<bool>,
    pub pre_hook: Vec<Hook>,
    pub post_hook: Vec<Hook>,
    pub tags: Vec<String>,
    /// A seed's column → type.
    pub column_types: BTreeMap<String, String>,
    pub quote_columns: bool,
    pub delimiter: u8,
    /// Comments on the relation (`relation`) and its columns (`columns`).
    pub persist_docs: (bool, bool),
    /// A snapshot's strategy.
    pub snapshot: Option<SnapshotStrategy>,
    /// What a snapshot does with keys gone from its query.
    pub hard_deletes: HardDeletes,
}

/// A snapshot's `hard_deletes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HardDeletes {
    /// Their versions stay current.
    #[default]
    Ignore,
    /// Their current versions are closed (`invalidate`, or `invalidate_hard_deletes`).
    Invalidate,
    /// Closed, and a version marking the deletion (`dbt_is_deleted = 'True'`) added.
    NewRecord,
}

/// How a snapshot tells that a row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStrategy {
    /// Its `updated_at` column is newer.
    Timestamp { updated_at: String },
    /// One of these columns differs (None: `all` of them).
    Check { columns: Option<Vec<String>> },
}

fn wrong(path: &Path, key: &str, wanted: &str, found: &Value) -> TaskError {
    TaskError::Config(format!(
        "{}: the config `{key}` is {wanted}, found {found}",
        path.display()
    ))
}

fn string<'a>(layer: &'a Layer, key: &str, path: &Path) -> Result<Option<&'a str>, TaskError> {
    match layer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(path, key, "a string", other)),
    }
}

fn bool_of(layer: &Layer, key: &str, path: &Path) -> Result<Option<bool>, TaskError> {
    match layer.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(path, key, "true or false", other)),
    }
}

fn strings(layer: &Layer, key: &str, path: &Path) -> Result<Vec<String>, TaskError> {
    match layer.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong(path, key, "a string or a list of strings", other)),
            })
            .collect(),
        Some(other) => Err(wrong(path, key, "a string or a list of strings", other)),
    }
}

fn hooks(layer: &Layer, key: &str, path: &Path) -> Result<Vec<Hook>, TaskError> {
    let items = match layer.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(sql) => Ok(Hook {
                sql: sql.clone(),
                transaction: true,
            }),
            Value::Object(map) => match map.get("sql") {
                Some(Value::String(sql)) => Ok(Hook {
                    sql: sql.clone(),
                    transaction: map
                        .get("transaction")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                }),
                _ => Err(wrong(
                    path,
                    key,
                    "SQL, or {sql: ..., transaction: ...}",
                    item,
                )),
            },
            other => Err(wrong(
                path,
                key,
                "SQL, or {sql: ..., transaction: ...}",
                other,
            )),
        })
        .collect()
}

impl Default for Settings {
    /// dbt's defaults: a view, no hooks, nothing incremental.
    fn default() -> Self {
        Self {
            materialized: Materialized::View,
            unique_key: Vec::new(),
            strategy: None,
            on_schema_change: OnSchemaChange::Ignore,
            full_refresh: None,
            pre_hook: Vec::new(),
            post_hook: Vec::new(),
            tags: Vec::new(),
            column_types: BTreeMap::new(),
            quote_columns: true,
            delimiter: b',',
            persist_docs: (false, false),
            snapshot: None,
            hard_deletes: HardDeletes::Ignore,
        }
    }
}

impl Settings {
    /// Reads the merged configs of the node in `path`.
    pub fn read(layer: &Layer, path: &Path) -> Result<Self, TaskError> {
        let materialized = match string(layer, "materialized", path)? {
            None | Some("view") => Materialized::View,
            Some("table") => Materialized::Table,
            Some("incremental") => Materialized::Incremental,
            Some("ephemeral") => Materialized::Ephemeral,
            Some("seed") => Materialized::Seed,
            Some("snapshot") => Materialized::Snapshot,
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{}: `materialized: {other}` is not supported: use table, view, incremental or ephemeral",
                    path.display()
                )));
            }
        };
        let strategy = match string(layer, "incremental_strategy", path)? {
            None => None,
            Some("append") => Some(Strategy::Append),
            Some("delete+insert") => Some(Strategy::DeleteInsert),
            Some("merge") => Some(Strategy::Merge),
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{}: `incremental_strategy: {other}`: append, delete+insert or merge",
                    path.display()
                )));
            }
        };
        let on_schema_change = match string(layer, "on_schema_change", path)? {
            None | Some("ignore") => OnSchemaChange::Ignore,
            Some("fail") => OnSchemaChange::Fail,
            Some("append_new_columns") => OnSchemaChange::AppendNewColumns,
            Some("sync_all_columns") => OnSchemaChange::SyncAllColumns,
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{}: `on_schema_change: {other}`: ignore, fail, append_new_columns or sync_all_columns",
                    path.display()
                )));
            }
        };
        let column_types = match layer.get("column_types") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(t) => Ok((k.clone(), t.clone())),
                    other => Err(wrong(
                        path,
                        "column_types",
                        "a map of column to type",
                        other,
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(wrong(
                    path,
                    "column_types",
                    "a map of column to type",
                    other,
                ));
            }
        };
        let delimiter = match string(layer, "delimiter", path)? {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => {
                return Err(TaskError::Config(format!(
                    "{}: `delimiter: {d:?}`: one character",
                    path.display()
                )));
            }
        };
        let persist_docs = match layer.get("persist_docs") {
            Some(Value::Object(map)) => (
                map.get("relation")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                map.get("columns").and_then(Value::as_bool).unwrap_or(false),
            ),
            _ => (false, false),
        };
        for key in ["schema", "alias", "database", "target_schema"] {
            string(layer, key, path)?;
        }
        let snapshot = match materialized {
            Materialized::Snapshot => Some(snapshot_strategy(layer, path)?),
            _ => None,
        };
        let hard_deletes = match string(layer, "hard_deletes", path)? {
            None | Some("ignore") => {
                match bool_of(layer, "invalidate_hard_deletes", path)?.unwrap_or(false) {
                    true => HardDeletes::Invalidate,
                    false => HardDeletes::Ignore,
                }
            }
            Some("invalidate") => HardDeletes::Invalidate,
            Some("new_record") => HardDeletes::NewRecord,
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{}: `hard_deletes: {other}`: ignore, invalidate or new_record",
                    path.display()
                )));
            }
        };
        Ok(Self {
            materialized,
            unique_key: strings(layer, "unique_key", path)?,
            strategy,
            on_schema_change,
            full_refresh: bool_of(layer, "full_refresh", path)?,
            pre_hook: hooks(layer, "pre_hook", path)?,
            post_hook: hooks(layer, "post_hook", path)?,
            tags: strings(layer, "tags", path)?,
            column_types,
            quote_columns: bool_of(layer, "quote_columns", path)?.unwrap_or(true),
            delimiter,
            persist_docs,
            snapshot,
            hard_deletes,
        })
    }
}

/// A snapshot's `strategy` with the keys it needs.
fn snapshot_strategy(layer: &Layer, path: &Path) -> Result<SnapshotStrategy, TaskError> {
    if strings(layer, "unique_key", path)?.is_empty() {
        return Err(TaskError::Config(format!(
            "{}: a snapshot needs `unique_key`",
            path.display()
        )));
    }
    match string(layer, "strategy", path)? {
        Some("timestamp") => match string(layer, "updated_at", path)? {
            Some(column) => Ok(SnapshotStrategy::Timestamp {
                updated_at: column.to_string(),
            }),
            None => Err(TaskError::Config(format!(
                "{}: `strategy: timestamp` needs `updated_at`",
                path.display()
            ))),
        },
        Some("check") => match layer.get("check_cols") {
            Some(Value::String(all)) if all == "all" => {
                Ok(SnapshotStrategy::Check { columns: None })
            }
            Some(Value::Array(_)) => Ok(SnapshotStrategy::Check {
                columns: Some(strings(layer, "check_cols", path)?),
            }),
            _ => Err(TaskError::Config(format!(
                "{}: `strategy: check` needs `check_cols` (a list of columns, or 'all')",
                path.display()
            ))),
        },
        other => Err(TaskError::Config(format!(
            "{}: a snapshot's `strategy` is timestamp or check, found {other:?}",
            path.display()
        ))),
    }
}
