//! A dbt project read as dbt parses it: the project file, the macros, the property files
//! (sources, models' and seeds' configs and tests), every model (rendered once to learn
//! its `ref()`s, `source()`s and `config()`) and every seed, each with its configs
//! merged, its relation named (`generate_schema_name` / `generate_alias_name`, the
//! project's own when it has them) and in an order where each comes after what it reads.

use super::config::{self, Layer};
use super::context::{self, Invocation, Phase, Scope, Seen};
use super::macros::{self, MacroFile};
use super::project_file::ProjectFile;
use super::relation::{Naming, Relation};
use super::settings::Settings;
use crate::TaskError;
use minijinja::Environment;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Model,
    Seed,
    Snapshot,
}

impl NodeKind {
    /// dbt's `resource_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Model => "model",
            NodeKind::Seed => "seed",
            NodeKind::Snapshot => "snapshot",
        }
    }
}

/// A model or a seed.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub name: String,
    pub unique_id: String,
    /// Its file, and its path inside the project.
    pub file: PathBuf,
    pub path: String,
    /// `[project, folders..., name]`.
    pub fqn: Vec<String>,
    /// A model's SQL template (empty for a seed).
    pub template: String,
    /// Its configs, all layers merged.
    pub config: Layer,
    pub settings: Settings,
    /// The models and seeds it reads, by name; the source tables it reads.
    pub refs: Vec<String>,
    pub sources: Vec<(String, String)>,
    pub relation: Relation,
    pub description: String,
    /// Its columns' descriptions, from the property files.
    pub column_docs: Vec<(String, String)>,
}

/// The name of a unit test's fixture CTEs (`__dbt__fixture_0`...).
pub const FIXTURE_PREFIX: &str = "__dbt__fixture_";

/// What a unit test puts in place of the project's: relations by name, source tables,
/// vars.
pub type Stand = (
    BTreeMap<String, Relation>,
    BTreeMap<(String, String), Relation>,
    Map<String, Value>,
);

/// The project, ready to compile and build.
pub struct Project {
    pub file: ProjectFile,
    pub macros: Vec<MacroFile>,
    /// Where each macro lives, by package.
    pub namespaces: Arc<macros::Namespaces>,
    /// What every rendering starts with: the macro files imported (built once).
    prelude: macros::Prelude,
    pub env: Arc<Environment<'static>>,
    /// Models and seeds, each after what it reads.
    pub nodes: Vec<Node>,
    /// The property files' models, seeds and sources, merged into one document of
    /// dbt's schema-file shape (for the tests).
    pub properties: Value,
    /// Each source's database schema.
    pub source_schemas: BTreeMap<String, String>,
    /// Source tables kept elsewhere than the lake's `<schema>/<table>` (`external:
    /// {location: ...}`): their Delta table's location by (schema, identifier).
    pub source_locations: BTreeMap<(String, String), String>,
    /// The property files' unit tests.
    pub unit_tests: Vec<super::unit_tests::UnitTest>,
    /// The `{% docs %}` blocks of its `.md` files, by name.
    pub docs: BTreeMap<String, DocsBlock>,
    /// The property files' semantic models, metrics, saved queries, exposures, groups
    /// and unit tests, for the manifest.
    pub resources: Vec<PropertyEntry>,
    /// The singular tests of `test-paths`: (name, file, path inside the project, SQL template).
    pub singular_tests: Vec<(String, PathBuf, String, String)>,
    pub invocation: Arc<Invocation>,
}

/// What the loader is told about the invocation.
pub struct Options {
    pub schema: String,
    pub target_name: String,
    /// `postgres`, `sqlite` or `lake`.
    pub kind: &'static str,
    pub vars: Map<String, Value>,
    pub full_refresh: bool,
    pub command: &'static str,
}

