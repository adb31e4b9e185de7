//! The task types this build knows, one entry each (the contract they keep is
//! `updraft_core::TaskType`). A new task type is a module with `validate` and `run`, its
//! `updraft_core::declare_task_type!` line, and its entry in [`TASK_TYPES`].

use crate::TaskError;
use updraft_core::TaskType;

/// Every task type this build knows.
pub static TASK_TYPES: &[&dyn TaskType] = &[
    &crate::noop::Noop,
    &crate::shell::Shell,
    &crate::sql::Sql,
    &crate::spark_sql::SparkSql,
    &crate::http::Http,
    &crate::land::Land,
    &crate::parse_json::ParseJson,
    &crate::delta_sql::DeltaSql,
    &crate::load_warehouse::LoadWarehouse,
    &crate::delta_maintenance::DeltaMaintenance,
    &crate::data_test::DataTest,
    &crate::sql_models::SqlModels,
    &crate::dbt::Dbt,
    &crate::trigger_dag::TriggerDag,
    &crate::wait::Wait,
];

/// The task type called `name`.
pub fn task_type(name: &str) -> Result<&'static dyn TaskType, TaskError> {
    TASK_TYPES
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = TASK_TYPES.iter().map(|t| t.name()).collect();
            TaskError::Config(format!(
                "unknown task type `{name}` (known: {})",
                known.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_unknown_ones_are_listed() {
        let names: Vec<&str> = TASK_TYPES.iter().map(|t| t.name()).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let Err(TaskError::Config(message)) = task_type("spark") else {
            panic!("spark is not a task type");
        };
        assert!(
            message.contains("`spark`") && message.contains("parse_json"),
            "{message}"
        );
    }
}
