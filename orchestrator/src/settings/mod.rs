//! Configuration: command-line flag > environment (`UPDRAFT_*`) > `updraft.toml` > built-in
//! default. Defaults are local: history in `.updraft/updraft.db`, DAGs in `./dags`, the
//! lakehouse tables in `./lake`.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use updraft_core::{Connection, Connections};

mod api_tokens;
mod api_users;
mod openlineage;
mod queues;

pub use api_tokens::{ApiToken, Role, check_tokens, parse_tokens};
pub use api_users::{ApiUser, JwtSettings, hash_password};
pub use openlineage::OpenLineageTarget;
pub use queues::check_names as check_queue_names;

/// The connection the lakehouse DAGs load into; an embedded SQLite file unless configured.
pub const DEFAULT_WAREHOUSE: &str = "warehouse";

/// The resolved configuration of this process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Updraft's home: the default database and the task logs live here.
    pub home: PathBuf,
    pub dags_folder: PathBuf,
    pub database_url: String,
    /// Root of the lakehouse tables (`<lake>/bronze/tweets`, ...), a path or URL.
    pub lake: String,
    pub connections: Arc<Connections>,
    /// A job whose heartbeat is older than this is dead and its attempts are failed.
    pub heartbeat_timeout: Duration,
    /// At most this many attempts run in one process at once.
    pub parallelism: usize,
    /// Bearer tokens of the API server (`UPDRAFT_API_TOKENS` > `[api] tokens`).
    pub api_tokens: Vec<ApiToken>,
    /// Users who log in for a token (`[[api.users]]`), and how their tokens are signed.
    pub api_users: Vec<ApiUser>,
    pub jwt: Option<JwtSettings>,
    /// Host names the web server answers to besides loopback (`UPDRAFT_ALLOWED_HOSTS` >
    /// `[api] allowed_hosts`); empty with tokens: any, without tokens: loopback only.
    pub allowed_hosts: Vec<String>,
    /// Where people reach the web server (`UPDRAFT_BASE_URL` > `base_url`), e.g. behind a
    /// proxy that ends TLS: its host is allowed, and https makes the login cookie `Secure`.
    pub base_url: Option<url::Url>,
    /// The most of one attempt's log kept (its head and its tail), in bytes.
    pub log_max_bytes: u64,
    /// Where attempts' logs go besides the local buffer (`s3://bucket/prefix`; None:
    /// the local files are the logs).
    pub logs_url: Option<String>,
    /// Whether a DAG seen for the first time starts paused (`UPDRAFT_DAGS_PAUSED_AT_CREATION`
    /// > `dags_paused_at_creation`; Airflow's `dags_are_paused_at_creation`).
    pub dags_paused_at_creation: bool,
    /// Where every attempt's OpenLineage run events go (None: nowhere).
    pub openlineage: Option<OpenLineageTarget>,
    /// The queues a scheduler of this process claims tasks of.
    pub queues: Vec<String>,
    /// At most this many running tasks of a queue, across all schedulers and processes.
    pub queue_limits: BTreeMap<String, u32>,
    /// How long a stopping scheduler lets its running attempts finish, claiming nothing
    /// new (zero: it stops them at once, and they are retried elsewhere).
    pub drain_timeout: Duration,
    /// How long finished runs are kept before a scheduler removes them (None: forever),
    /// and how many newest runs of each DAG are kept whatever their age.
    pub history_keep: Option<Duration>,
    pub history_keep_last: i64,
}

/// Airflow's default `parallelism`.
const DEFAULT_PARALLELISM: usize = 32;

/// Airflow's scheduler declares a job dead after 30 s without a heartbeat by default too.
const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

/// What flags and environment gave (clap has already applied flag > environment).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub dags_folder: Option<PathBuf>,
    pub database_url: Option<String>,
    pub lake: Option<String>,
    pub heartbeat_timeout: Option<Duration>,
    pub parallelism: Option<usize>,
}

/// `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    home: Option<PathBuf>,
    dags_folder: Option<PathBuf>,
    database_url: Option<String>,
    lake: Option<String>,
    heartbeat_timeout: Option<String>,
    parallelism: Option<usize>,
    base_url: Option<String>,
    dags_paused_at_creation: Option<bool>,
    #[serde(default)]
    connections: BTreeMap<String, String>,
    #[serde(default)]
    api: ApiSection,
    #[serde(default)]
    logs: LogsSection,
    #[serde(default)]
    openlineage: openlineage::OpenLineageSection,
    #[serde(default)]
    queues: queues::QueuesSection,
    drain_timeout: Option<String>,
    #[serde(default)]
    history: HistorySection,
}

