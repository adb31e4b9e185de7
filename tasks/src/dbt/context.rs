//! What a node's Jinja sees, as dbt gives it: `ref()`, `source()`, `config()` (and
//! `config.get`), `var()`, `env_var()`, `is_incremental()`, `this`, `model`, `target`,
//! `adapter` (`quote`, `dispatch`), `log`, `exceptions`, `fromjson`/`tojson`/`fromyaml`/
//! `toyaml`, `zip`, `api`, `modules`, `run_started_at`, `invocation_id`, `execute`, `flags`.
//!
//! Rendering happens twice per node, as in dbt: once to parse (`execute` false; `ref`,
//! `source` and `config` record what the node reads and how it is configured) and once
//! to run (they name real relations).

use super::config::{self, Layer};
use super::macros::Namespaces;
use super::relation::{Naming, Relation};
use minijinja::value::{Kwargs, Object, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use serde_json::Map;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Which rendering this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Learning the node's references and configs.
    Parse,
    /// Producing the SQL that runs.
    Execute,
}

/// `target`: the connection as dbt's profile target describes it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub schema: String,
    /// `postgres`, `sqlite` or `lake`.
    pub kind: &'static str,
    pub database: Option<String>,
}

/// What every node of an invocation shares.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The root project's name.
    pub project: String,
    /// The project's `vars:` (global keys, and maps per package) with the invocation's
    /// own `vars` over them.
    pub project_vars: Map<String, serde_json::Value>,
    pub cli_vars: Map<String, serde_json::Value>,
    pub target: Target,
    pub naming: Naming,
    /// Each model, seed and snapshot's relation by name, once known.
    pub relations: BTreeMap<String, Relation>,
    /// Each source table's relation, by (source, table).
    pub sources: BTreeMap<(String, String), Relation>,
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    pub invocation_id: String,
    pub full_refresh: bool,
    /// `build`, `run`, `test`, `seed`, `snapshot`, `compile` or `ls`.
    pub command: &'static str,
    /// The warehouse for the templates' own queries, once the project runs.
    pub runner: std::sync::OnceLock<Arc<super::queries::Runner>>,
}

/// What rendering a node recorded.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// `ref()`s, by name.
    pub refs: Vec<String>,
    /// `source()`s, as (source, table).
    pub sources: Vec<(String, String)>,
    /// `config()` calls, merged in order.
    pub config: Layer,
}

/// One node's rendering.
#[derive(Debug)]
pub struct Scope {
    pub invocation: Arc<Invocation>,
    pub phase: Phase,
    /// The node's name, unique id, resource type, package and path.
    pub name: String,
    pub unique_id: String,
    pub resource_type: &'static str,
    pub package: String,
    pub original_file_path: String,
    /// Its configs as known before this rendering (the project file's and property files').
    pub config: Layer,
    pub this: Option<Relation>,
    pub incremental: bool,
    pub seen: Mutex<Seen>,
}

impl Object for Scope {}

impl Scope {
    /// A parse-phase rendering of the model `name` of the root project, knowing `config`
    /// of it (callers set what else they know).
    pub fn parsing(invocation: &Arc<Invocation>, name: &str, config: Layer) -> Self {
        Self {
            unique_id: format!("model.{}.{name}", invocation.project),
            package: invocation.project.clone(),
            invocation: invocation.clone(),
            phase: Phase::Parse,
            name: name.to_string(),
            resource_type: "model",
            original_file_path: String::new(),
            config,
            this: None,
            incremental: false,
            seen: Mutex::new(Seen::default()),
        }
    }
}

/// The context value of a rendering of `scope`.
pub fn context(scope: Arc<Scope>) -> Value {
    let inv = &scope.invocation;
    let target = minijinja::context! {
        name => inv.target.name.clone(),
        schema => inv.target.schema.clone(),
        type => inv.target.kind,
        database => inv.target.database.clone(),
        threads => 1,
        profile_name => "updraft",
    };
    let model = minijinja::context! {
        name => scope.name.clone(),
        unique_id => scope.unique_id.clone(),
        resource_type => scope.resource_type,
        package_name => scope.package.clone(),
        original_file_path => scope.original_file_path.clone(),
        config => Value::from_serialize(&scope.config),
        tags => Value::from_serialize(config::strings(scope.config.get("tags"))),
        alias => scope.this.as_ref().map(|r| r.identifier.clone()),
        schema => scope.this.as_ref().map(|r| r.schema.clone()),
    };
    let this = scope.this.clone().map(Value::from_object);
    minijinja::context! {
        __scope => Value::from_dyn_object(scope.clone()),
        this => this,
        model => model,
        target => target,
        execute => scope.phase == Phase::Execute,
        run_started_at => inv.run_started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        invocation_id => inv.invocation_id.clone(),
        project_name => inv.project.clone(),
        dbt_version => "1.11.0",
        flags => minijinja::context! {
            FULL_REFRESH => inv.full_refresh,
            STORE_FAILURES => false,
            WHICH => inv.command,
        },
    }
}

