//! What a task's templates see as `outputs`: for each upstream task it reads (found at
//! load, dag/output_reads.rs), the outputs of its successful attempt with its metrics —
//! or nothing, when it did not succeed (skipped, failed under a lenient trigger rule).

use serde_json::{Map, Value};

/// `{task_id: outputs}` for each task of `reads`, from `found` or empty.
pub fn outputs_seen(reads: &[String], mut found: Map<String, Value>) -> Value {
    let seen = reads
        .iter()
        .map(|task_id| {
            let outputs = found
                .remove(task_id)
                .unwrap_or_else(|| Value::Object(Map::new()));
            (task_id.clone(), outputs)
        })
        .collect();
    Value::Object(seen)
}
