//! A `shell` command's outputs: the file `$UPDRAFT_OUTPUT` names, to which the command
//! appends `key=value` lines or GitHub Actions' multi-line form (`key<<EOF`, the lines,
//! `EOF`). A value that parses as JSON is that JSON, anything else is text.

use crate::TaskError;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most a command may write there (the limit on any attempt's outputs).
const MAX_BYTES: u64 = updraft_core::MAX_OUTPUT_BYTES as u64;

/// The empty file a command's outputs go to, removed when dropped.
pub struct OutputFile {
    path: PathBuf,
}

impl OutputFile {
    /// Creates a new empty file only this user may read, in the temporary folder.
    pub fn create() -> Result<Self, TaskError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "updraft-output-{}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(|e| {
            TaskError::Retryable(format!(
                "cannot create the outputs file {}: {e}",
                path.display()
            ))
        })?;
        Ok(Self { path })
    }

    /// Where it is (the command's `$UPDRAFT_OUTPUT`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The outputs the command wrote.
    pub fn read(&self) -> Result<Map<String, Value>, TaskError> {
        let mut text = String::new();
        std::fs::File::open(&self.path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| TaskError::Fatal(format!("cannot read $UPDRAFT_OUTPUT: {e}")))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(TaskError::Fatal(format!(
                "$UPDRAFT_OUTPUT holds more than {} KiB: outputs are for small values \
                 (counts, names, short lists); put data in the lake or a table and pass its name",
                MAX_BYTES / 1024
            )));
        }
        parse(&text).map_err(TaskError::Fatal)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads `key=value` and `key<<DELIMITER` ... `DELIMITER` lines; a later key wins.
pub fn parse(text: &str) -> Result<Map<String, Value>, String> {
    let mut outputs = Map::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: &str| format!("$UPDRAFT_OUTPUT line {}: {message}", i + 1);
        let (key, value) = match (line.split_once("<<"), line.split_once('=')) {
            // `key<<EOF` unless an `=` comes first (`key=a<<b` is a value).
            (Some((key, delimiter)), eq) if eq.is_none_or(|(k, _)| k.len() > key.len()) => {
                let delimiter = delimiter.trim();
                if delimiter.is_empty() {
                    return Err(at("`<<` needs a delimiter (`key<<EOF`)"));
                }
                let mut body = Vec::new();
                loop {
                    match lines.next() {
                        Some((_, l)) if l == delimiter => break,
                        Some((_, l)) => body.push(l),
                        None => {
                            return Err(at(&format!(
                                "no line `{delimiter}` ends the value of `{}`",
                                key.trim()
                            )));
                        }
                    }
                }
                (key, body.join("\n"))
            }
            (_, Some((key, value))) => (key, value.to_string()),
            _ => return Err(at("expected `key=value` or `key<<DELIMITER`")),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(at("the key is empty"));
        }
        let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
        outputs.insert(key.to_string(), value);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse_and_text_otherwise() {
        let text = "count=42\nname=events 2026\nfiles=[\"a.json\",\"b.json\"]\n\nflag=true\nurl=https://x/?a=b\n";
        let outputs = parse(text).expect("parses");
        assert_eq!(
            Value::Object(outputs),
            json!({"count": 42, "name": "events 2026", "files": ["a.json", "b.json"],
                   "flag": true, "url": "https://x/?a=b"})
        );
    }

    #[test]
    fn multi_line_values_end_at_their_delimiter() {
        let text = "report<<EOF\nline one\nx=1\n\nEOF\nafter=yes\n";
        let outputs = parse(text).expect("parses");
        assert_eq!(outputs["report"], json!("line one\nx=1\n"));
        assert_eq!(outputs["after"], json!("yes"));
        assert_eq!(parse("a=b<<c").expect("a value")["a"], json!("b<<c"));
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let err = parse("a=1\njust words\n").expect_err("no =");
        assert!(err.contains("line 2") && err.contains("key=value"), "{err}");
        let err = parse("a=1\nbody<<END\nx\n").expect_err("open");
        assert!(err.contains("line 2") && err.contains("`END`"), "{err}");
        let err = parse("=3").expect_err("no key");
        assert!(err.contains("line 1"), "{err}");
    }
}
