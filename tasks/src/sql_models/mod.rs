//! `sql_models`: builds a folder of dbt-shaped SQL models in a warehouse connection
//! (PostgreSQL or SQLite), in the order their `ref()`s give, each one atomically; a model
//! that fails skips the models that read it, and fails the task naming it. It is the
//! `dbt` task's engine over a folder without `dbt_project.yml` (`dbt run` of it).

use crate::dbt::{self, Command, Request};
use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

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

fn request(cfg: &SqlModelsConfig, dag_folder: &Path) -> Request {
    Request {
        project: dag_folder.join(&cfg.models),
        schema: Some(cfg.schema.clone()),
        target: None,
        select: None,
        exclude: None,
        vars: Default::default(),
        full_refresh: false,
        node: None,
    }
}

pub(crate) fn validate(config: &Value, dag_folder: &Path) -> Result<(), TaskError> {
    let cfg: SqlModelsConfig = parse_config(config)?;
    request(&cfg, dag_folder)
        .load("postgres", "run")
        .map(|_| ())
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: SqlModelsConfig = parse_config(config)?;
    let conn = ctx.connections.get(&cfg.conn)?;
    let request = request(&cfg, &ctx.dag_folder);
    let summary = dbt::invoke(
        &request,
        Command::Run,
        &dbt::Place::Conn(conn),
        (&ctx.log, &ctx.reports, &ctx.cancel),
        ctx.log.path().map(dbt::artifacts_next_to),
    )
    .await?;
    dbt::outcome(&summary)
}