/// Files under `dirs` of `root` whose names end with one of `exts`, sorted, each with its
/// path inside the project.
fn files_under(root: &Path, dirs: &[String], exts: &[&str]) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for dir in dirs {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name == "target" || name == "dbt_packages" {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if exts.iter().any(|e| name.ends_with(e)) {
                    let inside = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .trim_start_matches("./")
                        .to_string();
                    out.push((path, inside));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The folders of `inside` under whichever of `dirs` holds it.
fn folders(inside: &str, dirs: &[String]) -> Vec<String> {
    let trimmed = dirs
        .iter()
        .filter(|d| d.as_str() != ".")
        .find_map(|d| inside.strip_prefix(&format!("{d}/")))
        .unwrap_or(inside);
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    parts.pop();
    parts
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The property files' entries: models', seeds' and snapshots' `config:` and
/// descriptions by name; sources; everything for the tests.
#[derive(Default)]
struct Properties {
    configs: BTreeMap<String, Layer>,
    descriptions: BTreeMap<String, String>,
    /// Columns' descriptions by node: (column, description).
    column_docs: BTreeMap<String, Vec<(String, String)>>,
    models: Vec<Value>,
    sources: Vec<Value>,
    unit_tests: Vec<Value>,
    docs: BTreeMap<String, DocsBlock>,
    /// What the manifest shows and nothing builds: semantic models, metrics...
    resources: Vec<PropertyEntry>,
}

/// An entry of a property file that the manifest shows (a semantic model, a metric, a
/// saved query, an exposure, a group, a unit test) as written.
#[derive(Debug, Clone)]
pub struct PropertyEntry {
    /// dbt's resource type: `semantic_model`, `metric`, `saved_query`, `exposure`,
    /// `group`, `unit_test`.
    pub kind: &'static str,
    pub entry: Value,
    /// The property file, inside the project (`models/marts/orders.yml`).
    pub file: String,
    /// The property file's folders under its resource path (`["marts"]`).
    pub folders: Vec<String>,
}

/// A `{% docs name %}` block: its file inside the project, its text.
#[derive(Debug, Clone)]
pub struct DocsBlock {
    pub path: String,
    pub text: String,
}

fn read_properties(root: &Path, file: &ProjectFile) -> Result<Properties, TaskError> {
    let mut dirs = file.model_paths.clone();
    dirs.extend(file.seed_paths.iter().cloned());
    dirs.extend(file.snapshot_paths.iter().cloned());
    dirs.extend(file.macro_paths.iter().cloned());
    dirs.extend(file.test_paths.iter().cloned());
    let mut out = Properties::default();
    // Where each model, seed and snapshot is described (dbt allows one place).
    let mut described: BTreeMap<(&str, String), PathBuf> = BTreeMap::new();
    for (path, inside) in files_under(root, &dirs, &[".yml", ".yaml"]) {
        if path.file_name().is_some_and(|n| n == "dbt_project.yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            TaskError::Config(format!("{}{at}: {e}", path.display()))
        })?;
        for key in ["models", "seeds", "snapshots"] {
            for entry in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = entry.get("name").and_then(Value::as_str) else {
                    return Err(TaskError::Config(format!(
                        "{}: an entry of `{key}:` has no `name`",
                        path.display()
                    )));
                };
                if let Some(first) = described.insert((key, name.to_string()), path.clone()) {
                    return Err(TaskError::Config(format!(
                        "{}: `{name}` is described in {} too; dbt allows one entry per {}: \
                         remove one",
                        path.display(),
                        first.display(),
                        key.trim_end_matches('s')
                    )));
                }
                if let Some(Value::Object(cfg)) = entry.get("config") {
                    let layer = cfg
                        .iter()
                        .map(|(k, v)| (config::key_name(k), v.clone()))
                        .collect();
                    out.configs.insert(name.to_string(), layer);
                }
                if let Some(d) = entry.get("description").and_then(Value::as_str) {
                    out.descriptions.insert(name.to_string(), d.to_string());
                }
                let columns: Vec<(String, String)> = entry
                    .get("columns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        Some((
                            c.get("name")?.as_str()?.to_string(),
                            c.get("description")?.as_str()?.to_string(),
                        ))
                    })
                    .collect();
                if !columns.is_empty() {
                    out.column_docs.insert(name.to_string(), columns);
                }
                out.models.push(entry.clone());
            }
        }
        if let Some(sources) = doc.get("sources").and_then(Value::as_array) {
            out.sources.extend(sources.iter().cloned());
        }
        for (key, kind) in [
            ("semantic_models", "semantic_model"),
            ("metrics", "metric"),
            ("saved_queries", "saved_query"),
            ("exposures", "exposure"),
            ("groups", "group"),
            ("unit_tests", "unit_test"),
        ] {
            for entry in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
                out.resources.push(PropertyEntry {
                    kind,
                    entry: entry.clone(),
                    file: inside.clone(),
                    folders: folders(&inside, &dirs),
                });
            }
        }
        if let Some(tests) = doc.get("unit_tests").and_then(Value::as_array) {
            out.unit_tests.extend(tests.iter().cloned());
        }
    }
    let blocks = docs_blocks(root, &dirs)?;
    let texts: BTreeMap<String, String> = blocks
        .iter()
        .map(|(name, b)| (name.clone(), b.text.clone()))
        .collect();
    for text in out.descriptions.values_mut().chain(
        out.column_docs
            .values_mut()
            .flat_map(|c| c.iter_mut().map(|(_, d)| d)),
    ) {
        if text.contains("doc(") {
            *text = with_docs(text, &texts)?;
        }
    }
    out.docs = blocks;
    Ok(out)
}

static DOCS_BLOCK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?s)\{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}",
    )
    .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// The `{% docs name %}...{% enddocs %}` blocks of the project's `.md` files.
fn docs_blocks(root: &Path, dirs: &[String]) -> Result<BTreeMap<String, DocsBlock>, TaskError> {
    let mut out = BTreeMap::new();
    for (path, inside) in files_under(root, dirs, &[".md"]) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))?;
        for block in DOCS_BLOCK.captures_iter(&text) {
            out.insert(
                block[1].to_string(),
                DocsBlock {
                    path: inside.clone(),
                    text: block[2].trim().to_string(),
                },
            );
        }
    }
    Ok(out)
}

/// A description with its `{{ doc('name') }}` calls replaced by the docs blocks.
fn with_docs(text: &str, blocks: &BTreeMap<String, String>) -> Result<String, TaskError> {
    let mut env = Environment::new();
    let found = blocks.clone();
    env.add_function(
        "doc",
        move |name: String| -> Result<String, minijinja::Error> {
            found.get(&name).cloned().ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("no `{{% docs {name} %}}` block in the project's .md files"),
                )
            })
        },
    );
    env.render_str(text, ())
        .map_err(|e| TaskError::Config(format!("a description `{text}`: {e}")))
}

