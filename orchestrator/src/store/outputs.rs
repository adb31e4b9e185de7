//! Reading what attempts handed on (`task_try.outputs`, beside `metrics`).

use super::{Result, Store};
use serde_json::{Map, Value};

impl Store {
    /// The outputs of the tasks `task_ids` of a run that succeeded: each one's latest
    /// (successful) attempt's metrics with its outputs laid over them.
    pub async fn task_outputs(
        &self,
        dag_id: &str,
        run_id: &str,
        task_ids: &[String],
    ) -> Result<Map<String, Value>> {
        let mut found = Map::new();
        for (task_id, metrics, outputs) in self.succeeded_outputs(dag_id, run_id).await? {
            if task_ids.contains(&task_id) {
                found.insert(task_id, merged(&metrics, outputs.as_deref()));
            }
        }
        Ok(found)
    }

    /// One task's outputs in a run (its latest attempt's, whatever its state), when the
    /// task instance exists.
    pub async fn outputs_of(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
    ) -> Result<Option<Map<String, Value>>> {
        let sql = "SELECT tt.metrics, tt.outputs FROM task_instance ti
                   JOIN task_try tt ON tt.dag_id = ti.dag_id AND tt.run_id = ti.run_id
                     AND tt.task_id = ti.task_id AND tt.try_number = ti.try_number
                   WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.task_id = $3";
        let row: Option<(String, Option<String>)> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(dag_id).bind(run_id).bind(task_id).fetch_optional(p).await?);
        Ok(row.map(
            |(metrics, outputs)| match merged(&metrics, outputs.as_deref()) {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        ))
    }

    /// `(task_id, metrics, outputs)` of the successful task instances of a run.
    async fn succeeded_outputs(
        &self,
        dag_id: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String, Option<String>)>> {
        let sql = "SELECT tt.task_id, tt.metrics, tt.outputs FROM task_instance ti
                   JOIN task_try tt ON tt.dag_id = ti.dag_id AND tt.run_id = ti.run_id
                     AND tt.task_id = ti.task_id AND tt.try_number = ti.try_number
                   WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.state = 'success'";
        Ok(with_pool!(self, p => sqlx::query_as(sql).bind(dag_id).bind(run_id).fetch_all(p).await?))
    }
}

/// Metrics with outputs laid over them (an output wins over a metric of the same name).
fn merged(metrics: &str, outputs: Option<&str>) -> Value {
    let mut all: Map<String, Value> = serde_json::from_str(metrics).unwrap_or_default();
    if let Some(Ok(Value::Object(outputs))) = outputs.map(serde_json::from_str) {
        all.extend(outputs);
    }
    Value::Object(all)
}
