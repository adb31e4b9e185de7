//! The `dag_run` table: creating a run with its task instances, reading and listing
//! runs, moving a run's state.

use super::BeginWrite;
use super::rows::DAG_RUN_SELECT;
use super::{DagRunRow, Result, RunClash, RunState, RunType, Store, StoreError, TaskState};
use chrono::{DateTime, Utc};

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
    pub tasks: Vec<crate::dag::TaskRow<'a>>,
    /// What the person who triggered it wrote about it.
    pub note: Option<&'a str>,
    /// When it must be done by (its DAG's `deadline:`), written with it.
    pub deadlines: &'a [crate::alerts::Deadline],
    /// The `trigger_dag` task that creates it (JSON `{dag_id, run_id, task_id}`).
    pub triggered_by: Option<&'a str>,
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
    /// When the run became due (Airflow's `run_after`): the end of a scheduled or
    /// backfilled run's interval, a manual run's logical date.
    RunAfter,
    /// When the run last changed (kept by the database).
    UpdatedAt,
}

impl RunColumn {
    /// Every column runs can be ordered by.
    pub const ALL: [RunColumn; 8] = [
        RunColumn::LogicalDate,
        RunColumn::RunId,
        RunColumn::State,
        RunColumn::QueuedAt,
        RunColumn::StartedAt,
        RunColumn::EndedAt,
        RunColumn::RunAfter,
        RunColumn::UpdatedAt,
    ];

    /// Airflow's name of the column, where it differs.
    pub fn airflow_name(self) -> Option<&'static str> {
        match self {
            RunColumn::RunId => Some("dag_run_id"),
            RunColumn::StartedAt => Some("start_date"),
            RunColumn::EndedAt => Some("end_date"),
            _ => None,
        }
    }

    /// The column's name in `dag_run`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunColumn::LogicalDate => "logical_date",
            RunColumn::RunId => "run_id",
            RunColumn::State => "state",
            RunColumn::QueuedAt => "queued_at",
            RunColumn::StartedAt => "started_at",
            RunColumn::EndedAt => "ended_at",
            RunColumn::RunAfter => "run_after",
            RunColumn::UpdatedAt => "updated_at",
        }
    }

    /// The column's value in SQL over `dag_run`.
    fn sql(self) -> &'static str {
        match self {
            RunColumn::RunAfter => {
                "(CASE WHEN run_type = 'manual' THEN logical_date ELSE data_interval_end END)"
            }
            other => other.as_str(),
        }
    }
}

/// Which side of a time a run's column must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    AtOrAfter,
    After,
    AtOrBefore,
    Before,
}

impl Bound {
    fn operator(self) -> &'static str {
        match self {
            Bound::AtOrAfter => ">=",
            Bound::After => ">",
            Bound::AtOrBefore => "<=",
            Bound::Before => "<",
        }
    }
}

/// A text column matched by a pattern, as Airflow's `*_pattern` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// Contains one of the texts, whatever the case (SQL `LIKE`: `%` and `_` are
    /// wildcards).
    Contains(Vec<String>),
    /// Starts with the text, exactly.
    StartsWith(String),
}

/// Which runs a listing holds: of one DAG or all, in some states and run types, with
/// times and durations in ranges, of some DAG versions, matching patterns.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only the runs of these DAGs (every DAG's when empty).
    pub dag_ids: Vec<String>,
    pub states: Vec<RunState>,
    pub run_types: Vec<RunType>,
    /// A time column on one side of a time.
    pub times: Vec<(RunColumn, Bound, DateTime<Utc>)>,
    /// Seconds from start to end on one side of a number (runs not ended are left out).
    pub durations: Vec<(Bound, f64)>,
    /// Only runs worked with one of these DAG versions.
    pub dag_versions: Vec<i64>,
    /// Only runs whose `conf`, as JSON text, contains this.
    pub conf_contains: Option<String>,
    pub dag_id_match: Option<TextMatch>,
    pub run_id_match: Option<TextMatch>,
}

impl RunFilter {
    /// Whether the filter picks runs by DAG and state alone, so that `state_tally` counts
    /// them.
    fn is_by_dag_and_state(&self) -> bool {
        let RunFilter {
            dag_ids: _,
            states: _,
            run_types,
            times,
            durations,
            dag_versions,
            conf_contains,
            dag_id_match,
            run_id_match,
        } = self;
        run_types.is_empty()
            && times.is_empty()
            && durations.is_empty()
            && dag_versions.is_empty()
            && conf_contains.is_none()
            && dag_id_match.is_none()
            && run_id_match.is_none()
    }

