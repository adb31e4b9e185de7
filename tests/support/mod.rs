//! What the end-to-end tests share: a scratch Updraft installation (home, DAGs folder,
//! SQLite or a fresh PostgreSQL database) driving the real binary, and, one module each,
//! the services a test starts: PostgreSQL, a Kafka-protocol broker, an S3 server, the
//! web server.

mod broker;
mod browser;
mod contract;
mod daemon;
mod lake;
mod postgres;
mod process;
mod receiver;
mod s3;
mod service;
mod smtp;
mod spark;
mod web;

pub use broker::Broker;
pub use browser::Browser;
pub use contract::Contract;
pub use daemon::{Daemon, wait_for, wait_for_success};
pub use lake::{query_delta, query_delta_at};
pub use postgres::{create_database, drop_database};
pub use process::live_processes_with;
pub use receiver::Receiver;
pub use s3::S3Server;
pub use service::{free_port, wait_until_listening};
pub use smtp::SmtpServer;
pub use spark::{python_delta_rows, spark_url};
pub use web::{Api, WebServer};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use updraft::store::Store;

/// A history database for one test.
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's Updraft installation: home, DAGs folder and history database.
pub struct Updraft {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pg_database: Option<String>,
    pub env: Vec<(String, String)>,
}

impl Updraft {
    /// A fresh installation on the given backend.
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("dags")).expect("dags dir");
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("home/updraft.db").display()),
                None,
            ),
            Backend::Postgres => {
                let (url, name) = postgres::create_database().await;
                (url, Some(name))
            }
        };
        Self {
            dir,
            database_url,
            pg_database,
            env: Vec::new(),
        }
    }

    /// Another installation (own home and DAGs folder) on the same history database;
    /// it leaves the database to this one to drop.
    pub fn sibling(&self) -> Updraft {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("dags")).expect("dags dir");
        Updraft {
            dir,
            database_url: self.database_url.clone(),
            pg_database: None,
            env: Vec::new(),
        }
    }

    /// Points the installation at the shipped DAGs (`dags/`) and a lake in its scratch
    /// folder, which it returns.
    pub fn use_shipped_dags(&mut self) -> PathBuf {
        let lake = self.dir.path().join("lake");
        self.env.push((
            "UPDRAFT_DAGS_FOLDER".into(),
            repo_path("dags").display().to_string(),
        ));
        self.env
            .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
        lake
    }

    /// Whether the history database is PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn dags(&self) -> PathBuf {
        self.dir.path().join("dags")
    }

    /// Writes a DAG file into the DAGs folder.
    pub fn write_dag(&self, file: &str, yaml: &str) -> PathBuf {
        let path = self.dags().join(file);
        std::fs::write(&path, yaml).expect("write dag");
        path
    }

    /// The binary, set up for this installation.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_updraft"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("UPDRAFT_HOME", self.home())
            .env("UPDRAFT_DAGS_FOLDER", self.dags())
            .env("UPDRAFT_DATABASE_URL", &self.database_url)
            .env_remove("UPDRAFT_CONFIG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run updraft")
    }

    /// Runs `updraft ARGS --run-id kN` once for each entry of `after` (N its index) and
    /// kill -9s it as soon as the Delta log `log_dir` holds that many commits, N × `jitter`
    /// later; it must still be running then, and get there within `limit`.
    pub fn kill_after_commits(
        &self,
        args: &[&str],
        log_dir: &Path,
        after: &[usize],
        jitter: std::time::Duration,
        limit: std::time::Duration,
    ) {
        let commits = || {
            std::fs::read_dir(log_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                        .count()
                })
                .unwrap_or(0)
        };
        for (i, &after) in after.iter().enumerate() {
            let run_id = format!("k{i}");
            let mut all = args.to_vec();
            all.extend(["--run-id", &run_id]);
            let mut child = self
                .command(&all)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start updraft");
            let deadline = std::time::Instant::now() + limit;
            while commits() < after && child.try_wait().expect("wait").is_none() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "landing made no progress"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            std::thread::sleep(jitter * i as u32);
            assert!(
                child.try_wait().expect("wait").is_none(),
                "the run ended before kill {i}"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A store on this installation's history database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.database_url)
            .await
            .expect("connect store")
    }

    /// Drops the test's PostgreSQL database (left behind only when a test fails).
    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_database {
            postgres::drop_database(name).await;
        }
    }
}

/// `updraft generate tweets` of `count` tweets into `to`, with more options; fails the
/// test if it fails.
pub fn generate_tweets(u: &Updraft, count: u64, to: &str, seed: u64, options: &[&str]) {
    let (count, seed) = (count.to_string(), seed.to_string());
    let mut args = vec![
        "generate", "tweets", "--count", &count, "--to", to, "--seed", &seed,
    ];
    args.extend_from_slice(options);
    let out = u.run(&args);
    assert!(out.status.success(), "{:?}", text(&out));
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The only run of a DAG.
pub async fn only_run(store: &Store, dag_id: &str) -> updraft::store::DagRunRow {
    let runs = store.runs(dag_id, None, 10).await.expect("runs");
    assert_eq!(runs.len(), 1, "expected one run of {dag_id}: {runs:?}");
    runs.into_iter().next().expect("one run")
}

/// Defines each test twice: on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let u = $crate::support::Updraft::new($crate::support::Backend::Sqlite).await;
                    super::$name(&u).await;
                    u.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let u = $crate::support::Updraft::new($crate::support::Backend::Postgres).await;
                    super::$name(&u).await;
                    u.cleanup().await;
                }
            )*
        }
    };
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}