/// Every macro file the project runs with: dbt's own, its packages', its own (with
/// the generic tests of `<test-path>/generic/`, where dbt allows them too).
fn macro_files(file: &ProjectFile) -> Result<Vec<MacroFile>, TaskError> {
    let mut out = vec![macros::builtin()?];
    let mut add = |project: &ProjectFile, prefix: &str| -> Result<(), TaskError> {
        let root = &project.root;
        // A package's files are under a prefix (`dbt_packages/<name>/`); the project's not.
        let read = if prefix.is_empty() {
            macros::read_file
        } else {
            macros::read_package_file
        };
        for (path, inside) in files_under(root, &project.macro_paths, &[".sql"]) {
            out.push(read(&path, &format!("{prefix}{inside}"), &project.name)?);
        }
        for (path, inside) in files_under(root, &project.test_paths, &[".sql"]) {
            if is_generic(&inside, &project.test_paths) {
                // dbt reads only the `{% test %}` blocks of these files.
                let mut file = read(&path, &format!("{prefix}{inside}"), &project.name)?;
                file.macros.retain(|m| m.starts_with("test_"));
                out.push(file);
            }
        }
        Ok(())
    };
    if file.declared {
        for package in super::packages::installed(&file.root, file)? {
            let models = files_under(&package.root, &package.file.model_paths, &[".sql", ".py"]);
            if let Some((path, _)) = models.first() {
                return Err(TaskError::Config(format!(
                    "{}: the package `{}` has models; Updraft runs packages' macros and tests, \
                     not their models yet",
                    path.display(),
                    package.name
                )));
            }
            add(
                &package.file,
                &format!("{}/{}/", file.packages_install_path, package.name),
            )?;
        }
    }
    add(file, "")?;
    Ok(out)
}

