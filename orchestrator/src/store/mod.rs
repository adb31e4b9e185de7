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
mod state;

pub use claims::{Claimant, ClaimedTry, TryEnd};
pub use jobs::{OwnedAttempt, StaleAttempt};
pub use marks::Marked;
pub use metrics::{Durations, MetricsSnapshot, RUN_BUCKETS, TASK_BUCKETS};
pub use rows::{DagRow, DagRunRow, JobRow, TaskInstanceRow, TaskTryRow};
pub use state::{RunState, RunType, TaskState};
pub use test_results::TestResultRow;
pub use versions::{DagVersionRow, NewVersionFile, VersionFileRow};

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

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
    #[error("database error: {}", updraft_tasks::db_error::describe(.0))]
    Sql(#[from] sqlx::Error),
    #[error("cannot reach the database: no answer within {}s", updraft_tasks::db_error::CONNECT_TIMEOUT.as_secs())]
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

mod claims;
mod jobs;
mod marks;
mod metrics;
mod model_runs;
mod scheduling;
mod test_results;
mod versions;

mod migrations;

use migrations::{PG_MIGRATIONS, SQLITE_MIGRATIONS};

/// What `updraft db check` reports.
#[derive(Debug, serde::Serialize)]
pub struct StoreStatus {
    pub backend: &'static str,
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
}

/// A run to create.
pub struct NewRun<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub run_type: RunType,
    pub logical_date: DateTime<Utc>,
    pub data_interval: (DateTime<Utc>, DateTime<Utc>),
    pub conf: &'a serde_json::Value,
    /// The job that will execute the run by itself; None: any scheduler.
    pub job_id: Option<&'a str>,
    /// (task_id, task_type, max_tries) for every task of the DAG.
    pub tasks: Vec<(&'a str, &'a str, i64)>,
}

/// A column runs can be listed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunColumn {
    LogicalDate,
    RunId,
    State,
    QueuedAt,
    StartedAt,
    EndedAt,
}

impl RunColumn {
    /// Every column runs can be ordered by.
    pub const ALL: [RunColumn; 6] = [
        RunColumn::LogicalDate,
        RunColumn::RunId,
        RunColumn::State,
        RunColumn::QueuedAt,
        RunColumn::StartedAt,
        RunColumn::EndedAt,
    ];

    /// The column's name in `dag_run`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunColumn::LogicalDate => "logical_date",
            RunColumn::RunId => "run_id",
            RunColumn::State => "state",
            RunColumn::QueuedAt => "queued_at",
            RunColumn::StartedAt => "started_at",
            RunColumn::EndedAt => "ended_at",
        }
    }
}

/// How a listing of runs is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOrder {
    pub column: RunColumn,
    pub descending: bool,
}

/// Adds ` AND state IN (...)` when `states` is not empty.
fn push_state_filter<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    states: &[&'static str],
) where
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    if states.is_empty() {
        return;
    }
    query.push(" AND state IN (");
    let mut list = query.separated(", ");
    for state in states {
        list.push_bind(*state);
    }
    list.push_unseparated(")");
}

/// Identifies one task instance.
#[derive(Debug, Clone, Copy)]
pub struct TaskKey<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub task_id: &'a str,
}

