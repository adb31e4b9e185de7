//! `updraft dag versions` (a DAG's recorded versions, what each changed, the runs that
//! used it; `--diff A B` the difference between two) and the version `dag show
//! --version N` shows.

use super::output::{iso, print_object, print_rows};
use super::{Context, usage};
use crate::dag::Dag;
use crate::versions::changes::DiffLine;
use crate::versions::{self, DagVersions};
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;

/// A version as `dag versions` lists it.
#[derive(Serialize)]
struct VersionListing {
    version_number: i64,
    created_at: String,
    content_hash: String,
    changes: String,
    runs: i64,
}

/// `updraft dag versions DAG [--diff FROM TO]`.
pub async fn versions(
    ctx: &Context,
    dag_id: &str,
    diff: Option<Vec<i64>>,
) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    if let Some(&[from, to]) = diff.as_deref() {
        let Some(diff) = versions::diff(&store, dag_id, (from, to)).await? else {
            return Err(usage(format!(
                "DAG `{dag_id}` has no version {from} or no version {to} (`updraft dag versions {dag_id}` lists them)"
            )));
        };
        if ctx.format == super::Format::Json {
            print_object(ctx.format, &diff)?;
            return Ok(ExitCode::SUCCESS);
        }
        say!("version {from} → {to}: {}", diff.changes.summary());
        for (file, lines) in &diff.files {
            say!("--- {file} (version {from})\n+++ {file} (version {to})");
            for line in lines {
                match line {
                    DiffLine::Same(text) => say!("  {text}"),
                    DiffLine::Added(text) => say!("+ {text}"),
                    DiffLine::Removed(text) => say!("- {text}"),
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let listed = versions::history(&store, dag_id).await?;
    if listed.is_empty() {
        return Err(usage(format!(
            "DAG `{dag_id}` has no recorded version (a scheduler or `dag trigger` records one when it reads the DAG's file)"
        )));
    }
    let rows: Vec<VersionListing> = listed
        .iter()
        .map(|v| VersionListing {
            version_number: v.version.version_number,
            created_at: iso(v.version.created_at),
            content_hash: v.version.content_hash.chars().take(12).collect(),
            changes: v
                .changes
                .as_ref()
                .map_or_else(|| "first version".to_string(), |c| c.summary()),
            runs: v.runs,
        })
        .collect();
    print_rows(
        ctx.format,
        &rows,
        &[
            "version_number",
            "created_at",
            "content_hash",
            "changes",
            "runs",
        ],
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Version `number` of `dag_id` as recorded (the DAGs folder's when it is that version).
pub async fn version_dag(ctx: &Context, dag_id: &str, number: i64) -> anyhow::Result<Arc<Dag>> {
    let store = ctx.store().await?;
    let current = ctx
        .folder()
        .ok()
        .and_then(|mut f| {
            let i = f.dags.iter().position(|d| d.dag_id == dag_id)?;
            Some(f.dags.swap_remove(i))
        })
        .map(Arc::new);
    let resolved = DagVersions::new(&ctx.settings.home)
        .resolve(&store, dag_id, number, current.as_ref())
        .await
        .map_err(|e| match e {
            versions::VersionError::Missing { .. } => usage(e.to_string()),
            other => other.into(),
        })?;
    Ok(resolved.dag.clone())
}
