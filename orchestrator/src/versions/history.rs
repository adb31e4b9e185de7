//! A DAG's versions as people look at them: each with what changed from the one before
//! and how many runs used it, and the difference between any two.

use super::changes::{Compared, DiffLine, TaskChanges, task_changes, text_diff};
use crate::store::{DagVersionRow, Store, StoreError};
use serde::Serialize;

/// A version with what changed from the one before it.
#[derive(Debug, Serialize)]
pub struct VersionSummary {
    #[serde(flatten)]
    pub version: DagVersionRow,
    /// None for the first version.
    pub changes: Option<TaskChanges>,
    /// Runs worked with this version.
    pub runs: i64,
}

/// Every version of `dag_id`, oldest first.
pub async fn history(store: &Store, dag_id: &str) -> Result<Vec<VersionSummary>, StoreError> {
    let listed = store.dag_versions(dag_id).await?;
    let runs = store.runs_by_version(dag_id).await?;
    let mut out = Vec::with_capacity(listed.len());
    let mut previous: Option<(DagVersionRow, Vec<crate::store::VersionFileRow>)> = None;
    for row in listed {
        let version = store
            .dag_version(dag_id, row.version_number)
            .await?
            .unwrap_or(row);
        let files = store.version_files(dag_id, version.version_number).await?;
        let changes = previous.as_ref().map(|(old, old_files)| {
            task_changes(
                &Compared {
                    version: old,
                    files: old_files,
                },
                &Compared {
                    version: &version,
                    files: &files,
                },
            )
        });
        out.push(VersionSummary {
            runs: runs
                .iter()
                .find(|(n, _)| *n == version.version_number)
                .map_or(0, |(_, count)| *count),
            version: DagVersionRow {
                dag_text: String::new(),
                ..version.clone()
            },
            changes,
        });
        previous = Some((version, files));
    }
    Ok(out)
}

/// How two versions differ: tasks, and the text of the DAG file and of each named file
/// both kept whole.
#[derive(Debug, Serialize)]
pub struct VersionDiff {
    pub from: i64,
    pub to: i64,
    pub changes: TaskChanges,
    /// `(file, lines)`: the DAG file first (named by its file name), then each named file
    /// that differs.
    pub files: Vec<(String, Vec<DiffLine>)>,
}

/// The difference from version `from` to version `to` (None when either is missing).
pub async fn diff(
    store: &Store,
    dag_id: &str,
    (from, to): (i64, i64),
) -> Result<Option<VersionDiff>, StoreError> {
    let (Some(old), Some(new)) = (
        store.dag_version(dag_id, from).await?,
        store.dag_version(dag_id, to).await?,
    ) else {
        return Ok(None);
    };
    let (old_files, new_files) = (
        store.version_files(dag_id, from).await?,
        store.version_files(dag_id, to).await?,
    );
    let changes = task_changes(
        &Compared {
            version: &old,
            files: &old_files,
        },
        &Compared {
            version: &new,
            files: &new_files,
        },
    );
    let name = std::path::Path::new(&new.fileloc).file_name().map_or_else(
        || "DAG file".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut files = vec![(name, text_diff(&old.dag_text, &new.dag_text))];
    let text = |f: &crate::store::VersionFileRow| match &f.content {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => format!("(kept by hash only: sha256 {})", f.sha256),
    };
    let mut paths: Vec<&str> = old_files
        .iter()
        .chain(&new_files)
        .map(|f| f.path.as_str())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let (a, b) = (
            old_files.iter().find(|f| f.path == path),
            new_files.iter().find(|f| f.path == path),
        );
        if a.map(|f| &f.sha256) == b.map(|f| &f.sha256) {
            continue;
        }
        let (a, b) = (
            a.map(text).unwrap_or_default(),
            b.map(text).unwrap_or_default(),
        );
        files.push((path.to_string(), text_diff(&a, &b)));
    }
    Ok(Some(VersionDiff {
        from,
        to,
        changes,
        files,
    }))
}
