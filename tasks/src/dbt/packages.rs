//! A project's packages: what `packages.yml` (or `dependencies.yml`) lists, and the
//! packages installed as `dbt deps` leaves them — every project under
//! `packages-install-path` (`dbt_packages/`), and `local:` packages at their paths. A
//! listed package that is not installed is an error naming it and the command that
//! installs it.

use super::project_file::ProjectFile;
use crate::TaskError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a listed package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// dbt's package hub: `org/name` and its version constraints.
    Hub {
        package: String,
        versions: Vec<String>,
    },
    Git {
        url: String,
        revision: Option<String>,
        subdirectory: Option<String>,
    },
    /// A folder, relative to the project listing it.
    Local {
        path: String,
    },
    Tarball {
        url: String,
        name: String,
    },
}

impl Source {
    /// As written in packages.yml.
    pub fn shown(&self) -> String {
        match self {
            Source::Hub { package, .. } => package.clone(),
            Source::Git { url, .. } | Source::Tarball { url, .. } => url.clone(),
            Source::Local { path } => format!("local: {path}"),
        }
    }

    /// The names an installed package of this source may have (its project's `name`).
    fn likely_names(&self) -> Vec<String> {
        let base = match self {
            Source::Hub { package, .. } => package.rsplit('/').next().unwrap_or(package),
            Source::Git {
                url, subdirectory, ..
            } => subdirectory
                .as_deref()
                .and_then(|s| s.trim_end_matches('/').rsplit('/').next())
                .unwrap_or_else(|| {
                    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or(url);
                    last.strip_suffix(".git").unwrap_or(last)
                }),
            Source::Tarball { name, .. } => name,
            Source::Local { .. } => return Vec::new(),
        };
        let snake = base.replace('-', "_");
        let short = snake.strip_prefix("dbt_").unwrap_or(&snake).to_string();
        vec![base.to_string(), snake, short]
    }
}

/// The packages `root` lists, from `packages.yml`, else `dependencies.yml`.
pub fn listed(root: &Path) -> Result<Vec<Source>, TaskError> {
    for name in ["packages.yml", "dependencies.yml"] {
        let file = root.join(name);
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let shown = file.display();
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            TaskError::Config(format!("{shown}{at}: {e}"))
        })?;
        let entries = match doc.get("packages") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(entries)) => entries,
            Some(_) => {
                return Err(TaskError::Config(format!("{shown}: `packages:` is a list")));
            }
        };
        return entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                source(entry).map_err(|e| TaskError::Config(format!("{shown}: packages[{i}]: {e}")))
            })
            .collect();
    }
    Ok(Vec::new())
}

fn text(entry: &Value, key: &str) -> Result<Option<String>, String> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("`{key}` is a string, found {other}")),
    }
}

fn source(entry: &Value) -> Result<Source, String> {
    if let Some(package) = text(entry, "package")? {
        let versions = match entry.get("version") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!("a version is a string, found {other}")),
                })
                .collect::<Result<_, _>>()?,
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Number(n)) => vec![n.to_string()],
            Some(other) => return Err(format!("`version` is a string or a list, found {other}")),
        };
        return Ok(Source::Hub { package, versions });
    }
    if let Some(url) = text(entry, "git")?.or(text(entry, "private")?) {
        return Ok(Source::Git {
            url,
            revision: text(entry, "revision")?,
            subdirectory: text(entry, "subdirectory")?,
        });
    }
    if let Some(path) = text(entry, "local")? {
        return Ok(Source::Local { path });
    }
    if let Some(url) = text(entry, "tarball")? {
        let name = text(entry, "name")?.ok_or("a `tarball:` package needs `name:`")?;
        return Ok(Source::Tarball { url, name });
    }
    Err("one of `package:`, `git:`, `local:` or `tarball:` is needed".into())
}

/// An installed package.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub root: PathBuf,
    pub file: ProjectFile,
}

