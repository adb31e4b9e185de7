//! DAG versions in the history: recording a new one (numbered one after the newest, never
//! twice for the same content in a row, whichever process records it), reading them
//! back with their files, pinning a run to the newest, and planning a run's task
//! instances on its version (new tasks get instances, tasks gone become `removed`).

use super::BeginWrite;
use super::{Result, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

row_struct! {
    /// A row of `dag_version` (without the DAG file's text unless asked for).
    #[derive(Debug, Clone, Serialize)]
    pub struct DagVersionRow {
        pub dag_id: String,
        pub version_number: i64,
        pub content_hash: String,
        pub created_at: DateTime<Utc>,
        pub fileloc: String,
        /// Empty in listings.
        #[serde(skip)]
        pub dag_text: String,
    }
}

row_struct! {
    /// A row of `dag_version_file`.
    #[derive(Debug, Clone)]
    pub struct VersionFileRow {
        pub path: String,
        pub sha256: String,
        pub bytes: i64,
        /// None: recorded by hash only.
        pub content: Option<Vec<u8>>,
    }
}

/// A file of a version to record.
pub struct NewVersionFile<'a> {
    pub path: &'a str,
    pub sha256: &'a str,
    pub bytes: i64,
    pub content: Option<Vec<u8>>,
}

/// The columns of a version in listings (the text left out).
const VERSION_LISTED: &str = "SELECT dag_id, version_number, content_hash, created_at, fileloc, '' AS dag_text FROM dag_version";

