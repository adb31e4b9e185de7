//! A CSV row as the JSON object Updraft lands and sends for it: what `land` writes for
//! a CSV landing file and `updraft produce` sends for a CSV file are the same records.

use serde_json::{Map, Value};

/// A CSV row as a JSON object: header → value; values past the header's columns in
/// `_extra`.
pub fn row_object(names: &[String], record: &csv::StringRecord) -> Map<String, Value> {
    let mut object = Map::with_capacity(names.len());
    for (name, value) in names.iter().zip(record.iter()) {
        object.insert(name.clone(), Value::String(value.to_string()));
    }
    if record.len() > names.len() {
        let extra = record
            .iter()
            .skip(names.len())
            .map(|v| Value::String(v.into()));
        object.insert("_extra".into(), Value::Array(extra.collect()));
    }
    object
}
