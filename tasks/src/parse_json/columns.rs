//! The explicit schema raw JSON records are checked against, and the parser that turns
//! records into typed Arrow columns or, for a record that does not fit, a reason.

use super::picker::{FieldPicker, Picked};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deltalake::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// A column's type as written in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Long,
    Int,
    Double,
    Boolean,
    /// ISO 8601 / RFC 3339 text; an offset is converted to UTC, none means UTC.
    Timestamp,
    Date,
    StringList,
    LongList,
    /// Any JSON value, kept as its JSON text.
    Json,
}

impl ColumnType {
    /// Parses a type name (`string`, `long`, `array<string>`, ...).
    pub fn parse(name: &str) -> Result<Self, String> {
        let lower = name.trim().to_ascii_lowercase().replace(' ', "");
        Ok(match lower.as_str() {
            "string" | "text" => Self::String,
            "long" | "bigint" | "int64" => Self::Long,
            "int" | "integer" | "int32" => Self::Int,
            "double" | "float" | "float64" => Self::Double,
            "boolean" | "bool" => Self::Boolean,
            "timestamp" => Self::Timestamp,
            "date" => Self::Date,
            "array<string>" | "list<string>" => Self::StringList,
            "array<long>" | "list<long>" => Self::LongList,
            "json" => Self::Json,
            _ => {
                return Err(format!(
                    "unknown column type `{name}` (known: string, long, int, double, boolean, timestamp, date, array<string>, array<long>, json)"
                ));
            }
        })
    }

    fn arrow(self) -> DataType {
        match self {
            Self::String | Self::Json => DataType::Utf8,
            Self::Long => DataType::Int64,
            Self::Int => DataType::Int32,
            Self::Double => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Date => DataType::Date32,
            Self::StringList => {
                DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
            }
            Self::LongList => {
                DataType::List(Arc::new(Field::new("element", DataType::Int64, true)))
            }
        }
    }

    fn builder(self, capacity: usize) -> Builder {
        match self {
            Self::String | Self::Json => {
                Builder::Str(StringBuilder::with_capacity(capacity, capacity * 32))
            }
            Self::Long => Builder::Long(Int64Builder::with_capacity(capacity)),
            Self::Int => Builder::Int(Int32Builder::with_capacity(capacity)),
            Self::Double => Builder::Double(Float64Builder::with_capacity(capacity)),
            Self::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            Self::Timestamp => Builder::Micros(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            Self::Date => Builder::Days(Date32Builder::with_capacity(capacity)),
            Self::StringList => Builder::Strings(
                ListBuilder::new(StringBuilder::new()).with_field(element(DataType::Utf8)),
            ),
            Self::LongList => Builder::Longs(
                ListBuilder::new(Int64Builder::new()).with_field(element(DataType::Int64)),
            ),
        }
    }
}

/// The Arrow builder of one column, of the column's type.
enum Builder {
    Str(StringBuilder),
    Long(Int64Builder),
    Int(Int32Builder),
    Double(Float64Builder),
    Bool(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
    Days(Date32Builder),
    Strings(ListBuilder<StringBuilder>),
    Longs(ListBuilder<Int64Builder>),
}

impl Builder {
    /// Appends a cell checked against this builder's column, so of its type.
    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Str(b), Cell::Null) => b.append_null(),
            (Builder::Long(b), Cell::Null) => b.append_null(),
            (Builder::Int(b), Cell::Null) => b.append_null(),
            (Builder::Double(b), Cell::Null) => b.append_null(),
            (Builder::Bool(b), Cell::Null) => b.append_null(),
            (Builder::Micros(b), Cell::Null) => b.append_null(),
            (Builder::Days(b), Cell::Null) => b.append_null(),
            (Builder::Strings(b), Cell::Null) => b.append_null(),
            (Builder::Longs(b), Cell::Null) => b.append_null(),
            (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
            (Builder::Str(b), Cell::Owned(s)) => b.append_value(s),
            (Builder::Long(b), Cell::Long(v)) => b.append_value(v),
            (Builder::Int(b), Cell::Int(v)) => b.append_value(v),
            (Builder::Double(b), Cell::Double(v)) => b.append_value(v),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Micros(b), Cell::Micros(v)) => b.append_value(v),
            (Builder::Days(b), Cell::Days(v)) => b.append_value(v),
            (Builder::Strings(b), Cell::Strings(items)) => {
                for item in items {
                    b.values().append_option(item.as_str());
                }
                b.append(true);
            }
            (Builder::Strings(b), Cell::PickedStrings(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            (Builder::Longs(b), Cell::Longs(items)) => {
                b.values().append_slice(&items);
                b.append(true);
            }
            (_, cell) => unreachable!("a cell of another type than its column: {cell:?}"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Long(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Double(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Micros(b) => Arc::new(b.finish()),
            Builder::Days(b) => Arc::new(b.finish()),
            Builder::Strings(b) => Arc::new(b.finish()),
            Builder::Longs(b) => Arc::new(b.finish()),
        }
    }
}

/// A list's item field, named as Parquet and Delta name it.
fn element(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("element", data_type, true))
}

/// One column of the explicit schema, as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// The output column.
    pub name: String,
    /// Where the value is in the record, dotted for nested objects (`user.user_id`);
    /// defaults to `name`.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether the field may be missing or null (default: required).
    #[serde(default)]
    pub nullable: bool,
}

/// A checked column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    path: Vec<String>,
    shown_path: String,
    kind: ColumnType,
    nullable: bool,
    /// Text values are parsed into the column's type, and empty text is a missing value
    /// (records landed from CSV hold only text).
    from_text: bool,
}

impl Column {
    /// Checks one YAML column.
    pub fn new(config: &ColumnConfig) -> Result<Self, String> {
        if config.name.trim().is_empty() {
            return Err("a column has an empty `name`".into());
        }
        let shown_path = config.path.clone().unwrap_or_else(|| config.name.clone());
        let kind = ColumnType::parse(&config.type_name)
            .map_err(|e| format!("column `{}`: {e}", config.name))?;
        Ok(Self {
            name: config.name.clone(),
            path: shown_path.split('.').map(str::to_string).collect(),
            shown_path,
            kind,
            nullable: config.nullable,
            from_text: false,
        })
    }