/// `[history]` of `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistorySection {
    keep: Option<String>,
    keep_last: Option<i64>,
}

/// `[logs]` of `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsSection {
    max_bytes_per_attempt: Option<String>,
    url: Option<String>,
}

/// `[api]` of `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    #[serde(default)]
    tokens: Vec<ApiToken>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    users: Vec<ApiUser>,
    jwt_secret: Option<String>,
    jwt_expiration: Option<String>,
}

impl Settings {
    /// Resolves the configuration from flags/environment, the config file and defaults.
    pub fn resolve(over: Overrides) -> Result<Self> {
        let (file, file_path) = read_config_file(over.config_file.as_deref())?;
        let home = over
            .home
            .or(file.home)
            .unwrap_or_else(|| PathBuf::from(".updraft"));
        let dags_folder = over
            .dags_folder
            .or(file.dags_folder)
            .unwrap_or_else(|| PathBuf::from("dags"));
        let database_url = over
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", home.join("updraft.db").display()));
        let lake = over
            .lake
            .or(file.lake)
            .unwrap_or_else(|| "lake".to_string());
        let heartbeat_timeout = match (over.heartbeat_timeout, &file.heartbeat_timeout) {
            (Some(t), _) => t,
            (None, Some(text)) => humantime::parse_duration(text)
                .with_context(|| format!("{}: heartbeat_timeout `{text}`", file_path.display()))?,
            (None, None) => DEFAULT_HEARTBEAT_TIMEOUT,
        };
        let mut connections = Connections::default();
        for (name, uri) in &file.connections {
            let conn = Connection::parse(name, uri)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("in {}", file_path.display()))?;
            connections.insert(conn);
        }
        connections.overlay_env().map_err(anyhow::Error::msg)?;
        if connections.get(DEFAULT_WAREHOUSE).is_err() {
            let uri = format!("sqlite://{}", home.join("warehouse.db").display());
            connections
                .insert(Connection::parse(DEFAULT_WAREHOUSE, &uri).map_err(anyhow::Error::msg)?);
        }
        let api_tokens = match std::env::var("UPDRAFT_API_TOKENS") {
            Ok(text) => {
                parse_tokens(&text).map_err(|e| anyhow::anyhow!("UPDRAFT_API_TOKENS: {e}"))?
            }
            Err(_) => file.api.tokens,
        };
        check_tokens(&api_tokens).map_err(anyhow::Error::msg)?;
        let jwt = match std::env::var("UPDRAFT_API_JWT_SECRET")
            .ok()
            .or(file.api.jwt_secret)
        {
            Some(secret) => Some(JwtSettings {
                secret,
                expiration: match &file.api.jwt_expiration {
                    Some(text) => humantime::parse_duration(text).with_context(|| {
                        format!("{}: [api] jwt_expiration `{text}`", file_path.display())
                    })?,
                    None => api_users::DEFAULT_JWT_EXPIRATION,
                },
            }),
            None => None,
        };
        api_users::check_users(&file.api.users, jwt.as_ref()).map_err(anyhow::Error::msg)?;
        let allowed_hosts = match std::env::var("UPDRAFT_ALLOWED_HOSTS") {
            Ok(text) => text
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
            Err(_) => file.api.allowed_hosts,
        };
        let base_url = match std::env::var("UPDRAFT_BASE_URL").ok().or(file.base_url) {
            Some(text) => Some(parse_base_url(&text)?),
            None => None,
        };
        let dags_paused_at_creation = match std::env::var("UPDRAFT_DAGS_PAUSED_AT_CREATION") {
            Ok(text) => parse_flag(&text)
                .with_context(|| format!("UPDRAFT_DAGS_PAUSED_AT_CREATION `{text}`"))?,
            Err(_) => file.dags_paused_at_creation.unwrap_or(false),
        };
        let log_max_bytes = match std::env::var("UPDRAFT_LOGS_MAX_BYTES_PER_ATTEMPT") {
            Ok(text) => parse_bytes(&text)
                .with_context(|| format!("UPDRAFT_LOGS_MAX_BYTES_PER_ATTEMPT `{text}`"))?,
            Err(_) => match &file.logs.max_bytes_per_attempt {
                Some(text) => parse_bytes(text).with_context(|| {
                    format!(
                        "{}: [logs] max_bytes_per_attempt `{text}`",
                        file_path.display()
                    )
                })?,
                None => updraft_core::log::DEFAULT_MAX_BYTES,
            },
        };
        let logs_url = std::env::var("UPDRAFT_LOGS_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or(file.logs.url.clone())
            .map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(url) = &logs_url
            && !(url.starts_with("s3://") || url.starts_with("s3a://"))
        {
            anyhow::bail!("logs URL `{url}`: use s3://bucket/prefix (the lake's object store)");
        }
        let openlineage = openlineage::resolve(file.openlineage)?;
        let (queues, queue_limits) =
            queues::resolve(file.queues).with_context(|| format!("{}", file_path.display()))?;
        let drain_timeout = match &file.drain_timeout {
            Some(text) => humantime::parse_duration(text)
                .with_context(|| format!("{}: drain_timeout `{text}`", file_path.display()))?,
            None => Duration::ZERO,
        };
        let history_keep = match std::env::var("UPDRAFT_HISTORY_KEEP")
            .ok()
            .or(file.history.keep)
        {
            Some(text) => Some(
                humantime::parse_duration(&text)
                    .with_context(|| format!("history keep `{text}` (e.g. 90d)"))?,
            ),
            None => None,
        };
        let history_keep_last = file.history.keep_last.unwrap_or(1).max(0);
        Ok(Self {
            home,
            dags_folder,
            database_url,
            lake,
            connections: Arc::new(connections),
            heartbeat_timeout,
            parallelism: over
                .parallelism
                .or(file.parallelism)
                .unwrap_or(DEFAULT_PARALLELISM)
                .max(1),
            api_tokens,
            api_users: file.api.users,
            jwt,
            log_max_bytes,
            logs_url,
            allowed_hosts,
            base_url,
            dags_paused_at_creation,
            openlineage,
            queues,
            queue_limits,
            drain_timeout,
            history_keep,
            history_keep_last,
        })
    }

