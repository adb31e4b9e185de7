//! `dbt`: runs a dbt project folder as it is — `dbt_project.yml`, macros, property files,
//! seeds, models (`view`, `table`, `incremental`, `ephemeral`), hooks, tests, selection —
//! in a PostgreSQL or SQLite connection or on the lake as Delta tables ([`Place`]), with
//! no Python and no dbt installed. `sql_models` is the same engine over a folder without
//! `dbt_project.yml`. `updraft dbt` runs the same from the command line ([`invoke`]).

mod api;
mod artifacts;
mod config;
mod context;
pub mod deps;
mod expand;
mod jinja;
mod lake;
mod macros;
mod manifest_macros;
mod manifest_resources;
mod modules;
mod mutable;
mod packages;
mod project;
mod project_file;
mod queries;
mod relation;
mod run;
mod seeds;
mod select;
mod settings;
mod snapshots;
mod unit_tests;
mod warehouse;

use crate::{Connection, TaskContext, TaskError, TaskLog, TaskOutcome, parse_config};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use updraft_core::Reports;

pub use crate::lake::LakeRoot;
pub use expand::{ExpandedNode, expand};
pub use project::Project;

/// What a dbt invocation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Seeds, models and their tests, in the project's order.
    #[default]
    Build,
    /// Models only.
    Run,
    /// Tests only.
    Test,
    /// Seeds only.
    Seed,
    /// Snapshots only.
    Snapshot,
}

impl Command {
    /// Whether the command builds nodes of `kind`.
    pub fn builds(self, kind: project::NodeKind) -> bool {
        use project::NodeKind;
        match self {
            Command::Build => true,
            Command::Run => kind == NodeKind::Model,
            Command::Seed => kind == NodeKind::Seed,
            Command::Snapshot => kind == NodeKind::Snapshot,
            Command::Test => false,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Command::Build => "build",
            Command::Run => "run",
            Command::Test => "test",
            Command::Seed => "seed",
            Command::Snapshot => "snapshot",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DbtConfig {
    /// The project folder, relative to the DAG file.
    project: String,
    conn: String,
    /// The target schema (profiles.yml's `schema`).
    schema: Option<String>,
    #[serde(default)]
    command: Command,
    select: Option<String>,
    exclude: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    full_refresh: bool,
    /// `target.name` in the project's Jinja.
    target: Option<String>,
    /// `models`: the project's nodes become tasks of the DAG (see [`expand`]).
    expand: Option<Expand>,
    /// Builds this one node and the tests that run after it (what `expand` gives
    /// each task).
    node: Option<String>,
    /// `conn: lake`: how the lake's storage is opened (as for `delta_sql`).
    #[serde(default)]
    storage_options: std::collections::BTreeMap<String, String>,
}

/// What `expand:` turns into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expand {
    /// Each model, seed and snapshot (ephemeral models are inlined where they are read).
    Models,
}

updraft_core::declare_task_type!(
    Dbt,
    "dbt",
    validate,
    files = &["project"],
    reports = &[
        updraft_core::ReportKind::Model,
        updraft_core::ReportKind::Test,
        updraft_core::ReportKind::Asset
    ]
);

/// A request to run a project: what the task's `with:` and `updraft dbt` give.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: PathBuf,
    pub schema: Option<String>,
    pub target: Option<String>,
    pub select: Option<String>,
    pub exclude: Option<String>,
    pub vars: Map<String, Value>,
    pub full_refresh: bool,
    /// One node to build, with the tests that run after it (instead of a selection).
    pub node: Option<String>,
}

impl Request {
    /// Reads the project for a connection of `kind` (`postgres`, `sqlite`).
    pub fn load(&self, kind: &'static str, command: &'static str) -> Result<Project, TaskError> {
        let schema = match &self.schema {
            Some(s) => s.clone(),
            None => profile_schema(&self.project)?.ok_or_else(|| {
                TaskError::Config(format!(
                    "give the target schema (`schema:`): {} has no profiles.yml that names one",
                    self.project.display()
                ))
            })?,
        };
        check_schema(&schema)?;
        project::Project::load(
            &self.project,
            &project::Options {
                schema,
                target_name: self.target.clone().unwrap_or_else(|| "dev".into()),
                kind,
                vars: self.vars.clone(),
                full_refresh: self.full_refresh,
                command,
            },
        )
    }
}

fn check_schema(schema: &str) -> Result<(), TaskError> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(TaskError::Config(format!(
            "`schema: {schema}`: letters, digits and _ only"
        )));
    }
    Ok(())
}

