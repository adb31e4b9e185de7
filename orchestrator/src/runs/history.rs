//! Keeping the history to a size (`updraft db clean`, `[history] keep`): the runs a
//! clean removes, a batch of one DAG's runs at a time (each its own short transaction),
//! their attempts' logs (files, or objects in the store) once their rows are gone, and
//! the rows of long-ended jobs.

use crate::store::{CleanRequest, Cleaned, Store};
use std::path::Path;

/// Runs removed per transaction: small enough that no lock is held long.
const BATCH: i64 = 500;

/// What a clean did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CleanReport {
    #[serde(flatten)]
    pub cleaned: Cleaned,
    pub jobs: i64,
    /// Log files deleted (a dry run: the attempts' logs it would delete).
    pub log_files: i64,
    pub dry_run: bool,
}

/// Removes what `request` picks (with `dry_run`, only counts it), calling `progress`
/// with (runs done, runs in all) after each batch.
pub async fn clean_history(
    store: &Store,
    request: &CleanRequest,
    dry_run: bool,
    mut progress: impl FnMut(i64, i64),
) -> Result<CleanReport, crate::store::StoreError> {
    let scope = store.clean_scope(request).await?;
    let mut total = 0;
    let mut dags = Vec::new();
    for (dag_id, kept_from) in scope {
        // A DAG with fewer runs than it keeps has nothing to remove.
        let Some(kept_from) = kept_from else {
            continue;
        };
        let count = store
            .count_runs_to_clean(request, (&dag_id, kept_from))
            .await?;
        if count > 0 {
            total += count;
            dags.push((dag_id, kept_from));
        }
    }
    let mut report = CleanReport {
        dry_run,
        ..CleanReport::default()
    };
    progress(0, total);
    for (dag_id, kept_from) in &dags {
        let mut after = None;
        while let Some(batch) = store
            .next_clean_batch(request, (dag_id, *kept_from), after, BATCH)
            .await?
        {
            after = Some(batch.last);
            let (cleaned, logs) = store.clean_batch(&batch, dry_run).await?;
            report.log_files += if dry_run {
                i64::try_from(logs.len()).unwrap_or(i64::MAX)
            } else {
                delete_logs(&logs).await
            };
            report.cleaned.add(&cleaned);
            progress(report.cleaned.runs, total);
        }
    }
    report.jobs = store.clean_jobs(request.cut, dry_run).await?;
    Ok(report)
}

/// Deletes the logs: those in the object store, and the files of this host (another
/// host's are its own) with the folders they leave empty; how many went.
async fn delete_logs(paths: &[String]) -> i64 {
    let mut deleted = 0;
    for path in paths {
        if crate::remote_logs::is_remote(path) {
            match crate::remote_logs::RemoteLog::open(path) {
                Ok(log) => match log.delete().await {
                    Ok(()) => deleted += 1,
                    Err(e) => tracing::warn!("cannot delete the log at {path}: {e}"),
                },
                Err(e) => tracing::warn!("cannot delete the log at {path}: {e}"),
            }
            continue;
        }
        let path = Path::new(path);
        match std::fs::remove_file(path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot delete the log {}: {e}", path.display()),
        }
        // task_id=… then run_id=…: removed when nothing else is in them.
        let mut dir = path.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    deleted
}