impl Project {
    /// Reads and parses the project at `root`.
    pub fn load(root: &Path, options: &Options) -> Result<Self, TaskError> {
        let file = ProjectFile::read(root)?;
        let macro_files = macro_files(&file)?;
        let namespaces = Arc::new(macros::Namespaces::new(
            &macro_files,
            &file.name,
            file.dispatch.clone(),
        )?);
        let mut env = Environment::new();
        super::jinja::configure(&mut env);
        macros::register(&mut env, &macro_files, &namespaces)?;
        context::register(&mut env, &namespaces);
        let naming = match options.kind {
            "sqlite" => Naming::Prefixed,
            _ => Naming::Schemas,
        };
        let props = read_properties(root, &file)?;
        let (sources, source_schemas) = source_relations(&props.sources, naming)?;
        let source_locations = source_locations(&props.sources, root, &sources);
        let mut invocation = Invocation {
            project: file.name.clone(),
            project_vars: file.vars.clone(),
            cli_vars: options.vars.clone(),
            target: context::Target {
                name: options.target_name.clone(),
                schema: options.schema.clone(),
                kind: options.kind,
                database: None,
            },
            naming,
            relations: BTreeMap::new(),
            sources,
            run_started_at: chrono::Utc::now(),
            invocation_id: invocation_id(),
            full_refresh: options.full_refresh,
            command: options.command,
            runner: std::sync::OnceLock::new(),
        };
        let env = Arc::new(env);
        let prelude = macros::Prelude::new(&macro_files);
        let parse_inv = Arc::new(invocation.clone());
        let mut nodes = Vec::new();
        for (path, inside) in files_under(root, &file.model_paths, &[".sql", ".py"]) {
            if inside.ends_with(".py") {
                return Err(TaskError::Config(format!(
                    "{}: Python models are not supported: write the model in SQL",
                    path.display()
                )));
            }
            if !file.declared && path.file_name().is_some_and(|n| n == "sources.yml") {
                continue;
            }
            let node = parse_model(
                &env,
                &prelude,
                &parse_inv,
                (&file, &props),
                (&path, &inside),
            )?;
            if enabled(&node.config, &node.file)? {
                nodes.push(node);
            }
        }
        for (path, inside) in files_under(root, &file.snapshot_paths, &[".sql"]) {
            let text = read_template(&path)?;
            for (name, body) in super::snapshots::blocks(&text, &path)? {
                let node = parse_sql_node(
                    &env,
                    &prelude,
                    &parse_inv,
                    (&file, &props),
                    (&path, &inside),
                    (NodeKind::Snapshot, name, body),
                )?;
                if enabled(&node.config, &node.file)? {
                    nodes.push(node);
                }
            }
        }
        for (path, inside) in files_under(root, &file.seed_paths, &[".csv"]) {
            let name = stem(&path);
            let mut fqn = vec![file.name.clone()];
            fqn.extend(folders(&inside, &file.seed_paths));
            fqn.push(name.clone());
            let mut merged = Layer::new();
            for layer in config::tree_layers(&file.trees.seeds, &fqn) {
                config::merge(&mut merged, &layer);
            }
            if let Some(layer) = props.configs.get(&name) {
                config::merge(&mut merged, layer);
            }
            merged.insert("materialized".into(), Value::from("seed"));
            let merged = render_values(&env, &parse_inv, merged, &path)?;
            if !enabled(&merged, &path)? {
                continue;
            }
            nodes.push(Node {
                kind: NodeKind::Seed,
                unique_id: format!("seed.{}.{name}", file.name),
                settings: Settings::read(&merged, &path)?,
                config: merged,
                description: props.descriptions.get(&name).cloned().unwrap_or_default(),
                column_docs: props.column_docs.get(&name).cloned().unwrap_or_default(),
                name: name.clone(),
                file: path,
                path: inside,
                fqn,
                template: String::new(),
                refs: Vec::new(),
                sources: Vec::new(),
                relation: Relation::new(&options.schema, &name, naming),
            });
        }
        if nodes.is_empty() && !file.declared {
            return Err(TaskError::Config(format!(
                "no models (.sql files) in {}",
                root.display()
            )));
        }
        check_names(&nodes)?;
        let nodes = in_order(nodes)?;
        let mut project = Self {
            file,
            macros: macro_files,
            namespaces,
            prelude,
            env,
            nodes,
            properties: Value::Null,
            source_locations,
            source_schemas,
            singular_tests: Vec::new(),
            unit_tests: super::unit_tests::read(&props.unit_tests)?,
            docs: props.docs.clone(),
            resources: props.resources.clone(),
            invocation: Arc::new(invocation.clone()),
        };
        project.name_relations(&parse_inv)?;
        invocation.relations = project
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.relation.clone()))
            .collect();
        project.invocation = Arc::new(invocation);
        for test in &project.unit_tests {
            match project.node(&test.model) {
                None => {
                    return Err(TaskError::Config(format!(
                        "unit test `{}`: no model `{}` in the project",
                        test.name, test.model
                    )));
                }
                Some(n)
                    if n.settings.materialized == super::settings::Materialized::Incremental
                        && test.incremental.is_none() =>
                {
                    return Err(TaskError::Config(format!(
                        "unit test `{}`: `{}` is incremental: give `overrides: {{macros: {{is_incremental: true|false}}}}`, as dbt requires",
                        test.name, test.model
                    )));
                }
                Some(_) => {}
            }
        }
        for (path, inside) in files_under(root, &project.file.test_paths, &[".sql"]) {
            if is_generic(&inside, &project.file.test_paths) {
                continue;
            }
            let template = read_template(&path)?;
            project
                .singular_tests
                .push((stem(&path), path, inside, template));
        }
        project.properties = serde_json::json!({
            "version": 2,
            "models": props.models,
            "sources": props.sources,
        });
        Ok(project)
    }

    /// Names each node's relation: its schema and alias, by the project's macros when it
    /// has `generate_schema_name` / `generate_alias_name`, else by dbt's defaults.
    fn name_relations(&mut self, inv: &Arc<Invocation>) -> Result<(), TaskError> {
        let target_schema = inv.target.schema.clone();
        for node in &mut self.nodes {
            let custom_schema = node.config.get("schema").and_then(Value::as_str);
            // A snapshot's `target_schema` (dbt's older form) is the schema as written.
            let fixed_schema = node.config.get("target_schema").and_then(Value::as_str);
            let custom_alias = node.config.get("alias").and_then(Value::as_str);
            let schema = if let Some(fixed) = fixed_schema {
                fixed.to_string()
            } else if self.namespaces.in_root("generate_schema_name") {
                let call = format!(
                    "{{{{ generate_schema_name({}, model) }}}}",
                    py_literal(custom_schema)
                );
                render(&self.env, &self.prelude, inv, node, &call)?
                    .trim()
                    .to_string()
            } else {
                match custom_schema {
                    Some(custom) => format!("{target_schema}_{}", custom.trim()),
                    None => target_schema.clone(),
                }
            };
            let alias = if self.namespaces.in_root("generate_alias_name") {
                let call = format!(
                    "{{{{ generate_alias_name({}, model) }}}}",
                    py_literal(custom_alias)
                );
                render(&self.env, &self.prelude, inv, node, &call)?
                    .trim()
                    .to_string()
            } else {
                custom_alias.unwrap_or(&node.name).trim().to_string()
            };
            let mut relation = Relation::new(&schema, &alias, inv.naming);
            relation.kind = Some(match node.settings.materialized {
                super::settings::Materialized::View => "view",
                super::settings::Materialized::Ephemeral => {
                    relation.identifier = format!("__dbt__cte__{}", node.name);
                    relation.show_schema = false;
                    "cte"
                }
                _ => "table",
            });
            node.relation = relation;
        }
        Ok(())
    }

    /// Renders `template` for `node` in the execute phase: its SQL, and what it recorded
    /// (the ephemeral models it reads).
    pub fn compile(
        &self,
        node: &Node,
        template: &str,
        incremental: bool,
    ) -> Result<(String, Seen), TaskError> {
        self.compile_in(&self.invocation, node, template, incremental)
    }

    /// Renders `template` for `node` in the execute phase of `invocation`.
    fn compile_in(
        &self,
        invocation: &Arc<Invocation>,
        node: &Node,
        template: &str,
        incremental: bool,
    ) -> Result<(String, Seen), TaskError> {
        let scope = Arc::new(Scope {
            phase: Phase::Execute,
            this: Some(node.relation.clone()),
            incremental,
            ..node_scope(invocation, node)
        });
        let sql = macros::render(
            &self.env,
            &self.prelude,
            template,
            context::context(scope.clone()),
        )
        .map_err(|e| TaskError::Config(super::jinja_error(&node.file, &e)))?;
        let seen = scope.seen.lock().map(|s| s.clone()).unwrap_or_default();
        Ok((sql, seen))
    }

    /// A model's SQL with other relations, sources and vars (a unit test's fixtures),
    /// ephemeral models it reads inlined.
    pub fn compile_with(
        &self,
        node: &Node,
        incremental: bool,
        (relations, sources, vars): Stand,
    ) -> Result<String, TaskError> {
        let invocation = Arc::new(Invocation {
            relations,
            sources,
            cli_vars: vars,
            ..(*self.invocation).clone()
        });
        let (sql, seen) = self.compile_in(&invocation, node, &node.template, incremental)?;
        // An ephemeral model given as a fixture is not inlined: the fixture stands in.
        let inlined: Vec<String> = seen
            .refs
            .into_iter()
            .filter(|r| {
                !invocation
                    .relations
                    .get(r)
                    .is_some_and(|rel| rel.identifier.starts_with(FIXTURE_PREFIX))
            })
            .collect();
        super::run::inline_ephemeral(self, &sql, &inlined)
    }

    /// The generic tests the project and its packages define (`{% test name %}`), by the
    /// names a property file may give them (`name`, `package.name`).
    pub fn generic_tests(&self) -> std::collections::BTreeSet<String> {
        self.namespaces.generic_tests()
    }

    /// The failing rows of the generic test written `name` (the project's or a package's)
    /// on `model` (a relation, or a subquery under the test's `where`), as its macro
    /// renders them.
    pub fn render_test(
        &self,
        name: &str,
        model: minijinja::Value,
        column: Option<&str>,
        args: &Map<String, Value>,
        config: Layer,
    ) -> Result<String, TaskError> {
        let test = self.namespaces.generic_test(name).ok_or_else(|| {
            TaskError::Config(format!(
                "no generic test `{name}` in the project or its packages"
            ))
        })?;
        let mut call = vec!["model=__model".to_string()];
        if column.is_some() {
            call.push("column_name=__column".into());
        }
        for key in args.keys() {
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(TaskError::Config(format!(
                    "the test `{name}`: `{key}` cannot be a macro's argument"
                )));
            }
            call.push(format!("{key}=__args[{key:?}]"));
        }
        // The macro's name written, so that its file is imported.
        let macro_name = format!("test_{}", name.rsplit('.').next().unwrap_or(name));
        let template = format!(
            "{{#- {macro_name} -#}}{{{{ __test({}) }}}}",
            call.join(", ")
        );
        let scope = Arc::new(Scope {
            phase: Phase::Execute,
            ..Scope::parsing(&self.invocation, name, config)
        });
        let ctx = minijinja::context! {
            __test => test,
            __model => model,
            __column => column,
            __args => minijinja::Value::from_serialize(args),
            ..context::context(scope)
        };
        macros::render(&self.env, &self.prelude, &template, ctx)
            .map_err(|e| TaskError::Config(super::jinja_error(&self.file.root, &e)))
    }

    /// An `on-run-start` / `on-run-end` hook's SQL; `schemas`: those of the run's nodes.
    pub fn render_hook(&self, sql: &str, schemas: &[String]) -> Result<String, TaskError> {
        let scope = Arc::new(Scope {
            phase: Phase::Execute,
            resource_type: "operation",
            ..Scope::parsing(&self.invocation, "on-run", Layer::new())
        });
        let ctx = minijinja::context! {
            schemas => schemas,
            database_schemas => schemas.iter().map(|s| (Value::Null, s.as_str())).collect::<Vec<_>>(),
            results => Vec::<minijinja::Value>::new(),
            ..context::context(scope)
        };
        macros::render(&self.env, &self.prelude, &super::mutable::rewrite(sql), ctx).map_err(|e| {
            TaskError::Config(super::jinja_error(
                &self.file.root.join("dbt_project.yml"),
                &e,
            ))
        })
    }

    /// The node of this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Whether a file of `test-paths` is a generic test's definition (under `generic/`).
