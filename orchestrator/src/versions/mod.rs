//! DAG versions: every change of a DAG's definition or of a file its tasks name is a new
//! numbered version in the history ([`record`]), and a run is worked with the version it
//! started with ([`DagVersions::resolve`]) — read from the history by any process on any
//! host, never from whatever its DAGs folder holds now. [`changes`] says what differs
//! between two versions.

pub mod changes;
mod history;
mod materialize;
mod record;

pub use history::{VersionDiff, VersionSummary, diff, history};
pub use materialize::Unavailable;
pub use record::{MAX_STORED_BYTES, record};

use crate::dag::{Dag, Task};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why a version cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("DAG `{dag_id}` has no version {number} in the history")]
    Missing { dag_id: String, number: i64 },
    #[error("version {number} of DAG `{dag_id}` does not load on this host: {message}")]
    Load {
        dag_id: String,
        number: i64,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A version as this process can work it.
#[derive(Debug)]
pub struct Resolved {
    pub number: i64,
    pub dag: Arc<Dag>,
    /// Files of the version this host cannot provide as they were.
    pub unavailable: Vec<Unavailable>,
}

impl Resolved {
    /// Why `task` must not run here (it names a file this host cannot provide as it was).
    pub fn refusal(&self, task: &Task) -> Option<String> {
        let named = updraft_tasks::named_files(&task.task_type, &task.config);
        let missing = self.unavailable.iter().find(|u| {
            named
                .iter()
                .filter_map(|n| crate::dag::source::normalize(n))
                .any(|n| u.path == n || u.path.starts_with(&format!("{n}/")))
        })?;
        Some(format!(
            "task `{}` of DAG version {} names `{}`, which this host cannot provide as that \
             version had it: {}. Clear the run with the latest version to run the files as \
             they are now",
            task.task_id, self.number, missing.path, missing.reason
        ))
    }
}

/// The versions this process has worked with, by DAG and number.
pub struct DagVersions {
    /// Where versions not in the DAGs folder are written out: `<home>/dag_versions`.
    root: PathBuf,
    cache: Mutex<HashMap<(String, i64), Arc<Resolved>>>,
    /// Held while a version is written out: runs of one version that start together
    /// write it once.
    writing: tokio::sync::Mutex<()>,
}

impl DagVersions {
    /// Versions written out under `home`.
    pub fn new(home: &std::path::Path) -> Arc<Self> {
        Arc::new(Self {
            root: home.join("dag_versions"),
            cache: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// Version `number` of `dag_id`: `current` (the DAGs folder's) when it has that
    /// version's content, else the version as stored, written out and loaded.
    pub async fn resolve(
        &self,
        store: &Store,
        dag_id: &str,
        number: i64,
        current: Option<&Arc<Dag>>,
    ) -> Result<Arc<Resolved>, VersionError> {
        let key = (dag_id.to_string(), number);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let _writing = self.writing.lock().await;
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let row =
            store
                .dag_version(dag_id, number)
                .await?
                .ok_or_else(|| VersionError::Missing {
                    dag_id: dag_id.to_string(),
                    number,
                })?;
        let resolved = match current.filter(|d| d.source.hash == row.content_hash) {
            Some(dag) => Resolved {
                number,
                dag: dag.clone(),
                unavailable: Vec::new(),
            },
            None => {
                let files = store.version_files(dag_id, number).await?;
                let short = row.content_hash.chars().take(12).collect::<String>();
                let root = self.root.join(dag_id).join(format!("{number}-{short}"));
                let written = tokio::task::spawn_blocking(move || {
                    materialize::materialize(&root, &row, &files)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
                let (dag, unavailable) = written.map_err(|message| VersionError::Load {
                    dag_id: dag_id.to_string(),
                    number,
                    message,
                })?;
                Resolved {
                    number,
                    dag: Arc::new(dag),
                    unavailable,
                }
            }
        };
        let resolved = Arc::new(resolved);
        self.lock().insert(key, resolved.clone());
        Ok(resolved)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Arc<Resolved>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
