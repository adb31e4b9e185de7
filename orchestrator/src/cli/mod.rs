//! The command line: `updraft dag ...`, `updraft task ...`, `updraft db ...`.
//! Exit codes: 0 success, 1 a run failed (or a runtime error), 2 usage or validation errors.

// First, so its output macros are visible in the command modules.
#[macro_use]
mod output;

mod alerts_cmd;
mod asset_cmd;
mod backfill_cmd;
mod conn_cmd;
mod dag_cmd;
mod db_cmd;
mod dbt_cmd;
mod foreground;
mod generate_cmd;
mod lake_cmd;
mod produce_cmd;
mod progress;
mod scheduler_cmd;
mod task_cmd;
mod test_cmd;
mod timetable_cmd;
mod users_cmd;
mod versions_cmd;

use crate::dag::{Dag, DagFolder};
use crate::settings::{Overrides, Settings};
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub use output::Format;

/// Updraft: Airflow-style DAGs in YAML, one small binary.
#[derive(Parser, Debug)]
#[command(name = "updraft", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Updraft's home folder (default database, task logs) [default: .updraft]
    #[arg(long, global = true, env = "UPDRAFT_HOME")]
    home: Option<PathBuf>,
    /// Folder of DAG YAML files [default: dags]
    #[arg(long, global = true, env = "UPDRAFT_DAGS_FOLDER")]
    dags_folder: Option<PathBuf>,
    /// History database: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://<home>/updraft.db]
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Root of the lakehouse's Delta tables, a path or s3://bucket/prefix [default: ./lake]
    #[arg(long, global = true, env = "UPDRAFT_LAKE")]
    lake: Option<String>,
    /// A job silent for this long is dead; its attempts fail and retry [default: 30s]
    #[arg(long, global = true, env = "UPDRAFT_HEARTBEAT_TIMEOUT", value_parser = humantime::parse_duration)]
    heartbeat_timeout: Option<std::time::Duration>,
    /// At most this many task attempts run in this process at once [default: 32]
    #[arg(long, global = true, env = "UPDRAFT_PARALLELISM")]
    parallelism: Option<usize>,
    /// Config file [default: ./updraft.toml when present]
    #[arg(long, global = true, env = "UPDRAFT_CONFIG")]
    config: Option<PathBuf>,
    /// Output format of listings
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List, check, show and trigger DAGs, and list their runs
    #[command(subcommand)]
    Dag(dag_cmd::DagCommand),
    /// Inspect, test, render and clear task instances
    #[command(subcommand)]
    Task(task_cmd::TaskCommand),
    /// Data-quality test results of runs, and `data_test` tasks run now
    #[command(subcommand)]
    Test(test_cmd::TestCommand),
    /// The tables tasks wrote and read (assets): versions, producers and consumers,
    /// lineage across DAGs, events from outside
    #[command(subcommand)]
    Asset(asset_cmd::AssetCommand),
    /// The alert messages sent (or not) and what their receivers answered
    #[command(subcommand)]
    Alerts(alerts_cmd::AlertsCommand),
    /// Run a dbt project (build, run, test, seed, compile, ls) in a connection, no dbt needed
    #[command(subcommand)]
    Dbt(dbt_cmd::DbtCommand),
    /// Manage the history database
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// The named connections, and whether one answers
    #[command(subcommand)]
    Conn(conn_cmd::ConnCommand),
    /// Generate sample events into a landing folder or a Kafka topic
    #[command(subcommand)]
    Generate(generate_cmd::GenerateCommand),
    /// Send each row of a CSV or JSON-lines file to a Kafka topic, as JSON
    Produce(produce_cmd::ProduceArgs),
    /// List the lake's Delta tables and query them with SQL
    #[command(subcommand)]
    Lake(lake_cmd::LakeCommand),
    /// What the API's users need (`[[api.users]]`)
    #[command(subcommand)]
    Users(users_cmd::UsersCommand),
    /// Run the scheduler: create due runs, run queued ones, recover from crashes (until SIGTERM)
    Scheduler(SchedulerArgs),
    /// Serve the REST API (until SIGTERM)
    Webserver(WebArgs),
    /// Run the scheduler and the web server on the embedded defaults (SQLite, ./dags, ./lake)
    Standalone {
        #[command(flatten)]
        web: WebArgs,
        #[command(flatten)]
        scheduler: SchedulerArgs,
    },
}

/// What a scheduler claims, and how it stops.
#[derive(clap::Args, Debug)]
pub struct SchedulerArgs {
    /// Claim only tasks of these queues (comma-separated) [default: `[queues] serve`, else default]
    #[arg(long, env = "UPDRAFT_QUEUES", value_delimiter = ',')]
    queues: Option<Vec<String>>,
    /// On SIGTERM, claim nothing new and let running attempts finish for up to this long
    /// (a second SIGTERM stops at once) [default: `drain_timeout`, else 0s: stop them now]
    #[arg(long, env = "UPDRAFT_DRAIN_TIMEOUT", value_parser = humantime::parse_duration)]
    drain_timeout: Option<std::time::Duration>,
}

/// Where the web server listens.
#[derive(clap::Args, Debug)]
struct WebArgs {
    /// Address and port; anything but loopback needs API tokens
    #[arg(long, env = "UPDRAFT_BIND", default_value = scheduler_cmd::DEFAULT_BIND)]
    bind: std::net::SocketAddr,
}

