//! Which upstream tasks' outputs a task's templates read: `outputs.<task_id>` and
//! `outputs['<task_id>']` inside `{{ }}` and `{% %}`. Found at load, so that each one is
//! checked to be upstream of the reader and only those are read at run time.

use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The expressions of a template.
static EXPRESSIONS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{\{(.*?)\}\}|\{%(.*?)%\}").unwrap_or_else(|e| panic!("{e}"))
});

/// `outputs` as a name (not `x.outputs`), then the task it picks, when written out.
static OUTPUTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[^\w.])outputs\b\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*(?:'([^']*)'|"([^"]*)")\s*\])?"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
});

/// Each read in a task's `with:`, `when:` and `for_each:`: the key it is in
/// (`with.command`, `when`) and the task it names — None when it names none
/// (`outputs[name]`, `outputs` alone).
pub(super) fn reads(
    config: &Value,
    when: Option<&str>,
    for_each: Option<&Value>,
) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    collect(config, "with", &mut found);
    if let Some(items) = for_each {
        collect(items, "for_each", &mut found);
    }
    if let Some(when) = when {
        collect_text(when, "when", &mut found);
    }
    found
}

fn collect(value: &Value, path: &str, found: &mut Vec<(String, Option<String>)>) {
    match value {
        Value::String(text) => collect_text(text, path, found),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{path}.{i}"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect(item, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

fn collect_text(text: &str, path: &str, found: &mut Vec<(String, Option<String>)>) {
    for expression in EXPRESSIONS.captures_iter(text) {
        let Some(inner) = expression.get(1).or_else(|| expression.get(2)) else {
            continue;
        };
        for read in OUTPUTS.captures_iter(inner.as_str()) {
            let task = (1..=3)
                .find_map(|i| read.get(i))
                .map(|m| m.as_str().to_string());
            found.push((path.to_string(), task));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_are_found_in_expressions_only() {
        let config = json!({
            "command": "echo outputs {{ outputs.list_files.count }} {{ outputs['my-task'].x }}",
            "args": ["{% for f in outputs.list_files.files %}{{ f }}{% endfor %}", "{{ x.outputs.y }}"],
            "n": 3,
        });
        let found = reads(
            &config,
            Some("{{ outputs[\"check\"].new_rows > 0 }}"),
            Some(&json!("{{ outputs.list_files.files }}")),
        );
        let mut named: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_deref()))
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                ("for_each", Some("list_files")),
                ("when", Some("check")),
                ("with.args.0", Some("list_files")),
                ("with.command", Some("list_files")),
                ("with.command", Some("my-task")),
            ]
        );
    }

    #[test]
    fn a_read_that_names_no_task_is_found_as_such() {
        let found = reads(
            &json!({"c": "{{ outputs[name].x }} {{ outputs | tojson }}"}),
            None,
            None,
        );
        assert_eq!(
            found,
            [("with.c".to_string(), None), ("with.c".to_string(), None)]
        );
    }
}