    /// How often jobs heartbeat: often enough that a live job is never taken for dead.
    pub fn heartbeat_every(&self) -> Duration {
        (self.heartbeat_timeout / 5).max(Duration::from_millis(100))
    }

    /// The log file of one attempt: `logs/dag_id=X/run_id=Y/task_id=Z/attempt=N.log`;
    /// an error when the ids would place it outside the logs folder.
    pub fn log_path(
        &self,
        (dag_id, run_id, task_id): (&str, &str, &str),
        map_index: i32,
        try_number: i64,
    ) -> Result<PathBuf, String> {
        let root = self.home.join("logs");
        let mut path = root
            .join(format!("dag_id={dag_id}"))
            .join(format!("run_id={run_id}"))
            .join(format!("task_id={task_id}"));
        // An instance of a mapped task has a folder of its own, as in Airflow.
        let mut expected = 4;
        if map_index >= 0 {
            path.push(format!("map_index={map_index}"));
            expected = 5;
        }
        path.push(format!("attempt={try_number}.log"));
        // So many components below the root: an id holding a separator would add more.
        let depth = path
            .strip_prefix(&root)
            .map_or(0, |p| p.components().count());
        if depth == expected && crate::dag::ids::stays_inside(&root, &path) {
            Ok(path)
        } else {
            Err(format!(
                "the ids of {dag_id}.{task_id} in run {} would place its log outside {}",
                run_id.escape_debug(),
                root.display()
            ))
        }
    }

    /// The database URL with any password masked, for messages.
    pub fn database_url_shown(&self) -> String {
        updraft_core::secrets::mask(&self.database_url).into_owned()
    }
}

/// Reads `UPDRAFT_BASE_URL`: an http(s) URL with a host.
fn parse_base_url(text: &str) -> Result<url::Url> {
    let url = url::Url::parse(text).with_context(|| format!("base URL `{text}`"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("base URL `{text}`: use http://HOST[:PORT] or https://HOST[:PORT]");
    }
    Ok(url)
}

/// Reads a size: `100MiB`, `512 KiB`, `1GB`, or a number of bytes.
fn parse_bytes(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("use a size such as 100MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => anyhow::bail!("unknown unit `{other}`: use B, KiB, MiB or GiB"),
    };
    number
        .checked_mul(factor)
        .filter(|n| *n >= 8192)
        .ok_or_else(|| anyhow::anyhow!("use a size of at least 8 KiB"))
}

/// Reads a true/false setting from the environment.
fn parse_flag(text: &str) -> Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => anyhow::bail!("use true or false"),
    }
}

/// Reads `updraft.toml` (the named file must exist; the default one may not).
fn read_config_file(named: Option<&Path>) -> Result<(ConfigFile, PathBuf)> {
    let path = named
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("updraft.toml"));
    if named.is_none() && !path.exists() {
        return Ok((ConfigFile::default(), path));
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: ConfigFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((file, path))
}