    /// The column, reading numbers, booleans and dates given as text.
    pub fn reading_text(self) -> Self {
        Self {
            from_text: true,
            ..self
        }
    }

    /// The column as an Arrow field.
    pub fn field(&self) -> Field {
        Field::new(&self.name, self.kind.arrow(), self.nullable)
    }

    fn lookup<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        let mut at = record;
        for key in &self.path {
            at = at.get(key)?;
        }
        Some(at).filter(|v| !v.is_null())
    }
}

/// A value that passed its column's check, ready to append.
#[derive(Debug)]
enum Cell<'v> {
    Null,
    Str(&'v str),
    Owned(String),
    Long(i64),
    Int(i32),
    Double(f64),
    Bool(bool),
    Micros(i64),
    Days(i32),
    Strings(&'v [Value]),
    PickedStrings(Vec<Cow<'v, str>>),
    Longs(Vec<i64>),
}

/// Builds typed columns from records (of lifetime `'a`) that fit the schema.
pub struct RowParser<'c, 'a> {
    columns: &'c [Column],
    builders: Vec<Builder>,
    /// Reads only the schema's fields; none when a column needs the whole document
    /// (a `json` column, or a path inside another column's path).
    picker: Option<FieldPicker>,
    /// The current record's fields and cells, kept to reuse their memory.
    picked: Vec<Picked<'a>>,
    cells: Vec<Cell<'a>>,
}

impl<'c, 'a> RowParser<'c, 'a> {
    /// A parser for `columns`, sized for about `capacity` rows.
    pub fn new(columns: &'c [Column], capacity: usize) -> Self {
        let picker = if columns.iter().any(|c| c.kind == ColumnType::Json) {
            None
        } else {
            let paths: Vec<Vec<String>> = columns.iter().map(|c| c.path.clone()).collect();
            FieldPicker::new(&paths)
        };
        Self {
            columns,
            builders: columns.iter().map(|c| c.kind.builder(capacity)).collect(),
            picker,
            picked: Vec::with_capacity(columns.len()),
            cells: Vec::with_capacity(columns.len()),
        }
    }

    /// Appends the record if it fits; otherwise says every reason it does not.
    pub fn push(&mut self, raw: &'a str) -> Result<(), Rejection> {
        if self.push_picked(raw) {
            return Ok(());
        }
        self.push_document(raw)
    }

    /// Appends the record read field by field, if it fits; false when it does not (or
    /// cannot be read that way), leaving the builders untouched.
    fn push_picked(&mut self, raw: &'a str) -> bool {
        let Some(picker) = &self.picker else {
            return false;
        };
        if !picker.pick_into(raw, &mut self.picked) {
            return false;
        }
        self.cells.clear();
        for (column, value) in self.columns.iter().zip(self.picked.drain(..)) {
            match fitting(column, value) {
                Some(cell) => self.cells.push(cell),
                None => return false,
            }
        }
        for (builder, cell) in self.builders.iter_mut().zip(self.cells.drain(..)) {
            builder.append(cell);
        }
        true
    }

    /// Appends the record read as a whole document, or says every reason it does not fit.
    fn push_document(&mut self, raw: &str) -> Result<(), Rejection> {
        let record: Value = serde_json::from_str(raw).map_err(|e| Rejection {
            code: ReasonCode::InvalidJson,
            reason: format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        })?;
        if !record.is_object() {
            return Err(Rejection {
                code: ReasonCode::NotAnObject,
                reason: format!("not a JSON object: {}", kind_of(&record)),
            });
        }
        let mut cells = Vec::with_capacity(self.columns.len());
        let mut reasons = Vec::new();
        for column in self.columns {
            match check(column, &record) {
                Ok(cell) => cells.push(cell),
                Err(reason) => reasons.push(reason),
            }
        }
        if let Some(first) = reasons.first() {
            return Err(Rejection {
                code: first.code,
                reason: reasons
                    .iter()
                    .map(|r| r.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        Ok(())
    }

    /// The typed columns of the records pushed so far.
    pub fn finish(mut self) -> Vec<ArrayRef> {
        self.builders.iter_mut().map(Builder::finish).collect()
    }
}

/// Why a record went to the quarantine, as a stable code to group by; the `reason`
/// text keeps the detail (positions, values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonCode {
    InvalidJson,
    NotAnObject,
    NullRecord,
    MissingField,
    WrongType,
    /// A row check (`checks:`) is false; the reason is the check's name.
    Check,
}

impl ReasonCode {
    /// The code as stored in the quarantine's `reason_code` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::InvalidJson => "invalid_json",
            ReasonCode::NotAnObject => "not_an_object",
            ReasonCode::NullRecord => "null_record",
            ReasonCode::MissingField => "missing_field",
            ReasonCode::WrongType => "wrong_type",
            ReasonCode::Check => "check",
        }
    }
}

/// A record that does not fit: the code of its first problem and the text of all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ReasonCode,
    pub reason: String,
}

fn check<'v>(column: &Column, record: &'v Value) -> Result<Cell<'v>, Rejection> {
    let missing = || {
        if column.nullable {
            Ok(Cell::Null)
        } else {
            Err(Rejection {
                code: ReasonCode::MissingField,
                reason: format!("missing required field `{}`", column.shown_path),
            })
        }
    };
    let Some(value) = column.lookup(record) else {
        return missing();
    };
    if let (true, Some(text)) = (column.from_text, value.as_str()) {
        if text.trim().is_empty() {
            return missing();
        }
        if let Some(cell) = parsed_text(column.kind, text) {
            return Ok(cell);
        }
    }
    let wrong = |expected: &str| Rejection {
        code: ReasonCode::WrongType,
        reason: format!(
            "`{}`: expected {expected}, got {} {}",
            column.shown_path,
            kind_of(value),
            shorten(value)
        ),
    };
    Ok(match column.kind {
        ColumnType::String => Cell::Str(value.as_str().ok_or_else(|| wrong("a string"))?),
        ColumnType::Json => Cell::Owned(value.to_string()),
        ColumnType::Long => Cell::Long(value.as_i64().ok_or_else(|| wrong("an integer"))?),
        ColumnType::Int => Cell::Int(
            value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?,
        ),
        ColumnType::Double => Cell::Double(value.as_f64().ok_or_else(|| wrong("a number"))?),
        ColumnType::Boolean => Cell::Bool(value.as_bool().ok_or_else(|| wrong("true or false"))?),
        ColumnType::Timestamp => Cell::Micros(
            match value {
                Value::Number(n) => n.as_f64().and_then(unix_seconds),
                _ => value.as_str().and_then(parse_timestamp),
            }
            .ok_or_else(|| wrong("an ISO 8601 timestamp or Unix seconds"))?,
        ),
        ColumnType::Date => Cell::Days(
            value
                .as_str()
                .and_then(parse_date)
                .ok_or_else(|| wrong("a date (YYYY-MM-DD)"))?,
        ),
        ColumnType::StringList => {
            let items = value
                .as_array()
                .ok_or_else(|| wrong("an array of strings"))?;
            if !items.iter().all(Value::is_string) {
                return Err(wrong("an array of strings"));
            }
            Cell::Strings(items)
        }
        ColumnType::LongList => {
            let items = value
                .as_array()
                .ok_or_else(|| wrong("an array of integers"))?;
            Cell::Longs(
                items
                    .iter()
                    .map(Value::as_i64)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| wrong("an array of integers"))?,
            )
        }
    })
}

