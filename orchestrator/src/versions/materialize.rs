//! A stored version made into files again: the DAG file and its named files written under
//! `<home>/dag_versions/<dag_id>/<number>-<hash>/` in the layout they had around the DAG
//! file (so `../sql/x.sql` resolves as it did), then loaded like any DAG file. A file kept
//! by hash only is taken from this host when it is still the same; when it is not, tasks
//! that name it are refused rather than run with other code.

use crate::dag::{Dag, load_file, source};
use crate::store::{DagVersionRow, VersionFileRow};
use std::path::{Path, PathBuf};

/// A file of a version this host cannot provide as it was.
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// As the version names it (relative to the DAG file's folder, or absolute).
    pub path: String,
    pub reason: String,
}

/// Writes `version` with `files` under `root` (if not there yet) and loads it; the DAG,
/// and the files it cannot have as they were.
pub fn materialize(
    root: &Path,
    version: &DagVersionRow,
    files: &[VersionFileRow],
) -> Result<(Dag, Vec<Unavailable>), String> {
    let depth = files
        .iter()
        .filter(|f| !Path::new(&f.path).is_absolute())
        .map(|f| f.path.split('/').take_while(|p| *p == "..").count())
        .max()
        .unwrap_or(0);
    // The DAG file's folder is `depth` levels down, so that `..` stays inside `root`.
    let mut dag_dir = root.join("dags");
    for level in 0..depth {
        dag_dir.push(format!("up{level}"));
    }
    let original_dir = Path::new(&version.fileloc)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let file_name = Path::new(&version.fileloc).file_name().map_or_else(
        || format!("{}.yaml", version.dag_id),
        |n| n.to_string_lossy().into_owned(),
    );
    let dag_file = dag_dir.join(&file_name);
    let mut unavailable = Vec::new();
    if !dag_file.exists() {
        // Written aside and renamed into place whole: another process of this host may
        // be writing the same version.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = root.with_extension(format!("writing-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let staged_dag_dir = staging.join(dag_dir.strip_prefix(root).unwrap_or(&dag_dir));
        write(
            &staged_dag_dir.join(&file_name),
            version.dag_text.as_bytes(),
        )?;
        for file in files {
            let Some(target) = inside(&staging, &staged_dag_dir, &file.path) else {
                continue;
            };
            match provide(file, &original_dir) {
                Ok(bytes) => write(&target, &bytes)?,
                Err(reason) => unavailable.push(Unavailable {
                    path: file.path.clone(),
                    reason,
                }),
            }
        }
        if let Err(e) = std::fs::rename(&staging, root) {
            let _ = std::fs::remove_dir_all(&staging);
            if !dag_file.exists() {
                return Err(format!("cannot write {}: {e}", root.display()));
            }
        }
    } else {
        // Written before: what could not be provided then is checked again now.
        for file in files.iter().filter(|f| f.content.is_none()) {
            if let Err(reason) = provide(file, &original_dir) {
                unavailable.push(Unavailable {
                    path: file.path.clone(),
                    reason,
                });
            }
        }
    }
    let dag = load_file(&dag_file).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok((dag, unavailable))
}

/// The bytes of a version's file: stored, or (kept by hash only) this host's copy when
/// its hash is the one recorded.
fn provide(file: &VersionFileRow, original_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(content) = &file.content {
        return Ok(content.clone());
    }
    let live = original_dir.join(&file.path);
    let bytes = std::fs::read(&live).map_err(|e| {
        format!(
            "it was kept by hash only (the version's files were over 10 MB) and {} cannot be read on this host: {e}",
            live.display()
        )
    })?;
    let hash = source::sha256(&bytes);
    if hash == file.sha256 {
        Ok(bytes)
    } else {
        Err(format!(
            "it was kept by hash only (the version's files were over 10 MB) and {} on this host is not that file any more (sha256 {} instead of {})",
            live.display(),
            &hash[..12],
            &file.sha256[..file.sha256.len().min(12)]
        ))
    }
}

/// Where a version's file goes under the staging folder: relative ones around the DAG
/// file's folder; never outside `root` (None then, and for absolute paths, which tasks
/// read where they are).
fn inside(root: &Path, dag_dir: &Path, path: &str) -> Option<PathBuf> {
    if Path::new(path).is_absolute() {
        return None;
    }
    let normalized = source::normalize(path)?;
    let mut target = dag_dir.to_path_buf();
    for part in normalized.split('/') {
        if part == ".." {
            target.pop();
        } else {
            target.push(part);
        }
    }
    target.starts_with(root).then_some(target)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_inside_the_version_folder() {
        let root = Path::new("/v");
        let dag_dir = Path::new("/v/dags/up0");
        assert_eq!(
            inside(root, dag_dir, "../sql/a.sql"),
            Some(PathBuf::from("/v/dags/sql/a.sql"))
        );
        assert_eq!(
            inside(root, dag_dir, "models/x.sql"),
            Some(PathBuf::from("/v/dags/up0/models/x.sql"))
        );
        assert_eq!(inside(root, dag_dir, "../../../etc/passwd"), None);
        assert_eq!(inside(root, dag_dir, "/etc/passwd"), None);
    }
}
