//! The history store: every DAG, run, task instance and attempt, in SQLite or PostgreSQL
//! with the same schema (migrations in `sql/migrations/`). Each method is one committed
//! statement or transaction, so a state change is durable before the engine acts on it.

/// Defines a struct read from a query row by column name, on either database: what
/// `#[derive(sqlx::FromRow)]` does, without sqlx's macro crate (see `migrations`).
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>),*
        {
            fn from_row(row: &'r R) -> std::result::Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?),*
                })
            }
        }
    };
}

mod rows;

pub use asset_queue::QueuedEvent;
pub use assets::{
    AssetEventFilter, AssetEventRow, AssetRow, AssetSummary, AssetTaskRow, EdgeKind, LineageEdge,
    TouchedAsset,
};
pub use callbacks::{CallbackEnd, CallbackRow};
pub use claims::{Claimant, ClaimedTry, QueueCap, TryEnd};
pub use connect::StoreStatus;
pub use expansion::Expansion;
pub use freshness::FreshnessRow;
pub use history_clean::{CleanBatch, CleanRequest, Cleaned};
pub use jobs::{OwnedAttempt, StaleAttempt};
pub use marks::Marked;
pub use metrics::{Durations, MetricsSnapshot, RUN_BUCKETS, TASK_BUCKETS};
pub use rows::{DagRow, DagRunRow, JobRow, TaskInstanceRow, TaskTryRow};
pub use runs::{Bound, NewRun, RunColumn, RunFilter, RunOrder, TextMatch, triggered_by};
pub use tallies::TallyKind;
pub use task_instances::{TaskInstanceFilter, instance_name};
pub use test_results::TestResultRow;
pub use updraft_core::{RunState, RunType, TaskState};
pub use versions::{DagVersionRow, NewVersionFile, VersionFileRow};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot create the folder for {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {}", updraft_core::db_error::describe(.0))]
    Sql(#[from] sqlx::Error),
    #[error("cannot reach the database: no answer within {}s", updraft_core::db_error::CONNECT_TIMEOUT.as_secs())]
    Unreachable,
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("dag `{dag_id}` already has a run {clash}")]
    RunExists { dag_id: String, clash: RunClash },
    #[error(
        "task `{task_id}` of run `{run_id}` is running: wait for it to end, or mark it \
         failed first, then clear it"
    )]
    TaskRunning { run_id: String, task_id: String },
    #[error("cannot take the SQLite migration lock {path}: {source}")]
    MigrationLock {
        path: String,
        source: std::io::Error,
    },
}

/// What a new run shares with one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunClash {
    LogicalDate(DateTime<Utc>),
    RunId(String),
}

impl std::fmt::Display for RunClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunClash::LogicalDate(at) => write!(f, "with logical_date {}", at.to_rfc3339()),
            RunClash::RunId(id) => write!(f, "with run_id `{id}`"),
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Begins a transaction that writes. On SQLite it takes the write lock first (`BEGIN
/// IMMEDIATE`): a deferred transaction that read before another process (a CLI command
/// beside the scheduler) wrote fails at its first write with "database is locked",
/// without waiting out the busy timeout.
trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send
    {
        self.begin()
    }
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

/// A connection pool to the history database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Whether a DAG recorded for the first time starts paused.
    paused_at_creation: bool,
}

/// Runs `$body` with `$p` bound to whichever pool the store has; the body is written once
/// and compiled for each database.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Postgres($p) => $body,
            $crate::store::Pool::Sqlite($p) => $body,
        }
    };
}

// The map: one file per table or aggregate.
mod asset_queue; // asset events written, and the asset-triggered runs they cause
mod assets; // the tables attempts wrote and read (`asset_event`)
mod callbacks; // alert messages: recorded, claimed, answered
mod claims; // task instances several jobs race for: claims, moves, attempt ends
mod connect; // opening, migrating, `db check`
mod dags; // `dag`
mod deadlines; // when runs must be done by, met or missed
mod expansion; // a mapped task's instances, made when it is about to run
mod freshness; // how old assets may get: stale once per period, fresh on a write
mod history_clean; // removing old runs with everything that hangs off them
mod jobs; // `job`: heartbeats, dead jobs, stale attempts
mod maintenance; // work one scheduler among many does now and then
mod marks; // marking runs and task instances by hand
mod metrics; // what `/metrics` reports of the history
mod migrations; // the embedded migrations
mod notes; // what people write about runs and task instances
mod outputs; // what attempts handed on to later tasks
mod reports; // what attempts report, into `test_result` and `model_run`
mod runs; // `dag_run`
mod scheduling; // due runs, queued runs, `next_run_after`
mod tallies; // kept counts: runs, task instances, test results by state; duration histograms
mod task_instances; // a run's `task_instance` and `task_try` rows
mod test_results; // reading `test_result`
mod versions; // `dag_version`, `dag_version_file`