/// The packages the project at `root` runs with: everything installed under its
/// `packages-install-path`, and its (and its packages') `local:` packages.
pub fn installed(root: &Path, project: &ProjectFile) -> Result<Vec<Package>, TaskError> {
    let listed = listed(root)?;
    let install_dir = root.join(&project.packages_install_path);
    let mut found: BTreeMap<String, Package> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&install_dir) {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if dir.join("dbt_project.yml").is_file() {
                add(&mut found, &dir)?;
            }
        }
    }
    // Local packages, as `dbt deps` would link them, found where they are.
    let mut pending: Vec<(PathBuf, Source)> = listed
        .iter()
        .map(|s| (root.to_path_buf(), s.clone()))
        .collect();
    let mut seen_locals = Vec::new();
    while let Some((from, listed_source)) = pending.pop() {
        let Source::Local { path } = listed_source else {
            continue;
        };
        let dir = from.join(&path);
        let dir = dir.canonicalize().map_err(|e| {
            TaskError::Config(format!(
                "{}: the local package `{path}` is not there ({}): {e}",
                from.join("packages.yml").display(),
                dir.display()
            ))
        })?;
        if seen_locals.contains(&dir) {
            continue;
        }
        seen_locals.push(dir.clone());
        let name = add(&mut found, &dir)?;
        if let Some(package) = found.get(&name) {
            for nested in self::listed(&package.root)? {
                pending.push((package.root.clone(), nested));
            }
        }
    }
    let missing: Vec<String> = listed
        .iter()
        .filter(|s| !matches!(s, Source::Local { .. }))
        .filter(|s| !s.likely_names().iter().any(|n| found.contains_key(n)))
        .map(Source::shown)
        .collect();
    if !missing.is_empty() {
        return Err(TaskError::Config(format!(
            "{}: the project lists packages that are not installed in {}/: {}; \
             install them with `updraft dbt deps --project {}` (or `dbt deps`)",
            root.display(),
            project.packages_install_path,
            missing.join(", "),
            root.display()
        )));
    }
    Ok(found.into_values().collect())
}

/// Reads the package at `dir` into `found` (a package already there by that name is
/// kept); its name.
fn add(found: &mut BTreeMap<String, Package>, dir: &Path) -> Result<String, TaskError> {
    let file = ProjectFile::read(dir)?;
    let name = file.name.clone();
    found.entry(name.clone()).or_insert_with(|| Package {
        name: name.clone(),
        root: dir.to_path_buf(),
        file,
    });
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_packages_are_read_and_missing_ones_named_with_the_install_command() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("shop");
        std::fs::create_dir_all(root.join("dbt_packages/dbt_utils")).unwrap();
        std::fs::write(root.join("dbt_project.yml"), "name: shop\n").unwrap();
        std::fs::write(
            root.join("dbt_packages/dbt_utils/dbt_project.yml"),
            "name: dbt_utils\nmacro-paths: [macros]\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/dbt_project.yml"), "name: lib\n").unwrap();
        std::fs::write(
            root.join("packages.yml"),
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - local: ../lib\n  - git: https://github.com/dbt-labs/dbt-audit-helper.git\n    revision: main\n",
        )
        .unwrap();
        let sources = listed(&root).unwrap();
        assert_eq!(
            sources[0],
            Source::Hub {
                package: "dbt-labs/dbt_utils".into(),
                versions: vec![">=1.0.0".into(), "<2.0.0".into()]
            }
        );
        let project = ProjectFile::read(&root).unwrap();
        let e = installed(&root, &project).unwrap_err().to_string();
        assert!(
            e.contains(
                "not installed in dbt_packages/: https://github.com/dbt-labs/dbt-audit-helper.git"
            ) && e.contains("updraft dbt deps"),
            "{e}"
        );
        std::fs::create_dir_all(root.join("dbt_packages/audit_helper")).unwrap();
        std::fs::write(
            root.join("dbt_packages/audit_helper/dbt_project.yml"),
            "name: audit_helper\n",
        )
        .unwrap();
        let names: Vec<String> = installed(&root, &project)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["audit_helper", "dbt_utils", "lib"]);
    }
}
