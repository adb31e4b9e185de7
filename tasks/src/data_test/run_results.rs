//! dbt's `run_results.json` (schema v6) for one attempt's tests, so that tools reading
//! dbt's artifacts (dbt-artifacts-parser, Elementary, dbt Cloud-style reports) read ours.

use super::TestResult;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::path::Path;

/// The artifact schema written.
pub const SCHEMA_VERSION: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// The dbt release whose artifacts these match.
const DBT_VERSION: &str = "1.11.0";

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The artifact of `results`, an invocation that started at `started`.
pub fn document(results: &[TestResult], started: DateTime<Utc>) -> Value {
    let now = Utc::now();
    let invocation = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rand_u32(),
        rand_u32() & 0xffff,
        rand_u32() & 0xfff,
        rand_u32() & 0xfff,
        (u64::from(rand_u32()) << 16) ^ u64::from(rand_u32() & 0xffff)
    );
    let entries: Vec<Value> = results.iter().map(entry).collect();
    json!({
        "metadata": {
            "dbt_schema_version": SCHEMA_VERSION,
            "dbt_version": DBT_VERSION,
            "generated_at": iso(now),
            "invocation_id": invocation,
            "invocation_started_at": iso(started),
            "env": {},
        },
        "results": entries,
        "elapsed_time": (now - started).num_microseconds().unwrap_or(0) as f64 / 1e6,
        "args": {"command": "test", "which": "test", "invocation_command": "updraft data_test"},
    })
}

/// One test's entry of `results`, as dbt writes it.
pub fn entry(r: &TestResult) -> Value {
    json!({
        "status": r.status.as_str(),
        "timing": [
            {"name": "compile", "started_at": iso(r.started_at), "completed_at": iso(r.started_at)},
            {"name": "execute", "started_at": iso(r.started_at), "completed_at": iso(r.ended_at)},
        ],
        "thread_id": "Thread-1",
        "execution_time": r.execution_time,
        "adapter_response": {},
        "message": r.message,
        "failures": r.failures,
        "unique_id": r.test_id,
        "compiled": true,
        "compiled_code": r.compiled_sql,
        "relation_name": null,
        "batch_results": null,
    })
}

/// Writes the artifact (through a temporary file, so a reader never sees half of it).
pub fn write(path: &Path, results: &[TestResult], started: DateTime<Utc>) -> std::io::Result<()> {
    let text =
        serde_json::to_string_pretty(&document(results, started)).map_err(std::io::Error::other)?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(partial, path)
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}
