//! What a version of a DAG is made of: the DAG file's text, the hash of its parsed
//! definition (so comments and formatting do not count), and the files its tasks name
//! (`sql_file`, schema files, model folders) with their hashes. Two loads with the same
//! [`DagSource::hash`] run the same code.

use super::Task;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// A DAG file and the files its tasks name, as read.
#[derive(Debug, Clone, Default)]
pub struct DagSource {
    /// The DAG file as written.
    pub text: String,
    /// sha256 of the parsed definition and of every named file (path and content).
    pub hash: String,
    /// The named files, folders expanded, in path order.
    pub files: Vec<SourceFile>,
    /// When the DAG file or a named file last changed (the latest of them), as this
    /// host's file system says.
    pub modified: Option<std::time::SystemTime>,
}

/// One file a task names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the DAG file's folder with `/` separators (`../sql/gold/x.sql`), or
    /// absolute as the task names it.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// Where it was read.
    pub location: PathBuf,
}

impl SourceFile {
    /// Whether the path is relative to the DAG file's folder (so a copy of the version
    /// can hold it); an absolute one is read where it is.
    pub fn is_relative(&self) -> bool {
        !Path::new(&self.path).is_absolute()
    }
}

impl DagSource {
    /// The source of a DAG parsed from `text` (read from `file`), whose tasks' files are
    /// read now from `dag_folder`.
    pub fn read(
        text: &str,
        file: &Path,
        tasks: &IndexMap<String, Task>,
        dag_folder: &Path,
    ) -> Self {
        let mut files = Vec::new();
        for task in tasks.values() {
            for named in updraft_tasks::named_files(&task.task_type, &task.config) {
                collect(dag_folder, &named, &mut files);
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        let mut hasher = Sha256::new();
        hasher.update(b"definition:");
        hasher.update(definition_hash(text).as_bytes());
        for file in &files {
            hasher.update(b"\nfile:");
            hasher.update(file.path.as_bytes());
            hasher.update(b"\0");
            hasher.update(file.sha256.as_bytes());
        }
        let modified = std::iter::once(file)
            .chain(files.iter().map(|f| f.location.as_path()))
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .max();
        Self {
            text: text.to_string(),
            hash: hex(&hasher.finalize()),
            files,
            modified,
        }
    }
}

/// sha256 of bytes, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of what the YAML says: its values with keys sorted, without comments,
/// formatting or the order of keys (YAML that does not parse is hashed as text).
fn definition_hash(text: &str) -> String {
    let parsed = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
        .and_then(|mut v| v.apply_merge().map(|()| v))
        .ok()
        .and_then(|v| serde_json::to_value(v).ok());
    match parsed {
        Some(value) => {
            let mut canonical = String::new();
            write_canonical(&value, &mut canonical);
            sha256(canonical.as_bytes())
        }
        None => sha256(text.as_bytes()),
    }
}

/// JSON with every object's keys in sorted order.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Adds the file `named` (or every file under the folder `named`) to `files`; a path
/// that does not exist adds nothing (the task reports it when it runs).
fn collect(dag_folder: &Path, named: &str, files: &mut Vec<SourceFile>) {
    let Some(path) = normalize(named) else {
        return;
    };
    let location = dag_folder.join(named);
    if location.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(&location) {
            Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return,
        };
        entries.sort();
        for entry in entries {
            let Some(name) = entry.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // Hidden files are editors' and tools' own (swap files, .DS_Store).
            if !name.starts_with('.') {
                collect(dag_folder, &format!("{path}/{name}"), files);
            }
        }
    } else if let Ok(bytes) = std::fs::read(&location) {
        files.push(SourceFile {
            path,
            sha256: sha256(&bytes),
            bytes: bytes.len() as u64,
            location,
        });
    }
}

/// A named path with `.` and `x/..` resolved and `/` separators (`sql/../sql/a.sql` →
/// `sql/a.sql`; leading `..` kept); an absolute path as it is. None for an empty one.
pub fn normalize(named: &str) -> Option<String> {
    let path = Path::new(named);
    if path.is_absolute() {
        return Some(named.to_string());
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::ParentDir if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            Component::ParentDir => parts.push(".."),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_formatting_and_key_order_do_not_change_the_definition() {
        let a = "dag_id: x\ntasks:\n  a: {type: noop}\n  b: {type: noop, depends_on: [a]}\n";
        let b = "# the same DAG\ntasks:\n  a:\n    type: noop   # first\n  b:\n    depends_on: [a]\n    type: noop\ndag_id: x\n";
        assert_eq!(definition_hash(a), definition_hash(b));
        let c = a.replace("depends_on: [a]", "depends_on: []");
        assert_ne!(definition_hash(a), definition_hash(&c));
    }

    #[test]
    fn named_paths_are_normalized() {
        assert_eq!(
            normalize("../sql/./gold/x.sql").as_deref(),
            Some("../sql/gold/x.sql")
        );
        assert_eq!(normalize("sql/../sql/a.sql").as_deref(), Some("sql/a.sql"));
        assert_eq!(normalize("../../a").as_deref(), Some("../../a"));
        assert_eq!(normalize("/etc/x.sql").as_deref(), Some("/etc/x.sql"));
        assert_eq!(normalize("."), None);
    }
}
