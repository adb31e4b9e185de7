//! `sql_models`: builds a folder of dbt-shaped SQL models in a warehouse connection
//! (PostgreSQL or SQLite), in the order their `ref()`s give, each one atomically; a model
//! that fails skips the models that read it, and fails the task naming it.

mod build;
mod project;

use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use build::Warehouse;
use chrono::{DateTime, Utc};
use project::{Naming, Project};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use updraft_core::report::{
    AssetAccess, AssetEvent, ModelResult, ModelStatus, Report, warehouse_asset_uri,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlModelsConfig {
    /// The warehouse connection.
    conn: String,
    /// The models folder, relative to the DAG file.
    models: String,
    /// The schema the models are built in.
    #[serde(default = "default_schema")]
    schema: String,
}

fn default_schema() -> String {
    "marts".into()
}

fn project(cfg: &SqlModelsConfig, dag_folder: &Path) -> Result<Project, TaskError> {
    if cfg.schema.is_empty()
        || !cfg
            .schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(TaskError::Config(format!(
            "`schema: {}`: letters, digits and _ only",
            cfg.schema
        )));
    }
    Project::read(&dag_folder.join(&cfg.models))
}
updraft_core::declare_task_type!(
    SqlModels,
    "sql_models",
    validate,
    files = &["models"],
    reports = &[
        updraft_core::ReportKind::Model,
        updraft_core::ReportKind::Asset
    ]
);

pub(crate) fn validate(config: &Value, dag_folder: &Path) -> Result<(), TaskError> {
    let cfg: SqlModelsConfig = parse_config(config)?;
    project(&cfg, dag_folder).map(|_| ())
}

/// How a model ended.
enum Outcome {
    /// With its rows (None for a view).
    Built(Option<i64>),
    Failed(String),
    /// Not built because this model it reads was not.
    Skipped(String),
}

impl Outcome {
    /// The model's result as the `model_run` history records it.
    fn result(
        &self,
        model: &project::Model,
        relation: String,
        (started_at, ended_at): (DateTime<Utc>, DateTime<Utc>),
        seconds: f64,
    ) -> ModelResult {
        let (status, row_count, message) = match self {
            Outcome::Built(rows) => (ModelStatus::Success, *rows, None),
            Outcome::Failed(e) => (ModelStatus::Error, None, Some(e.clone())),
            Outcome::Skipped(up) => (
                ModelStatus::Skipped,
                None,
                Some(format!("`{up}` was not built")),
            ),
        };
        ModelResult {
            model: model.name.clone(),
            relation,
            materialized: model.materialized.as_str(),
            status,
            row_count,
            message,
            started_at,
            ended_at,
            execution_time: seconds,
        }
    }
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: SqlModelsConfig = parse_config(config)?;
    let project = project(&cfg, &ctx.dag_folder)?;
    let conn = ctx.connections.get(&cfg.conn)?;
    let mut warehouse = Warehouse::connect(conn.secret_uri())
        .await
        .map_err(|e| TaskError::Retryable(conn.redact(&crate::db_error::describe(&e))))?;
    let naming: Arc<Naming> = match &warehouse {
        Warehouse::Postgres(_) => Arc::new(|s: &str, t: &str| format!("\"{s}\".\"{t}\"")),
        Warehouse::Sqlite(_) => Arc::new(|s: &str, t: &str| format!("\"{s}_{t}\"")),
    };
    let total = project.models.len();
    let mut broken: BTreeSet<&str> = BTreeSet::new();
    let mut outcomes = Vec::new();
    for (i, model) in project.models.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled("stopped between models".into()));
        }
        let clock = std::time::Instant::now();
        let started_at = chrono::Utc::now();
        let outcome = if let Some(up) = model.refs.iter().find(|r| broken.contains(r.as_str())) {
            Outcome::Skipped(up.clone())
        } else {
            let incremental = model.materialized == project::Materialized::Incremental
                && warehouse
                    .has_table(&cfg.schema, &model.name)
                    .await
                    .map_err(|e| TaskError::Retryable(crate::db_error::describe(&e)))?;
            match project.render(model, &cfg.schema, naming.clone(), incremental) {
                Err(e) => Outcome::Failed(e.to_string()),
                Ok(sql) => {
                    let sql = sql.trim().trim_end_matches(';').trim_end();
                    match warehouse
                        .build(
                            &cfg.schema,
                            &model.name,
                            sql,
                            model.materialized,
                            &model.unique_key,
                        )
                        .await
                    {
                        Ok(rows) => Outcome::Built(rows),
                        Err(e) => Outcome::Failed(conn.redact(&e.to_string())),
                    }
                }
            }
        };
        let seconds = clock.elapsed().as_secs_f64();
        let what = format!("{}.{}", cfg.schema, model.name);
        let ended_at = chrono::Utc::now();
        let built = outcome.result(model, what.clone(), (started_at, ended_at), seconds);
        ctx.reports.push(Report::Model(built));
        if let Outcome::Built(rows) = &outcome {
            report_assets(ctx, &cfg, model, *rows);
        }
        ctx.log.line(match &outcome {
            Outcome::Built(Some(rows)) => format!(
                "{} of {total} OK {} {what} ({rows} rows) [{seconds:.2}s]",
                i + 1,
                model.materialized.as_str()
            ),
            Outcome::Built(None) => format!(
                "{} of {total} OK {} {what} [{seconds:.2}s]",
                i + 1,
                model.materialized.as_str()
            ),
            Outcome::Failed(e) => format!("{} of {total} ERROR {what}: {e}", i + 1),
            Outcome::Skipped(up) => {
                format!("{} of {total} SKIP {what}: `{up}` was not built", i + 1)
            }
        });
        if !matches!(outcome, Outcome::Built(_)) {
            broken.insert(model.name.as_str());
        }
        outcomes.push((model.name.as_str(), outcome));
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|(name, o)| match o {
            Outcome::Failed(e) => Some(format!("{name}: {e}")),
            _ => None,
        })
        .collect();
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let built = count(|o| matches!(o, Outcome::Built(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    if !failed.is_empty() {
        return Err(TaskError::Fatal(format!(
            "{} model(s) failed, {skipped} skipped: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(TaskOutcome::default()
        .with("models", total)
        .with("built", built)
        .with("failed", 0)
        .with("skipped", skipped))
}

/// Reports a built model as an asset written (its rows, None for a view), and the
/// sources it read (the models it reads are this task's own writes, not its inputs).
fn report_assets(
    ctx: &TaskContext,
    cfg: &SqlModelsConfig,
    model: &project::Model,
    rows: Option<i64>,
) {
    let event = |relation: String, access, rows| {
        Report::Asset(AssetEvent {
            uri: warehouse_asset_uri(&cfg.conn, &relation),
            access,
            version: None,
            rows,
            partitions: Vec::new(),
        })
    };
    for (schema, table) in &model.sources {
        let relation = format!("{schema}.{table}");
        ctx.reports.push(event(relation, AssetAccess::Read, None));
    }
    ctx.reports.push(event(
        format!("{}.{}", cfg.schema, model.name),
        AssetAccess::Write,
        rows,
    ));
}