fn is_generic(inside: &str, test_paths: &[String]) -> bool {
    test_paths
        .iter()
        .any(|t| inside.starts_with(&format!("{t}/generic/")))
}

/// A singular test, rendered.
pub struct Singular {
    pub name: String,
    pub path: String,
    /// Its failing rows' SQL, or why it could not be rendered.
    pub sql: Result<String, String>,
    /// The nodes it reads; its `config()`.
    pub refs: Vec<String>,
    pub config: Layer,
}

impl Project {
    /// The singular tests of `test-paths`, each rendered to learn what it reads and its
    /// configs, then for the warehouse.
    pub fn singular(&self) -> Vec<Singular> {
        self.singular_tests
            .iter()
            .map(|(name, file, inside, template)| {
                let node = Node {
                    kind: NodeKind::Model,
                    name: name.clone(),
                    unique_id: format!("test.{}.{name}", self.file.name),
                    file: file.clone(),
                    path: inside.clone(),
                    fqn: vec![self.file.name.clone(), name.clone()],
                    template: template.clone(),
                    config: Layer::new(),
                    settings: Settings::default(),
                    refs: Vec::new(),
                    sources: Vec::new(),
                    relation: Relation::new(
                        &self.invocation.target.schema,
                        name,
                        self.invocation.naming,
                    ),
                    description: String::new(),
                    column_docs: Vec::new(),
                };
                let scope = Arc::new(node_scope(&self.invocation, &node));
                let parsed = macros::render(
                    &self.env,
                    &self.prelude,
                    template,
                    context::context(scope.clone()),
                )
                .map_err(|e| super::jinja_error(file, &e));
                let seen = scope.seen.lock().map(|s| s.clone()).unwrap_or_default();
                let sql = parsed.and_then(|_| {
                    self.compile(&node, template, false)
                        .map(|(sql, _)| sql.trim().trim_end_matches(';').to_string())
                        .map_err(|e| e.to_string())
                });
                Singular {
                    name: name.clone(),
                    path: inside.clone(),
                    sql,
                    refs: seen.refs,
                    config: seen.config,
                }
            })
            .collect()
    }
}

/// A model's, snapshot's or test's template, its list and dict literals made mutable.
fn read_template(path: &Path) -> Result<String, TaskError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))?;
    Ok(super::mutable::rewrite(&text))
}

