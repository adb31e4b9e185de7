//! `api`: the classes dbt's templates build values with — `api.Column` (the adapter's
//! names for column types) and `api.Relation` (a relation by its parts).

use super::relation::{Naming, Relation};
use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// The `api` global.
pub fn api() -> Value {
    minijinja::context! {
        Column => Value::from_object(ColumnClass),
        Relation => Value::from_object(RelationClass),
    }
}

/// The adapter's type (`postgres`, `sqlite`, `lake`) of the rendering.
fn adapter(state: &State) -> String {
    state
        .lookup("target")
        .and_then(|t| t.get_attr("type").ok())
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_else(|| "postgres".into())
}

fn fail(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The adapter's name for one of dbt's portable type labels (dbt-postgres renames only
/// `string`); other names unchanged.
pub fn translate_type(adapter: &str, label: &str) -> String {
    match label.to_ascii_uppercase().as_str() {
        "STRING" => "TEXT".to_string(),
        "FLOAT" if adapter == "sqlite" => "REAL".to_string(),
        // DataFusion's FLOAT is 32 bits; PostgreSQL's is 64.
        "FLOAT" if adapter == "lake" => "DOUBLE".to_string(),
        _ => label.to_string(),
    }
}

#[derive(Debug)]
struct ColumnClass;

impl Object for ColumnClass {
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "translate_type" => {
                let (label,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(translate_type(&adapter(state), &label)))
            }
            "numeric_type" => {
                let (dtype, precision, scale): (String, Option<Value>, Option<Value>) =
                    minijinja::value::from_args(args)?;
                Ok(Value::from(match (precision, scale) {
                    (Some(p), Some(s)) if !p.is_none() && !s.is_none() => {
                        format!("{dtype}({p},{s})")
                    }
                    _ => dtype,
                }))
            }
            "string_type" => {
                let (size,): (i64,) = minijinja::value::from_args(args)?;
                Ok(Value::from(format!("character varying({size})")))
            }
            "create" => {
                let (name, dtype): (String, String) = minijinja::value::from_args(args)?;
                let label = translate_type(&adapter(state), &dtype);
                Ok(super::queries::column(
                    super::warehouse::CatalogColumn::described(name, &label),
                ))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("api.Column.{method}() is not supported"),
            )),
        }
    }
}

#[derive(Debug)]
struct RelationClass;

impl Object for RelationClass {
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "create" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                let _: Option<Value> = kwargs.get("database")?;
                let schema: Option<String> = kwargs.get("schema")?;
                let identifier: Option<String> = kwargs.get("identifier")?;
                let kind: Option<String> = kwargs.get("type")?;
                kwargs.assert_all_used()?;
                let schema = match schema {
                    Some(s) => s,
                    None => state
                        .lookup("target")
                        .and_then(|t| t.get_attr("schema").ok())
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                };
                let naming = match adapter(state).as_str() {
                    "sqlite" => Naming::Prefixed,
                    _ => Naming::Schemas,
                };
                let identifier =
                    identifier.ok_or_else(|| fail("api.Relation.create() needs an identifier"))?;
                let mut relation = Relation::new(&schema, &identifier, naming);
                relation.kind = match kind.as_deref() {
                    Some("table") => Some("table"),
                    Some("view") => Some("view"),
                    Some("cte") => Some("cte"),
                    _ => None,
                };
                Ok(Value::from_object(relation))
            }
            "add_ephemeral_prefix" => {
                let (name,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(format!("__dbt__cte__{name}")))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("api.Relation.{method}() is not supported"),
            )),
        }
    }
}
