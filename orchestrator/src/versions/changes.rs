//! What differs between two versions of a DAG: tasks added, removed and changed (their
//! definition, the DAG's `default_args`, or a file they name), and the DAG file's text
//! line by line.

use crate::store::{DagVersionRow, VersionFileRow};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Tasks that differ between two versions, each list sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TaskChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl TaskChanges {
    /// One line for people: `+c, -b, ~a` (or `first version`).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ]
        .iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(sign, ids)| {
            ids.iter()
                .map(|id| format!("{sign}{id}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
        if parts.is_empty() {
            "no task changed (schedule or DAG settings)".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// A version as compared: its text and its files' hashes.
pub struct Compared<'a> {
    pub version: &'a DagVersionRow,
    pub files: &'a [VersionFileRow],
}

/// The tasks that differ from `old` to `new`.
pub fn task_changes(old: &Compared, new: &Compared) -> TaskChanges {
    let (old_tasks, new_tasks) = (tasks_of(old), tasks_of(new));
    let changed_files: Vec<&str> = new
        .files
        .iter()
        .filter(|f| {
            !old.files
                .iter()
                .any(|o| o.path == f.path && o.sha256 == f.sha256)
        })
        .map(|f| f.path.as_str())
        .chain(
            old.files
                .iter()
                .filter(|o| !new.files.iter().any(|f| f.path == o.path))
                .map(|o| o.path.as_str()),
        )
        .collect();
    let mut changes = TaskChanges::default();
    for (id, definition) in &new_tasks {
        match old_tasks.get(id) {
            None => changes.added.push(id.clone()),
            Some(before) if before != definition => changes.changed.push(id.clone()),
            Some(_) if names_any(definition, &changed_files) => changes.changed.push(id.clone()),
            Some(_) => {}
        }
    }
    changes.removed = old_tasks
        .keys()
        .filter(|id| !new_tasks.contains_key(*id))
        .cloned()
        .collect();
    changes
}

/// Each task's definition with the DAG's `default_args` (which apply to every task).
fn tasks_of(compared: &Compared) -> BTreeMap<String, Value> {
    let doc: Value = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&compared.version.dag_text)
        .and_then(|mut v| v.apply_merge().map(|()| v))
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null);
    let defaults = doc.get("default_args").cloned().unwrap_or(Value::Null);
    doc.get("tasks")
        .and_then(Value::as_object)
        .map(|tasks| {
            tasks
                .iter()
                .map(|(id, t)| (id.clone(), serde_json::json!([t, defaults])))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a task's definition names one of `paths` (or a folder holding one).
fn names_any(definition: &Value, paths: &[&str]) -> bool {
    let task = &definition[0];
    let task_type = task.get("type").and_then(Value::as_str).unwrap_or("");
    let config = task.get("with").cloned().unwrap_or(Value::Null);
    updraft_tasks::named_files(task_type, &config)
        .iter()
        .filter_map(|n| crate::dag::source::normalize(n))
        .any(|n| {
            paths
                .iter()
                .any(|p| *p == n || p.starts_with(&format!("{n}/")))
        })
}

/// One line of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "lowercase")]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

/// Longer texts are shown as removed whole and added whole (the line table grows with
/// the product of their lengths).
const MAX_DIFF_CELLS: usize = 4_000_000;

/// The lines of `new` against `old`: the longest common subsequence kept, the rest
/// added or removed.
pub fn text_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len().saturating_mul(b.len()) > MAX_DIFF_CELLS {
        return a
            .iter()
            .map(|l| DiffLine::Removed(l.to_string()))
            .chain(b.iter().map(|l| DiffLine::Added(l.to_string())))
            .collect();
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(DiffLine::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // What goes comes before what replaces it, as in `diff -u`.
            out.push(DiffLine::Removed(a[i].to_string()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].to_string()));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> DagVersionRow {
        DagVersionRow {
            dag_id: "d".into(),
            version_number: 1,
            content_hash: String::new(),
            created_at: chrono::Utc::now(),
            fileloc: "/x/d.yaml".into(),
            dag_text: text.into(),
        }
    }

    #[test]
    fn tasks_added_removed_and_changed() {
        let v1 = version(
            "dag_id: d\ntasks:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n  c: {type: delta_sql, with: {sql_file: q.sql}}\n",
        );
        let v2 = version(
            "dag_id: d\n# a comment\ntasks:\n  a: {type: noop, retries: 2}\n  b2: {type: noop, depends_on: [a]}\n  c: {type: delta_sql, with: {sql_file: q.sql}}\n",
        );
        let file = |sha: &str| VersionFileRow {
            path: "q.sql".into(),
            sha256: sha.into(),
            bytes: 1,
            content: None,
        };
        let (f1, f2) = ([file("aa")], [file("bb")]);
        let changes = task_changes(
            &Compared {
                version: &v1,
                files: &f1,
            },
            &Compared {
                version: &v2,
                files: &f2,
            },
        );
        assert_eq!(changes.added, ["b2"]);
        assert_eq!(changes.removed, ["b"]);
        assert_eq!(changes.changed, ["a", "c"]);
        assert_eq!(changes.summary(), "+b2 -b ~a ~c");
    }

    #[test]
    fn a_text_diff_keeps_what_both_have() {
        let diff = text_diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(
            diff,
            [
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into()),
            ]
        );
    }
}