fn scope(state: &State) -> Result<Arc<Scope>, Error> {
    state
        .lookup("__scope")
        .and_then(|v| v.downcast_object::<Scope>())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "no node is being rendered"))
}

fn fail(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Adds dbt's functions and objects to `env`; `macros` is where dispatch looks.
pub fn register(env: &mut Environment<'static>, macros: &Arc<Namespaces>) {
    env.add_function("ref", ref_);
    env.add_function("source", source);
    env.add_global("config", Value::from_object(ConfigFn));
    env.add_function("var", var);
    env.add_function("env_var", env_var);
    env.add_function("is_incremental", |state: &State| -> Result<bool, Error> {
        Ok(scope(state)?.incremental)
    });
    env.add_function("log", |message: Value, _info: Option<Value>| {
        tracing::info!("{message}");
        String::new()
    });
    env.add_global(
        "exceptions",
        minijinja::context! {
            raise_compiler_error => Value::from_function(|message: String| -> Result<String, Error> {
                Err(fail(format!("Compilation Error: {message}")))
            }),
            raise_not_implemented => Value::from_function(|message: String| -> Result<String, Error> {
                Err(fail(format!("Not implemented: {message}")))
            }),
            warn => Value::from_function(|message: String| {
                tracing::warn!("{message}");
                String::new()
            }),
        },
    );
    env.add_global(
        "adapter",
        Value::from_object(Adapter {
            macros: macros.clone(),
        }),
    );
    env.add_global("api", super::api::api());
    env.add_global("modules", super::modules::modules());
    env.add_function("fromjson", |text: String, default: Option<Value>| {
        serde_json::from_str::<serde_json::Value>(&text)
            .map(|v| Value::from_serialize(&v))
            .unwrap_or_else(|_| default.unwrap_or(Value::from(())))
    });
    env.add_function("tojson", |value: Value| -> Result<String, Error> {
        serde_json::to_string(&value).map_err(|e| fail(e.to_string()))
    });
    env.add_function("fromyaml", |text: String, default: Option<Value>| {
        serde_yaml_ng::from_str::<serde_json::Value>(&text)
            .map(|v| Value::from_serialize(&v))
            .unwrap_or_else(|_| default.unwrap_or(Value::from(())))
    });
    env.add_function("toyaml", |value: Value| -> Result<String, Error> {
        serde_yaml_ng::to_string(&value).map_err(|e| fail(e.to_string()))
    });
    env.add_function("zip", |lists: Rest<Value>| -> Result<Value, Error> {
        let lists: Vec<Vec<Value>> = lists
            .iter()
            .map(|l| l.try_iter().map(Iterator::collect))
            .collect::<Result<_, _>>()?;
        let shortest = lists.iter().map(Vec::len).min().unwrap_or(0);
        Ok(Value::from(
            (0..shortest)
                .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
        ))
    });
    env.add_function("doc", |_name: String| String::new());
    env.add_function("run_query", run_query);
    env.add_function("statement", statement);
    env.add_function(
        "load_result",
        |state: &State, name: String| -> Result<Value, Error> {
            let scope = scope(state)?;
            Ok(scope
                .invocation
                .runner
                .get()
                .and_then(|r| r.load(&name))
                .unwrap_or(Value::from(())))
        },
    );
}

/// The warehouse, when this rendering may query it (the execute phase of a run).
fn runner(scope: &Scope) -> Option<Arc<super::queries::Runner>> {
    match scope.phase {
        Phase::Parse => None,
        Phase::Execute => scope.invocation.runner.get().cloned(),
    }
}

/// `run_query(sql)`: its rows as a table; none while parsing, as in dbt.
fn run_query(state: &State, sql: String) -> Result<Value, Error> {
    let scope = scope(state)?;
    match runner(&scope) {
        None => Ok(Value::from(())),
        Some(r) => Ok(Value::from_object(r.query(&sql)?)),
    }
}

/// `{% call statement('name', fetch_result=True) %}SQL{% endcall %}`: runs the block's SQL
/// and keeps its result for `load_result('name')`.
fn statement(state: &State, name: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let fetch: Option<bool> = kwargs.get("fetch_result")?;
    let _: Option<bool> = kwargs.get("auto_begin")?;
    let _: Option<String> = kwargs.get("language")?;
    let caller: Value = kwargs.get("caller")?;
    kwargs.assert_all_used()?;
    let sql = caller.call(state, &[])?.to_string();
    let scope = scope(state)?;
    let Some(runner) = runner(&scope) else {
        return Ok(String::new());
    };
    let table = runner.query(&sql)?;
    let name = name.unwrap_or_else(|| "main".into());
    let result = if fetch.unwrap_or(false) {
        minijinja::context! {
            data => table.data(),
            table => Value::from_object(table.clone()),
            response => minijinja::context! { code => "SELECT", rows_affected => table.rows.len() },
        }
    } else {
        minijinja::context! { response => minijinja::context! { code => "OK" } }
    };
    runner.keep(&name, result);
    Ok(String::new())
}

/// `ref('model')`, `ref('package', 'model')`, `ref('model', v=2)`.
fn ref_(state: &State, args: Rest<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let _: Option<Value> = kwargs.get("v")?;
    let _: Option<Value> = kwargs.get("version")?;
    kwargs.assert_all_used()?;
    let name = match args.as_slice() {
        [name] | [_, name] => name.clone(),
        _ => {
            return Err(fail(
                "ref() takes a model's name, or a package and a model's name",
            ));
        }
    };
    let scope = scope(state)?;
    match scope.phase {
        Phase::Parse => {
            if let Ok(mut seen) = scope.seen.lock() {
                seen.refs.push(name.clone());
            }
            Ok(Value::from_object(Relation::new(
                &scope.invocation.target.schema,
                &name,
                scope.invocation.naming,
            )))
        }
        Phase::Execute => {
            let found = scope.invocation.relations.get(&name).ok_or_else(|| {
                fail(format!(
                    "ref('{name}'): no model, seed or snapshot `{name}` in the project"
                ))
            })?;
            if found.kind == Some("cte")
                && let Ok(mut seen) = scope.seen.lock()
            {
                seen.refs.push(name.clone());
            }
            Ok(Value::from_object(found.clone()))
        }
    }
}

/// `source('source', 'table')`.
fn source(state: &State, source: String, table: String) -> Result<Value, Error> {
    let scope = scope(state)?;
    let key = (source.clone(), table.clone());
    match scope.invocation.sources.get(&key) {
        Some(found) => {
            if scope.phase == Phase::Parse
                && let Ok(mut seen) = scope.seen.lock()
            {
                seen.sources.push(key);
            }
            Ok(Value::from_object(found.clone()))
        }
        None => Err(fail(format!(
            "source('{source}', '{table}'): no table `{table}` in a source `{source}` of the project's property files"
        ))),
    }
}

/// `var('name')`, `var('name', default)`: the invocation's vars, then the node's
/// package's, then the project's global ones.
fn var(state: &State, name: String, default: Option<Value>) -> Result<Value, Error> {
    let scope = scope(state)?;
    let inv = &scope.invocation;
    let in_package = inv
        .project_vars
        .get(&scope.package)
        .and_then(|p| p.get(&name));
    let found = inv
        .cli_vars
        .get(&name)
        .or(in_package)
        .or_else(|| inv.project_vars.get(&name));
    match (found, default) {
        (Some(v), _) => Ok(Value::from_serialize(v)),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(fail(format!(
            "Required var '{name}' not found in config: give it in `vars:` of dbt_project.yml or of the task, or give var() a default"
        ))),
    }
}

/// `env_var('NAME')`, `env_var('NAME', default)`.
fn env_var(name: String, default: Option<String>) -> Result<String, Error> {
    match (std::env::var(&name), default) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(d)) => Ok(d),
        (Err(_), None) => Err(fail(format!("Env var required but not provided: '{name}'"))),
    }
}