/// A Jinja literal for an optional string (`none` or a quoted string).
fn py_literal(value: Option<&str>) -> String {
    match value {
        Some(s) => serde_json::to_string(s).unwrap_or_else(|_| "none".into()),
        None => "none".into(),
    }
}

/// Renders `template` in `node`'s parse scope.
fn render(
    env: &Environment<'static>,
    prelude: &macros::Prelude,
    inv: &Arc<Invocation>,
    node: &Node,
    template: &str,
) -> Result<String, TaskError> {
    let scope = Arc::new(node_scope(inv, node));
    macros::render(env, prelude, template, context::context(scope))
        .map_err(|e| TaskError::Config(super::jinja_error(&node.file, &e)))
}

/// A parse-phase rendering of `node` as it is known.
fn node_scope(inv: &Arc<Invocation>, node: &Node) -> Scope {
    Scope {
        unique_id: node.unique_id.clone(),
        resource_type: node.kind.as_str(),
        original_file_path: node.path.clone(),
        ..Scope::parsing(inv, &node.name, node.config.clone())
    }
}

/// A v4-shaped id from the clock and the process (dbt's `invocation_id` is a UUID).
fn invocation_id() -> String {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128;
    let mixed = nanos ^ (u128::from(std::process::id()) << 64);
    let hex = format!("{mixed:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Reads a model: its configs from the project file and property files, then its file
/// rendered once to learn its `ref()`s, `source()`s and `config()`.
fn parse_model(
    env: &Environment<'static>,
    prelude: &macros::Prelude,
    inv: &Arc<Invocation>,
    (file, props): (&ProjectFile, &Properties),
    (path, inside): (&Path, &str),
) -> Result<Node, TaskError> {
    let template = read_template(path)?;
    parse_sql_node(
        env,
        prelude,
        inv,
        (file, props),
        (path, inside),
        (NodeKind::Model, stem(path), template),
    )
}

/// Reads a model or a snapshot: its configs from the project file's tree for its kind
/// and the property files, then its SQL rendered once to learn its `ref()`s, `source()`s
/// and `config()`.
fn parse_sql_node(
    env: &Environment<'static>,
    prelude: &macros::Prelude,
    inv: &Arc<Invocation>,
    (file, props): (&ProjectFile, &Properties),
    (path, inside): (&Path, &str),
    (kind, name, template): (NodeKind, String, String),
) -> Result<Node, TaskError> {
    let (tree, dirs) = match kind {
        NodeKind::Snapshot => (&file.trees.snapshots, &file.snapshot_paths),
        _ => (&file.trees.models, &file.model_paths),
    };
    let mut fqn = vec![file.name.clone()];
    fqn.extend(folders(inside, dirs));
    fqn.push(name.clone());
    let mut merged = Layer::new();
    if kind == NodeKind::Snapshot {
        merged.insert("materialized".into(), Value::from("snapshot"));
    }
    for layer in config::tree_layers(tree, &fqn) {
        config::merge(&mut merged, &layer);
    }
    if let Some(layer) = props.configs.get(&name) {
        config::merge(&mut merged, layer);
    }
    let merged = render_values(env, inv, merged, path)?;
    let scope = Arc::new(Scope {
        original_file_path: inside.to_string(),
        this: Some(Relation::new(&inv.target.schema, &name, inv.naming)),
        ..Scope::parsing(inv, &name, merged.clone())
    });
    macros::render(env, prelude, &template, context::context(scope.clone()))
        .map_err(|e| TaskError::Config(super::jinja_error(path, &e)))?;
    let seen = scope.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut merged = merged;
    config::merge(&mut merged, &seen.config);
    for key in merged.keys() {
        if !config::is_known(key) {
            tracing::warn!(
                "{}: the config `{key}` is not one dbt knows; kept, but it changes nothing",
                path.display()
            );
        }
    }
    let mut refs = seen.refs;
    refs.dedup();
    let mut sources = seen.sources;
    sources.dedup();
    Ok(Node {
        kind,
        unique_id: format!("{}.{}.{name}", kind.as_str(), file.name),
        settings: Settings::read(&merged, path)?,
        config: merged,
        description: props.descriptions.get(&name).cloned().unwrap_or_default(),
        column_docs: props.column_docs.get(&name).cloned().unwrap_or_default(),
        relation: Relation::new(&inv.target.schema, &name, inv.naming),
        name,
        file: path.to_path_buf(),
        path: inside.to_string(),
        fqn,
        template,
        refs,
        sources,
    })
}

/// Renders the config values written as templates (`"{{ var('x', false) }}"`), as dbt
/// renders the project file: a value that reads as a bool or a number becomes one.
/// Hooks stay templates: they are rendered when they run.
fn render_values(
    env: &Environment<'static>,
    inv: &Arc<Invocation>,
    mut layer: Layer,
    path: &Path,
) -> Result<Layer, TaskError> {
    for (key, value) in layer.iter_mut() {
        if key == "pre_hook" || key == "post_hook" {
            continue;
        }
        if let Value::String(text) = value
            && (text.contains("{{") || text.contains("{%"))
        {
            let scope = Arc::new(Scope::parsing(inv, &stem(path), Layer::new()));
            let rendered = env.render_str(text, context::context(scope)).map_err(|e| {
                TaskError::Config(format!(
                    "{}: the config `{key}`: {}",
                    path.display(),
                    super::jinja_error(path, &e)
                ))
            })?;
            *value = native(&rendered);
        }
    }
    Ok(layer)
}

/// A rendered text as the value it spells (`true`, `False`, `3`), else the text.
fn native(text: &str) -> Value {
    match text.trim() {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        "none" | "None" => Value::Null,
        t => t
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| t.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_string())),
    }
}

