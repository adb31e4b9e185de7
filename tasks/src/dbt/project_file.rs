//! `dbt_project.yml`: the project's name, where its files are, its `vars`, the config
//! trees under `models:`, `seeds:`, `snapshots:` and `data_tests:`, and the `dispatch:`
//! search orders of macro namespaces. A folder without the
//! file is a project with dbt's defaults whose models are the folder itself (what
//! `sql_models` builds).

use crate::TaskError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The project file as read (values not yet rendered).
#[derive(Debug, Clone)]
pub struct ProjectFile {
    /// The project folder.
    pub root: PathBuf,
    pub name: String,
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    /// `vars:`, global keys and per-package maps, as written.
    pub vars: Map<String, Value>,
    /// `models:`, `seeds:`, `snapshots:`, `data_tests:` (or the older `tests:`).
    pub trees: ConfigTrees,
    /// Where `dbt deps` installs packages (`packages-install-path`, `dbt_packages`).
    pub packages_install_path: String,
    /// `dispatch:`: each macro namespace's package search order.
    pub dispatch: BTreeMap<String, Vec<String>>,
    /// `on-run-start:` and `on-run-end:`: SQL templates run before and after the nodes.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// Whether the folder had a `dbt_project.yml` (else: a plain folder of models).
    pub declared: bool,
}

/// The config trees of the project file, by resource type.
#[derive(Debug, Clone, Default)]
pub struct ConfigTrees {
    pub models: Value,
    pub seeds: Value,
    pub snapshots: Value,
    pub data_tests: Value,
}

/// Keys of `dbt_project.yml` that Updraft reads or may ignore (dbt's own, that change
/// nothing here: profiles, cleaning, versions, docs, query comments...).
const KNOWN_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "seed-paths",
    "macro-paths",
    "test-paths",
    "snapshot-paths",
    "analysis-paths",
    "docs-paths",
    "asset-paths",
    "function-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "require-dbt-version",
    "vars",
    "models",
    "seeds",
    "snapshots",
    "data_tests",
    "tests",
    "sources",
    "unit_tests",
    "metrics",
    "semantic-models",
    "saved-queries",
    "exposures",
    "functions",
    "quoting",
    "on-run-start",
    "on-run-end",
    "dispatch",
    "query-comment",
    "restrict-access",
    "flags",
    "dbt-cloud",
];

impl ProjectFile {
    /// Reads `root/dbt_project.yml`, or dbt's defaults for a folder of models.
    pub fn read(root: &Path) -> Result<Self, TaskError> {
        let file = root.join("dbt_project.yml");
        if !file.exists() {
            return Ok(Self::plain(root));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", file.display())))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            TaskError::Config(format!("{}{at}: {e}", file.display()))
        })?;
        let Value::Object(doc) = doc else {
            return Err(TaskError::Config(format!(
                "{}: a mapping of keys (name, model-paths, ...)",
                file.display()
            )));
        };
        let shown = file.display();
        for key in doc.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                tracing::warn!("{shown}: `{key}` is not a key dbt reads; ignored");
            }
        }
        let name = match doc.get("name") {
            Some(Value::String(n)) if valid_name(n) => n.clone(),
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{shown}: `name: {other}`: letters, digits and _ only, as dbt requires"
                )));
            }
            None => return Err(TaskError::Config(format!("{shown}: `name:` is missing"))),
        };
        let paths = |key: &str, default: &str| -> Result<Vec<String>, TaskError> {
            match doc.get(key) {
                None => Ok(vec![default.to_string()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|p| match p {
                        Value::String(p) => safe_path(p, &shown.to_string(), key),
                        other => Err(TaskError::Config(format!(
                            "{shown}: `{key}`: a list of folders, found {other}"
                        ))),
                    })
                    .collect(),
                Some(other) => Err(TaskError::Config(format!(
                    "{shown}: `{key}`: a list of folders, found {other}"
                ))),
            }
        };
        let vars = match doc.get("vars") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(v)) => v.clone(),
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{shown}: `vars`: a mapping, found {other}"
                )));
            }
        };
        let dispatch = read_dispatch(doc.get("dispatch"), &shown.to_string())?;
        let on_run = |key: &str| -> Result<Vec<String>, TaskError> {
            match doc.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(sql)) => Ok(vec![sql.clone()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(sql) => Ok(sql.clone()),
                        other => Err(TaskError::Config(format!(
                            "{shown}: `{key}`: SQL strings, found {other}"
                        ))),
                    })
                    .collect(),
                Some(other) => Err(TaskError::Config(format!(
                    "{shown}: `{key}`: SQL or a list of SQL, found {other}"
                ))),
            }
        };
        let (on_run_start, on_run_end) = (on_run("on-run-start")?, on_run("on-run-end")?);
        let packages_install_path = match doc.get("packages-install-path") {
            None | Some(Value::Null) => "dbt_packages".to_string(),
            Some(Value::String(p)) => safe_path(p, &shown.to_string(), "packages-install-path")?,
            Some(other) => {
                return Err(TaskError::Config(format!(
                    "{shown}: `packages-install-path`: a folder, found {other}"
                )));
            }
        };
        let tree = |key: &str| doc.get(key).cloned().unwrap_or(Value::Null);
        let data_tests = match doc.get("data_tests") {
            Some(v) => v.clone(),
            None => tree("tests"),
        };
        Ok(Self {
            root: root.to_path_buf(),
            name,
            model_paths: paths("model-paths", "models")?,
            seed_paths: paths("seed-paths", "seeds")?,
            macro_paths: paths("macro-paths", "macros")?,
            test_paths: paths("test-paths", "tests")?,
            snapshot_paths: paths("snapshot-paths", "snapshots")?,
            vars,
            trees: ConfigTrees {
                models: tree("models"),
                seeds: tree("seeds"),
                snapshots: tree("snapshots"),
                data_tests,
            },
            packages_install_path,
            dispatch,
            on_run_start,
            on_run_end,
            declared: true,
        })
    }

    /// A folder of models and nothing else (`sql_models`' form).
    fn plain(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            name: "models".into(),
            model_paths: vec![".".into()],
            seed_paths: Vec::new(),
            macro_paths: Vec::new(),
            test_paths: Vec::new(),
            snapshot_paths: Vec::new(),
            vars: Map::new(),
            trees: ConfigTrees::default(),
            packages_install_path: "dbt_packages".into(),
            dispatch: BTreeMap::new(),
            on_run_start: Vec::new(),
            on_run_end: Vec::new(),
            declared: false,
        }
    }
}

