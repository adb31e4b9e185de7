//! A folder of dbt-shaped models: each `.sql` file is a `SELECT` with Jinja — `ref()`,
//! `source()`, `config()`, `is_incremental()`, `this` — and `sources.yml` declares the
//! sources (dbt's shape). Reading the folder renders each model once to learn its
//! `config()` and the models it `ref()`s, and orders the models by those references.

use crate::TaskError;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use petgraph::graph::DiGraph;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How a model is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    Table,
    View,
    /// Rows are added (replacing those with the same `unique_key`) once the table exists.
    Incremental,
}

impl Materialized {
    /// The name `config(materialized=...)` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialized::Table => "table",
            Materialized::View => "view",
            Materialized::Incremental => "incremental",
        }
    }
}

/// One model of the folder.
#[derive(Debug)]
pub struct Model {
    pub name: String,
    pub file: PathBuf,
    template: String,
    pub materialized: Materialized,
    pub unique_key: Vec<String>,
    /// The models it reads, by name.
    pub refs: Vec<String>,
    /// The source tables it reads, as (schema, table).
    pub sources: Vec<(String, String)>,
}

/// The models and where each source is.
#[derive(Debug)]
pub struct Project {
    /// In an order where each model comes after the models it reads.
    pub models: Vec<Model>,
    /// Source name → its schema (dbt's `schema:`, by default the source's name).
    sources: BTreeMap<String, String>,
}

/// Names a relation in the warehouse: (schema, table) → SQL.
pub type Naming = dyn Fn(&str, &str) -> String + Send + Sync;

#[derive(Deserialize)]
struct SourcesFile {
    #[serde(default)]
    sources: Vec<SourceEntry>,
}

#[derive(Deserialize)]
struct SourceEntry {
    name: String,
    schema: Option<String>,
}

/// What rendering a model learned about it.
#[derive(Default)]
struct Seen {
    refs: Vec<String>,
    sources: Vec<(String, String)>,
    materialized: Option<String>,
    unique_key: Vec<String>,
}

impl Project {
    /// Reads `dir`: every `.sql` file a model, `sources.yml` (or `.yaml`) its sources.
    pub fn read(dir: &Path) -> Result<Self, TaskError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            TaskError::Config(format!(
                "cannot read the models folder {}: {e}",
                dir.display()
            ))
        })?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        let mut sources = BTreeMap::new();
        for file in files.iter().filter(|f| is_sources_file(f)) {
            let text = read(file)?;
            let parsed: SourcesFile = serde_yaml_ng::from_str(&text)
                .map_err(|e| TaskError::Config(format!("{}: {e}", file.display())))?;
            for s in parsed.sources {
                let schema = s.schema.unwrap_or_else(|| s.name.clone());
                sources.insert(s.name, schema);
            }
        }
        let mut models = Vec::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "sql"))
        {
            models.push(model(file, &sources)?);
        }
        if models.is_empty() {
            return Err(TaskError::Config(format!(
                "no models (.sql files) in {}",
                dir.display()
            )));
        }
        let models = in_order(models)?;
        Ok(Self { models, sources })
    }

    /// The model's SQL for the warehouse: `ref()` and `this` named by `naming` in
    /// `schema`, sources in theirs.
    pub fn render(
        &self,
        model: &Model,
        schema: &str,
        naming: Arc<Naming>,
        incremental: bool,
    ) -> Result<String, TaskError> {
        let env = environment(
            Arc::new(Mutex::new(Seen::default())),
            (schema.to_string(), naming.clone(), self.sources.clone()),
            incremental,
        );
        let this = naming(schema, &model.name);
        env.render_str(&model.template, minijinja::context! { this => this })
            .map_err(|e| jinja_error(&model.file, &e))
    }
}

fn is_sources_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("sources.yml" | "sources.yaml")
    )
}

fn read(file: &Path) -> Result<String, TaskError> {
    std::fs::read_to_string(file)
        .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", file.display())))
}

/// `file:line: message`, as minijinja locates it.
fn jinja_error(file: &Path, e: &Error) -> TaskError {
    let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    TaskError::Config(format!("{}{line}: {}{detail}", file.display(), e.kind()))
}

/// Reads one model, rendering it once to see its `config()` and `ref()`s.
fn model(file: &Path, sources: &BTreeMap<String, String>) -> Result<Model, TaskError> {
    let template = read(file)?;
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let naming: Arc<Naming> = Arc::new(|schema: &str, table: &str| format!("{schema}.{table}"));
    let env = environment(
        seen.clone(),
        ("models".into(), naming, sources.clone()),
        false,
    );
    env.render_str(&template, minijinja::context! { this => name.clone() })
        .map_err(|e| jinja_error(file, &e))?;
    let seen = std::mem::take(&mut *seen.lock().map_err(|_| poisoned())?);
    let materialized = match seen.materialized.as_deref() {
        None | Some("view") => Materialized::View,
        Some("table") => Materialized::Table,
        Some("incremental") => Materialized::Incremental,
        Some(other) => {
            return Err(TaskError::Config(format!(
                "{}: config(materialized='{other}'): use table, view or incremental",
                file.display()
            )));
        }
    };
    Ok(Model {
        name,
        file: file.to_path_buf(),
        template,
        materialized,
        unique_key: seen.unique_key,
        refs: seen.refs,
        sources: seen.sources,
    })
}

fn poisoned() -> TaskError {
    TaskError::Fatal("a model's renderer panicked".into())
}