impl Store {
    /// Records a version of `dag_id` with `content_hash` unless the newest version has
    /// that content already; returns the number of the newest version then.
    pub async fn record_version(
        &self,
        dag_id: &str,
        content_hash: &str,
        fileloc: &str,
        dag_text: &str,
        files: &[NewVersionFile<'_>],
    ) -> Result<i64> {
        // Two processes recording at once both pick the next number; the one that loses
        // the primary key reads what the winner recorded.
        for _ in 0..3 {
            match self
                .try_record_version(dag_id, content_hash, fileloc, dag_text, files)
                .await
            {
                Err(StoreError::Sql(sqlx::Error::Database(e))) if e.is_unique_violation() => {}
                other => return other,
            }
        }
        self.try_record_version(dag_id, content_hash, fileloc, dag_text, files)
            .await
    }

    async fn try_record_version(
        &self,
        dag_id: &str,
        content_hash: &str,
        fileloc: &str,
        dag_text: &str,
        files: &[NewVersionFile<'_>],
    ) -> Result<i64> {
        let newest = "SELECT version_number, content_hash FROM dag_version WHERE dag_id = $1
                      ORDER BY version_number DESC LIMIT 1";
        let insert = "INSERT INTO dag_version (dag_id, version_number, content_hash, created_at, fileloc, dag_text)
                      VALUES ($1, $2, $3, $4, $5, $6)";
        let insert_file =
            "INSERT INTO dag_version_file (dag_id, version_number, path, sha256, bytes, content)
                           VALUES ($1, $2, $3, $4, $5, $6)";
        // Writing first takes the write lock at once (SQLite would refuse to turn a read
        // into a write under a concurrent writer) and, on PostgreSQL, makes recorders of
        // one DAG take turns.
        let lock = "UPDATE dag SET is_paused = is_paused WHERE dag_id = $1";
        let number = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(lock).bind(dag_id).execute(&mut *tx).await?;
            let newest: Option<(i64, String)> = sqlx::query_as(newest).bind(dag_id).fetch_optional(&mut *tx).await?;
            if let Some((number, hash)) = &newest
                && hash == content_hash
            {
                return Ok::<_, sqlx::Error>(*number);
            }
            let number = newest.map_or(1, |(n, _)| n + 1);
            sqlx::query(insert).bind(dag_id).bind(number).bind(content_hash).bind(Utc::now())
                .bind(fileloc).bind(dag_text).execute(&mut *tx).await?;
            for f in files {
                sqlx::query(insert_file).bind(dag_id).bind(number).bind(f.path).bind(f.sha256)
                    .bind(f.bytes).bind(f.content.as_deref()).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(number)
        }.await)?;
        Ok(number)
    }

    /// The versions of a DAG, oldest first.
    pub async fn dag_versions(&self, dag_id: &str) -> Result<Vec<DagVersionRow>> {
        let sql = format!("{VERSION_LISTED} WHERE dag_id = $1 ORDER BY version_number");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dag_id).fetch_all(p).await?),
        )
    }

    /// One version with its DAG file's text.
    pub async fn dag_version(&self, dag_id: &str, number: i64) -> Result<Option<DagVersionRow>> {
        let sql = "SELECT dag_id, version_number, content_hash, created_at, fileloc, dag_text
                   FROM dag_version WHERE dag_id = $1 AND version_number = $2";
        Ok(
            with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(number).fetch_optional(p).await?),
        )
    }

    /// The files of a version, in path order.
    pub async fn version_files(&self, dag_id: &str, number: i64) -> Result<Vec<VersionFileRow>> {
        let sql = "SELECT path, sha256, bytes, content FROM dag_version_file
                   WHERE dag_id = $1 AND version_number = $2 ORDER BY path";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(number).fetch_all(p).await?))
    }

    /// `(run_id, version)` of every version the task instances of these runs were planned
    /// on.
    pub async fn versions_of_runs(
        &self,
        dag_id: &str,
        run_ids: &[&str],
    ) -> Result<Vec<(String, i64)>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT DISTINCT run_id, dag_version FROM task_instance WHERE dag_version IS NOT NULL AND dag_id = ",
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

    /// How many runs of the DAG each version was worked with.
    pub async fn runs_by_version(&self, dag_id: &str) -> Result<Vec<(i64, i64)>> {
        let sql = "SELECT dag_version, COUNT(*) FROM dag_run
                   WHERE dag_id = $1 AND dag_version IS NOT NULL GROUP BY dag_version";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).fetch_all(p).await?))
    }

    /// Whether a version of the DAG has this content (any version, not only the newest).
    pub async fn version_with_hash(&self, dag_id: &str, content_hash: &str) -> Result<Option<i64>> {
        let sql =
            "SELECT MAX(version_number) FROM dag_version WHERE dag_id = $1 AND content_hash = $2";
        let found: Option<i64> = with_pool!(self, p => sqlx::query_scalar(sql).bind(dag_id).bind(content_hash).fetch_one(p).await?);
        Ok(found)
    }

    /// The DAG's newest version (without its text), if it has any.
    pub async fn newest_version_row(&self, dag_id: &str) -> Result<Option<DagVersionRow>> {
        let sql =
            format!("{VERSION_LISTED} WHERE dag_id = $1 ORDER BY version_number DESC LIMIT 1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(dag_id).fetch_optional(p).await?),
        )
    }

    /// The number of the DAG's newest version, if it has any.
    pub async fn newest_version(&self, dag_id: &str) -> Result<Option<i64>> {
        let sql = "SELECT MAX(version_number) FROM dag_version WHERE dag_id = $1";
        let found: Option<i64> =
            with_pool!(self, p => sqlx::query_scalar(sql).bind(dag_id).fetch_one(p).await?);
        Ok(found)
    }

    /// Pins a run that has no version yet (it starts now, or it is from before versions)
    /// to its DAG's newest; returns the run's version (None: the DAG has none).
    pub async fn pin_run(&self, dag_id: &str, run_id: &str) -> Result<Option<i64>> {
        let pin = "UPDATE dag_run SET dag_version =
                     (SELECT MAX(version_number) FROM dag_version WHERE dag_id = $1)
                   WHERE dag_id = $1 AND run_id = $2 AND dag_version IS NULL";
        let read = "SELECT dag_version FROM dag_run WHERE dag_id = $1 AND run_id = $2";
        let version: Option<i64> = with_pool!(self, p => async {
            sqlx::query(pin).bind(dag_id).bind(run_id).execute(p).await?;
            sqlx::query_scalar(read).bind(dag_id).bind(run_id).fetch_optional(p).await
        }.await)?
        .flatten();
        Ok(version)
    }

    /// Moves a run to version `number` (a clear onto the newest version).
    pub async fn repin_run(&self, dag_id: &str, run_id: &str, number: i64) -> Result<()> {
        let sql = "UPDATE dag_run SET dag_version = $3 WHERE dag_id = $1 AND run_id = $2";
        with_pool!(self, p => sqlx::query(sql).bind(dag_id).bind(run_id).bind(number).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Plans a run's task instances on its version `number`: instances for `added` tasks,
    /// `removed` for the instances of `gone` tasks that are not running (only the
    /// unfinished ones unless `finished_too`: a finished one is history), the queue of
    /// `requeued` tasks (`(task_id, queue)`: the version moved them), and the version on
    /// every instance planned before the run had one. In one transaction; any job may do
    /// it.
    pub async fn plan_instances(
        &self,
        (dag_id, run_id): (&str, &str),
        number: Option<i64>,
        (added, requeued): (&[crate::dag::TaskRow<'_>], &[(&str, &str)]),
        (gone, finished_too): (&[&str], bool),
    ) -> Result<()> {
        let insert = "INSERT INTO task_instance (dag_id, run_id, task_id, task_type, try_number, max_tries,
                        dag_version, queue)
                      VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT (dag_id, run_id, task_id, map_index)
                      DO NOTHING";
        let remove = if finished_too {
            "UPDATE task_instance SET state = 'removed', next_try_at = NULL
             WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
               AND (state IS NULL OR state <> 'running')"
        } else {
            "UPDATE task_instance SET state = 'removed', next_try_at = NULL
             WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
               AND (state IS NULL OR state IN ('scheduled', 'queued', 'up_for_retry',
                                               'up_for_reschedule'))"
        };
        let versioned = "UPDATE task_instance SET dag_version = $3
                         WHERE dag_id = $1 AND run_id = $2 AND dag_version IS NULL";
        let requeue = "UPDATE task_instance SET queue = $4
                       WHERE dag_id = $1 AND run_id = $2 AND task_id = $3
                         AND (state IS NULL OR state <> 'running')";
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            for task in added {
                sqlx::query(insert).bind(dag_id).bind(run_id).bind(task.task_id).bind(task.task_type)
                    .bind(task.max_tries).bind(number).bind(task.queue).execute(&mut *tx).await?;
            }
            for task_id in gone {
                sqlx::query(remove).bind(dag_id).bind(run_id).bind(*task_id).execute(&mut *tx).await?;
            }
            for (task_id, queue) in requeued {
                sqlx::query(requeue).bind(dag_id).bind(run_id).bind(*task_id).bind(*queue)
                    .execute(&mut *tx).await?;
            }
            if let Some(number) = number {
                sqlx::query(versioned).bind(dag_id).bind(run_id).bind(number).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)?;
        Ok(())
    }
}