/// `dispatch: [{macro_namespace: dbt_utils, search_order: [shop, dbt_utils]}]`.
fn read_dispatch(
    value: Option<&Value>,
    shown: &str,
) -> Result<BTreeMap<String, Vec<String>>, TaskError> {
    let bad = |what: &str| {
        TaskError::Config(format!(
            "{shown}: `dispatch`: {what} (a list of {{macro_namespace: NAME, search_order: [PACKAGE, ...]}})"
        ))
    };
    let mut out = BTreeMap::new();
    let entries = match value {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(bad("not a list")),
    };
    for entry in entries {
        let namespace = entry
            .get("macro_namespace")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("an entry has no `macro_namespace`"))?;
        let order = entry
            .get("search_order")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("an entry has no `search_order` list"))?
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("`search_order` lists package names"))?;
        out.insert(namespace.to_string(), order);
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A path inside the project: relative, with no `..` (a project reads only its folder).
fn safe_path(path: &str, file: &str, key: &str) -> Result<String, TaskError> {
    let p = Path::new(path);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(TaskError::Config(format!(
            "{file}: `{key}: {path}`: a folder inside the project"
        )));
    }
    Ok(path.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_vars_and_trees_are_read_with_dbts_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: shop\nconfig-version: 2\nmodel-paths: [\"transform\"]\nvars:\n  start: 2024-01-01\n  shop: {region: eu}\nmodels:\n  shop:\n    +materialized: table\n",
        )
        .unwrap();
        let p = ProjectFile::read(dir.path()).unwrap();
        assert_eq!(p.name, "shop");
        assert_eq!(p.model_paths, ["transform"]);
        assert_eq!(p.seed_paths, ["seeds"]);
        assert_eq!(p.vars["shop"]["region"], "eu");
        assert_eq!(p.trees.models["shop"]["+materialized"], "table");
        assert!(p.declared);
    }

    #[test]
    fn dispatch_search_orders_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: shop\ndispatch:\n  - macro_namespace: dbt_utils\n    search_order: [shop, dbt_utils]\n",
        )
        .unwrap();
        let p = ProjectFile::read(dir.path()).unwrap();
        assert_eq!(p.dispatch["dbt_utils"], ["shop", "dbt_utils"]);
        assert_eq!(p.packages_install_path, "dbt_packages");
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: shop\ndispatch: [{macro_namespace: x}]\n",
        )
        .unwrap();
        let e = ProjectFile::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("`dispatch`: an entry has no `search_order` list"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_name_or_a_path_outside_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dbt_project.yml");
        std::fs::write(&file, "name: my-shop\n").unwrap();
        let e = ProjectFile::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("letters, digits and _ only"), "{e}");
        std::fs::write(&file, "name: shop\nmacro-paths: [../elsewhere]\n").unwrap();
        let e = ProjectFile::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a folder inside the project"), "{e}");
    }
}
