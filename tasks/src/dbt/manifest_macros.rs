//! The manifest's `macros`: every macro of the project, of its packages and dbt's own,
//! as dbt lists them (`macro.<package>.<name>`, its SQL, its file), and which macros a
//! node or a macro calls (`depends_on.macros`), found as dbt finds them: by name in its
//! SQL (`name(`, `package.name(`, and the candidates of `adapter.dispatch('name',
//! 'package')`).

use super::macros::{DBT, MacroFile};
use super::project::Project;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::LazyLock;

static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)\b.*?\{%-?\s*end(?:macro|test)\s*-?%\}",
    )
    .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static CALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\b([A-Za-z_][A-Za-z0-9_]*)\.)?\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static DISPATCH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"dispatch\(\s*['"]([A-Za-z0-9_]+)['"]\s*(?:,\s*(?:macro_namespace\s*=\s*)?['"]([A-Za-z0-9_]+)['"])?"#)
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// Every macro's (package, name), for finding calls.
pub fn known(project: &Project) -> BTreeSet<(String, String)> {
    project
        .macros
        .iter()
        .flat_map(|f| f.macros.iter().map(|m| (f.package.clone(), m.clone())))
        .collect()
}

/// The unique ids of the macros `sql` (of `package`) calls.
pub fn calls(
    project: &Project,
    sql: &str,
    package: &str,
    all: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let root = project.file.name.as_str();
    let has = |p: &str, n: &str| all.contains(&(p.to_string(), n.to_string()));
    // Calls inside the Jinja only: `cast(` in the SQL itself is SQL's.
    let jinja: String = TAG
        .find_iter(sql)
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    for c in CALL.captures_iter(&jinja) {
        let name = &c[2];
        match c.get(1).map(|m| m.as_str()) {
            Some(ns) if has(ns, name) => {
                out.insert(format!("macro.{ns}.{name}"));
            }
            Some(_) => {}
            None => {
                if let Some(p) = [package, root, DBT].into_iter().find(|p| has(p, name)) {
                    out.insert(format!("macro.{p}.{name}"));
                }
            }
        }
    }
    for d in DISPATCH.captures_iter(&jinja) {
        let ns = d.get(2).map_or(root, |m| m.as_str());
        let suffix = format!("__{}", &d[1]);
        for (p, n) in all.iter().filter(|(p, n)| p == ns && n.ends_with(&suffix)) {
            out.insert(format!("macro.{p}.{n}"));
        }
    }
    out.into_iter().collect()
}

/// The manifest's `macros`.
pub fn macros(project: &Project) -> Map<String, Value> {
    let all = known(project);
    let mut out = Map::new();
    for file in &project.macros {
        let path = inside_package(project, file);
        for block in BLOCK.captures_iter(&file.written) {
            let name = match &block[1] {
                "test" => format!("test_{}", &block[2]),
                _ => block[2].to_string(),
            };
            if !file.macros.contains(&name) {
                continue;
            }
            let sql = block[0].to_string();
            let unique_id = format!("macro.{}.{name}", file.package);
            let depends = calls(project, &sql, &file.package, &all)
                .into_iter()
                .filter(|id| *id != unique_id)
                .collect::<Vec<_>>();
            out.insert(
                unique_id.clone(),
                json!({
                    "name": name,
                    "resource_type": "macro",
                    "package_name": file.package,
                    "path": path,
                    "original_file_path": path,
                    "unique_id": unique_id,
                    "macro_sql": sql,
                    "depends_on": {"macros": depends},
                    "description": "",
                    "meta": {},
                    "docs": {"show": true, "node_color": null},
                    "config": {"meta": {}, "docs": {"show": true, "node_color": null}},
                    "patch_path": null,
                    "arguments": [],
                    "created_at": 0.0,
                    "supported_languages": null,
                }),
            );
        }
    }
    out
}

/// A macro file's path inside its package (`macros/x.sql`).
fn inside_package(project: &Project, file: &MacroFile) -> String {
    let prefix = format!("{}/{}/", project.file.packages_install_path, file.package);
    file.name
        .strip_prefix(&prefix)
        .unwrap_or(&file.name)
        .to_string()
}