/// A number, boolean, date or timestamp read from its text (surrounding spaces allowed);
/// `None` for other types, or text that is not one.
fn parsed_text(kind: ColumnType, text: &str) -> Option<Cell<'static>> {
    let t = text.trim();
    Some(match kind {
        ColumnType::Long => Cell::Long(t.parse().ok()?),
        ColumnType::Int => Cell::Int(t.parse().ok()?),
        ColumnType::Double => Cell::Double(t.parse::<f64>().ok().filter(|v| v.is_finite())?),
        ColumnType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" => Cell::Bool(true),
            "false" => Cell::Bool(false),
            _ => return None,
        },
        ColumnType::Timestamp => Cell::Micros(parse_timestamp(t)?),
        ColumnType::Date => Cell::Days(parse_date(t)?),
        _ => return None,
    })
}

/// The cell for a picked value that fits `column`, as [`check`] would find it; `None`
/// when it does not fit, for [`check`] to say why.
fn fitting<'a>(column: &Column, value: Picked<'a>) -> Option<Cell<'a>> {
    if let (true, Picked::Str(text)) = (column.from_text, &value) {
        if text.trim().is_empty() {
            return column.nullable.then_some(Cell::Null);
        }
        if let Some(cell) = parsed_text(column.kind, text) {
            return Some(cell);
        }
    }
    Some(match (column.kind, value) {
        (_, Picked::Absent | Picked::Null) => column.nullable.then_some(Cell::Null)?,
        (ColumnType::String, Picked::Str(Cow::Borrowed(s))) => Cell::Str(s),
        (ColumnType::String, Picked::Str(Cow::Owned(s))) => Cell::Owned(s),
        (ColumnType::Long, Picked::Int(v)) => Cell::Long(v),
        (ColumnType::Int, Picked::Int(v)) => Cell::Int(i32::try_from(v).ok()?),
        (ColumnType::Double, Picked::Int(v)) => Cell::Double(v as f64),
        (ColumnType::Double, Picked::UInt(v)) => Cell::Double(v as f64),
        (ColumnType::Double, Picked::Float(v)) => Cell::Double(v),
        (ColumnType::Boolean, Picked::Bool(v)) => Cell::Bool(v),
        (ColumnType::Timestamp, Picked::Str(s)) => Cell::Micros(parse_timestamp(&s)?),
        (ColumnType::Timestamp, Picked::Int(v)) => Cell::Micros(unix_seconds(v as f64)?),
        (ColumnType::Timestamp, Picked::Float(v)) => Cell::Micros(unix_seconds(v)?),
        (ColumnType::Date, Picked::Str(s)) => Cell::Days(parse_date(&s)?),
        (ColumnType::StringList, Picked::Strs(items)) => Cell::PickedStrings(items),
        (ColumnType::LongList, Picked::Ints(items)) => Cell::Longs(items),
        (ColumnType::LongList, Picked::Strs(items)) if items.is_empty() => Cell::Longs(Vec::new()),
        _ => return None,
    })
}

