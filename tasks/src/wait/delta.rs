//! `for: delta`: a Delta table has a commit newer than the one this task saw in its DAG's
//! last successful run (any commit, the first time); or, with `partition:`, has rows in
//! that partition. The table's version is an output, which is how the next run knows
//! what this one saw.

use super::{Check, StorageOptions};
use crate::lake::{self, PartitionValues};
use crate::{TaskContext, TaskError, TaskOutcome};
use deltalake::arrow::datatypes::Schema;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeltaCondition {
    table: String,
    /// Partition column → value (templated: `{day: "{{ ds }}"}`).
    #[serde(default)]
    partition: BTreeMap<String, Value>,
    #[serde(default)]
    storage_options: StorageOptions,
}

impl DeltaCondition {
    pub(crate) async fn check(&self, ctx: &TaskContext) -> Result<Check, TaskError> {
        let table = lake::open(&self.table, &self.storage_options).await?;
        let version = lake::version(&table);
        if version < 0 {
            return Ok(Check::NotYet(
                format!("a first commit of {}", self.table),
                None,
            ));
        }
        let met = TaskOutcome::default().with_output("version", version);
        if !self.partition.is_empty() {
            return self.check_partition(table, met).await;
        }
        let seen = match &ctx.dag_runs {
            Some(history) => history
                .previous_outputs()
                .await?
                .and_then(|o| o.get("version").and_then(Value::as_i64)),
            None => None,
        };
        ctx.log.line(format!(
            "{} is at version {version}; the last successful run saw {}",
            self.table,
            seen.map_or("none".to_string(), |v| v.to_string())
        ));
        match seen {
            Some(seen) if version <= seen => Ok(Check::NotYet(
                format!("a commit of {} after version {seen}", self.table),
                None,
            )),
            _ => Ok(Check::Met(met)),
        }
    }

    /// Whether the partition `self.partition` names has rows.
    async fn check_partition(
        &self,
        table: deltalake::DeltaTable,
        met: TaskOutcome,
    ) -> Result<Check, TaskError> {
        let columns = lake::partition_columns(&table);
        let mut values = PartitionValues::new();
        for (column, value) in &self.partition {
            if !columns.contains(column) {
                return Err(TaskError::Fatal(format!(
                    "`partition`: `{column}` is not a partition column of {} (its partition columns: {})",
                    self.table,
                    if columns.is_empty() {
                        "none".to_string()
                    } else {
                        columns.join(", ")
                    }
                )));
            }
            let text = match value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            values.insert(column.clone(), text);
        }
        let shown: Vec<String> = values
            .iter()
            .map(|(c, v)| format!("{c}={}", v.as_deref().unwrap_or("null")))
            .collect();
        let shown = shown.join(", ");
        // DataFusion casts the text values to the columns' types in the comparison.
        let filter = lake::partition_filter(&BTreeSet::from([values]), &Schema::empty())
            .unwrap_or_else(|| "TRUE".into());
        let session = lake::sql_session(&[("t".to_string(), table)]).await?;
        let rows = session
            .sql(&format!("SELECT 1 FROM t WHERE {filter} LIMIT 1"))
            .await
            .map_err(|e| lake::datafusion_error("looking for the partition", e))?
            .collect()
            .await
            .map_err(|e| lake::datafusion_error("looking for the partition", e))?;
        if rows.iter().map(|b| b.num_rows()).sum::<usize>() == 0 {
            return Ok(Check::NotYet(
                format!("rows in partition {shown} of {}", self.table),
                None,
            ));
        }
        Ok(Check::Met(met.with_output("partition", shown)))
    }
}
