//! Removing old history (`updraft db clean`, `[history] keep`): finished runs that ended
//! before a cut — never a running or queued one, never the newest `keep_last` of a DAG —
//! with everything that hangs off them: task instances and tries (by the foreign keys),
//! test results, model runs, alert messages, deadlines, the asset events they produced
//! (but an asset's newest write, or one a DAG still waits on), and which runs events
//! triggered. A DAG's runs go a batch at a time, each batch one short transaction, so the
//! schedulers and the UI keep working during a long clean.

use super::BeginWrite;
use super::{Result, Store};
use chrono::{DateTime, Utc};

/// Which runs a clean removes.
#[derive(Debug, Clone)]
pub struct CleanRequest {
    /// Runs that ended before this.
    pub cut: DateTime<Utc>,
    /// Only this DAG's (None: every DAG's).
    pub dag_id: Option<String>,
    /// The newest runs of each DAG kept whatever their age.
    pub keep_last: i64,
}

/// What a clean removed (or, for a dry run, would).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cleaned {
    pub runs: i64,
    pub task_instances: i64,
    pub task_tries: i64,
    pub test_results: i64,
    pub model_runs: i64,
    pub callbacks: i64,
    pub deadlines: i64,
    pub asset_events: i64,
}

impl Cleaned {
    /// Adds another clean's figures to these.
    pub fn add(&mut self, other: &Cleaned) {
        self.runs += other.runs;
        self.task_instances += other.task_instances;
        self.task_tries += other.task_tries;
        self.test_results += other.test_results;
        self.model_runs += other.model_runs;
        self.callbacks += other.callbacks;
        self.deadlines += other.deadlines;
        self.asset_events += other.asset_events;
    }
}

/// A batch of one DAG's runs to remove, oldest first.
#[derive(Debug, Clone)]
pub struct CleanBatch {
    pub dag_id: String,
    pub run_ids: Vec<String>,
    /// The logical date of the batch's last run: the next batch starts after it.
    pub last: DateTime<Utc>,
}

/// The statements that count (`SELECT COUNT(*)`) or remove (`DELETE`) what hangs off a
/// batch's runs, by table; `{runs}` is the batch's `run_id IN (...)` list.
const HANGING: [(&str, &str); 6] = [
    ("test_result", "dag_id = $1 AND run_id IN ({runs})"),
    ("model_run", "dag_id = $1 AND run_id IN ({runs})"),
    ("callback", "dag_id = $1 AND run_id IN ({runs})"),
    ("deadline", "dag_id = $1 AND run_id IN ({runs})"),
    // Only what nothing needs: an asset's newest write stays (its last update), and so
    // does an event a DAG's queue still holds.
    (
        "asset_event",
        "dag_id = $1 AND run_id IN ({runs})
         AND NOT (access = 'write' AND NOT EXISTS (SELECT 1 FROM asset_event n
           WHERE n.uri = asset_event.uri AND n.access = 'write'
             AND n.created_at > asset_event.created_at))
         AND id NOT IN (SELECT event_id FROM asset_dag_queue)",
    ),
    ("asset_event_run", "dag_id = $1 AND run_id IN ({runs})"),
];

impl Store {
    /// The DAGs whose runs a clean looks at, each with the logical date from which its
    /// runs are kept (its `keep_last`-th newest; None: it has fewer runs, keep them all).
    pub async fn clean_scope(
        &self,
        request: &CleanRequest,
    ) -> Result<Vec<(String, Option<DateTime<Utc>>)>> {
        let dags: Vec<String> = match &request.dag_id {
            Some(dag_id) => vec![dag_id.clone()],
            None => with_pool!(self, p => sqlx::query_scalar(
                "SELECT DISTINCT dag_id FROM dag_run ORDER BY dag_id").fetch_all(p).await?),
        };
        let mut scope = Vec::with_capacity(dags.len());
        for dag_id in dags {
            let kept_from: Option<DateTime<Utc>> = if request.keep_last <= 0 {
                Some(bound(9999, 12, 31))
            } else {
                with_pool!(self, p => sqlx::query_scalar(
                    "SELECT logical_date FROM dag_run WHERE dag_id = $1
                     ORDER BY logical_date DESC LIMIT 1 OFFSET $2")
                    .bind(&dag_id).bind(request.keep_last - 1).fetch_optional(p).await?)
            };
            scope.push((dag_id, kept_from));
        }
        Ok(scope)
    }

    /// How many runs of `dag_id` a clean removes.
    pub async fn count_runs_to_clean(
        &self,
        request: &CleanRequest,
        (dag_id, kept_from): (&str, DateTime<Utc>),
    ) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM dag_run WHERE dag_id = $1 AND logical_date < $2
                     AND state IN ('success', 'failed') AND ended_at < $3";
        Ok(with_pool!(self, p => sqlx::query_scalar(sql)
            .bind(dag_id).bind(kept_from).bind(request.cut).fetch_one(p).await?))
    }

