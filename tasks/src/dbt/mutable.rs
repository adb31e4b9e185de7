//! Lists and dicts that Python's methods change in place, as dbt's Jinja has them:
//! `{% do cols.append(c) %}`, `{% do d.update({'a': 1}) %}` — packages build their SQL
//! that way. minijinja's values are immutable, so the list and dict literals inside a
//! template's tags are rewritten, when the template is loaded, as `__list([...])` and
//! `__dict({...})`: objects that render, iterate and compare as the literal would, and
//! also take `append`, `extend`, `insert`, `pop`, `remove`, `update`, `setdefault`...

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::{Arc, Mutex};

/// Adds `__list` and `__dict` to `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("__list", |items: Value| -> Result<Value, Error> {
        Ok(Value::from_object(List(Mutex::new(
            items.try_iter()?.collect(),
        ))))
    });
    env.add_function("__dict", |items: Value| -> Result<Value, Error> {
        let mut entries = Vec::new();
        for key in items.try_iter()? {
            let value = items.get_item(&key)?;
            entries.push((key, value));
        }
        Ok(Value::from_object(Dict(Mutex::new(entries))))
    });
}

fn fail(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn poisoned() -> Error {
    fail("a list was changed while it was read")
}

/// A list literal of a template.
#[derive(Debug)]
struct List(Mutex<Vec<Value>>);

impl List {
    fn items(&self) -> Vec<Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.0.lock().ok()?;
        let index = key.as_i64()?;
        let len = i64::try_from(items.len()).ok()?;
        let at = if index < 0 { len + index } else { index };
        usize::try_from(at).ok().and_then(|i| items.get(i).cloned())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.0.lock().ok().map(|v| v.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self.0.lock().map_err(|_| poisoned())?;
        match (method, args) {
            ("append", [value]) => items.push(value.clone()),
            ("extend", [more]) => {
                let more: Vec<Value> = more.try_iter()?.collect();
                items.extend(more);
            }
            ("insert", [index, value]) => {
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let at = index
                    .as_i64()
                    .ok_or_else(|| fail("insert() takes an index"))?;
                let at = if at < 0 {
                    (len + at).max(0)
                } else {
                    at.min(len)
                };
                items.insert(usize::try_from(at).unwrap_or(0), value.clone());
            }
            ("pop", []) => return items.pop().ok_or_else(|| fail("pop from an empty list")),
            ("pop", [index]) => {
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let at = index.as_i64().ok_or_else(|| fail("pop() takes an index"))?;
                let at = if at < 0 { len + at } else { at };
                let at = usize::try_from(at)
                    .ok()
                    .filter(|i| *i < items.len())
                    .ok_or_else(|| fail("pop index out of range"))?;
                return Ok(items.remove(at));
            }
            ("remove", [value]) => {
                let at = items
                    .iter()
                    .position(|v| v == value)
                    .ok_or_else(|| fail(format!("list.remove({value}): not in the list")))?;
                items.remove(at);
            }
            ("clear", []) => items.clear(),
            ("reverse", []) => items.reverse(),
            ("sort", []) => items.sort(),
            ("index", [value]) => {
                return items
                    .iter()
                    .position(|v| v == value)
                    .map(Value::from)
                    .ok_or_else(|| fail(format!("{value} is not in the list")));
            }
            ("count", [value]) => {
                return Ok(Value::from(items.iter().filter(|v| *v == value).count()));
            }
            ("copy", []) => {
                return Ok(Value::from_object(List(Mutex::new(items.clone()))));
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!(
                        "a list has no method {method}() taking {} arguments",
                        args.len()
                    ),
                ));
            }
        }
        Ok(Value::from(()))
    }
}

/// A dict literal of a template (its keys in the order they were added, as Python's).
#[derive(Debug)]
struct Dict(Mutex<Vec<(Value, Value)>>);

impl Dict {
    fn set(entries: &mut Vec<(Value, Value)>, key: Value, value: Value) {
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let entries = self.0.lock().ok()?;
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys = self
            .0
            .lock()
            .map(|e| e.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        Enumerator::Values(keys)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.0.lock().ok().map(|e| e.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut entries = self.0.lock().map_err(|_| poisoned())?;
        match (method, args) {
            ("update", [other]) => {
                for key in other.try_iter()? {
                    let value = other.get_item(&key)?;
                    Self::set(&mut entries, key, value);
                }
                Ok(Value::from(()))
            }
            ("setdefault", [key, rest @ ..]) if rest.len() <= 1 => {
                if let Some((_, v)) = entries.iter().find(|(k, _)| k == key) {
                    return Ok(v.clone());
                }
                let value = rest.first().cloned().unwrap_or(Value::from(()));
                entries.push((key.clone(), value.clone()));
                Ok(value)
            }
            ("pop", [key, rest @ ..]) if rest.len() <= 1 => {
                match entries.iter().position(|(k, _)| k == key) {
                    Some(at) => Ok(entries.remove(at).1),
                    None => rest
                        .first()
                        .cloned()
                        .ok_or_else(|| fail(format!("dict.pop({key}): no such key"))),
                }
            }
            ("clear", []) => {
                entries.clear();
                Ok(Value::from(()))
            }
            ("copy", []) => Ok(Value::from_object(Dict(Mutex::new(entries.clone())))),
            // get, items, keys, values: Python's, from minijinja-contrib's pycompat.
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("dict has no method {method}"),
            )),
        }
    }
}

