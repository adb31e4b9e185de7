//! `updraft dbt`: a dbt project run from the command line, as `dbt build|run|test|seed|
//! compile|ls|deps` would, in one of Updraft's connections, printing dbt's console lines.

use super::{Context, usage};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use updraft_core::{Reports, TaskError, TaskLog};
use updraft_tasks::dbt::{self, Command, Request};

#[derive(Subcommand, Debug)]
pub enum DbtCommand {
    /// Seeds, models and their tests, in the project's order
    Build(DbtArgs),
    /// Build the models
    Run(DbtArgs),
    /// Run the tests
    Test(DbtArgs),
    /// Load the seeds
    Seed(DbtArgs),
    /// Build the snapshots
    Snapshot(DbtArgs),
    /// Write each model's SQL as it would run under target/compiled
    Compile(DbtArgs),
    /// List the selected nodes and tests
    Ls(DbtArgs),
    /// Install the packages packages.yml lists into dbt_packages/
    Deps(DepsArgs),
}

/// What `updraft dbt deps` takes.
#[derive(Args, Debug)]
pub struct DepsArgs {
    /// The project folder (with dbt_project.yml and packages.yml)
    #[arg(long, default_value = ".")]
    project: std::path::PathBuf,
}

/// What every `updraft dbt` command takes.
#[derive(Args, Debug)]
pub struct DbtArgs {
    /// The project folder (with dbt_project.yml)
    #[arg(long, default_value = ".")]
    project: std::path::PathBuf,
    /// The connection (PostgreSQL or SQLite) the project runs in, or `lake` (Delta
    /// tables under the lake root)
    #[arg(long)]
    conn: Option<String>,
    /// The target schema [default: the project's profiles.yml]
    #[arg(long)]
    schema: Option<String>,
    /// `target.name` in the project's Jinja
    #[arg(long)]
    target: Option<String>,
    /// dbt's selection syntax (`tag:nightly`, `+orders`, `path:models/marts`...)
    #[arg(long, short = 's')]
    select: Option<String>,
    /// Nodes to leave out, in the same syntax
    #[arg(long)]
    exclude: Option<String>,
    /// Vars, as YAML (`{start_date: 2024-01-01}`)
    #[arg(long)]
    vars: Option<String>,
    /// Rebuild incremental models and seeds from scratch
    #[arg(long)]
    full_refresh: bool,
    /// `ls`: models and seeds only, no tests
    #[arg(long)]
    nodes_only: bool,
}

impl DbtArgs {
    fn request(&self) -> anyhow::Result<Request> {
        let vars = match &self.vars {
            None => Default::default(),
            Some(text) => match serde_yaml_ng::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) | Err(_) => {
                    return Err(usage(format!(
                        "--vars {text}: a YAML mapping, such as '{{start_date: 2024-01-01}}'"
                    )));
                }
            },
        };
        Ok(Request {
            project: self.project.clone(),
            schema: self.schema.clone(),
            target: self.target.clone(),
            select: self.select.clone(),
            exclude: self.exclude.clone(),
            vars,
            full_refresh: self.full_refresh,
            node: None,
        })
    }

    fn place<'a>(&self, ctx: &'a Context) -> anyhow::Result<dbt::Place<'a>> {
        let name = self
            .conn
            .as_deref()
            .ok_or_else(|| usage("--conn NAME: the connection the project runs in, or `lake`"))?;
        let lake = dbt::LakeRoot {
            root: ctx.settings.lake.clone(),
            storage: Default::default(),
        };
        dbt::Place::named(name, &ctx.settings.connections, lake).map_err(|e| usage(e.to_string()))
    }
}

/// A project's mistakes are the user's input: exit 2; the rest are failures.
fn task_error(e: TaskError) -> anyhow::Error {
    match e {
        TaskError::Config(m) => usage(m),
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn run(cmd: DbtCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    if let DbtCommand::Deps(deps) = &cmd {
        let installed = dbt::deps::install(&deps.project, |line| println!("{line}"))
            .await
            .map_err(task_error)?;
        println!("{} packages installed", installed.len());
        return Ok(ExitCode::SUCCESS);
    }
    let (command, args) = match &cmd {
        DbtCommand::Build(a) => (Some(Command::Build), a),
        DbtCommand::Run(a) => (Some(Command::Run), a),
        DbtCommand::Test(a) => (Some(Command::Test), a),
        DbtCommand::Seed(a) => (Some(Command::Seed), a),
        DbtCommand::Snapshot(a) => (Some(Command::Snapshot), a),
        DbtCommand::Compile(a) | DbtCommand::Ls(a) => (None, a),
        DbtCommand::Deps(_) => return Ok(ExitCode::SUCCESS),
    };
    let request = args.request()?;
    let Some(command) = command else {
        let kind = match &args.conn {
            Some(_) => args.place(ctx)?.kind().map_err(task_error)?,
            None => "postgres",
        };
        let lines = if matches!(cmd, DbtCommand::Ls(_)) {
            dbt::list(&request, kind, !args.nodes_only).map_err(task_error)?
        } else {
            dbt::compile(&request, kind)
                .map_err(task_error)?
                .iter()
                .map(|p| format!("compiled {}", p.display()))
                .collect()
        };
        for line in lines {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let place = args.place(ctx)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    // Where dbt leaves them: the project's target/.
    let target = request.project.join("target");
    let summary = dbt::invoke(
        &request,
        command,
        &place,
        (&TaskLog::stdout(), &Reports::default(), &cancel),
        Some((
            target.join("manifest.json"),
            target.join("run_results.json"),
        )),
    )
    .await
    .map_err(task_error)?;
    Ok(if summary.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
