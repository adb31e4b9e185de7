//! What `/metrics` reports, read from the history tables at each scrape: so the figures
//! are the tables' own (they survive restarts and agree with every other view of them).

use super::{Result, Store};
use chrono::{DateTime, Utc};

/// Upper bounds (seconds) of the run-duration histogram's buckets; +Inf follows.
pub const RUN_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Upper bounds (seconds) of the attempt-duration histogram's buckets; +Inf follows.
pub const TASK_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// Durations of one label set: how many fall in each bucket (the last: above every
/// bound), their sum and count.
#[derive(Debug, Clone, Default)]
pub struct Durations {
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// One scrape's worth of figures.
#[derive(Debug, Default)]
pub struct MetricsSnapshot {
    /// Finished runs by (dag_id, state) with their durations.
    pub finished_runs: Vec<((String, String), Durations)>,
    /// Ended attempts by (dag_id, task_id, state) with their durations.
    pub ended_tries: Vec<((String, String, String), Durations)>,
    /// Runs by state (now).
    pub runs: Vec<(String, i64)>,
    /// Task instances by state (now; `none` for not yet decided).
    pub task_instances: Vec<(String, i64)>,
    /// Running schedulers: (job_id, last heartbeat).
    pub schedulers: Vec<(String, DateTime<Utc>)>,
    /// Data-test results by status.
    pub data_tests: Vec<(String, i64)>,
    /// Alert messages by (action kind, sent or failed).
    pub callbacks: Vec<(String, String, i64)>,
    /// Task instances waiting for a queue no live scheduler serves, by queue.
    pub waiting_for_queue: Vec<(String, i64)>,
}

/// `SUM(CASE WHEN <duration> <= b THEN 1 ELSE 0 END)` for each bucket, then the rest.
fn bucket_columns(duration: &str, bounds: &[f64]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut lower: Option<f64> = None;
    for b in bounds {
        let above = lower.map_or(String::new(), |l| format!(" AND {duration} > {l}"));
        columns.push(format!(
            "SUM(CASE WHEN {duration} <= {b}{above} THEN 1 ELSE 0 END)"
        ));
        lower = Some(*b);
    }
    let last = lower.unwrap_or(0.0);
    columns.push(format!(
        "SUM(CASE WHEN {duration} > {last} THEN 1 ELSE 0 END)"
    ));
    columns.push(format!("COALESCE(SUM({duration}), 0)"));
    columns.push("COUNT(*)".into());
    columns.join(", ")
}

/// Reads the columns `bucket_columns` made for `bounds`, after `labels` text columns.
fn durations<R: sqlx::Row>(row: &R, labels: usize, bounds: &[f64]) -> Result<Durations>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let buckets = bounds.len() + 1;
    let mut counts = Vec::with_capacity(buckets);
    for i in 0..buckets {
        let n: Option<i64> = row.try_get(labels + i)?;
        counts.push(n.unwrap_or(0).max(0) as u64);
    }
    let sum: f64 = row.try_get(labels + buckets)?;
    let count: i64 = row.try_get(labels + buckets + 1)?;
    Ok(Durations {
        buckets: counts,
        sum,
        count: count.max(0) as u64,
    })
}

impl Store {
    /// SQL for a `dag_run` row's seconds from start to end, on this backend.
    pub(super) fn run_seconds_sql(&self) -> &'static str {
        match self.pool {
            super::Pool::Postgres(_) => "EXTRACT(EPOCH FROM (ended_at - started_at))::float8",
            super::Pool::Sqlite(_) => "((julianday(ended_at) - julianday(started_at)) * 86400.0)",
        }
    }

    /// The figures `/metrics` reports, as the tables hold them now.
    pub async fn metrics(&self) -> Result<MetricsSnapshot> {
        let run_seconds = self.run_seconds_sql();
        let runs_sql = format!(
            "SELECT dag_id, state, {} FROM dag_run
             WHERE state IN ('success', 'failed') AND started_at IS NOT NULL AND ended_at IS NOT NULL
             GROUP BY dag_id, state ORDER BY dag_id, state",
            bucket_columns(run_seconds, &RUN_BUCKETS)
        );
        let tries_sql = format!(
            "SELECT dag_id, task_id, state, {} FROM task_try
             WHERE state <> 'running' AND duration IS NOT NULL
             GROUP BY dag_id, task_id, state ORDER BY dag_id, task_id, state",
            bucket_columns("duration", &TASK_BUCKETS)
        );
        let mut snapshot = MetricsSnapshot::default();
        with_pool!(self, p => {
            for row in sqlx::query(sqlx::AssertSqlSafe(runs_sql)).fetch_all(p).await? {
                use sqlx::Row;
                let labels = (row.try_get(0)?, row.try_get(1)?);
                snapshot.finished_runs.push((labels, durations(&row, 2, &RUN_BUCKETS)?));
            }
            for row in sqlx::query(sqlx::AssertSqlSafe(tries_sql)).fetch_all(p).await? {
                use sqlx::Row;
                let labels = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                snapshot.ended_tries.push((labels, durations(&row, 3, &TASK_BUCKETS)?));
            }
            snapshot.runs = sqlx::query_as("SELECT state, COUNT(*) FROM dag_run GROUP BY state ORDER BY state")
                .fetch_all(p).await?;
            snapshot.task_instances = sqlx::query_as(
                "SELECT COALESCE(state, 'none'), COUNT(*) FROM task_instance GROUP BY state ORDER BY 1")
                .fetch_all(p).await?;
            snapshot.data_tests = sqlx::query_as("SELECT status, COUNT(*) FROM test_result GROUP BY status ORDER BY status")
                .fetch_all(p).await?;
            snapshot.callbacks = sqlx::query_as(
                "SELECT action_kind, state, COUNT(*) FROM callback WHERE state IN ('sent', 'failed')
                 GROUP BY action_kind, state ORDER BY 1, 2")
                .fetch_all(p).await?;
        });
        snapshot.waiting_for_queue = self.tasks_waiting_for_queue().await?;
        snapshot.schedulers = self
            .running_jobs(Some("scheduler"))
            .await?
            .into_iter()
            .map(|job| (job.job_id, job.heartbeat_at))
            .collect();
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_do_not_overlap_and_the_last_takes_the_rest() {
        let sql = bucket_columns("d", &[1.0, 5.0]);
        assert_eq!(
            sql,
            "SUM(CASE WHEN d <= 1 THEN 1 ELSE 0 END), SUM(CASE WHEN d <= 5 AND d > 1 THEN 1 ELSE 0 END), \
             SUM(CASE WHEN d > 5 THEN 1 ELSE 0 END), COALESCE(SUM(d), 0), COUNT(*)"
        );
    }
}
