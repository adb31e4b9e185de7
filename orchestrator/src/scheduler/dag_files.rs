//! The scheduler's view of the DAGs folder: re-read whenever a file is added, changed or
//! removed, so DAGs change without a restart; a broken file is reported once per change
//! and the other DAGs keep running.

use crate::dag::{Dag, DagError, DagFolder, dag_files};
use crate::versions::Seen;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What identifies a version of a file without reading it.
type Stamp = (Option<SystemTime>, u64);

/// The DAGs of a folder, kept current.
pub struct DagFiles {
    dir: PathBuf,
    stamps: BTreeMap<PathBuf, Stamp>,
    dags: HashMap<String, Arc<Dag>>,
    /// Every DAG id this process has loaded (a DAG loaded again after that was seen
    /// changing).
    seen: HashSet<String>,
    /// Why the files that did not load did not.
    errors: Vec<DagError>,
    /// Whether the folder was missing at the last look (reported once).
    missing: bool,
}

impl DagFiles {
    /// Watches `dir` (nothing is loaded until the first [`DagFiles::refresh`]).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stamps: BTreeMap::new(),
            dags: HashMap::new(),
            seen: HashSet::new(),
            errors: Vec::new(),
            missing: false,
        }
    }

    /// Reloads the folder if any DAG file changed; returns the DAGs that are new or
    /// changed since the last refresh, each with whether this process saw it before.
    pub fn refresh(&mut self) -> Vec<(Arc<Dag>, Seen)> {
        let stamps = match scan(&self.dir) {
            Ok(stamps) => {
                self.missing = false;
                stamps
            }
            Err(e) => {
                if !self.missing {
                    tracing::error!("cannot read the DAGs folder {}: {e}", self.dir.display());
                    self.missing = true;
                }
                BTreeMap::new()
            }
        };
        if stamps == self.stamps {
            return Vec::new();
        }
        let files: Vec<PathBuf> = stamps.keys().cloned().collect();
        let folder = DagFolder::load_files(&files);
        for e in &folder.errors {
            tracing::error!("{e}");
        }
        let mut changed = Vec::new();
        let mut dags = HashMap::new();
        for dag in folder.dags {
            let file_changed = self.stamps.get(&dag.fileloc) != stamps.get(&dag.fileloc)
                || !self.dags.contains_key(&dag.dag_id);
            let dag = match self.dags.get(&dag.dag_id) {
                Some(old) if !file_changed => old.clone(),
                _ => {
                    tracing::info!("loaded DAG {} from {}", dag.dag_id, dag.fileloc.display());
                    let seen = if self.seen.insert(dag.dag_id.clone()) {
                        Seen::First
                    } else {
                        Seen::Changed
                    };
                    let dag = Arc::new(dag);
                    changed.push((dag.clone(), seen));
                    dag
                }
            };
            dags.insert(dag.dag_id.clone(), dag);
        }
        for gone in self.dags.keys().filter(|id| !dags.contains_key(*id)) {
            tracing::warn!(
                "DAG {gone} is no longer in {}: it gets no new runs",
                self.dir.display()
            );
        }
        self.stamps = stamps;
        self.dags = dags;
        self.errors = folder.errors;
        changed
    }

    /// The DAG with this id, if its file loads.
    pub fn get(&self, dag_id: &str) -> Option<&Arc<Dag>> {
        self.dags.get(dag_id)
    }

    /// Every loaded DAG.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Dag>> {
        self.dags.values()
    }

    /// The errors of the files that did not load, as of the last refresh.
    pub fn errors(&self) -> &[DagError] {
        &self.errors
    }
}

fn scan(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Stamp>> {
    let mut stamps = BTreeMap::new();
    for path in dag_files(dir)? {
        // A file removed between the listing and here is simply gone; it must not make
        // the whole folder look unreadable (which would drop every DAG for a tick).
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        stamps.insert(path, (meta.modified().ok(), meta.len()));
    }
    Ok(stamps)
}
