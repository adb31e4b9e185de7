//! dbt's node selection: terms separated by spaces are a union, atoms joined by `,` an
//! intersection; an atom is a name (or a path glob of folders), or `tag:`, `path:`,
//! `config.materialized:`, `resource_type:`, `source:`, `fqn:`, with graph operators
//! `+model` (its ancestors), `model+` (descendants), `2+model` (two levels), `@model`
//! (descendants and their ancestors). `exclude` takes the same and removes its nodes.

use super::project::{Node, Project};
use crate::TaskError;
use std::collections::{BTreeMap, BTreeSet};

/// The names of the nodes `select` (all when None) minus `exclude` picks.
pub fn select(
    project: &Project,
    select: Option<&str>,
    exclude: Option<&str>,
) -> Result<BTreeSet<String>, TaskError> {
    let graph = Graph::of(project);
    let mut chosen = match select.filter(|s| !s.trim().is_empty()) {
        None => project.nodes.iter().map(|n| n.name.clone()).collect(),
        Some(expr) => graph.union(expr)?,
    };
    if let Some(expr) = exclude.filter(|s| !s.trim().is_empty()) {
        for name in graph.union(expr)? {
            chosen.remove(&name);
        }
    }
    Ok(chosen)
}

struct Graph<'a> {
    project: &'a Project,
    parents: BTreeMap<&'a str, Vec<&'a str>>,
    children: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Graph<'a> {
    fn of(project: &'a Project) -> Self {
        let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for node in &project.nodes {
            for r in &node.refs {
                parents.entry(&node.name).or_default().push(r);
                children.entry(r.as_str()).or_default().push(&node.name);
            }
        }
        Self {
            project,
            parents,
            children,
        }
    }

    fn union(&self, expr: &str) -> Result<BTreeSet<String>, TaskError> {
        let mut out = BTreeSet::new();
        for term in expr.split_whitespace() {
            let mut picked: Option<BTreeSet<String>> = None;
            for atom in term.split(',') {
                let found = self.atom(atom)?;
                picked = Some(match picked {
                    None => found,
                    Some(before) => before.intersection(&found).cloned().collect(),
                });
            }
            out.extend(picked.unwrap_or_default());
        }
        Ok(out)
    }

    fn atom(&self, atom: &str) -> Result<BTreeSet<String>, TaskError> {
        let (at, rest) = match atom.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, atom),
        };
        let (up, rest) = depth_prefix(rest);
        let (down, core) = depth_suffix(rest);
        let mut base: BTreeSet<String> = self
            .project
            .nodes
            .iter()
            .filter(|n| matches(n, core))
            .map(|n| n.name.clone())
            .collect();
        if let Some(source) = core.strip_prefix("source:") {
            // A source is not built: its descendants are what reads it.
            let readers: BTreeSet<String> = self
                .project
                .nodes
                .iter()
                .filter(|n| {
                    n.sources
                        .iter()
                        .any(|(s, t)| source == s || source == format!("{s}.{t}") || source == "*")
                })
                .map(|n| n.name.clone())
                .collect();
            if down.is_some() {
                base.extend(readers);
            }
        }
        if base.is_empty()
            && !core.contains(':')
            && !core.contains('*')
            && self.project.node(core).is_none()
        {
            tracing::warn!("the selector `{atom}` picks no node");
        }
        let mut out = base.clone();
        if at {
            let below = self.walk(&base, &self.children, None);
            out.extend(below.iter().cloned());
            out.extend(self.walk(&below, &self.parents, None));
        } else {
            if let Some(depth) = up {
                out.extend(self.walk(&base, &self.parents, depth));
            }
            if let Some(depth) = down {
                out.extend(self.walk(&base, &self.children, depth));
            }
        }
        Ok(out)
    }

    /// Everything reachable from `from` along `edges`, at most `depth` steps.
    fn walk(
        &self,
        from: &BTreeSet<String>,
        edges: &BTreeMap<&str, Vec<&str>>,
        depth: Option<usize>,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut frontier: Vec<String> = from.iter().cloned().collect();
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = Vec::new();
            for name in &frontier {
                for other in edges.get(name.as_str()).into_iter().flatten() {
                    if out.insert(other.to_string()) {
                        next.push(other.to_string());
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }
}

/// `2+x` → (Some(Some(2)), "x"), `+x` → (Some(None), "x"), `x` → (None, "x").
fn depth_prefix(atom: &str) -> (Option<Option<usize>>, &str) {
    let digits = atom.chars().take_while(char::is_ascii_digit).count();
    match atom[digits..].strip_prefix('+') {
        Some(rest) => (Some(atom[..digits].parse().ok()), rest),
        None => (None, atom),
    }
}

/// `x+2` → (Some(Some(2)), "x"), `x+` → (Some(None), "x").
fn depth_suffix(atom: &str) -> (Option<Option<usize>>, &str) {
    let digits = atom.chars().rev().take_while(char::is_ascii_digit).count();
    let head = &atom[..atom.len() - digits];
    match head.strip_suffix('+') {
        Some(rest) => (Some(atom[atom.len() - digits..].parse().ok()), rest),
        None => (None, atom),
    }
}

/// Whether one node matches a selector method (no graph operators).
fn matches(node: &Node, selector: &str) -> bool {
    let glob =
        |pattern: &str, text: &str| glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text));
    match selector.split_once(':') {
        Some(("tag", tag)) => node.settings.tags.iter().any(|t| glob(tag, t)),
        Some(("path", path)) => {
            let path = path.trim_end_matches('/');
            node.path == path
                || node.path.starts_with(&format!("{path}/"))
                || glob(path, &node.path)
        }
        Some(("config.materialized", m)) => node.settings.materialized.as_str() == m,
        Some(("resource_type", t)) => node.kind.as_str() == t,
        Some(("fqn", f)) => fqn_matches(node, f),
        Some(("source", _)) => false,
        Some((key, value)) if key.starts_with("config.") => node
            .config
            .get(&key["config.".len()..])
            .is_some_and(|v| v.as_str() == Some(value) || *v == serde_json::json!(value)),
        Some(_) => false,
        None => glob(selector, &node.name) || fqn_matches(node, selector),
    }
}

/// dbt's fqn selection: `folder.sub` picks the nodes under it, `project.model` one node.
fn fqn_matches(node: &Node, selector: &str) -> bool {
    let parts: Vec<&str> = selector.split('.').collect();
    let fqn = &node.fqn;
    (0..fqn.len()).any(|start| {
        parts.len() <= fqn.len() - start
            && parts
                .iter()
                .zip(&fqn[start..])
                .all(|(p, f)| glob::Pattern::new(p).is_ok_and(|p| p.matches(f)))
            && (start == 0 || start == 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_operators_read_as_dbt_reads_them() {
        assert_eq!(depth_prefix("2+orders"), (Some(Some(2)), "orders"));
        assert_eq!(depth_prefix("+orders"), (Some(None), "orders"));
        assert_eq!(depth_prefix("orders"), (None, "orders"));
        assert_eq!(depth_suffix("orders+1"), (Some(Some(1)), "orders"));
        assert_eq!(depth_suffix("orders+"), (Some(None), "orders"));
        assert_eq!(depth_suffix("v2"), (None, "v2"));
    }
}
