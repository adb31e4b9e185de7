//! A run's template variables from its DAG (its params, id and folder); the templates
//! themselves know nothing of DAGs.

use crate::template::RunVars;
use chrono::{DateTime, Utc};
use serde_json::Value;

impl RunVars {
    /// Builds the variables of a run: `params` are the DAG's, overridden by `conf` keys.
    pub fn new(
        dag: &super::Dag,
        run_id: &str,
        logical_date: DateTime<Utc>,
        interval: (DateTime<Utc>, DateTime<Utc>),
        conf: Value,
        lake: &str,
    ) -> Self {
        let mut params = dag.params.clone();
        if let Value::Object(overrides) = &conf {
            for (k, v) in overrides {
                params.insert(k.clone(), v.clone());
            }
        }
        // A value under a password-like key is a secret wherever a task prints it.
        updraft_core::secrets::register_secret_keys(&Value::Object(params.clone()));
        Self {
            dag_id: dag.dag_id.clone(),
            run_id: run_id.to_string(),
            logical_date,
            data_interval_start: interval.0,
            data_interval_end: interval.1,
            params,
            conf,
            lake: lake.trim_end_matches('/').to_string(),
            dag_folder: dag
                .fileloc
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
        }
    }
}

/// Variables good enough to check a DAG's templates with, before any run.
pub(super) fn checking_vars(dag: &super::Dag) -> RunVars {
    let at = DateTime::<Utc>::UNIX_EPOCH;
    RunVars::new(
        dag,
        "check",
        at,
        (at, at),
        Value::Object(Default::default()),
        "lake",
    )
}
