//! What `/metrics` reports, read from the history at each scrape: so the figures are the
//! database's own (they survive restarts and agree on every host). Counts and histograms
//! come from the kept tallies (store/tallies.rs), so a scrape costs the same whatever the
//! history's size.

use super::{Result, Store, TallyKind};
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
        let finished_runs = self
            .duration_tally("dag_run", &RUN_BUCKETS)
            .await?
            .into_iter()
            .map(|((dag_id, _, state), durations)| ((dag_id, state), durations))
            .collect();
        let mut snapshot = MetricsSnapshot {
            finished_runs,
            ended_tries: self.duration_tally("task_try", &TASK_BUCKETS).await?,
            ..MetricsSnapshot::default()
        };
        with_pool!(self, p => {
            snapshot.callbacks = sqlx::query_as(
                "SELECT action_kind, state, COUNT(*) FROM callback WHERE state IN ('sent', 'failed')
                 GROUP BY action_kind, state ORDER BY 1, 2")
                .fetch_all(p).await?;
        });
        snapshot.runs = self.tally_by_state(TallyKind::DagRun).await?;
        snapshot.task_instances = self.tally_by_state(TallyKind::TaskInstance).await?;
        snapshot.data_tests = self.tally_by_state(TallyKind::TestResult).await?;
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