/// `config(...)` in a node's file, and `config.get`/`config.require` in any template.
#[derive(Debug)]
struct ConfigFn;

impl Object for ConfigFn {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = scope(state)?;
        let mut layer = Layer::new();
        for arg in args {
            // `config(materialized='table')` and `config({'materialized': 'table'})`.
            let json: serde_json::Value =
                serde_json::to_value(arg).map_err(|e| fail(e.to_string()))?;
            if let serde_json::Value::Object(map) = json {
                for (k, v) in map {
                    layer.insert(config::key_name(&k), v);
                }
            }
        }
        if let Ok(mut seen) = scope.seen.lock() {
            config::merge(&mut seen.config, &layer);
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let scope = scope(state)?;
        let key = args
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("config.{method}() takes a config's name")))?;
        let key = config::key_name(key);
        let found = scope
            .seen
            .lock()
            .ok()
            .and_then(|s| s.config.get(&key).cloned())
            .or_else(|| scope.config.get(&key).cloned());
        match (method, found) {
            ("get", Some(v)) | ("require", Some(v)) => Ok(Value::from_serialize(&v)),
            ("get", None) => Ok(args.get(1).cloned().unwrap_or(Value::from(()))),
            ("require", None) => Err(fail(format!(
                "the config `{key}` is required by `{}`",
                scope.name
            ))),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("config has no method `{method}`"),
            )),
        }
    }
}