impl Store {
    /// Connects (creating a SQLite file and its folder on first use) and migrates.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
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
                updraft_tasks::db_error::CONNECT_TIMEOUT,
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
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
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
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?,
            )
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

    /// Records (or refreshes) a DAG read from the DAGs folder; `is_paused` is kept (a new
    /// DAG starts paused when the store was opened `pausing_new_dags`).
    pub async fn sync_dag(&self, dag: &crate::dag::Dag) -> Result<()> {
        let sql = "INSERT INTO dag (dag_id, is_paused, schedule, timezone, fileloc, description, last_parsed_at)
                   VALUES ($1, $7, $2, $3, $4, $5, $6)
                   ON CONFLICT (dag_id) DO UPDATE SET schedule = excluded.schedule,
                     timezone = excluded.timezone, fileloc = excluded.fileloc,
                     description = excluded.description, last_parsed_at = excluded.last_parsed_at";
        with_pool!(self, p => sqlx::query(sql)
            .bind(&dag.dag_id)
            .bind(dag.schedule.describe())
            .bind(dag.timezone.name())
            .bind(dag.fileloc.display().to_string())
            .bind(&dag.description)
            .bind(Utc::now())
            .bind(self.paused_at_creation)
            .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The process group the latest attempt of a task started, once it is recorded.
    pub async fn attempt_process(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Option<i64>> {
        let sql =
            "SELECT process_group FROM task_try WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                   ORDER BY try_number DESC LIMIT 1";
        let found: Option<Option<i64>> = with_pool!(self, p => sqlx::query_scalar(sql)
            .bind(dag_id).bind(run_id).bind(task_id).fetch_optional(p).await?);
        Ok(found.flatten())
    }

    /// The ids of the paused DAGs.
    pub async fn paused_dags(&self) -> Result<Vec<String>> {
        let sql = "SELECT dag_id FROM dag WHERE is_paused";
        Ok(with_pool!(self, p => sqlx::query_scalar(sql).fetch_all(p).await?))
    }

    /// The stored DAG rows, by id.
    pub async fn dags(&self) -> Result<Vec<DagRow>> {
        let sql = "SELECT dag_id, is_paused, schedule, timezone, fileloc, description, last_parsed_at, next_run_after FROM dag ORDER BY dag_id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).fetch_all(p).await?))
    }

    /// Creates a run in state `queued` with all its task instances, in one transaction.
    pub async fn create_run(&self, run: &NewRun<'_>) -> Result<DagRunRow> {
        let now = Utc::now();
        let insert_run =
            "INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, data_interval_start,
                            data_interval_end, state, conf, queued_at, job_id)
                          VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9)";
        let result: std::result::Result<(), sqlx::Error> = with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(insert_run)
                .bind(run.dag_id)
                .bind(run.run_id)
                .bind(run.run_type.as_str())
                .bind(run.logical_date)
                .bind(run.data_interval.0)
                .bind(run.data_interval.1)
                .bind(run.conf.to_string())
                .bind(now)
                .bind(run.job_id)
                .execute(&mut *tx)
                .await?;
            // Multi-row inserts keep a 2,000-task run to a few round trips.
            for chunk in run.tasks.chunks(500) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO task_instance (dag_id, run_id, task_id, task_type, try_number, max_tries) ",
                );
                insert.push_values(chunk, |mut row, (task_id, task_type, max_tries)| {
                    row.push_bind(run.dag_id)
                        .push_bind(run.run_id)
                        .push_bind(*task_id)
                        .push_bind(*task_type)
                        .push_bind(0i64)
                        .push_bind(*max_tries);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await);
        match result {
            Ok(()) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let clash = if e.message().contains("logical_date")
                    || self.run(run.dag_id, run.run_id).await?.is_none()
                {
                    RunClash::LogicalDate(run.logical_date)
                } else {
                    RunClash::RunId(run.run_id.to_string())
                };
                return Err(StoreError::RunExists {
                    dag_id: run.dag_id.to_string(),
                    clash,
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.run(run.dag_id, run.run_id)
            .await?
            .ok_or_else(|| StoreError::Sql(sqlx::Error::RowNotFound))
    }

    /// One run.
    pub async fn run(&self, dag_id: &str, run_id: &str) -> Result<Option<DagRunRow>> {
        let sql = format!("{} WHERE dag_id = $1 AND run_id = $2", rows::DAG_RUN_SELECT);
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dag_id).bind(run_id).fetch_optional(p).await?),
        )
    }

    /// Runs of a DAG, newest logical date first.
    pub async fn runs(
        &self,
        dag_id: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DagRunRow>> {
        let sql = format!(
            "{} WHERE dag_id = $1 AND ($2 IS NULL OR state = $2) ORDER BY logical_date DESC LIMIT $3",
            rows::DAG_RUN_SELECT
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dag_id).bind(state).bind(limit).fetch_all(p).await?),
        )
    }

    /// A page of a DAG's runs in the given states (all when empty), ordered by `order`
    /// (a column and direction the caller picked from a fixed list), with how many match.
    pub async fn run_page(
        &self,
        dag_id: &str,
        states: &[RunState],
        order: RunOrder,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DagRunRow>, i64)> {
        let states: Vec<&'static str> = states.iter().map(|s| s.as_str()).collect();
        with_pool!(self, p => {
            let mut count = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM dag_run WHERE dag_id = ");
            count.push_bind(dag_id);
            push_state_filter(&mut count, &states);
            let total: i64 = count.build_query_scalar().fetch_one(p).await?;
            let mut page = sqlx::QueryBuilder::new(rows::DAG_RUN_SELECT);
            page.push(" WHERE dag_id = ").push_bind(dag_id);
            push_state_filter(&mut page, &states);
            // The run id breaks ties, so that pages neither repeat nor skip a run.
            page.push(format_args!(" ORDER BY {} {dir}, run_id {dir}", order.column.as_str(), dir = if order.descending { "DESC" } else { "ASC" }));
            page.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
            let runs = page.build_query_as().fetch_all(p).await?;
            Ok((runs, total))
        })
    }

    /// Moves a run to `state`, stamping start and end times.
    pub async fn set_run_state(&self, dag_id: &str, run_id: &str, state: RunState) -> Result<()> {
        let sql = match state {
            RunState::Queued => {
                "UPDATE dag_run SET state = $3, queued_at = $4, started_at = NULL, ended_at = NULL WHERE dag_id = $1 AND run_id = $2"
            }
            RunState::Running => {
                "UPDATE dag_run SET state = $3, started_at = $4, ended_at = NULL WHERE dag_id = $1 AND run_id = $2"
            }
            RunState::Success | RunState::Failed => {
                "UPDATE dag_run SET state = $3, ended_at = $4 WHERE dag_id = $1 AND run_id = $2"
            }
        };
        with_pool!(self, p => sqlx::query(sql).bind(dag_id).bind(run_id).bind(state.as_str()).bind(Utc::now()).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The task instances of a run, in task-id order.
    pub async fn task_instances(&self, dag_id: &str, run_id: &str) -> Result<Vec<TaskInstanceRow>> {
        let sql =
            "SELECT dag_id, run_id, task_id, task_type, state, try_number, max_tries, started_at,
                          ended_at, duration, hostname, next_try_at, dag_version
                   FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).fetch_all(p).await?))
    }

    /// The task instances of several runs of a DAG (a page of the grid), in one query.
    pub async fn task_instances_of_runs(
        &self,
        dag_id: &str,
        run_ids: &[&str],
    ) -> Result<Vec<TaskInstanceRow>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT dag_id, run_id, task_id, task_type, state, try_number, max_tries, started_at,
                        ended_at, duration, hostname, next_try_at, dag_version
                 FROM task_instance WHERE dag_id = ",
            );
            query.push_bind(dag_id).push(" AND run_id IN (");
            let mut list = query.separated(", ");
            for run_id in run_ids {
                list.push_bind(*run_id);
            }
            list.push_unseparated(")");
            Ok(query.build_query_as().fetch_all(p).await?)
        })
    }

    /// Attempts of a run (of one task when given), in task then try order.
    pub async fn tries(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<TaskTryRow>> {
        let sql =
            "SELECT dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration,
                          hostname, error, log_path, metrics, job_id
                   FROM task_try WHERE dag_id = $1 AND run_id = $2 AND ($3 IS NULL OR task_id = $3)
                   ORDER BY task_id, try_number";
        Ok(
            with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).bind(task_id).fetch_all(p).await?),
        )
    }

    /// Resets task instances so the run executes them again (`task clear`): each gets
    /// `retries + 1` more tries, continuing its try numbers; the run goes back to queued,
    /// owned by `owner` when given (so no scheduler picks it up first).
    pub async fn clear_tasks(
        &self,
        dag_id: &str,
        run_id: &str,
        tasks: &[(&str, i64)],
        owner: Option<&str>,
    ) -> Result<()> {
        // A running attempt is never cleared under its job: it would run on, and its try
        // would stay `running` after a new try took its place. The condition is in the
        // update itself, so an attempt that starts meanwhile is not cleared either.
        let ti_sql =
            "UPDATE task_instance SET state = NULL, max_tries = try_number + $4, started_at = NULL,
                        next_try_at = NULL, job_id = NULL,
                        ended_at = NULL, duration = NULL,
                        dag_version = (SELECT r.dag_version FROM dag_run r
                                       WHERE r.dag_id = $1 AND r.run_id = $2)
                      WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                        AND (state IS NULL OR state <> 'running')";
        let running_sql = "SELECT COUNT(*) FROM task_instance
                           WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND state = 'running'";
        let run_sql = "UPDATE dag_run SET state = 'queued', queued_at = $3, started_at = NULL, ended_at = NULL,
                         job_id = $4
                       WHERE dag_id = $1 AND run_id = $2";
        let running: Option<String> = with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            for (task_id, tries) in tasks {
                let done = sqlx::query(ti_sql).bind(dag_id).bind(run_id).bind(*task_id).bind(*tries)
                    .execute(&mut *tx).await?.rows_affected();
                if done == 0 {
                    let (n,): (i64,) = sqlx::query_as(running_sql).bind(dag_id).bind(run_id).bind(*task_id)
                        .fetch_one(&mut *tx).await?;
                    if n > 0 {
                        tx.rollback().await?;
                        return Ok::<_, sqlx::Error>(Some(task_id.to_string()));
                    }
                }
            }
            sqlx::query(run_sql).bind(dag_id).bind(run_id).bind(Utc::now()).bind(owner).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(None)
        }.await)?;
        match running {
            Some(task_id) => Err(StoreError::TaskRunning {
                run_id: run_id.to_string(),
                task_id,
            }),
            None => Ok(()),
        }
    }

    /// Ends everything of a run that is not finished, as Airflow does when a run is failed
    /// by hand: running attempts fail with `reason`, tasks that never ran are skipped.
    pub async fn fail_unfinished(&self, dag_id: &str, run_id: &str, reason: &str) -> Result<()> {
        let now = Utc::now();
        let tries = "UPDATE task_try SET state = 'failed', ended_at = $3, error = $4
                     WHERE dag_id = $1 AND run_id = $2 AND state = 'running'";
        let running = "UPDATE task_instance SET state = 'failed', ended_at = $3
                       WHERE dag_id = $1 AND run_id = $2 AND state = 'running'";
        let waiting = "UPDATE task_instance SET state = 'skipped', ended_at = $3
                       WHERE dag_id = $1 AND run_id = $2
                         AND (state IS NULL OR state IN ('scheduled', 'queued', 'up_for_retry'))";
        with_pool!(self, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(tries).bind(dag_id).bind(run_id).bind(now).bind(reason).execute(&mut *tx).await?;
            sqlx::query(running).bind(dag_id).bind(run_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(waiting).bind(dag_id).bind(run_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.display().to_string(),
        source,
    })
}
