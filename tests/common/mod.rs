//! Shared helpers for the end-to-end tests: a scratch Updraft home with its own DAGs
//! folder, run against SQLite or a fresh PostgreSQL database, driving the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use updraft::store::Store;

/// The PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("UPDRAFT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

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
                let name = format!(
                    "updraft_t_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                admin_sql(&format!("DROP DATABASE IF EXISTS {name}")).await;
                admin_sql(&format!("CREATE DATABASE {name}")).await;
                let base = pg_admin_url();
                let url = match base.rfind('/') {
                    Some(i) => format!("{}/{name}", &base[..i]),
                    None => panic!("bad UPDRAFT_TEST_PG_URL {base}"),
                };
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

    /// A store on this installation's history database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.database_url)
            .await
            .expect("connect store")
    }

    /// Drops the test's PostgreSQL database (left behind only when a test fails).
    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_database {
            admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

async fn admin_sql(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url())
        .await
        .expect("connect to PostgreSQL (set UPDRAFT_TEST_PG_URL)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .expect("admin sql");
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

/// Processes whose command line contains `needle` and that are not zombies.
pub fn live_processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let Ok(cmdline) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(p.join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if cmdline.contains(needle) && !zombie && !cmdline.contains("updraft") {
            found.push(format!("{}: {cmdline}", p.display()));
        }
    }
    found
}

/// Defines each test twice: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let u = $crate::common::Updraft::new($crate::common::Backend::Sqlite).await;
                    super::$name(&u).await;
                    u.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let u = $crate::common::Updraft::new($crate::common::Backend::Postgres).await;
                    super::$name(&u).await;
                    u.cleanup().await;
                }
            )*
        }
    };
}

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Runs one SQL query over Delta tables (name → location) and returns the rows as JSON.
pub async fn query_delta(tables: &[(&str, &Path)], sql: &str) -> Vec<serde_json::Value> {
    let tables: Vec<(&str, &str)> = tables
        .iter()
        .map(|(n, p)| (*n, p.to_str().expect("utf-8 path")))
        .collect();
    query_delta_at(&tables, sql, &[]).await
}

/// Like `query_delta`, for table URLs (`s3://...`) opened with these storage options.
pub async fn query_delta_at(
    tables: &[(&str, &str)],
    sql: &str,
    options: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    use deltalake::datafusion::prelude::SessionContext;
    let ctx: SessionContext = deltalake::delta_datafusion::create_session().into_inner();
    let options: std::collections::HashMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (name, location) in tables {
        let url = deltalake::ensure_table_uri(location).expect("table url");
        let table = deltalake::open_table_with_storage_options(url, options.clone())
            .await
            .expect("open delta table");
        table
            .update_datafusion_session(&ctx.state())
            .expect("register object store");
        ctx.register_table(*name, table.table_provider().await.expect("provider"))
            .expect("register table");
    }
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut buf = Vec::new();
    {
        let mut writer = deltalake::arrow::json::ArrayWriter::new(&mut buf);
        for b in &batches {
            writer.write(b).expect("json");
        }
        writer.finish().expect("json");
    }
    if buf.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&buf).expect("json rows")
}

/// A Kafka-protocol broker (tansu, in memory) on a free loopback port, stopped on drop.
pub struct Broker {
    child: std::process::Child,
    pub bootstrap: String,
}

impl Broker {
    /// Starts tansu (`TANSU_BIN`, or `tansu` on the PATH / in ~/.cargo/bin).
    pub fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| {
            let cargo_bin = std::env::var("HOME")
                .map(|h| format!("{h}/.cargo/bin/tansu"))
                .unwrap_or_default();
            if Path::new(&cargo_bin).exists() {
                cargo_bin
            } else {
                "tansu".to_string()
            }
        });
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the tansu broker `{bin}` ({e}); scripts/test-all installs it")
            });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's S3-compatible server on a free loopback port with one bucket, stopped on drop.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
}

impl S3Server {
    /// Starts `MOTO_SERVER` (scripts/ensure-moto.sh installs it) and creates `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server `{bin}` ({e}); scripts/test-all installs it")
            });
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto did not listen on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let made = Command::new("curl")
            .args(["-sf", "-X", "PUT", &format!("{}/{bucket}", server.endpoint)])
            .status()
            .expect("run curl");
        assert!(made.success(), "creating bucket {bucket}");
        server
    }

    /// The environment that points Updraft (object_store) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
