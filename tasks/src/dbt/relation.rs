//! A relation as dbt's templates see it (`{{ this }}`, what `ref()` and `source()` give):
//! it renders as the warehouse names it, and has dbt's attributes (`schema`,
//! `identifier`, `name`, `database`, `is_table`...) and `include()`.

use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, State};
use std::fmt;
use std::sync::Arc;

/// How the warehouse names relations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `"schema"."table"`.
    Schemas,
    /// SQLite has one schema: `schema.table` is the table `schema_table`.
    Prefixed,
}

/// A relation in the warehouse.
#[derive(Debug, Clone)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: String,
    pub identifier: String,
    pub naming: Naming,
    /// `table`, `view`, `cte` (an ephemeral model), or None when not known.
    pub kind: Option<&'static str>,
    /// Which parts `render` shows (dbt's `include()`).
    pub show_schema: bool,
    pub show_identifier: bool,
}

/// A name in double quotes, quotes inside doubled.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Relation {
    /// A relation named as the warehouse names it.
    pub fn new(schema: &str, identifier: &str, naming: Naming) -> Self {
        Self {
            database: None,
            schema: schema.to_string(),
            identifier: identifier.to_string(),
            naming,
            kind: None,
            show_schema: true,
            show_identifier: true,
        }
    }

    /// The SQL that names it.
    pub fn sql(&self) -> String {
        // dbt names an inlined ephemeral model's CTE bare.
        if self.kind == Some("cte") {
            return self.identifier.clone();
        }
        match (self.naming, self.show_schema, self.show_identifier) {
            (Naming::Prefixed, true, true) => {
                quote(&format!("{}_{}", self.schema, self.identifier))
            }
            (Naming::Schemas, true, true) => {
                format!("{}.{}", quote(&self.schema), quote(&self.identifier))
            }
            (_, true, false) => quote(&self.schema),
            (_, false, _) => quote(&self.identifier),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

impl Object for Relation {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "schema" => Value::from(self.schema.clone()),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "database" => Value::from(self.database.clone()),
            "type" => Value::from(self.kind),
            "is_table" => Value::from(self.kind == Some("table")),
            "is_view" => Value::from(self.kind == Some("view")),
            "is_cte" => Value::from(self.kind == Some("cte")),
            // What packages check to tell a relation from a string (dbt_utils' _is_relation).
            "metadata" => minijinja::context! { type => match self.naming {
                Naming::Schemas => "PostgresRelation",
                Naming::Prefixed => "SQLiteRelation",
            } },
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "include" => {
                let mut out = (**self).clone();
                if !args.is_empty() {
                    let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                    if let Some(schema) = kwargs.get::<Option<bool>>("schema")? {
                        out.show_schema = schema;
                    }
                    if let Some(identifier) = kwargs.get::<Option<bool>>("identifier")? {
                        out.show_identifier = identifier;
                    }
                    let _: Option<bool> = kwargs.get("database")?;
                    kwargs.assert_all_used()?;
                }
                Ok(Value::from_object(out))
            }
            "render" => Ok(Value::from_safe_string(self.sql())),
            "quote" | "incorporate" => Ok(Value::from_object((**self).clone())),
            _ => Err(Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("a relation has no method `{method}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relation_renders_as_the_warehouse_names_it() {
        let r = Relation::new("analytics", "orders", Naming::Schemas);
        assert_eq!(r.sql(), "\"analytics\".\"orders\"");
        let r = Relation::new("analytics", "orders", Naming::Prefixed);
        assert_eq!(r.sql(), "\"analytics_orders\"");
        let env = minijinja::Environment::new();
        let out = env
            .render_str(
                "{{ r }} {{ r.identifier }} {{ r.include(schema=false) }}",
                minijinja::context! { r => Value::from_object(Relation::new("a", "b", Naming::Schemas)) },
            )
            .unwrap();
        assert_eq!(out, "\"a\".\"b\" b \"b\"");
    }
}
