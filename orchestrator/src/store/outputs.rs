//! Reading what attempts handed on (`task_try.outputs`, beside `metrics`).

use super::{Result, Store};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

impl Store {
    /// The outputs of the tasks `task_ids` of a run that succeeded: each one's latest
    /// (successful) attempt's metrics with its outputs laid over them; for a mapped task,
    /// the list of its successful instances' outputs, in map order.
    pub async fn task_outputs(
        &self,
        dag_id: &str,
        run_id: &str,
        task_ids: &[String],
    ) -> Result<Map<String, Value>> {
        if task_ids.is_empty() {
            return Ok(Map::new());
        }
        let found = self
            .latest_outputs((dag_id, run_id), task_ids, None)
            .await?;
        let mut all = Map::new();
        for (task_id, map_index, outputs) in found {
            if map_index < 0 {
                all.insert(task_id, Value::Object(outputs));
                continue;
            }
            // Rows come in map order.
            let list = all
                .entry(task_id)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.push(Value::Object(outputs));
            }
        }
        Ok(all)
    }

    /// One task's outputs in a run (its latest attempt's, whatever its state), when the
    /// task instance exists.
    pub async fn outputs_of(
        &self,
        dag_id: &str,
        run_id: &str,
        (task_id, map_index): (&str, i32),
    ) -> Result<Option<Map<String, Value>>> {
        let ids = [task_id.to_string()];
        let found = self
            .latest_outputs((dag_id, run_id), &ids, Some(map_index))
            .await?;
        Ok(found.into_iter().next().map(|(_, _, outputs)| outputs))
    }

    /// What task `task_id` handed on (metrics and outputs) in the last successful run
    /// of `dag_id` before `logical_date` in which it succeeded.
    pub async fn previous_outputs(
        &self,
        dag_id: &str,
        task_id: &str,
        logical_date: DateTime<Utc>,
    ) -> Result<Option<Map<String, Value>>> {
        let sql = "SELECT tt.metrics, tt.outputs FROM dag_run r
                   JOIN task_try tt ON tt.dag_id = r.dag_id AND tt.run_id = r.run_id
                   WHERE r.dag_id = $1 AND r.state = 'success' AND r.logical_date < $3
                     AND tt.task_id = $2 AND tt.state = 'success'
                   ORDER BY r.logical_date DESC, tt.try_number DESC LIMIT 1";
        let row: Option<(String, Option<String>)> = with_pool!(self, p => sqlx::query_as(sql)
            .bind(dag_id).bind(task_id).bind(logical_date).fetch_optional(p).await?);
        Ok(row.map(|(metrics, outputs)| merged(&metrics, outputs.as_deref())))
    }

    /// `(task_id, map_index, outputs)` of the latest attempt of the instances of each
    /// task `task_ids` of a run, in map order: of one instance whatever its state when
    /// `instance` names it, else of those that succeeded.
    async fn latest_outputs(
        &self,
        (dag_id, run_id): (&str, &str),
        task_ids: &[String],
        instance: Option<i32>,
    ) -> Result<Vec<(String, i32, Map<String, Value>)>> {
        let rows: Vec<(String, i32, String, Option<String>)> = with_pool!(self, p => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT tt.task_id, tt.map_index, tt.metrics, tt.outputs FROM task_instance ti
                 JOIN task_try tt ON tt.dag_id = ti.dag_id AND tt.run_id = ti.run_id
                   AND tt.task_id = ti.task_id AND tt.map_index = ti.map_index
                   AND tt.try_number = ti.try_number
                 WHERE ti.dag_id = ",
            );
            query.push_bind(dag_id).push(" AND ti.run_id = ").push_bind(run_id);
            match instance {
                Some(index) => query.push(" AND ti.map_index = ").push_bind(index),
                None => query.push(" AND ti.state = 'success'"),
            };
            super::runs::push_in_owned(&mut query, "ti.task_id", task_ids);
            query.push(" ORDER BY tt.task_id, tt.map_index");
            query.build_query_as().fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .map(|(task_id, map_index, metrics, outputs)| {
                (task_id, map_index, merged(&metrics, outputs.as_deref()))
            })
            .collect())
    }
}

/// Metrics with outputs laid over them (an output wins over a metric of the same name).
fn merged(metrics: &str, outputs: Option<&str>) -> Map<String, Value> {
    let mut all: Map<String, Value> = serde_json::from_str(metrics).unwrap_or_default();
    if let Some(Ok(Value::Object(outputs))) = outputs.map(serde_json::from_str) {
        all.extend(outputs);
    }
    all
}
