//! Opening the history store: connecting to SQLite (creating its file) or PostgreSQL,
//! migrating, and what `updraft db check` reports.

use super::migrations::{PG_MIGRATIONS, SQLITE_MIGRATIONS};
use super::{Pool, Result, Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// What `updraft db check` reports.
#[derive(Debug, serde::Serialize)]
pub struct StoreStatus {
    pub backend: &'static str,
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
}

impl Store {
    /// Connects (creating a SQLite file and its folder on first use) and migrates.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        // SQLite has no migration lock of its own: processes starting together on one
        // file (a scheduler and a `dag trigger`) take turns through a lock file beside
        // it, so that none runs its statements on a schema another is changing.
        let _turn = match &store.pool {
            Pool::Sqlite(_) => Some(migration_turn(url).await?),
            Pool::Postgres(_) => None,
        };
        if store.migrate().await.is_err() {
            // Two processes starting together on a fresh SQLite file (which has no
            // migration lock) both apply the first migration; the loser finds it done
            // when it looks again.
            tokio::time::sleep(Duration::from_millis(500)).await;
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Plans are made for each execution's values: a plan cached for "any ids"
            // compares each row of a run with each id, where one made for the given ids
            // looks them up in a hash table.
            let options = PgConnectOptions::from_str(url)?
                .options([("plan_cache_mode", "force_custom_plan")]);
            // One connection first, bounded: a refused or unreachable server is reported
            // as such within seconds, not as the pool's timeout after thirty.
            let first = tokio::time::timeout(
                updraft_core::db_error::CONNECT_TIMEOUT,
                <sqlx::PgConnection as sqlx::Connection>::connect_with(&options),
            )
            .await
            .map_err(|_| StoreError::Unreachable)??;
            let _ = sqlx::Connection::close(first).await;
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("sqlite:") {
            // No `journal_mode` here: sqlx would set it on every new connection, which takes
            // a lock SQLite does not wait for, and a process opening a connection while
            // another wrote failed with "database is locked". WAL is kept in the file: it is
            // set once, below.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                // A page of rows crosses from SQLite's thread in one go instead of waking
                // the reader every 50 rows.
                .row_buffer_size(1024)
                .foreign_keys(true);
            if let Some(dir) = options.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                create_dir(dir)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            use_wal(&pool).await?;
            Pool::Sqlite(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Self {
            pool,
            paused_at_creation: false,
        })
    }

    /// This store, recording DAGs seen for the first time as paused (or not).
    pub fn pausing_new_dags(mut self, paused: bool) -> Self {
        self.paused_at_creation = paused;
        self
    }

    /// Which database this is (`postgres` or `sqlite`).
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(_) => "sqlite",
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Postgres(p) => PG_MIGRATIONS.run(p).await?,
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Lists applied and pending migrations.
    pub async fn status(&self) -> Result<StoreStatus> {
        let migrator: &sqlx::migrate::Migrator = match self.pool {
            Pool::Postgres(_) => &PG_MIGRATIONS,
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        let exists: bool = with_pool!(self, p => {
            let sql = match self.pool {
                Pool::Postgres(_) => "SELECT COUNT(*) > 0 FROM information_schema.tables WHERE table_name = '_sqlx_migrations'",
                Pool::Sqlite(_) => "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = '_sqlx_migrations'",
            };
            sqlx::query_scalar(sql).fetch_one(p).await?
        });
        let applied: Vec<i64> = if exists {
            with_pool!(self, p => sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version").fetch_all(p).await?)
        } else {
            Vec::new()
        };
        let pending = migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        Ok(StoreStatus {
            backend: self.backend(),
            applied,
            pending,
        })
    }
}

/// Puts a SQLite database in WAL mode (readers and the writer do not block each other),
/// unless it is in it already. The change needs the database to itself, and SQLite does
/// not wait for that: a file two processes create at once is tried again for a while.
async fn use_wal(pool: &SqlitePool) -> Result<()> {
    for _ in 0..50 {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        // While another connection holds the file, the mode stays (or the pragma fails
        // with "locked"): look again shortly.
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(pool)
            .await
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) => {}
            Err(e) if e.to_string().contains("locked") => {}
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
        .fetch_one(pool)
        .await?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            "the history database stays in journal mode {mode}, not WAL: another process holds it"
        );
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.display().to_string(),
        source,
    })
}

/// An exclusive lock on `<database file>.migrate-lock`, held until dropped.
async fn migration_turn(url: &str) -> Result<std::fs::File> {
    let options = SqliteConnectOptions::from_str(url)?;
    let mut path = options.get_filename().as_os_str().to_owned();
    path.push(".migrate-lock");
    let path = std::path::PathBuf::from(path);
    let failed = |source: std::io::Error| StoreError::MigrationLock {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?;
    locked.map_err(failed)
}
