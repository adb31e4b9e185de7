//! Kept counts (migration 0016), so that what listings, the grid and /metrics count does
//! not grow with the history. `state_tally`: how many runs, task instances and test
//! results each DAG has in each state — triggers append a signed delta per DAG and state
//! whenever rows are inserted, change state or are deleted, and a sum over the rows is the
//! count. `duration_tally`: the duration histograms of /metrics — a trigger appends a row
//! when a run finishes or an attempt ends, and a sum per bucket is the histogram. Folding
//! replaces the appended rows with their sums, so both tables stay a few rows per DAG.
use super::BeginWrite;
use super::{Durations, RUN_BUCKETS, Result, Store, TASK_BUCKETS};

/// Which table a tally counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyKind {
    /// `dag_run` by `state`.
    DagRun,
    /// `task_instance` by `state` (`none` for not yet decided).
    TaskInstance,
    /// `test_result` by `status`.
    TestResult,
}

impl TallyKind {
    fn as_str(self) -> &'static str {
        match self {
            TallyKind::DagRun => "dag_run",
            TallyKind::TaskInstance => "task_instance",
            TallyKind::TestResult => "test_result",
        }
    }
}

impl Store {
    /// `(dag_id, state, count)` of `kind` with a count above zero, every DAG's.
    pub async fn state_tally(&self, kind: TallyKind) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT dag_id, state, CAST(SUM(n) AS BIGINT) FROM state_tally WHERE kind = $1
                   GROUP BY dag_id, state HAVING SUM(n) > 0 ORDER BY dag_id, state";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(kind.as_str()).fetch_all(p).await?))
    }

    /// `(state, count)` of `kind` over every DAG, states in order.
    pub async fn tally_by_state(&self, kind: TallyKind) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT state, CAST(SUM(n) AS BIGINT) FROM state_tally WHERE kind = $1
                   GROUP BY state HAVING SUM(n) > 0 ORDER BY state";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(kind.as_str()).fetch_all(p).await?))
    }

    /// How many rows of `kind` the DAGs `dag_ids` (every DAG when empty) have in the
    /// states `states` (any state when empty).
    pub async fn tally_count(
        &self,
        kind: TallyKind,
        dag_ids: &[String],
        states: impl ExactSizeIterator<Item = &'static str>,
    ) -> Result<i64> {
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM state_tally WHERE kind = ");
            query.push_bind(kind.as_str());
            super::runs::push_in_owned(&mut query, "dag_id", dag_ids);
            super::runs::push_in(&mut query, "state", states);
            Ok(query.build_query_scalar().fetch_one(p).await?)
        })
    }

    /// Replaces the appended rows of both tallies with their sums (none for a zero
    /// count); how many rows they held before. Safe beside writers and another fold: on
    /// PostgreSQL one statement deletes what its snapshot sees and inserts their sums (a
    /// row committed meanwhile is neither), on SQLite writers are serialised.
    pub async fn fold_tallies(&self) -> Result<u64> {
        let bucket = format!(
            "COALESCE(bucket, CASE WHEN kind = 'dag_run' THEN {} ELSE {} END)",
            bucket_case("seconds", &RUN_BUCKETS),
            bucket_case("seconds", &TASK_BUCKETS)
        );
        let state_sums = "SELECT kind, dag_id, state, SUM(n) FROM {rows}
                          GROUP BY kind, dag_id, state HAVING SUM(n) <> 0";
        let duration_sums = format!(
            "SELECT kind, dag_id, task_id, state, {bucket}, SUM(n), SUM(seconds) FROM {{rows}}
             GROUP BY kind, dag_id, task_id, state, {bucket}"
        );
        // Each table, its columns, and the query that sums rows `{rows}` of it.
        let tables = [
            (
                "state_tally",
                "kind, dag_id, state, n",
                state_sums.to_string(),
            ),
            (
                "duration_tally",
                "kind, dag_id, task_id, state, bucket, n, seconds",
                duration_sums,
            ),
        ];
        let folded = match &self.pool {
            super::Pool::Postgres(p) => {
                let mut folded = 0;
                for (table, columns, sums) in &tables {
                    let sql = format!(
                        "WITH gone AS (DELETE FROM {table} RETURNING {columns}),
                         kept AS (INSERT INTO {table} ({columns}) {})
                         SELECT COUNT(*) FROM gone",
                        sums.replace("{rows}", "gone")
                    );
                    folded += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                        .fetch_one(p)
                        .await?;
                }
                folded
            }
            super::Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                // A write first, so that the transaction holds SQLite's write lock before
                // it reads (one that read first may not write once another committed).
                sqlx::query("DELETE FROM state_tally WHERE 1 = 0")
                    .execute(&mut *tx)
                    .await?;
                let mut folded = 0;
                for (table, columns, sums) in &tables {
                    let last: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT MAX(rowid) FROM {table}"
                    )))
                    .fetch_one(&mut *tx)
                    .await?;
                    let Some(last) = last else { continue };
                    let rows = format!("(SELECT * FROM {table} WHERE rowid <= {last})");
                    let insert = format!(
                        "INSERT INTO {table} ({columns}) {}",
                        sums.replace("{rows}", &rows)
                    );
                    sqlx::query(sqlx::AssertSqlSafe(insert))
                        .execute(&mut *tx)
                        .await?;
                    let gone = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE rowid <= {last}"
                    )))
                    .execute(&mut *tx)
                    .await?;
                    folded += i64::try_from(gone.rows_affected()).unwrap_or(i64::MAX);
                }
                tx.commit().await?;
                folded
            }
        };
        Ok(u64::try_from(folded).unwrap_or(0))
    }

    /// The histogram of `kind` (`dag_run`: task id empty; `task_try`) per (DAG, task,
    /// state), over the buckets `bounds`.
    pub(super) async fn duration_tally(
        &self,
        kind: &str,
        bounds: &[f64],
    ) -> Result<Vec<((String, String, String), Durations)>> {
        let sql = format!(
            "SELECT dag_id, task_id, state, CAST(COALESCE(bucket, {}) AS BIGINT), CAST(SUM(n) AS BIGINT), SUM(seconds)
             FROM duration_tally WHERE kind = $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            bucket_case("seconds", bounds)
        );
        let rows: Vec<(String, String, String, i64, i64, f64)> = with_pool!(self, p =>
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(kind).fetch_all(p).await?);
        let mut histograms: Vec<((String, String, String), Durations)> = Vec::new();
        for (dag_id, task_id, state, bucket, n, seconds) in rows {
            let labels = (dag_id, task_id, state);
            if histograms.last().is_none_or(|(last, _)| *last != labels) {
                let empty = Durations {
                    buckets: vec![0; bounds.len() + 1],
                    ..Durations::default()
                };
                histograms.push((labels, empty));
            }
            if let Some((_, durations)) = histograms.last_mut() {
                let n = u64::try_from(n).unwrap_or(0);
                if let Some(slot) = usize::try_from(bucket)
                    .ok()
                    .and_then(|b| durations.buckets.get_mut(b))
                {
                    *slot += n;
                }
                durations.count += n;
                durations.sum += seconds;
            }
        }
        Ok(histograms)
    }
}