/// Days since the epoch of a `YYYY-MM-DD` date.
fn parse_date(text: &str) -> Option<i32> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| (d - NaiveDate::default()).num_days() as i32)
}

/// Microseconds since the epoch, in UTC, of an RFC 3339 timestamp (any offset, also
/// written `+0200`) or of a timestamp without offset (taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    if let Some(t) = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
    {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

/// Microseconds of a Unix time in seconds (fractions allowed), within years 1–9999.
fn unix_seconds(seconds: f64) -> Option<i64> {
    const LIMIT: f64 = 253_402_300_800.0; // 10000-01-01
    (seconds.is_finite() && seconds.abs() < LIMIT).then(|| (seconds * 1e6).round() as i64)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::Int64Type;

    fn columns() -> Vec<Column> {
        let yaml = [
            ("id", None, "string", false),
            ("followers", Some("user.followers_count"), "long", false),
            ("at", None, "timestamp", false),
            ("tags", None, "array<string>", true),
        ];
        yaml.iter()
            .map(|(n, p, t, nullable)| {
                Column::new(&ColumnConfig {
                    name: n.to_string(),
                    path: p.map(str::to_string),
                    type_name: t.to_string(),
                    nullable: *nullable,
                })
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn typed_values_and_reasons() {
        let cols = columns();
        let mut parser = RowParser::new(&cols, 4);
        parser
            .push(r#"{"id":"a","user":{"followers_count":5},"at":"2026-01-01T02:00:00+02:00","tags":["x"]}"#)
            .unwrap();
        parser
            .push(r#"{"id":"b","user":{"followers_count":7},"at":"2026-01-01 00:00:00"}"#)
            .unwrap();
        let rejected = parser
            .push(r#"{"user":{"followers_count":"lots"},"at":"yesterday"}"#)
            .unwrap_err();
        assert_eq!(rejected.code, ReasonCode::MissingField);
        let err = rejected.reason;
        assert!(err.contains("missing required field `id`"), "{err}");
        assert!(
            err.contains("`user.followers_count`: expected an integer, got string \"lots\""),
            "{err}"
        );
        assert!(
            err.contains("`at`: expected an ISO 8601 timestamp"),
            "{err}"
        );
        let err = parser.push(r#"{"id": "c", "#).unwrap_err();
        assert_eq!(err.code, ReasonCode::InvalidJson);
        assert!(
            err.reason.starts_with("invalid JSON at line 1 column"),
            "{err:?}"
        );
        let err = parser
            .push(r#"{"id": "d", "user": {"followers_count": 1.5}}"#)
            .unwrap_err();
        assert_eq!(err.code.as_str(), "wrong_type");
        let err = parser.push("[1]").unwrap_err();
        assert_eq!(err.code, ReasonCode::NotAnObject);
        assert!(err.reason.contains("not a JSON object"));
        let arrays = parser.finish();
        assert_eq!(arrays[0].len(), 2);
        assert_eq!(arrays[1].as_primitive::<Int64Type>().values(), &[5, 7]);
        let at = arrays[2].as_primitive::<deltalake::arrow::datatypes::TimestampMicrosecondType>();
        // +02:00 normalised to UTC: both are midnight UTC.
        assert_eq!(at.value(0), at.value(1));
        assert!(arrays[3].is_null(1));
    }

    /// Reading field by field and reading the whole document accept the same records
    /// into the same values; a record that does not fit gets the document's reasons.
    /// Nullable columns named and typed as given.
    fn nullable(columns: &[(&str, &str)]) -> Vec<Column> {
        columns
            .iter()
            .map(|(n, t)| {
                Column::new(&ColumnConfig {
                    name: n.to_string(),
                    path: None,
                    type_name: t.to_string(),
                    nullable: true,
                })
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn text_values_are_read_alike_by_both_parsers() {
        let mut cols: Vec<Column> = columns().into_iter().map(Column::reading_text).collect();
        let more = [
            ("n", "int"),
            ("x", "double"),
            ("ok", "boolean"),
            ("d", "date"),
        ];
        cols.extend(nullable(&more).into_iter().map(Column::reading_text));
        let at = r#""at":"2026-01-01T00:00:00Z""#;
        let records = [
            format!(
                r#"{{"id":"a","user":{{"followers_count":" 5 "}},{at},"n":"3","x":"4.7","ok":"TRUE","d":"2026-02-03"}}"#
            ),
            format!(r#"{{"id":"b","user":{{"followers_count":7}},{at},"x":"","ok":" ","n":""}}"#),
            format!(r#"{{"id":"c","user":{{"followers_count":"1"}},{at},"x":"$12.00"}}"#),
            format!(r#"{{"id":" ","user":{{"followers_count":"1"}},{at}}}"#),
            format!(r#"{{"id":"e","user":{{"followers_count":"1.5"}},{at}}}"#),
        ];
        let mut picked = RowParser::new(&cols, 8);
        assert!(picked.picker.is_some());
        let mut whole = RowParser::new(&cols, 8);
        whole.picker = None;
        let results: Vec<_> = records.iter().map(|r| picked.push(r)).collect();
        for (record, result) in records.iter().zip(&results) {
            assert_eq!(result, &whole.push(record), "{record}");
        }
        assert!(results[0].is_ok() && results[1].is_ok());
        let reason = |i: usize| results[i].clone().unwrap_err().reason;
        assert!(
            reason(2).contains("`x`: expected a number, got string \"$12.00\""),
            "{}",
            reason(2)
        );
        assert!(
            reason(3).contains("missing required field `id`"),
            "{}",
            reason(3)
        );
        assert!(reason(4).contains("expected an integer"), "{}", reason(4));
        let (picked, whole) = (picked.finish(), whole.finish());
        for (p, w) in picked.iter().zip(&whole) {
            assert_eq!(p.to_data(), w.to_data());
        }
        assert_eq!(picked[1].as_primitive::<Int64Type>().values(), &[5, 7]);
        let x = picked[5].as_primitive::<deltalake::arrow::datatypes::Float64Type>();
        assert_eq!((x.value(0), x.is_null(1)), (4.7, true));
        assert!(picked[6].as_boolean().value(0) && picked[6].is_null(1));
    }

    #[test]
    fn picked_and_whole_document_agree() {
        let mut cols = columns();
        cols.extend(nullable(&[
            ("n", "int"),
            ("x", "double"),
            ("ok", "boolean"),
            ("d", "date"),
            ("ids", "array<long>"),
        ]));
        let records = [
            r#"{"id":"a","user":{"followers_count":5},"at":"2026-01-01T02:00:00+02:00","tags":["x","y\u00e9"],"n":3,"x":1,"ok":true,"d":"2026-02-03","ids":[]}"#,
            r#"{"id":"b","user":{"followers_count":7,"extra":[1,{"a":null}]},"at":"2026-01-01 00:00:00","x":18446744073709551615,"ids":[1,-2]}"#,
            r#"{"id":"c","user":{"followers_count":1},"user":{"followers_count":2},"at":"2026-01-01T00:00:00Z","tags":null}"#,
            r#"{"id":"d","user":{"followers_count":1},"user":"gone","at":"2026-01-01T00:00:00Z"}"#,
            r#"{"id":"e","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z","n":3000000000}"#,
            r#"{"id":"f","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z","tags":["a",1]}"#,
            r#"{"id":"g","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z","ids":[1.5]}"#,
            r#"{"id":"h","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z","d":"03/02/2026"}"#,
            r#"{"id":"i","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z"} trailing"#,
            r#"{"id":"j","user":{"followers_count":1},"at":"2026-01-01T00:00:00Z","ok":"yes"}"#,
            r#""just text""#,
            r#"{"id":"k","user":{"followers_count":9223372036854775808},"at":"2026-01-01T00:00:00Z"}"#,
            r#"{"id":"l","user":{"followers_count":1},"at":1767225600.25}"#,
            r#"{"id":"m","user":{"followers_count":1},"at":1767225600}"#,
            r#"{"id":"n","user":{"followers_count":1},"at":1e300}"#,
            r#"{"id":"o","user":{"followers_count":1},"at":"2026-01-01T03:00:00.5+0300"}"#,
        ];
        let mut picked = RowParser::new(&cols, 8);
        assert!(picked.picker.is_some());
        let mut whole = RowParser::new(&cols, 8);
        whole.picker = None;
        for record in records {
            assert_eq!(picked.push(record), whole.push(record), "{record}");
        }
        let (picked, whole) = (picked.finish(), whole.finish());
        assert_eq!(picked[0].len(), 6, "a, b, c, l, m and o fit");
        let at = picked[2].as_primitive::<deltalake::arrow::datatypes::TimestampMicrosecondType>();
        // 2026-01-01T00:00:00Z is 1,767,225,600 s after the epoch.
        let want = [0, 0, 0, 250_000, 0, 500_000].map(|us| 1_767_225_600_000_000 + us);
        assert_eq!(at.values(), &want);
        for (p, w) in picked.iter().zip(&whole) {
            assert_eq!(p.to_data(), w.to_data());
        }
    }
}