fn enabled(config: &Layer, path: &Path) -> Result<bool, TaskError> {
    match config.get("enabled") {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(TaskError::Config(format!(
            "{}: `enabled: {other}`: true or false",
            path.display()
        ))),
    }
}

/// Each source table's relation, and each source's schema.
#[allow(clippy::type_complexity)]
fn source_relations(
    sources: &[Value],
    naming: Naming,
) -> Result<
    (
        BTreeMap<(String, String), Relation>,
        BTreeMap<String, String>,
    ),
    TaskError,
> {
    let mut relations = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    for source in sources {
        let Some(name) = source.get("name").and_then(Value::as_str) else {
            return Err(TaskError::Config("a source has no `name`".into()));
        };
        let schema = source
            .get("schema")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        schemas.insert(name.to_string(), schema.clone());
        for table in source
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(table_name) = table.get("name").and_then(Value::as_str) else {
                return Err(TaskError::Config(format!(
                    "a table of the source `{name}` has no `name`"
                )));
            };
            let identifier = table
                .get("identifier")
                .and_then(Value::as_str)
                .unwrap_or(table_name);
            let mut relation = Relation::new(&schema, identifier, naming);
            relation.kind = Some("table");
            relations.insert((name.to_string(), table_name.to_string()), relation);
        }
    }
    Ok((relations, schemas))
}

/// The Delta table locations that source tables give (`external: {location: ...}`),
/// by their relation's schema and identifier; a relative one is inside the project.
fn source_locations(
    sources: &[Value],
    root: &Path,
    relations: &BTreeMap<(String, String), Relation>,
) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for source in sources {
        let Some(name) = source.get("name").and_then(Value::as_str) else {
            continue;
        };
        for table in source
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let location = table
                .get("external")
                .and_then(|e| e.get("location"))
                .and_then(Value::as_str);
            let relation = table
                .get("name")
                .and_then(Value::as_str)
                .and_then(|t| relations.get(&(name.to_string(), t.to_string())));
            if let (Some(location), Some(relation)) = (location, relation) {
                let location = if location.contains("://") || Path::new(location).is_absolute() {
                    location.to_string()
                } else {
                    root.join(location).display().to_string()
                };
                out.insert(
                    (relation.schema.clone(), relation.identifier.clone()),
                    location,
                );
            }
        }
    }
    out
}

/// Two nodes of one name: dbt refuses it, as `ref()` could not tell them apart.
fn check_names(nodes: &[Node]) -> Result<(), TaskError> {
    let mut seen: BTreeMap<&str, &Node> = BTreeMap::new();
    for node in nodes {
        if let Some(first) = seen.insert(node.name.as_str(), node) {
            return Err(TaskError::Config(format!(
                "two nodes are named `{}`: {} and {}",
                node.name, first.path, node.path
            )));
        }
    }
    Ok(())
}

