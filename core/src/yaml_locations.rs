//! Where each node of a YAML document is: a map from a key path (`tasks.load.depends_on.0`)
//! to its line and column, so checks made after deserializing can point into the file.
//! Duplicate mapping keys are found here too, since serde would silently keep the last.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and column in a file, both starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

impl Position {
    /// The start of the file.
    pub const START: Position = Position { line: 1, col: 1 };
}

/// Positions of the keys and values of a YAML document.
#[derive(Debug, Default)]
pub struct Locations {
    keys: HashMap<String, Position>,
    values: HashMap<String, Position>,
    /// Mapping keys that appear twice, with the position of the second one.
    pub duplicates: Vec<(String, Position)>,
}

impl Locations {
    /// Scans a document. A syntax error yields what was seen before it.
    pub fn scan(text: &str) -> Self {
        let mut scanner = Scanner::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut scanner, false);
        scanner.out
    }

    /// Position of the key at `path` (e.g. `tasks.load`), or of its value when it has no key.
    pub fn key(&self, path: &str) -> Option<Position> {
        self.keys
            .get(path)
            .or_else(|| self.values.get(path))
            .copied()
    }

    /// Position of the value at `path` (e.g. `tasks.load.depends_on.0`).
    pub fn value(&self, path: &str) -> Option<Position> {
        self.values
            .get(path)
            .or_else(|| self.keys.get(path))
            .copied()
    }

    /// The position of the deepest existing prefix of `path`, or the file start.
    pub fn nearest(&self, path: &str) -> Position {
        let mut p = path;
        loop {
            if let Some(pos) = self.value(p) {
                return pos;
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return Position::START,
            }
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        seen: std::collections::HashSet<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Scanner {
    stack: Vec<Frame>,
    out: Locations,
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_string()
    } else {
        format!("{path}.{part}")
    }
}

fn position(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Scanner {
    /// Called for each node; returns the path of a value node, or None if it was a key.
    fn node(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
        let pos = position(mark);
        match self.stack.last_mut() {
            None => {
                self.out.values.insert(String::new(), pos);
                Some(String::new())
            }
            Some(Frame::Seq { path, index }) => {
                let p = join(path, &index.to_string());
                *index += 1;
                self.out.values.insert(p.clone(), pos);
                Some(p)
            }
            Some(Frame::Map { path, key, seen }) => match key.take() {
                Some(k) => {
                    let p = join(path, &k);
                    self.out.values.insert(p.clone(), pos);
                    Some(p)
                }
                None => {
                    // A key: complex (non-scalar) keys get a placeholder name.
                    let k = scalar.unwrap_or("?").to_string();
                    let p = join(path, &k);
                    if !seen.insert(k.clone()) {
                        self.out.duplicates.push((p.clone(), pos));
                    }
                    self.out.keys.insert(p, pos);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Scanner {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.node(mark, Some(&value));
            }
            Event::Alias(_) => {
                self.node(mark, None);
            }
            Event::MappingStart(..) => {
                let path = self.node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    seen: Default::default(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node(mark, None).unwrap_or_default();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_values_and_duplicates() {
        let text = "dag_id: x\ntasks:\n  a:\n    type: shell\n  b:\n    depends_on: [a, c]\n  a:\n    type: noop\n";
        let loc = Locations::scan(text);
        assert_eq!(loc.key("tasks.b"), Some(Position { line: 5, col: 3 }));
        assert_eq!(
            loc.value("tasks.b.depends_on.1"),
            Some(Position { line: 6, col: 21 })
        );
        assert_eq!(
            loc.duplicates,
            vec![("tasks.a".to_string(), Position { line: 7, col: 3 })]
        );
    }
}
