//! The DAGs folder: every `*.yaml` / `*.yml` file in it is one DAG.

use super::{Dag, DagError, Position, load_file};
use std::path::{Path, PathBuf};

/// What a DAGs folder holds: the DAGs that loaded, and the errors of those that did not.
pub struct DagFolder {
    pub dags: Vec<Dag>,
    pub errors: Vec<DagError>,
}

impl DagFolder {
    /// Loads every DAG file in `dir` (not recursive), sorted by file name.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        Ok(Self::load_files(&dag_files(dir)?))
    }

    /// Loads the given files, reporting a dag_id defined twice.
    pub fn load_files(files: &[PathBuf]) -> Self {
        let mut dags: Vec<Dag> = Vec::new();
        let mut errors = Vec::new();
        for file in files {
            match load_file(file) {
                Ok(dag) => {
                    if let Some(first) = dags.iter().find(|d| d.dag_id == dag.dag_id) {
                        errors.push(DagError {
                            file: file.clone(),
                            pos: Position::START,
                            message: format!(
                                "dag_id `{}` is already defined in {}",
                                dag.dag_id,
                                first.fileloc.display()
                            ),
                        });
                    } else {
                        dags.push(dag);
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        Self { dags, errors }
    }

    /// The DAG with this id.
    pub fn get(&self, dag_id: &str) -> Option<&Dag> {
        self.dags.iter().find(|d| d.dag_id == dag_id)
    }
}

/// The DAG files in `dir` (not recursive), sorted by name.
pub fn dag_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_dag_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether a path names a DAG file.
pub fn is_dag_file(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        )
}