/// The nodes in build order; a `ref()` to no node, or a cycle, is an error naming them.
fn in_order(nodes: Vec<Node>) -> Result<Vec<Node>, TaskError> {
    use petgraph::graph::DiGraph;
    let mut graph = DiGraph::<usize, ()>::new();
    let ids: Vec<_> = (0..nodes.len()).map(|i| graph.add_node(i)).collect();
    let by_name: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        for r in &node.refs {
            let Some(&j) = by_name.get(r.as_str()) else {
                let line = node
                    .template
                    .lines()
                    .position(|l| l.contains(&format!("'{r}'")) || l.contains(&format!("\"{r}\"")))
                    .map(|l| format!(":{}", l + 1))
                    .unwrap_or_default();
                return Err(TaskError::Config(format!(
                    "{}{line}: ref('{r}'): no model, seed or snapshot `{r}` in the project (a disabled one cannot be ref()'d)",
                    node.file.display()
                )));
            };
            graph.add_edge(ids[j], ids[i], ());
        }
    }
    let order = petgraph::algo::toposort(&graph, None).map_err(|cycle| {
        let start = graph[cycle.node_id()];
        let members: Vec<&str> = petgraph::algo::kosaraju_scc(&graph)
            .into_iter()
            .find(|c| c.iter().any(|n| graph[*n] == start))
            .unwrap_or_default()
            .iter()
            .map(|n| nodes[graph[*n]].name.as_str())
            .collect();
        TaskError::Config(format!(
            "the models {} ref() each other in a cycle",
            members.join(", ")
        ))
    })?;
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
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
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn options(kind: &'static str) -> Options {
        Options {
            schema: "analytics".into(),
            target_name: "dev".into(),
            kind,
            vars: Map::new(),
            full_refresh: false,
            command: "build",
        }
    }

    fn sql(project: &Project, name: &str, incremental: bool) -> String {
        let node = project.node(name).unwrap();
        super::super::run::compiled_sql(project, node, incremental).unwrap()
    }

    const SOURCES: &str = "version: 2\nsources:\n  - name: silver\n    tables: [{name: books}]\n";

    #[test]
    fn descriptions_take_their_docs_blocks() {
        let dir = folder(&[
            ("dbt_project.yml", "name: shop\n"),
            ("models/a.sql", "select 1 as x"),
            (
                "models/docs.md",
                "{% docs a_table %}\nOne row per *thing*.\n{% enddocs %}\n",
            ),
            (
                "models/a.yml",
                "version: 2\nmodels:\n  - name: a\n    description: '{{ doc(\"a_table\") }}'\n    columns: [{name: x, description: 'x: {{ doc(\"a_table\") }}'}]\n",
            ),
        ]);
        let p = Project::load(dir.path(), &options("postgres")).unwrap();
        let a = p.node("a").unwrap();
        assert_eq!(a.description, "One row per *thing*.");
        assert_eq!(
            a.column_docs,
            [("x".to_string(), "x: One row per *thing*.".to_string())]
        );
    }

    #[test]
    fn a_model_described_in_two_property_files_is_refused_naming_both() {
        let dir = folder(&[
            ("dbt_project.yml", "name: shop\n"),
            ("models/a.sql", "select 1 as x"),
            ("models/one.yml", "version: 2\nmodels: [{name: a}]\n"),
            (
                "models/two.yml",
                "version: 2\nmodels: [{name: a, description: again}]\n",
            ),
        ]);
        let e = Project::load(dir.path(), &options("postgres"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("two.yml: `a` is described in") && e.contains("one.yml too"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_folder_builds_in_ref_order_as_sql_models_did() {
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
        let project = Project::load(dir.path(), &options("sqlite")).unwrap();
        let names: Vec<&str> = project.nodes.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["stg", "dim", "fact"]);
        let fact = project.node("fact").unwrap();
        assert_eq!(fact.settings.unique_key, ["book", "year"]);
        let first = sql(&project, "fact", false);
        assert!(
            first.contains("from \"analytics_stg\" s join \"analytics_dim\" d"),
            "{first}"
        );
        assert!(!first.contains("where year"), "{first}");
        let again = sql(&project, "fact", true);
        assert!(
            again.contains("where year > (select max(year) from \"analytics_fact\")"),
            "{again}"
        );
        assert_eq!(
            sql(&project, "stg", false),
            "select * from \"silver_books\""
        );
    }

    #[test]
    fn project_macros_return_values_call_blocks_vars_and_custom_schemas() {
        let dir = folder(&[
            (
                "dbt_project.yml",
                "name: shop\nvars:\n  cutoff: 3\n  shop: {region: eu}\nmodels:\n  shop:\n    staging:\n      +schema: stg\n      +materialized: ephemeral\n",
            ),
            (
                "macros/util.sql",
                "{% macro cents(col) %}({{ col }} * 100)::int{% endmacro %}\n\
                 {% macro columns() %}{{ return(['a', 'b']) }}{% endmacro %}\n\
                 {% macro wrap() %}({{ caller() }}){% endmacro %}\n\
                 {% macro postgres__greet() %}'pg'{% endmacro %}\n\
                 {% macro default__greet() %}'any'{% endmacro %}\n",
            ),
            (
                "macros/schema.sql",
                "{% macro generate_schema_name(custom, node) %}{{ custom if custom else target.schema }}{% endmacro %}",
            ),
            (
                "models/staging/stg.sql",
                "select {{ cents('price') }} as c from {{ source('raw', 'items') }}",
            ),
            (
                "models/marts/mart.sql",
                "{{ config(materialized='table', alias='the_mart') }}select {{ columns() | join(', ') }}, {{ var('cutoff') }} as k, '{{ var('region') }}' as r, {{ adapter.dispatch('greet')() }} as g\n\
                 from {% call wrap() %}select * from {{ ref('stg') }}{% endcall %} x",
            ),
            (
                "models/props.yml",
                "version: 2\nsources:\n  - name: raw\n    schema: landing\n    tables: [{name: items}]\n",
            ),
        ]);
        let project = Project::load(dir.path(), &options("postgres")).unwrap();
        let mart = project.node("mart").unwrap();
        assert_eq!(mart.relation.sql(), "\"analytics\".\"the_mart\"");
        assert_eq!(
            project.node("stg").unwrap().settings.materialized,
            super::super::settings::Materialized::Ephemeral
        );
        let out = sql(&project, "mart", false);
        assert_eq!(
            out,
            "with __dbt__cte__stg as (\nselect (price * 100)::int as c from \"landing\".\"items\"\n)\n\
             select a, b, 3 as k, 'eu' as r, 'pg' as g\nfrom (select * from __dbt__cte__stg) x"
        );
    }

    #[test]
    fn mistakes_are_named_with_their_file() {
        let err = |files: &[(&str, &str)]| match Project::load(
            folder(files).path(),
            &options("postgres"),
        ) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.to_string(),
        };
        let e = err(&[("a.sql", "select * from {{ ref('nope') }}")]);
        assert!(e.contains("a.sql:1: ref('nope'): no model"), "{e}");
        let e = err(&[
            ("a.sql", "select * from {{ ref('b') }}"),
            ("b.sql", "select * from {{ ref('a') }}"),
        ]);
        assert!(e.contains("ref() each other in a cycle"), "{e}");
        let e = err(&[("a.sql", "\n{{ config(materialized='materialised_view') }}")]);
        assert!(
            e.contains("a.sql: `materialized: materialised_view` is not supported"),
            "{e}"
        );
        let e = err(&[("a.sql", "select {{ nope() }}")]);
        assert!(e.contains("a.sql:1"), "{e}");
        let e = err(&[
            ("dbt_project.yml", "name: p\n"),
            ("models/a.py", "def model(dbt, s): pass"),
        ]);
        assert!(e.contains("Python models are not supported"), "{e}");
        let e = err(&[("a.sql", "select {{ var('missing') }}")]);
        assert!(e.contains("Required var 'missing' not found"), "{e}");
    }
}