/// The Jinja environment of models: `ref`, `source`, `config`, `is_incremental`.
fn environment(
    seen: Arc<Mutex<Seen>>,
    (schema, naming, sources): (String, Arc<Naming>, BTreeMap<String, String>),
    incremental: bool,
) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let refs = seen.clone();
    let ref_naming = naming.clone();
    env.add_function("ref", move |model: String| -> Result<String, Error> {
        if let Ok(mut seen) = refs.lock() {
            seen.refs.push(model.clone());
        }
        Ok(ref_naming(&schema, &model))
    });
    let read = seen.clone();
    env.add_function(
        "source",
        move |source: String, table: String| -> Result<String, Error> {
            match sources.get(&source) {
                Some(schema) => {
                    if let Ok(mut seen) = read.lock() {
                        seen.sources.push((schema.clone(), table.clone()));
                    }
                    Ok(naming(schema, &table))
                }
                None => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("source('{source}', '{table}'): no source `{source}` in sources.yml"),
                )),
            }
        },
    );
    let configs = seen;
    env.add_function("config", move |kwargs: Kwargs| -> Result<String, Error> {
        let materialized: Option<String> = kwargs.get("materialized")?;
        let unique_key: Option<minijinja::Value> = kwargs.get("unique_key")?;
        kwargs.assert_all_used()?;
        let keys = match unique_key {
            None => Vec::new(),
            Some(v) if v.as_str().is_some() => vec![v.as_str().unwrap_or_default().to_string()],
            Some(v) => v
                .try_iter()?
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "unique_key: a column or a list of columns",
                    )
                })?,
        };
        if let Ok(mut seen) = configs.lock() {
            seen.materialized = materialized;
            seen.unique_key = keys;
        }
        Ok(String::new())
    });
    env.add_function("is_incremental", move || incremental);
    env
}

/// The models in build order; a `ref()` to no model, or a cycle, is an error naming them.
fn in_order(models: Vec<Model>) -> Result<Vec<Model>, TaskError> {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..models.len()).map(|i| graph.add_node(i)).collect();
    let index: BTreeMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    for (i, m) in models.iter().enumerate() {
        for r in &m.refs {
            let Some(&j) = index.get(r.as_str()) else {
                return Err(TaskError::Config(format!(
                    "{}: ref('{r}'): no model `{r}` in the folder",
                    m.file.display()
                )));
            };
            graph.add_edge(nodes[j], nodes[i], ());
        }
    }
    let order = petgraph::algo::toposort(&graph, None).map_err(|cycle| {
        let start = graph[cycle.node_id()];
        let members: Vec<&str> = petgraph::algo::kosaraju_scc(&graph)
            .into_iter()
            .find(|c| c.iter().any(|n| graph[*n] == start))
            .unwrap_or_default()
            .iter()
            .map(|n| models[graph[*n]].name.as_str())
            .collect();
        TaskError::Config(format!(
            "the models {} ref() each other in a cycle",
            members.join(", ")
        ))
    })?;
    let mut slots: Vec<Option<Model>> = models.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|n| slots[graph[n]].take())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const SOURCES: &str = "version: 2\nsources:\n  - name: silver\n    tables: [{name: books}]\n";

    #[test]
    fn models_come_after_what_they_ref_and_render_for_the_warehouse() {
        let dir = folder(&[
            ("sources.yml", SOURCES),
            (
                "fact.sql",
                "{{ config(materialized='incremental', unique_key=['book', 'year']) }}\nselect * from {{ ref('stg') }} s join {{ ref('dim') }} d using (author)\n{% if is_incremental() %}where year > (select max(year) from {{ this }}){% endif %}",
            ),
            (
                "dim.sql",
                "{{ config(materialized='table') }}select author from {{ ref('stg') }}",
            ),
            ("stg.sql", "select * from {{ source('silver', 'books') }}"),
        ]);
        let project = Project::read(dir.path()).unwrap();
        let names: Vec<&str> = project.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["stg", "dim", "fact"]);
        let fact = &project.models[2];
        assert_eq!(fact.materialized, Materialized::Incremental);
        assert_eq!(fact.unique_key, ["book", "year"]);
        assert_eq!(project.models[0].materialized, Materialized::View);
        let naming: Arc<Naming> = Arc::new(|s: &str, t: &str| format!("\"{s}_{t}\""));
        let first = project
            .render(fact, "marts", naming.clone(), false)
            .unwrap();
        assert!(
            first.contains("from \"marts_stg\" s join \"marts_dim\" d"),
            "{first}"
        );
        assert!(!first.contains("where year"), "{first}");
        let again = project.render(fact, "marts", naming.clone(), true).unwrap();
        assert!(
            again.contains("where year > (select max(year) from \"marts_fact\")"),
            "{again}"
        );
        let stg = project
            .render(&project.models[0], "marts", naming, false)
            .unwrap();
        assert_eq!(stg, "select * from \"silver_books\"");
    }

    #[test]
    fn missing_refs_cycles_and_bad_configs_are_named() {
        let err =
            |files: &[(&str, &str)]| Project::read(folder(files).path()).unwrap_err().to_string();
        let e = err(&[("a.sql", "select * from {{ ref('nope') }}")]);
        assert!(e.contains("a.sql: ref('nope'): no model `nope`"), "{e}");
        let e = err(&[
            ("a.sql", "select * from {{ ref('b') }}"),
            ("b.sql", "select * from {{ ref('a') }}"),
        ]);
        assert!(
            e.contains("the models a, b ref() each other in a cycle")
                || e.contains("the models b, a"),
            "{e}"
        );
        let e = err(&[("a.sql", "\n{{ config(materialised='table') }}")]);
        assert!(e.contains("a.sql:2"), "{e}");
        let e = err(&[("a.sql", "{{ config(materialized='ephemeral') }}")]);
        assert!(e.contains("use table, view or incremental"), "{e}");
        let e = err(&[("a.sql", "select * from {{ source('raw', 'x') }}")]);
        assert!(e.contains("no source `raw`"), "{e}");
    }
}