/// An error that is the user's input, not the system's: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// A refused request about runs is the user's mistake (named by its flag); a failure is not.
pub fn runs_error(e: crate::runs::RunsError) -> anyhow::Error {
    use crate::runs::RunsError;
    match e {
        RunsError::Invalid { field, message } => {
            usage(format!("--{}: {message}", field.replace('_', "-")))
        }
        RunsError::NotFound(m) | RunsError::Conflict(m) => usage(m),
        other => other.into(),
    }
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A daemon reports what it does; one-shot commands only warn.
    init_tracing(matches!(
        cli.command,
        Command::Scheduler(_) | Command::Webserver(_) | Command::Standalone { .. }
    ));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    updraft_core::secrets::register_environment();
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {}", updraft_core::secrets::mask(&e.to_string()));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {}", updraft_core::secrets::mask(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

fn init_tracing(daemon: bool) {
    // A daemon reports what Updraft does; the libraries under it (deltalake, DataFusion,
    // sqlx) speak only to warn.
    let ours = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("UPDRAFT_LOG")
        // delta-kernel logs an ERROR whenever a table that does not exist yet is opened,
        // which every first run does; real failures reach the user as task errors.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "warn,updraft={ours},updraft_core={ours},updraft_tasks={ours},updraft_generate={ours},buoyant_kernel::snapshot::builder=off"
            ))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only where a person reads them, not in files or pipes.
        .with_ansi(crate::terminal::is_terminal())
        .with_writer(|| crate::terminal::MaskedStderr)
        .try_init();
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    // A bad config file or connection URI is the user's input: exit 2.
    let ctx = Context::new(&cli.global).map_err(|e| usage(format!("{e:#}")))?;
    match cli.command {
        Command::Dag(cmd) => dag_cmd::run(cmd, &ctx).await,
        Command::Task(cmd) => task_cmd::run(cmd, &ctx).await,
        Command::Test(cmd) => test_cmd::run(cmd, &ctx).await,
        Command::Db(cmd) => db_cmd::run(cmd, &ctx).await,
        Command::Conn(cmd) => conn_cmd::run(cmd, &ctx).await,
        Command::Alerts(cmd) => alerts_cmd::run(cmd, &ctx).await,
        Command::Dbt(cmd) => dbt_cmd::run(cmd, &ctx).await,
        Command::Asset(cmd) => asset_cmd::run(cmd, &ctx).await,
        Command::Generate(cmd) => generate_cmd::run(cmd, &ctx).await,
        Command::Produce(args) => produce_cmd::run(args, &ctx).await,
        Command::Lake(cmd) => lake_cmd::run(cmd, &ctx).await,
        Command::Users(cmd) => users_cmd::run(cmd),
        Command::Scheduler(args) => scheduler_cmd::scheduler(&ctx, args).await,
        Command::Webserver(args) => scheduler_cmd::webserver(&ctx, args.bind).await,
        Command::Standalone { web, scheduler } => {
            scheduler_cmd::standalone(&ctx, web.bind, scheduler).await
        }
    }
}

/// What every command works with: settings and the chosen output format.
pub struct Context {
    pub settings: Settings,
    pub format: Format,
}

impl Context {
    fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        let settings = Settings::resolve(Overrides {
            config_file: global.config.clone(),
            home: global.home.clone(),
            dags_folder: global.dags_folder.clone(),
            database_url: global.database_url.clone(),
            lake: global.lake.clone(),
            heartbeat_timeout: global.heartbeat_timeout,
            parallelism: global.parallelism,
        })?;
        Ok(Self {
            settings,
            format: global.output,
        })
    }

    /// Opens (and migrates) the history store.
    pub async fn store(&self) -> anyhow::Result<Store> {
        let store = Store::open(&self.settings.database_url)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the history database {}: {e}",
                    self.settings.database_url_shown()
                )
            })?;
        Ok(store.pausing_new_dags(self.settings.dags_paused_at_creation))
    }

    /// Loads the DAGs folder.
    pub fn folder(&self) -> anyhow::Result<DagFolder> {
        let dir = &self.settings.dags_folder;
        DagFolder::load(dir).map_err(|e| {
            usage(format!(
                "cannot read the DAGs folder {}: {e}",
                dir.display()
            ))
        })
    }

    /// Loads the folder and takes one DAG out of it; a broken or unknown DAG is a usage error.
    pub fn dag(&self, dag_id: &str) -> anyhow::Result<Dag> {
        let mut folder = self.folder()?;
        match folder.dags.iter().position(|d| d.dag_id == dag_id) {
            Some(i) => Ok(folder.dags.swap_remove(i)),
            None => {
                for e in &folder.errors {
                    eprintln!("{e}");
                }
                let known: Vec<&str> = folder.dags.iter().map(|d| d.dag_id.as_str()).collect();
                Err(usage(format!(
                    "no valid DAG `{dag_id}` in {} (found: {})",
                    self.settings.dags_folder.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }
}

/// Waits for Ctrl-C or SIGTERM, then fires `cancel` so running attempts end cleanly; a
/// second signal ends the process at once.
/// Asks `question` on the terminal; true for a yes. Without a terminal to ask on, a
/// usage error that says to pass `-y`.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{question}\nno terminal to ask on: pass -y to go ahead"
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub fn cancel_on_signal(cancel: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut signalled = async || {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        };
        signalled().await;
        // What stopping means (attempts ended, runs failed or left to a scheduler) is said
        // by whoever has something running.
        eprintln!("stopping (Ctrl-C or SIGTERM; again to stop at once) ...");
        cancel.cancel();
        signalled().await;
        eprintln!("stopped at once (a second Ctrl-C or SIGTERM)");
        std::process::exit(130);
    });
}
