//! Recording the version of a DAG as its folder holds it: a new numbered version when its
//! definition or a named file changed, with the DAG file's text and the named files' text
//! while together under [`MAX_STORED_BYTES`] (else only their hashes).

use crate::dag::{Dag, DagSource, Seen};
use crate::store::{NewVersionFile, Store, StoreError};

/// The most a version keeps whole (DAG file and named files together); a larger one keeps
/// the named files by hash only.
pub const MAX_STORED_BYTES: u64 = 10 * 1024 * 1024;

/// Records `dag` (as loaded from its folder) as a new version unless the newest version
/// has its content; returns the number of the version with its content. Content that an
/// older version has is recorded again (a file reverted on purpose) when this process saw
/// the file change, or its files changed after the newest version was recorded; a file
/// older than that is a folder behind another host's, and must not make its old DAG the
/// newest (it is said in a warning).
pub async fn record(store: &Store, dag: &Dag, seen: Seen) -> Result<i64, StoreError> {
    let source = &dag.source;
    if seen == Seen::First
        && let Some(older) = store.version_with_hash(&dag.dag_id, &source.hash).await?
        && let Some(newest) = store.newest_version_row(&dag.dag_id).await?
        && newest.version_number != older
    {
        let changed_since = source
            .modified
            .is_some_and(|m| chrono::DateTime::<chrono::Utc>::from(m) > newest.created_at);
        if !changed_since {
            tracing::warn!(
                "{} holds version {older} of DAG {}, not its newest ({}), and has not changed                  since that was recorded: new runs take the newest. A folder behind another                  host's? If the file was reverted on purpose, save it again.",
                dag.fileloc.display(),
                dag.dag_id,
                newest.version_number
            );
            return Ok(older);
        }
    }
    let contents = file_contents(source);
    let files: Vec<NewVersionFile> = source
        .files
        .iter()
        .zip(contents)
        .map(|(f, content)| NewVersionFile {
            path: &f.path,
            sha256: &f.sha256,
            bytes: i64::try_from(f.bytes).unwrap_or(i64::MAX),
            content,
        })
        .collect();
    let number = store
        .record_version(
            &dag.dag_id,
            &source.hash,
            &dag.fileloc.display().to_string(),
            &source.text,
            &files,
        )
        .await?;
    Ok(number)
}

/// The content of each named file when the version keeps them whole: only relative ones
/// (an absolute path is read where it is), and only as hashed (a file that changed since
/// is kept by hash only).
fn file_contents(source: &DagSource) -> Vec<Option<Vec<u8>>> {
    let total = source.text.len() as u64 + source.files.iter().map(|f| f.bytes).sum::<u64>();
    source
        .files
        .iter()
        .map(|f| {
            if total > MAX_STORED_BYTES || !f.is_relative() {
                return None;
            }
            let bytes = std::fs::read(&f.location).ok()?;
            (crate::dag::source::sha256(&bytes) == f.sha256).then_some(bytes)
        })
        .collect()
}