    /// Adds ` WHERE ...` for the filter (always a WHERE, so conditions follow with AND);
    /// `seconds` is the backend's SQL for a run's duration.
    fn push<DB: sqlx::Database>(&self, query: &mut sqlx::QueryBuilder<DB>, seconds: &str)
    where
        &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        DateTime<Utc>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        f64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    {
        query.push(" WHERE 1 = 1");
        push_in_owned(query, "dag_id", &self.dag_ids);
        push_in(query, "state", self.states.iter().map(|s| s.as_str()));
        push_in(query, "run_type", self.run_types.iter().map(|t| t.as_str()));
        for (column, bound, at) in &self.times {
            query.push(format_args!(" AND {} {} ", column.sql(), bound.operator()));
            query.push_bind(*at);
        }
        for (bound, limit) in &self.durations {
            query.push(format_args!(
                " AND ended_at IS NOT NULL AND {seconds} {} ",
                bound.operator()
            ));
            query.push_bind(*limit);
        }
        if !self.dag_versions.is_empty() {
            query.push(" AND dag_version IN (");
            let mut list = query.separated(", ");
            for version in &self.dag_versions {
                list.push_bind(*version);
            }
            list.push_unseparated(")");
        }
        if let Some(text) = &self.conf_contains {
            query
                .push(" AND conf LIKE ")
                .push_bind(format!("%{}%", like_literal(text)));
            query.push(" ESCAPE '\\'");
        }
        push_match(query, "dag_id", self.dag_id_match.as_ref());
        push_match(query, "run_id", self.run_id_match.as_ref());
    }
}

/// `text` with LIKE's wildcards and escape character taken literally.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Adds ` AND column ...` for a pattern: Airflow's `*_pattern` is a case-insensitive
/// LIKE (its `%` and `_` are wildcards), `*_prefix_pattern` a case-sensitive prefix.
fn push_match<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    column: &str,
    pattern: Option<&TextMatch>,
) where
    String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    match pattern {
        None => {}
        Some(TextMatch::Contains(texts)) => {
            query.push(" AND (1 = 0");
            for text in texts {
                query
                    .push(format_args!(" OR LOWER({column}) LIKE "))
                    .push_bind(format!("%{}%", text.to_lowercase()));
            }
            query.push(")");
        }
        Some(TextMatch::StartsWith(text)) => {
            // SUBSTR compares exactly on both backends (SQLite's LIKE ignores case).
            let length = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
            query
                .push(format_args!(" AND SUBSTR({column}, 1, CAST("))
                .push_bind(length)
                .push(" AS INTEGER)) = ")
                .push_bind(text.clone());
        }
    }
}

/// Adds ` AND column IN (...)` when `values` is not empty.
pub(super) fn push_in<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    column: &str,
    values: impl ExactSizeIterator<Item = &'static str>,
) where
    &'static str: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    if values.len() == 0 {
        return;
    }
    query.push(format_args!(" AND {column} IN ("));
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

/// Adds ` AND column IN (...)` of owned values when there are any.
pub(super) fn push_in_owned<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    column: &str,
    values: &[String],
) where
    String: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    if values.is_empty() {
        return;
    }
    query.push(format_args!(" AND {column} IN ("));
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value.clone());
    }
    list.push_unseparated(")");
}

/// How a listing of runs is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOrder {
    pub column: RunColumn,
    pub descending: bool,
}

/// Inserts run `$run` (a [`NewRun`]) queued at `$now`, with its deadlines and task
/// instances, in the transaction `$tx`. A macro so that the statements are written once
/// and compiled for each database.
macro_rules! insert_run {
    ($tx:expr, $run:expr, $now:expr) => {
        async {
            sqlx::query($crate::store::runs::INSERT_RUN)
                .bind($run.dag_id)
                .bind($run.run_id)
                .bind($run.run_type.as_str())
                .bind($run.logical_date)
                .bind($run.data_interval.0)
                .bind($run.data_interval.1)
                .bind($run.conf.to_string())
                .bind($now)
                .bind($run.job_id)
                .bind($run.note)
                .bind($run.triggered_by)
                .execute(&mut *$tx)
                .await?;
            for (i, deadline) in $run.deadlines.iter().enumerate() {
                sqlx::query($crate::store::deadlines::INSERT_DEADLINE)
                    .bind($run.dag_id)
                    .bind($run.run_id)
                    .bind(i64::try_from(i).unwrap_or(i64::MAX))
                    .bind($crate::store::deadlines::due_at($run, $now, deadline))
                    .bind(deadline.reference.as_str())
                    .bind(deadline.interval.as_secs_f64())
                    .bind(serde_json::to_string(&deadline.on_miss).unwrap_or_default())
                    .execute(&mut *$tx)
                    .await?;
            }
            // Multi-row inserts keep a 2,000-task run to a few round trips.
            for chunk in $run.tasks.chunks(500) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO task_instance (dag_id, run_id, task_id, task_type, try_number, max_tries, queue) ",
                );
                insert.push_values(chunk, |mut row, task| {
                    row.push_bind($run.dag_id)
                        .push_bind($run.run_id)
                        .push_bind(task.task_id)
                        .push_bind(task.task_type)
                        .push_bind(0i64)
                        .push_bind(task.max_tries)
                        .push_bind(task.queue);
                });
                insert.build().execute(&mut *$tx).await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(super) use insert_run;

pub(super) const INSERT_RUN: &str =
    "INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, data_interval_start,
       data_interval_end, state, conf, queued_at, job_id, note, triggered_by)
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, $11)";

