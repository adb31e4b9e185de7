//! The explicit schema raw JSON records are checked against, and the parser that turns
//! records into typed Arrow columns or, for a record that does not fit, a reason.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deltalake::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder,
    Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, TimeUnit};
use serde::Deserialize;
use serde_json::Value;
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

    fn builder(self, capacity: usize) -> Box<dyn ArrayBuilder> {
        match self {
            Self::String | Self::Json => {
                Box::new(StringBuilder::with_capacity(capacity, capacity * 32))
            }
            Self::Long => Box::new(Int64Builder::with_capacity(capacity)),
            Self::Int => Box::new(Int32Builder::with_capacity(capacity)),
            Self::Double => Box::new(Float64Builder::with_capacity(capacity)),
            Self::Boolean => Box::new(BooleanBuilder::with_capacity(capacity)),
            Self::Timestamp => {
                Box::new(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
            Self::Date => Box::new(Date32Builder::with_capacity(capacity)),
            Self::StringList => {
                Box::new(ListBuilder::new(StringBuilder::new()).with_field(element(DataType::Utf8)))
            }
            Self::LongList => {
                Box::new(ListBuilder::new(Int64Builder::new()).with_field(element(DataType::Int64)))
            }
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
        })
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
    Longs(Vec<i64>),
}

/// Builds typed columns from records that fit the schema.
pub struct RowParser<'c> {
    columns: &'c [Column],
    builders: Vec<Box<dyn ArrayBuilder>>,
}

impl<'c> RowParser<'c> {
    /// A parser for `columns`, sized for about `capacity` rows.
    pub fn new(columns: &'c [Column], capacity: usize) -> Self {
        Self {
            columns,
            builders: columns.iter().map(|c| c.kind.builder(capacity)).collect(),
        }
    }

    /// Appends the record if it fits; otherwise says every reason it does not.
    pub fn push(&mut self, raw: &str) -> Result<(), Rejection> {
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
            append(builder.as_mut(), cell);
        }
        Ok(())
    }

    /// The typed columns of the records pushed so far.
    pub fn finish(mut self) -> Vec<ArrayRef> {
        self.builders.iter_mut().map(|b| b.finish()).collect()
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
    let Some(value) = column.lookup(record) else {
        return if column.nullable {
            Ok(Cell::Null)
        } else {
            Err(Rejection {
                code: ReasonCode::MissingField,
                reason: format!("missing required field `{}`", column.shown_path),
            })
        };
    };
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
            value
                .as_str()
                .and_then(parse_timestamp)
                .ok_or_else(|| wrong("an ISO 8601 timestamp"))?,
        ),
        ColumnType::Date => Cell::Days(
            value
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(|d| (d - NaiveDate::default()).num_days() as i32)
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

/// Microseconds since the epoch, in UTC, of an RFC 3339 timestamp (any offset) or of a
/// timestamp without offset (taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

fn append(builder: &mut dyn ArrayBuilder, cell: Cell<'_>) {
    let any = builder.as_any_mut();
    match cell {
        Cell::Null => append_null(any),
        Cell::Str(s) => downcast::<StringBuilder>(any).append_value(s),
        Cell::Owned(s) => downcast::<StringBuilder>(any).append_value(s),
        Cell::Long(v) => downcast::<Int64Builder>(any).append_value(v),
        Cell::Int(v) => downcast::<Int32Builder>(any).append_value(v),
        Cell::Double(v) => downcast::<Float64Builder>(any).append_value(v),
        Cell::Bool(v) => downcast::<BooleanBuilder>(any).append_value(v),
        Cell::Micros(v) => downcast::<TimestampMicrosecondBuilder>(any).append_value(v),
        Cell::Days(v) => downcast::<Date32Builder>(any).append_value(v),
        Cell::Strings(items) => {
            let list = downcast::<ListBuilder<StringBuilder>>(any);
            for item in items {
                list.values().append_option(item.as_str());
            }
            list.append(true);
        }
        Cell::Longs(items) => {
            let list = downcast::<ListBuilder<Int64Builder>>(any);
            list.values().append_slice(&items);
            list.append(true);
        }
    }
}

fn append_null(any: &mut dyn std::any::Any) {
    macro_rules! try_null {
        ($($t:ty),*) => {$(
            if let Some(b) = any.downcast_mut::<$t>() {
                b.append_null();
                return;
            }
        )*};
    }
    try_null!(
        StringBuilder,
        Int64Builder,
        Int32Builder,
        Float64Builder,
        BooleanBuilder,
        TimestampMicrosecondBuilder,
        Date32Builder,
        ListBuilder<StringBuilder>,
        ListBuilder<Int64Builder>
    );
}

/// The builder behind `any`; the parser made every builder for its column's type.
fn downcast<T: 'static>(any: &mut dyn std::any::Any) -> &mut T {
    any.downcast_mut::<T>()
        .expect("each column's builder matches its type")
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
}
