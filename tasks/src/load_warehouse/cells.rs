//! Arrow columns as warehouse columns: the SQL type a column is created with, and its
//! values as CSV (for PostgreSQL `COPY`) or as bound SQLite values.

use crate::TaskError;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Which database a type or value is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// The SQL type a column is created with.
pub fn sql_type(field: &Field, dialect: Dialect) -> Result<String, TaskError> {
    use DataType::*;
    let pg = dialect == Dialect::Postgres;
    Ok(match field.data_type() {
        Utf8 | LargeUtf8 | Utf8View => "TEXT".into(),
        Boolean if pg => "BOOLEAN".into(),
        Int8 | Int16 if pg => "SMALLINT".into(),
        Int32 | UInt8 | UInt16 if pg => "INTEGER".into(),
        Int64 | UInt32 if pg => "BIGINT".into(),
        UInt64 if pg => "NUMERIC(20)".into(),
        Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
            "INTEGER".into()
        }
        Float32 if pg => "REAL".into(),
        Float64 if pg => "DOUBLE PRECISION".into(),
        Float32 | Float64 => "REAL".into(),
        Decimal128(p, s) | Decimal256(p, s) if pg => format!("NUMERIC({p},{s})"),
        Decimal128(..) | Decimal256(..) => "NUMERIC".into(),
        Date32 | Date64 if pg => "DATE".into(),
        Timestamp(_, Some(_)) if pg => "TIMESTAMPTZ".into(),
        Timestamp(_, None) if pg => "TIMESTAMP".into(),
        Date32 | Date64 | Timestamp(..) => "TEXT".into(),
        other => {
            return Err(TaskError::Config(format!(
                "column `{}` has type {other}, which the warehouse load does not support; \
                 select it as text (e.g. CAST(.. AS VARCHAR)) in the SQL that builds the table",
                field.name()
            )));
        }
    })
}

/// `CREATE TABLE IF NOT EXISTS` for `columns`, with `name` already quoted.
pub fn create_table(name: &str, columns: &[Field], dialect: Dialect) -> Result<String, TaskError> {
    let defs = columns
        .iter()
        .map(|f| {
            let null = if f.is_nullable() { "" } else { " NOT NULL" };
            Ok(format!(
                "{} {}{null}",
                crate::lake::quote_ident(f.name()),
                sql_type(f, dialect)?
            ))
        })
        .collect::<Result<Vec<_>, TaskError>>()?;
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {name} ({})",
        defs.join(", ")
    ))
}

/// Appends `batch` as CSV rows (PostgreSQL's CSV: an unquoted empty field is NULL).
pub fn write_csv(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), TaskError> {
    let options = FormatOptions::default().with_display_error(true);
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow_error)?;
    let quoted: Vec<bool> = batch
        .columns()
        .iter()
        .map(|c| {
            matches!(
                c.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .collect();
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        for (i, column) in batch.columns().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if column.is_null(row) {
                continue;
            }
            text.clear();
            use std::fmt::Write as _;
            write!(text, "{}", formatters[i].value(row))
                .map_err(|e| TaskError::Fatal(e.to_string()))?;
            if quoted[i] || text.contains([',', '"', '\n', '\r']) {
                out.push(b'"');
                out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
                out.push(b'"');
            } else {
                out.extend_from_slice(text.as_bytes());
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

/// One value bound into a SQLite statement.
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// The batch's values by column, in SQLite's types (dates and timestamps as ISO text).
pub fn sqlite_columns(batch: &RecordBatch) -> Result<Vec<Vec<Cell>>, TaskError> {
    batch.columns().iter().map(sqlite_column).collect()
}

fn sqlite_column(column: &ArrayRef) -> Result<Vec<Cell>, TaskError> {
    use DataType::*;
    let n = column.len();
    let cells = match column.data_type() {
        Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => {
            let ints = cast(column, &Int64).map_err(arrow_error)?;
            let ints = ints.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if ints.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Int(ints.value(i))
                    }
                })
                .collect()
        }
        Float32 | Float64 => {
            let reals = cast(column, &Float64).map_err(arrow_error)?;
            let reals = reals.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if reals.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Real(reals.value(i))
                    }
                })
                .collect()
        }
        _ => {
            let options = FormatOptions::default().with_display_error(true);
            let formatter =
                ArrayFormatter::try_new(column.as_ref(), &options).map_err(arrow_error)?;
            (0..n)
                .map(|i| {
                    if column.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Text(formatter.value(i).to_string())
                    }
                })
                .collect()
        }
    };
    Ok(cells)
}

fn arrow_error(e: deltalake::arrow::error::ArrowError) -> TaskError {
    TaskError::Fatal(format!("converting rows for the warehouse: {e}"))
}