/// The schema of the default target of the project's own `profiles.yml`, if it has one.
fn profile_schema(root: &Path) -> Result<Option<String>, TaskError> {
    let file = root.join("profiles.yml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let doc: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| TaskError::Config(format!("{}: {e}", file.display())))?;
    let project = project_file::ProjectFile::read(root)?;
    let profile_name = std::fs::read_to_string(root.join("dbt_project.yml"))
        .ok()
        .and_then(|t| serde_yaml_ng::from_str::<Value>(&t).ok())
        .and_then(|d| d.get("profile").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(project.name);
    let profile = doc.get(&profile_name);
    let target = profile
        .and_then(|p| p.get("target"))
        .and_then(Value::as_str)
        .unwrap_or("dev");
    Ok(profile
        .and_then(|p| p.get("outputs"))
        .and_then(|o| o.get(target))
        .and_then(|t| t.get("schema"))
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn request(cfg: &DbtConfig, dag_folder: &Path) -> Request {
    Request {
        project: dag_folder.join(&cfg.project),
        schema: cfg.schema.clone(),
        target: cfg.target.clone(),
        select: cfg.select.clone(),
        exclude: cfg.exclude.clone(),
        vars: cfg.vars.clone(),
        full_refresh: cfg.full_refresh,
        node: cfg.node.clone(),
    }
}

/// The kind of warehouse a connection is, as the project's `target.type` says it.
fn warehouse_kind(conn: &Connection) -> Result<&'static str, TaskError> {
    match conn.scheme() {
        "postgres" | "postgresql" => Ok("postgres"),
        "sqlite" => Ok("sqlite"),
        other => Err(TaskError::Config(format!(
            "connection `{}` has scheme `{other}`: dbt projects run on postgres://, sqlite:// or the lake (`conn: lake`)",
            conn.name
        ))),
    }
}

pub(crate) fn validate(config: &Value, dag_folder: &Path) -> Result<(), TaskError> {
    let cfg: DbtConfig = parse_config(config)?;
    if cfg.project.contains("{{") {
        return Ok(());
    }
    if cfg.node.is_some() && (cfg.select.is_some() || cfg.exclude.is_some() || cfg.expand.is_some())
    {
        return Err(TaskError::Config(
            "`node:` builds one node: it goes without `select`, `exclude` and `expand`".into(),
        ));
    }
    let request = request(&cfg, dag_folder);
    let project = request.load(parse_kind(&cfg.conn), cfg.command.as_str())?;
    selection(&project, &request).map(|_| ())
}

/// The kind a project is read as before its connection is resolved: the lake for
/// `lake`, else PostgreSQL.
fn parse_kind(conn: &str) -> &'static str {
    if conn == LAKE { LAKE } else { "postgres" }
}

/// The nodes a request names: its one `node`, or its selection.
fn selection(project: &Project, request: &Request) -> Result<BTreeSet<String>, TaskError> {
    match &request.node {
        Some(node) if project.node(node).is_some() => Ok(BTreeSet::from([node.clone()])),
        Some(node) => Err(TaskError::Config(format!(
            "`node: {node}`: the project has no enabled model, seed or snapshot of that name"
        ))),
        None => select::select(
            project,
            request.select.as_deref(),
            request.exclude.as_deref(),
        ),
    }
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: DbtConfig = parse_config(config)?;
    let request = request(&cfg, &ctx.dag_folder);
    let lake = crate::lake::LakeRoot {
        root: ctx.lake.clone(),
        storage: cfg.storage_options.clone(),
    };
    let place = Place::named(&cfg.conn, &ctx.connections, lake)?;
    let summary = invoke(
        &request,
        cfg.command,
        &place,
        (&ctx.log, &ctx.reports, &ctx.cancel),
        ctx.log.path().map(artifacts_next_to),
    )
    .await?;
    outcome(&summary)
}

/// The task's outcome from a command's summary: failed when a node or an error test did.
pub(crate) fn outcome(summary: &run::Summary) -> Result<TaskOutcome, TaskError> {
    use run::Outcome;
    let failures = summary.failures();
    let built = summary.count(|o| matches!(o, Outcome::Built(_)));
    let skipped = summary.count(|o| matches!(o, Outcome::Skipped(_)));
    if !failures.is_empty() {
        return Err(TaskError::Fatal(format!(
            "{} failure(s), {skipped} skipped: {}",
            failures.len(),
            failures.join("; ")
        )));
    }
    Ok(TaskOutcome::default()
        .with("models", summary.nodes.len())
        .with("built", built)
        .with("failed", 0)
        .with("skipped", skipped)
        .with("tests", summary.tests.len()))
}

/// Where an attempt's `manifest.json` and `run_results.json` go: next to its log
/// (`attempt=N.manifest.json`, `attempt=N.run_results.json`).
pub fn artifacts_next_to(log: &Path) -> (PathBuf, PathBuf) {
    let stem = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (
        log.with_file_name(format!("{stem}.manifest.json")),
        log.with_file_name(format!("{stem}.run_results.json")),
    )
}

/// Where a project is built: a PostgreSQL or SQLite connection, or the lake.
pub enum Place<'a> {
    Conn(&'a Connection),
    /// Delta tables under the lake's root, computed by DataFusion.
    Lake(crate::lake::LakeRoot),
}

impl<'a> Place<'a> {
    /// The place `conn` names: a connection, or the lake for `lake` when no
    /// connection has that name.
    pub fn named(
        conn: &str,
        connections: &'a crate::Connections,
        lake: crate::lake::LakeRoot,
    ) -> Result<Self, TaskError> {
        match connections.get(conn) {
            Ok(found) => Ok(Place::Conn(found)),
            Err(_) if conn == LAKE => Ok(Place::Lake(lake)),
            Err(TaskError::Config(missing)) => Err(TaskError::Config(format!(
                "{missing}; or `{LAKE}` to build the project as Delta tables on the lake"
            ))),
            Err(e) => Err(e),
        }
    }

    /// `target.type`: `postgres`, `sqlite` or `lake`.
    pub fn kind(&self) -> Result<&'static str, TaskError> {
        match self {
            Place::Conn(conn) => warehouse_kind(conn),
            Place::Lake(_) => Ok(LAKE),
        }
    }
}

/// The name of the lake as a dbt project's connection (and its `target.type`).
pub const LAKE: &str = "lake";

/// The warehouse, the tests' target and the templates' query runner of a place.
async fn open_place(
    place: &Place<'_>,
    project: &Project,
) -> Result<
    (
        warehouse::Warehouse,
        crate::data_test::Target,
        queries::Runner,
    ),
    TaskError,
> {
    match place {
        Place::Conn(conn) => {
            let warehouse = warehouse::Warehouse::connect(conn.secret_uri())
                .await
                .map_err(|e| TaskError::Retryable(conn.redact(&crate::db_error::describe(&e))))?;
            let target = crate::data_test::Target::connect(conn, &project.source_schemas).await?;
            Ok((warehouse, target, queries::Runner::new(conn.secret_uri())))
        }
        Place::Lake(root) => {
            let lake = lake::LakeWarehouse::open(root.clone(), &project.source_locations).await?;
            let target = crate::data_test::Target::Delta(lake.ctx.clone());
            let runner = queries::Runner::ready(warehouse::Warehouse::Lake(lake.clone()));
            Ok((warehouse::Warehouse::Lake(lake), target, runner))
        }
    }
}

/// Runs `command` on the project of `request` in `place`, logging as dbt prints, and
/// writes dbt's artifacts (`manifest.json`, `run_results.json`) where `artifacts` says.
pub async fn invoke(
    request: &Request,
    command: Command,
    place: &Place<'_>,
    (log, reports, cancel): (&TaskLog, &Reports, &tokio_util::sync::CancellationToken),
    artifacts: Option<(PathBuf, PathBuf)>,
) -> Result<run::Summary, TaskError> {
    let started = chrono::Utc::now();
    let kind = place.kind()?;
    let loaded = {
        let request = request.clone();
        tokio::task::spawn_blocking(move || request.load(kind, command.as_str()))
            .await
            .map_err(|e| TaskError::Fatal(format!("reading the project stopped: {e}")))??
    };
    let selected = selection(&loaded, request)?;
    let (mut warehouse, target, runner) = open_place(place, &loaded).await?;
    let _ = loaded.invocation.runner.set(std::sync::Arc::new(runner));
    let sink = run::Sink {
        log,
        reports,
        cancel,
        assets: match place {
            Place::Conn(conn) => run::Assets::Conn(&conn.name),
            Place::Lake(root) => run::Assets::Lake {
                root,
                elsewhere: &loaded.source_locations,
            },
        },
    };
    let mut tests = run::project_tests(&loaded)?;
    if let Some(node) = &request.node {
        // Each test runs in the task of the last node it reads, once.
        tests.retain(|t| t.after == *node);
    }
    let summary = run::execute(
        &loaded,
        command,
        &selected,
        &mut warehouse,
        (&target, &tests),
        &sink,
    )
    .await?;
    if let Some((manifest, run_results)) = artifacts {
        let written =
            artifacts::write(&manifest, &artifacts::manifest(&loaded, &tests)).and_then(|()| {
                artifacts::write(
                    &run_results,
                    &artifacts::run_results(&loaded, &summary, started, command.as_str()),
                )
            });
        match written {
            Ok(()) => log.line(format!(
                "wrote {} and {}",
                manifest.display(),
                run_results.display()
            )),
            Err(e) => log.line(format!("cannot write dbt's artifacts: {e}")),
        }
    }
    Ok(summary)
}

/// `file:line: message`, as minijinja locates it.
pub(crate) fn jinja_error(file: &Path, e: &minijinja::Error) -> String {
    // An error inside a macro names the macro's file: that is where it is.
    let mut out = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut first = true;
    while let Some(err) = current {
        if let Some(j) = err.downcast_ref::<minijinja::Error>() {
            let place = match (j.name(), j.line()) {
                (Some(name), Some(line)) if !name.starts_with("<string>") => {
                    format!("{name}:{line}")
                }
                (_, Some(line)) => format!("{}:{line}", file.display()),
                _ => file.display().to_string(),
            };
            let detail = j.detail().map(|d| format!(": {d}")).unwrap_or_default();
            if first {
                out = format!("{place}: {}{detail}", j.kind());
                first = false;
            } else {
                out.push_str(&format!(" (from {place}: {}{detail})", j.kind()));
            }
        }
        current = err.source();
    }
    if out.is_empty() {
        out = format!("{}: {e}", file.display());
    }
    out
}

/// `dbt ls`: the selected nodes, as dbt's selectors name them (`project.folder.model`),
/// then (`with_tests`) their tests (`project.test_name`).
pub fn list(
    request: &Request,
    kind: &'static str,
    with_tests: bool,
) -> Result<Vec<String>, TaskError> {
    let project = request.load(kind, "ls")?;
    let selected = select::select(
        &project,
        request.select.as_deref(),
        request.exclude.as_deref(),
    )?;
    let mut out: Vec<String> = project
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.name))
        .map(|n| n.fqn.join("."))
        .collect();
    out.sort();
    if !with_tests {
        return Ok(out);
    }
    let mut tests: Vec<String> = run::project_tests(&project)?
        .into_iter()
        .filter(|t| t.chosen(&selected, request.select.is_none()))
        .map(|t| format!("{}.{}", project.file.name, t.case.name))
        .collect();
    tests.sort();
    out.extend(tests);
    Ok(out)
}

/// `dbt compile`: each selected model's SQL as it would run (first run: no
/// `is_incremental()`), written under `target/compiled/<project>/<its path>`; the files.
pub fn compile(request: &Request, kind: &'static str) -> Result<Vec<PathBuf>, TaskError> {
    let project = request.load(kind, "compile")?;
    let selected = select::select(
        &project,
        request.select.as_deref(),
        request.exclude.as_deref(),
    )?;
    let root = request
        .project
        .join("target")
        .join("compiled")
        .join(&project.file.name);
    let mut written = Vec::new();
    for node in project
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.name) && n.kind == project::NodeKind::Model)
    {
        let sql = run::compiled_sql(&project, node, false)?;
        let file = root.join(&node.path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| TaskError::Fatal(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&file, format!("{sql}\n"))
            .map_err(|e| TaskError::Fatal(format!("cannot write {}: {e}", file.display())))?;
        written.push(file);
    }
    Ok(written)
}