/// What `dag_run.triggered_by` holds for runs the task `task_id` of a run creates.
pub fn triggered_by(dag_id: &str, run_id: &str, task_id: &str) -> String {
    serde_json::json!({"dag_id": dag_id, "run_id": run_id, "task_id": task_id}).to_string()
}

impl Store {
    /// Creates a run in state `queued` with all its task instances, in one transaction.
    pub async fn create_run(&self, run: &NewRun<'_>) -> Result<DagRunRow> {
        let now = Utc::now();
        let result: std::result::Result<(), sqlx::Error> = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            insert_run!(tx, run, now).await?;
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
        let sql = format!("{} WHERE dag_id = $1 AND run_id = $2", DAG_RUN_SELECT);
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dag_id).bind(run_id).fetch_optional(p).await?),
        )
    }

    /// Whether a run exists (`None`: no) and the `trigger_dag` task that created it (JSON
    /// `{dag_id, run_id, task_id}`; `Some(None)`: none did).
    pub async fn run_triggered_by(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Option<Option<String>>> {
        let sql = "SELECT triggered_by FROM dag_run WHERE dag_id = $1 AND run_id = $2";
        Ok(with_pool!(self, p => sqlx::query_scalar(sql)
            .bind(dag_id).bind(run_id).fetch_optional(p).await?))
    }

    /// The run of `dag_id` with id `run_id` or at `logical_date`: its id, its state and
    /// the state of its task `task_id` (NULL when it has no such instance or it is
    /// undecided), when the run exists.
    pub async fn run_seen(
        &self,
        dag_id: &str,
        (run_id, logical_date): (Option<&str>, Option<DateTime<Utc>>),
        task_id: Option<&str>,
    ) -> Result<Option<(String, RunState, Option<TaskState>)>> {
        let sql = "SELECT r.run_id, r.state,
                     (SELECT ti.state FROM task_instance ti WHERE ti.dag_id = r.dag_id
                        AND ti.run_id = r.run_id AND ti.task_id = $4
                      -- A mapped task: the state of an instance that did not succeed, if any.
                      ORDER BY CASE WHEN ti.state = 'success' THEN 1 ELSE 0 END, ti.map_index
                      LIMIT 1) AS task_state
                   FROM dag_run r
                   WHERE r.dag_id = $1 AND (r.run_id = $2 OR r.logical_date = $3)
                   ORDER BY r.queued_at DESC LIMIT 1";
        let row: Option<(String, RunState, Option<String>)> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(dag_id).bind(run_id).bind(logical_date).bind(task_id).fetch_optional(p).await?);
        Ok(row.map(|(run_id, state, task)| {
            let task_state = task.and_then(|t| t.parse().ok());
            (run_id, state, task_state)
        }))
    }

    /// `(dag_id, run_id)` of the runs a task created (`trigger_dag`), `triggered_by` as
    /// recorded.
    pub async fn runs_created_by(&self, triggered_by: &str) -> Result<Vec<(String, String)>> {
        let sql =
            "SELECT dag_id, run_id FROM dag_run WHERE triggered_by = $1 ORDER BY logical_date";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(triggered_by).fetch_all(p).await?))
    }

    /// How many runs each DAG has in each state.
    pub async fn run_counts(&self) -> Result<Vec<(String, RunState, i64)>> {
        let mut counts = Vec::new();
        for (dag_id, state, n) in self.state_tally(super::TallyKind::DagRun).await? {
            if let Ok(state) = state.parse() {
                counts.push((dag_id, state, n));
            }
        }
        Ok(counts)
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
            DAG_RUN_SELECT
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dag_id).bind(state).bind(limit).fetch_all(p).await?),
        )
    }

    /// A page of the runs `filter` picks, ordered by `order` (a column and direction the
    /// caller picked from a fixed list), with how many match.
    pub async fn run_page(
        &self,
        filter: &RunFilter,
        order: RunOrder,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DagRunRow>, i64)> {
        let total = if filter.is_by_dag_and_state() {
            let states = filter.states.iter().map(|s| s.as_str());
            self.tally_count(super::TallyKind::DagRun, &filter.dag_ids, states)
                .await?
        } else {
            self.count_runs(filter).await?
        };
        with_pool!(self, p => {
            let seconds = self.run_seconds_sql();
            let mut page = sqlx::QueryBuilder::new(DAG_RUN_SELECT);
            filter.push(&mut page, seconds);
            // The DAG and run ids break ties, so that pages neither repeat nor skip a run.
            page.push(format_args!(" ORDER BY {} {dir}, dag_id {dir}, run_id {dir}", order.column.sql(), dir = if order.descending { "DESC" } else { "ASC" }));
            page.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
            let runs = page.build_query_as().fetch_all(p).await?;
            Ok((runs, total))
        })
    }

    /// How many runs `filter` picks, counted row by row.
    async fn count_runs(&self, filter: &RunFilter) -> Result<i64> {
        with_pool!(self, p => {
            let mut count = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM dag_run");
            filter.push(&mut count, self.run_seconds_sql());
            Ok(count.build_query_scalar().fetch_one(p).await?)
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
}
