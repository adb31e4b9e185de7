//! `for: file`: at least `min_files` files match `path`, a glob (`*`, `?`, `[ab]`, `**`)
//! on this host (relative to the DAG file's folder) or in an object store (`s3://`, with
//! the lake's credentials from the environment). The
//! files found are the task's outputs (`files`, `count`).

use super::Check;
use crate::{TaskContext, TaskError, TaskOutcome};
use serde::Deserialize;

/// The most file names handed on as outputs (outputs are for small values).
const MAX_LISTED: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCondition {
    path: String,
    #[serde(default = "one")]
    min_files: u64,
}

fn one() -> u64 {
    1
}

impl FileCondition {
    pub(crate) async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        let found = if self.path.contains("://") {
            remote_matches(&self.path).await?
        } else {
            let pattern = if std::path::Path::new(&self.path).is_absolute() {
                self.path.clone()
            } else {
                ctx.dag_folder.join(&self.path).display().to_string()
            };
            tokio::task::spawn_blocking(move || local_matches(&pattern))
                .await
                .map_err(|e| TaskError::Retryable(format!("listing files: {e}")))??
        };
        let count = found.len() as u64;
        let want = self.min_files;
        ctx.log
            .line(format!("{count} file(s) match `{}`", self.path));
        if count < want {
            return Ok(Check::NotYet(
                format!("{want} file(s) matching `{}` ({count} so far)", self.path),
                None,
            ));
        }
        let listed: Vec<String> = found.into_iter().take(MAX_LISTED).collect();
        Ok(Check::Met(
            TaskOutcome::default()
                .with_output("files", listed)
                .with_output("count", count),
        ))
    }
}

fn bad_pattern(pattern: &str, e: glob::PatternError) -> TaskError {
    TaskError::Config(format!("`path` `{pattern}` is not a glob pattern: {e}"))
}

/// The files of this host matching `pattern`, sorted.
fn local_matches(pattern: &str) -> Result<Vec<String>, TaskError> {
    let mut found = Vec::new();
    for entry in glob::glob(pattern).map_err(|e| bad_pattern(pattern, e))? {
        // An entry that cannot be read (permissions) is not a file that arrived.
        if let Ok(path) = entry
            && path.is_file()
        {
            found.push(path.display().to_string());
        }
    }
    found.sort();
    Ok(found)
}

/// The objects matching `url`'s pattern (`s3://bucket/landing/*/*.json`), listed under
/// the folder before its first wildcard, sorted.
async fn remote_matches(url: &str) -> Result<Vec<String>, TaskError> {
    use futures::TryStreamExt;
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(TaskError::Config(format!("`path` `{url}` is not a URL")));
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let literal = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
    let folder = &literal[..literal.rfind('/').map_or(0, |i| i + 1)];
    let (store, prefix) = crate::lake::object_store_at(&format!("{scheme}://{bucket}/{folder}"))?;
    let pattern = glob::Pattern::new(key).map_err(|e| bad_pattern(url, e))?;
    // `*` stays within one folder, as on a file system.
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let listed: Vec<object_store::ObjectMeta> =
        store.list(Some(&prefix)).try_collect().await.map_err(|e| {
            TaskError::Retryable(format!("listing `{scheme}://{bucket}/{folder}`: {e}"))
        })?;
    let mut found: Vec<String> = listed
        .into_iter()
        .filter(|meta| pattern.matches_with(meta.location.as_ref(), options))
        .map(|meta| format!("{scheme}://{bucket}/{}", meta.location))
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_patterns_match_files_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("2026-12-06.json")).expect("a folder");
        for name in ["a.json", "b.json", "c.csv"] {
            std::fs::write(dir.path().join(name), "{}").expect("a file");
        }
        let pattern = dir.path().join("*.json").display().to_string();
        let found = local_matches(&pattern).expect("a pattern");
        let names: Vec<&str> = found.iter().filter_map(|f| f.rsplit('/').next()).collect();
        assert_eq!(names, vec!["a.json", "b.json"]);
        assert!(matches!(
            local_matches("data/[.json"),
            Err(TaskError::Config(m)) if m.contains("not a glob")
        ));
    }
}