    /// The next batch of at most `limit` runs of `dag_id` to remove, after logical date
    /// `after` (None: from the oldest).
    pub async fn next_clean_batch(
        &self,
        request: &CleanRequest,
        (dag_id, kept_from): (&str, DateTime<Utc>),
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Option<CleanBatch>> {
        let sql = "SELECT run_id, logical_date FROM dag_run
                   WHERE dag_id = $1 AND logical_date < $2 AND logical_date > $3
                     AND state IN ('success', 'failed') AND ended_at < $4
                   ORDER BY logical_date LIMIT $5";
        let after = after.unwrap_or(bound(1, 1, 1));
        let rows: Vec<(String, DateTime<Utc>)> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(dag_id).bind(kept_from).bind(after).bind(request.cut).bind(limit)
            .fetch_all(p).await?);
        let Some((_, last)) = rows.last().cloned() else {
            return Ok(None);
        };
        Ok(Some(CleanBatch {
            dag_id: dag_id.to_string(),
            run_ids: rows.into_iter().map(|(run_id, _)| run_id).collect(),
            last,
        }))
    }

    /// Removes `batch` (or with `dry_run` only counts it), in one transaction; what it
    /// removed, and the log files of the removed tries (for the caller to delete once
    /// the rows are gone).
    pub async fn clean_batch(
        &self,
        batch: &CleanBatch,
        dry_run: bool,
    ) -> Result<(Cleaned, Vec<String>)> {
        let runs = (0..batch.run_ids.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let of_runs = format!("dag_id = $1 AND run_id IN ({runs})");
        let count = |table: &str, filter: &str| {
            format!(
                "SELECT COUNT(*) FROM {table} WHERE {}",
                filter.replace("{runs}", &runs)
            )
        };
        let delete = |table: &str, filter: &str| {
            format!(
                "DELETE FROM {table} WHERE {}",
                filter.replace("{runs}", &runs)
            )
        };
        let logs_sql = format!(
            "SELECT log_path FROM task_try WHERE {of_runs} AND log_path IS NOT NULL AND log_path <> ''"
        );
        let tries_sql = count("task_try", &of_runs);
        let instances_sql = count("task_instance", &of_runs);
        let runs_sql = delete("dag_run", &of_runs);
        let result: std::result::Result<(Cleaned, Vec<String>), sqlx::Error> = with_pool!(self, p => async {
                let mut tx = p.begin_write().await?;
                // A write first: SQLite takes its write lock now, not at the first DELETE
                // (a transaction that read first may not write once another committed).
                sqlx::query("DELETE FROM dag_run WHERE 1 = 0").execute(&mut *tx).await?;
                macro_rules! bound {
                    ($sql:expr) => {{
                        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql.as_str())).bind(&batch.dag_id);
                        for run_id in &batch.run_ids {
                            q = q.bind(run_id);
                        }
                        q
                    }};
                }
                macro_rules! counted {
                    ($sql:expr) => {{
                        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe($sql.as_str()))
                            .bind(&batch.dag_id);
                        for run_id in &batch.run_ids {
                            q = q.bind(run_id);
                        }
                        q.fetch_one(&mut *tx).await?
                    }};
                }
                let mut cleaned = Cleaned {
                    task_tries: counted!(tries_sql),
                    task_instances: counted!(instances_sql),
                    ..Cleaned::default()
                };
                let logs: Vec<String> = {
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(logs_sql.as_str()))
                        .bind(&batch.dag_id);
                    for run_id in &batch.run_ids {
                        q = q.bind(run_id);
                    }
                    q.fetch_all(&mut *tx).await?
                };
                for (table, filter) in HANGING {
                    let n = if dry_run {
                        counted!(count(table, filter))
                    } else {
                        let n = bound!(delete(table, filter)).execute(&mut *tx).await?.rows_affected();
                        i64::try_from(n).unwrap_or(i64::MAX)
                    };
                    match table {
                        "test_result" => cleaned.test_results = n,
                        "model_run" => cleaned.model_runs = n,
                        "callback" => cleaned.callbacks = n,
                        "deadline" => cleaned.deadlines = n,
                        "asset_event" => cleaned.asset_events = n,
                        _ => {}
                    }
                }
                cleaned.runs = if dry_run {
                    i64::try_from(batch.run_ids.len()).unwrap_or(i64::MAX)
                } else {
                    // Their task instances and tries go with them (ON DELETE CASCADE).
                    let n = bound!(runs_sql).execute(&mut *tx).await?.rows_affected();
                    i64::try_from(n).unwrap_or(i64::MAX)
                };
                if dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok((cleaned, logs))
            }.await);
        Ok(result?)
    }

    /// Removes the rows of jobs that ended (or died) before `cut`.
    pub async fn clean_jobs(&self, cut: DateTime<Utc>, dry_run: bool) -> Result<i64> {
        let filter = "state <> 'running' AND heartbeat_at < $1";
        let n = if dry_run {
            let sql = format!("SELECT COUNT(*) FROM job WHERE {filter}");
            with_pool!(self, p => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(cut).fetch_one(p).await?)
        } else {
            let sql = format!("DELETE FROM job WHERE {filter}");
            let done = with_pool!(self, p => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cut).execute(p).await?.rows_affected());
            i64::try_from(done).unwrap_or(i64::MAX)
        };
        Ok(n)
    }
}

/// A date every backend stores, as the bound of a range that has none (chrono's own
/// extremes are beyond PostgreSQL's timestamps).
fn bound(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.and_utc())
}
