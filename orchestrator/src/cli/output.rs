//! Printing listings as tables (default) or JSON (`-o json`).

/// `println!` for command output, secrets masked: a reader that went away
/// (`updraft ... | head`) is not an error worth a panic, so write failures on stdout are
/// ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = writeln!(std::io::stdout().lock(), "{}", updraft_core::secrets::mask(&text));
    }};
}

/// `print!` for command output, likewise.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = write!(std::io::stdout().lock(), "{}", updraft_core::secrets::mask(&text));
    }};
}

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

/// A time as command output shows it: ISO 8601 in UTC with its offset (`+00:00`).
pub fn iso(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Prints rows: as a JSON array of objects, or as a table of the given columns.
pub fn print_rows<T: Serialize>(
    format: Format,
    rows: &[T],
    columns: &[&str],
) -> anyhow::Result<()> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    match format {
        Format::Json => print_json(serde_json::Value::Array(values))?,
        Format::Table => {
            let mut table = Table::new();
            table
                .load_style(UTF8_BORDERS_ONLY)
                .set_header(columns.to_vec());
            for v in &values {
                table.add_row(columns.iter().map(|c| cell(&v[*c])).collect::<Vec<_>>());
            }
            say!("{table}");
        }
    }
    Ok(())
}

/// Prints JSON masked in its string values (never in its syntax, so it stays JSON).
fn print_json(mut value: serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write as _;
    updraft_core::secrets::mask_json(&mut value);
    let text = serde_json::to_string_pretty(&value)?;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(())
}

/// Prints one JSON value or a table of key/value pairs.
pub fn print_object<T: Serialize>(format: Format, value: &T) -> anyhow::Result<()> {
    let value = serde_json::to_value(value)?;
    match format {
        Format::Json => print_json(value)?,
        Format::Table => {
            let mut table = Table::new();
            table.load_style(UTF8_BORDERS_ONLY);
            if let serde_json::Value::Object(map) = &value {
                for (k, v) in map {
                    table.add_row(vec![k.clone(), cell(v)]);
                }
            }
            say!("{table}");
        }
    }
    Ok(())
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        serde_json::Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `columns` of a table of task instances, with `map_index` after `task_id` when any of
/// them is an instance of a mapped task.
pub fn instance_columns(mapped: bool, columns: &[&'static str]) -> Vec<&'static str> {
    let mut shown = columns.to_vec();
    if mapped && let Some(at) = shown.iter().position(|c| *c == "task_id") {
        shown.insert(at + 1, "map_index");
    }
    shown
}