/// `CASE WHEN <expr> <= b0 THEN 0 WHEN <expr> <= b1 THEN 1 ... ELSE <len> END`: the index
/// of the histogram bucket a duration falls in (the last: above every bound).
fn bucket_case(expr: &str, bounds: &[f64]) -> String {
    let mut case = String::from("CASE");
    for (i, b) in bounds.iter().enumerate() {
        case.push_str(&format!(" WHEN {expr} <= {b} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", bounds.len()));
    case
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace-insensitive: whether `sql` holds `part`.
    fn holds(sql: &str, part: &str) -> bool {
        let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        squeeze(sql).contains(&squeeze(part))
    }

    #[test]
    fn the_migration_folds_the_history_into_the_buckets_metrics_reports() {
        for sql in [
            include_str!("../../../sql/migrations/postgres/0016_tallies.sql"),
            include_str!("../../../sql/migrations/sqlite/0016_tallies.sql"),
        ] {
            assert!(
                holds(sql, &bucket_case("s", &RUN_BUCKETS)),
                "{}",
                bucket_case("s", &RUN_BUCKETS)
            );
            assert!(
                holds(sql, &bucket_case("duration", &TASK_BUCKETS)),
                "{}",
                bucket_case("duration", &TASK_BUCKETS)
            );
        }
    }

    #[test]
    fn a_duration_falls_in_the_first_bucket_it_fits() {
        assert_eq!(
            bucket_case("d", &[0.5, 1.0]),
            "CASE WHEN d <= 0.5 THEN 0 WHEN d <= 1 THEN 1 ELSE 2 END"
        );
    }
}