/// `relation` as the warehouse has it (its kind known), or none when it is not there
/// (or nothing can be queried: the project is only being parsed).
fn existing(scope: &Scope, mut relation: Relation) -> Result<Value, Error> {
    let Some(runner) = runner(scope) else {
        return Ok(Value::from(()));
    };
    Ok(match runner.existing(&relation)? {
        None => Value::from(()),
        Some(kind) => {
            relation.kind = Some(kind);
            Value::from_object(relation)
        }
    })
}

/// `adapter`: `quote`, `dispatch` (dbt's search order over the project, its packages and
/// dbt's own macros), `type()`, and what reads the warehouse.
#[derive(Debug)]
struct Adapter {
    macros: Arc<Namespaces>,
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let first = || {
            args.first()
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| fail(format!("adapter.{method}() takes a name")))
        };
        match method {
            "quote" => Ok(Value::from_safe_string(super::relation::quote(&first()?))),
            "type" => Ok(Value::from(scope(state)?.invocation.target.kind)),
            "dispatch" => {
                let (name, namespace, kwargs): (String, Option<String>, Kwargs) =
                    minijinja::value::from_args(args)?;
                let namespace = match namespace {
                    Some(ns) => Some(ns),
                    None => kwargs.get::<Option<String>>("macro_namespace")?,
                };
                let _: Option<Value> = kwargs.get("packages")?;
                kwargs.assert_all_used()?;
                let kind = scope(state)?.invocation.target.kind;
                self.macros
                    .dispatch(
                        &name,
                        namespace.as_deref(),
                        super::macros::dispatch_prefixes(kind),
                    )
                    .map_err(fail)
            }
            "get_columns_in_relation" => {
                let scope = scope(state)?;
                let relation = args
                    .first()
                    .ok_or_else(|| fail("adapter.get_columns_in_relation() takes a relation"))?;
                match runner(&scope) {
                    None => Ok(Value::from(Vec::<Value>::new())),
                    Some(r) => Ok(Value::from(r.columns(relation)?)),
                }
            }
            "load_relation" => {
                let scope = scope(state)?;
                let Some(found) = args.first().and_then(|r| r.downcast_object::<Relation>()) else {
                    return Err(fail("adapter.load_relation() takes a relation"));
                };
                existing(&scope, (*found).clone())
            }
            "get_relation" => {
                let scope = scope(state)?;
                let (_, kwargs): (Option<Value>, Kwargs) = minijinja::value::from_args(args)?;
                let schema: String = kwargs.get("schema")?;
                let identifier: String = kwargs.get("identifier")?;
                let _: Option<Value> = kwargs.get("database")?;
                kwargs.assert_all_used()?;
                let relation = Relation::new(&schema, &identifier, scope.invocation.naming);
                existing(&scope, relation)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter.{method}() is not supported"),
            )),
        }
    }
}