/// `text` with the list and dict literals inside its Jinja tags wrapped as `__list(...)`
/// and `__dict(...)`; text outside the tags, comments and `{% raw %}` blocks unchanged.
pub fn rewrite(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'#') => {
                i = text[i..].find("#}").map_or(bytes.len(), |end| i + end + 2);
            }
            (b'{', b'%') if is_raw(&text[i..]) => {
                i = text[i..]
                    .find("endraw")
                    .map_or(bytes.len(), |end| i + end + 6);
            }
            (b'{', open @ (b'%' | b'{')) => {
                let close = if open == b'%' { b'%' } else { b'}' };
                out.push_str(&text[copied..i + 2]);
                let (rewritten, end) = tag(text, i + 2, close);
                out.push_str(&rewritten);
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

fn is_raw(at: &str) -> bool {
    let inner = at[2..].trim_start_matches('-').trim_start();
    inner.starts_with("raw")
        && inner[3..]
            .trim_start()
            .trim_start_matches('-')
            .starts_with("%}")
}

/// Rewrites one tag's inside from `start` up to its closing delimiter (`%}` or `}}`,
/// outside any bracket); the text and where the closing delimiter starts.
fn tag(text: &str, start: usize, close: u8) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // Open brackets: the closing char, and whether `)` closes a wrapper after it.
    let mut stack: Vec<(u8, bool)> = Vec::new();
    // The last significant thing seen: a char, or a word.
    let mut last: Option<u8> = None;
    let mut word = String::new();
    // Whether whitespace came since the last word char (`x in`: two words).
    let mut gap = false;
    let mut i = start;
    // The delimiter's own whitespace control (`{%-`, `{{+`) is not an operator.
    if matches!(bytes.get(i), Some(b'-' | b'+')) {
        out.push(char::from(bytes[i]));
        i += 1;
    }
    while i < bytes.len() {
        let c = bytes[i];
        if stack.is_empty() && c == close && bytes.get(i + 1) == Some(&b'}') {
            return (out, i);
        }
        match c {
            b'\'' | b'"' => {
                let end = string_end(bytes, i);
                out.push_str(&text[i..end]);
                i = end;
                last = Some(b'"');
                word.clear();
                gap = false;
                continue;
            }
            b'[' => {
                let literal = match last {
                    None => true,
                    Some(b'a') => KEYWORDS.contains(&word.as_str()),
                    Some(p) => !matches!(p, b')' | b']' | b'}' | b'"'),
                };
                out.push_str(if literal { "__list([" } else { "[" });
                stack.push((b']', literal));
            }
            b'{' => {
                out.push_str("__dict({");
                stack.push((b'}', true));
            }
            b'(' => {
                out.push('(');
                stack.push((b')', false));
            }
            b']' | b'}' | b')' => {
                out.push(char::from(c));
                if let Some((_, true)) = stack.pop() {
                    out.push(')');
                }
            }
            _ => {
                // Copy a whole UTF-8 char.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + len]);
                if c.is_ascii_alphanumeric() || c == b'_' {
                    if last != Some(b'a') || gap {
                        word.clear();
                    }
                    word.push(char::from(c));
                    last = Some(b'a');
                    gap = false;
                } else if c.is_ascii_whitespace() {
                    gap = true;
                } else {
                    last = Some(c);
                    word.clear();
                    gap = false;
                }
                i += len;
                continue;
            }
        }
        last = Some(c);
        word.clear();
        gap = false;
        i += 1;
    }
    (out, bytes.len())
}

/// Words after which `[` opens a list (`for x in [...]`), not an index.
const KEYWORDS: &[&str] = &[
    "in", "and", "or", "not", "if", "else", "elif", "return", "do", "is",
];

/// Where the string literal starting at `start` ends (after its closing quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_inside_tags_are_wrapped_and_indexing_is_not() {
        assert_eq!(
            rewrite("select {{ [1, 2] | join(',') }} from x where a in ('[b]') {# [c] #}"),
            "select {{ __list([1, 2]) | join(',') }} from x where a in ('[b]') {# [c] #}"
        );
        assert_eq!(
            rewrite("{%- set cols = [] -%}{% set d = {'a': [x[0]]} %}{{ rows[0]['a'] }}"),
            "{%- set cols = __list([]) -%}{% set d = __dict({'a': __list([x[0]])}) %}{{ rows[0]['a'] }}"
        );
        assert_eq!(
            rewrite("{% for c in ['a', \"]\"] %}{{ f(c)[1:] }}{% endfor %}"),
            "{% for c in __list(['a', \"]\"]) %}{{ f(c)[1:] }}{% endfor %}"
        );
        assert_eq!(
            rewrite("{% raw %}{{ [1] }}{% endraw %}"),
            "{% raw %}{{ [1] }}{% endraw %}"
        );
    }

    #[test]
    fn lists_and_dicts_change_in_place() {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        register(&mut env);
        let template = rewrite(
            "{% set cols = [] %}{% for c in ['a', 'b'] %}{% do cols.append(c ~ '!') %}{% endfor %}\
             {% do cols.extend(['c']) %}{% set d = {'x': 1} %}{% do d.update({'y': 2}) %}\
             {{ cols | join(',') }} {{ cols | length }} {{ cols[-1] }} {{ 'a!' in cols }} \
             {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.get('z', 0) }} {{ d.pop('x') }} {{ d | length }}",
        );
        let out = env.render_str(&template, ()).unwrap();
        assert_eq!(out, "a!,b!,c 3 c True x=1;y=2; 0 1 1");
    }
}
