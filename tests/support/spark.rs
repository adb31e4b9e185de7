//! The Spark Connect server the Spark tests use (started by scripts/ensure-spark.sh), and
//! an independent reader of the Delta tables they write: the Python `deltalake` package.

use serde_json::Value;
use std::path::Path;

/// The test server's Spark Connect URL (`UPDRAFT_TEST_SPARK`).
pub fn spark_url() -> String {
    std::env::var("UPDRAFT_TEST_SPARK")
        .expect("UPDRAFT_TEST_SPARK (scripts/ensure-spark.sh starts a Spark Connect server)")
}

/// The Python with pyspark and deltalake (`SPARK_PYTHON`).
fn spark_python() -> String {
    std::env::var("SPARK_PYTHON").expect("SPARK_PYTHON (scripts/ensure-spark.sh)")
}

/// The rows of the Delta table at `table` as the Python `deltalake` reader sees them
/// (sorted, timestamps as ISO text), and its Arrow schema as text.
pub fn python_delta_rows(table: &Path) -> (Vec<Value>, Vec<String>) {
    let script = r#"
import json, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
rows = t.to_pylist()
def plain(v):
    return v.isoformat() if hasattr(v, "isoformat") else v
rows = [{k: plain(v) for k, v in r.items()} for r in rows]
rows.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
print(json.dumps({"rows": rows, "schema": [f"{f.name}: {f.type}" for f in t.schema]}, default=str), flush=True)
# deltalake's threads abort the interpreter's exit ("terminate called without an active
# exception"): leave at once.
import os
os._exit(0)
"#;
    let out = std::process::Command::new(spark_python())
        .args(["-c", script, table.to_str().expect("utf-8 path")])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python deltalake: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = found["rows"].as_array().expect("rows").clone();
    let schema = found["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .map(|f| f.as_str().expect("text").to_string())
        .collect();
    (rows, schema)
}
