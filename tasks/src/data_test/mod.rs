//! `data_test`: dbt's data tests, with dbt's semantics, against Delta tables (DataFusion)
//! or the tables of a PostgreSQL/SQLite connection. The tests come from a dbt
//! `schema.yml` (a file or inline `models:`/`sources:`); each test's query returns its
//! failing rows, counted by `fail_calc`, and `warn_if`/`error_if`/`severity` decide its
//! status. Every attempt reports its results (stored by the orchestrator in `test_result`)
//! and writes a dbt `run_results.json` and a JUnit XML report next to its log. The task fails when a test of
//! severity `error` fails or errors: no retry can fix data.

mod failures;
mod junit;
mod kinds;
pub(crate) mod run_results;
mod schema;
mod singular;
mod target;
mod verdict;

pub(crate) use kinds::Kind;
pub(crate) use schema::{Relation, TestCase, TestConfig, read_config as test_config};
pub(crate) use target::Target;

pub use failures::{SHOWN_ROWS, read as read_failures};

pub use updraft_core::report::TestResult;
use verdict::TestStatus;

use crate::{TaskContext, TaskError, TaskOutcome, parse_config};
use chrono::Utc;
use schema::SchemaFile;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use updraft_core::report::Report;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataTestConfig {
    /// A dbt schema file, relative to the DAG file's folder.
    schema_file: Option<String>,
    /// ...or the same YAML inline.
    models: Option<Value>,
    sources: Option<Value>,
    /// Model name -> Delta table.
    #[serde(default)]
    tables: BTreeMap<String, String>,
    /// ...or: models are tables of this connection.
    conn: Option<String>,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
    /// A folder of dbt singular tests (`.sql` files), relative to the DAG file's folder.
    singular: Option<String>,
    /// Keep every test's failing rows unless the test says otherwise.
    #[serde(default)]
    store_failures: bool,
}

updraft_core::declare_task_type!(
    DataTest,
    "data_test",
    validate,
    files = &["schema_file", "singular"],
    reports = &[updraft_core::ReportKind::Test]
);

/// Checks the config and, when its path holds no template, the schema file's tests.
pub(crate) fn validate(config: &Value, dag_folder: &Path) -> Result<(), TaskError> {
    let cfg: DataTestConfig = parse_config(config)?;
    check_target(&cfg)?;
    if cfg
        .schema_file
        .as_deref()
        .is_some_and(|f| f.contains("{{") || f.contains("{%"))
    {
        return Ok(());
    }
    let schema = read_tests(&cfg, dag_folder)?;
    check_relations(&cfg, &schema.tests)?;
    match &cfg.singular {
        Some(dir) if !dir.contains("{{") => check_singular(&cfg, &read_singular(dir, dag_folder)?),
        _ => Ok(()),
    }
}

fn read_singular(dir: &str, dag_folder: &Path) -> Result<Vec<singular::SingularTest>, TaskError> {
    singular::read_dir(&dag_folder.join(dir)).map_err(TaskError::Config)
}

/// With Delta tables, every model a singular test reads must be one of them.
fn check_singular(cfg: &DataTestConfig, tests: &[singular::SingularTest]) -> Result<(), TaskError> {
    if cfg.conn.is_some() {
        return Ok(());
    }
    for test in tests {
        if let Some(missing) = test
            .relations
            .iter()
            .find(|r| table_key(&cfg.tables, r).is_none())
        {
            return Err(TaskError::Config(format!(
                "singular test `{}` reads `{}`, which is not in `tables`",
                test.name,
                missing.shown()
            )));
        }
    }
    Ok(())
}

fn check_target(cfg: &DataTestConfig) -> Result<(), TaskError> {
    if cfg.schema_file.is_some() == (cfg.models.is_some() || cfg.sources.is_some()) {
        return Err(TaskError::Config(
            "give exactly one of `schema_file` and inline `models:`/`sources:`".into(),
        ));
    }
    if cfg.tables.is_empty() == cfg.conn.is_none() {
        return Err(TaskError::Config(
            "give exactly one of `tables` (model name -> Delta table) and `conn`".into(),
        ));
    }
    Ok(())
}

fn read_tests(cfg: &DataTestConfig, dag_folder: &Path) -> Result<SchemaFile, TaskError> {
    let read = match &cfg.schema_file {
        Some(file) => {
            let path = dag_folder.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                TaskError::Config(format!("cannot read schema_file {}: {e}", path.display()))
            })?;
            schema::read(&text, &path)
        }
        None => {
            let mut doc = serde_json::Map::new();
            doc.insert("version".into(), Value::from(2));
            for (key, value) in [("models", &cfg.models), ("sources", &cfg.sources)] {
                if let Some(v) = value {
                    doc.insert(key.into(), v.clone());
                }
            }
            schema::from_value(&Value::Object(doc), Path::new("with"))
        }
    };
    read.map_err(|errors| TaskError::Config(errors.join("\n")))
}

/// With Delta tables, every model a test reads must be one of them.
fn check_relations(cfg: &DataTestConfig, tests: &[TestCase]) -> Result<(), TaskError> {
    if cfg.conn.is_some() {
        return Ok(());
    }
    for test in tests {
        let mut relations = vec![test.relation.clone()];
        relations.extend(test.kind.other_relations(&test.args));
        for relation in relations {
            if table_key(&cfg.tables, &relation).is_none() {
                return Err(TaskError::Config(format!(
                    "test `{}` reads `{}`, which is not in `tables` (known: {})",
                    test.name,
                    relation.shown(),
                    cfg.tables.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The `tables` key of a relation: the model's name; a source table by `source.table`
/// or its table name.
fn table_key<'a>(tables: &'a BTreeMap<String, String>, relation: &Relation) -> Option<&'a str> {
    let candidates = match relation {
        Relation::Model(m) => vec![m.clone()],
        Relation::Source { source, table } => vec![format!("{source}.{table}"), table.clone()],
    };
    candidates
        .into_iter()
        .find_map(|c| tables.get_key_value(&c).map(|(k, _)| k.as_str()))
}

pub(crate) async fn run(config: &Value, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
    let cfg: DataTestConfig = parse_config(config)?;
    check_target(&cfg)?;
    let schema = read_tests(&cfg, &ctx.dag_folder)?;
    check_relations(&cfg, &schema.tests)?;
    let singulars = match &cfg.singular {
        Some(dir) => read_singular(dir, &ctx.dag_folder)?,
        None => Vec::new(),
    };
    check_singular(&cfg, &singulars)?;
    let started = Utc::now();
    let target = match &cfg.conn {
        Some(name) => Target::connect(ctx.connections.get(name)?, &schema.source_schemas).await?,
        None => Target::delta(&cfg.tables, &cfg.storage_options).await?,
    };
    let mut prepared: Vec<Prepared> = schema
        .tests
        .iter()
        .filter(|t| t.config.enabled)
        .map(|t| {
            Prepared::generic(&target, t, &|r| {
                target.relation(r, table_key(&cfg.tables, r))
            })
        })
        .collect();
    prepared.extend(
        singulars
            .iter()
            .filter(|t| t.config.enabled)
            .map(|t| Prepared::singular(&target, t, &cfg.tables)),
    );
    ctx.log
        .line(format!("running {} data tests", prepared.len()));
    let mut results = Vec::new();
    for (i, test) in prepared.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled("stopped between tests".into()));
        }
        let mut result = test.run(&target, &ctx.dag_id).await;
        if test.config.store_failures.unwrap_or(cfg.store_failures)
            && result.status != TestStatus::Error
        {
            let stored = failures::store(
                &target,
                &test.rows_sql,
                &test.name,
                &ctx.lake,
                cfg.conn.as_deref(),
                &cfg.storage_options,
            )
            .await;
            match stored {
                Ok(at) => result.stored_failures = Some(at),
                Err(e) => ctx.log.line(format!(
                    "cannot keep the failing rows of {}: {e}",
                    test.name
                )),
            }
        }
        ctx.log.line(log_line(i + 1, prepared.len(), &result));
        ctx.reports.push(Report::Test(result.clone()));
        results.push(result);
    }
    if let Some(path) = ctx.log.path() {
        let file = run_results_path(path);
        run_results::write(&file, &results, started)
            .map_err(|e| TaskError::Retryable(format!("cannot write {}: {e}", file.display())))?;
        ctx.log.line(format!("wrote {}", file.display()));
        let xml = path.with_extension("junit.xml");
        junit::write(&xml, &format!("{}.{}", ctx.dag_id, ctx.task_id), &results)
            .map_err(|e| TaskError::Retryable(format!("cannot write {}: {e}", xml.display())))?;
    }
    let count = |s: TestStatus| results.iter().filter(|r| r.status == s).count();
    let (passed, warned, failed, errored) = (
        count(TestStatus::Pass),
        count(TestStatus::Warn),
        count(TestStatus::Fail),
        count(TestStatus::Error),
    );
    ctx.log.line(format!(
        "Done. PASS={passed} WARN={warned} ERROR={} SKIP=0 TOTAL={}",
        failed + errored,
        results.len()
    ));
    let blocking = results
        .iter()
        .filter(|r| {
            r.severity == "ERROR" && matches!(r.status, TestStatus::Fail | TestStatus::Error)
        })
        .map(|r| r.test_name.as_str())
        .collect::<Vec<_>>();
    if !blocking.is_empty() {
        return Err(TaskError::Fatal(format!(
            "{} data test(s) failed: {}",
            blocking.len(),
            blocking.join(", ")
        )));
    }
    Ok(TaskOutcome::default()
        .with("tests", results.len())
        .with("passed", passed)
        .with("warned", warned)
        .with("failed", failed)
        .with("errored", errored))
}

/// The tests of a dbt property document (`models:`, `sources:`), as dbt names them;
/// `custom` names the generic tests the project defines.
pub(crate) fn tests_of(
    doc: &Value,
    file: &Path,
    custom: &std::collections::BTreeSet<String>,
) -> Result<Vec<TestCase>, TaskError> {
    schema::of_project(doc, file, custom)
        .map(|s| s.tests)
        .map_err(|errors| TaskError::Config(errors.join("\n")))
}

/// Runs one test of a project on `target`, each relation named by `relation`; its id
/// is `test.<project>.<name>`.
pub(crate) async fn run_test(
    target: &Target,
    test: &TestCase,
    relation: &(dyn Fn(&Relation) -> String + Sync),
    project: &str,
) -> TestResult {
    let prepared = Prepared::generic(target, test, relation);
    prepared.run(target, project).await
}

/// Runs one test whose failing rows `rows_sql` gives (a project's own generic test), or
/// reports why its SQL could not be made.
pub(crate) async fn run_rows_test(
    target: &Target,
    test: &TestCase,
    rows_sql: Result<String, String>,
    project: &str,
) -> TestResult {
    let prepared = Prepared {
        name: test.name.clone(),
        model: test.relation.shown(),
        column: test.column.clone(),
        test_type: test.written.clone(),
        rows_sql: String::new(),
        fail_calc: test.config.fail_calc.clone(),
        config: test.config.clone(),
    };
    match rows_sql {
        Ok(rows) => {
            let prepared = Prepared {
                rows_sql: with_limit(rows, test.config.limit),
                ..prepared
            };
            prepared.run(target, project).await
        }
        Err(message) => {
            let now = Utc::now();
            TestResult {
                test_id: format!("test.{project}.{}", prepared.name),
                test_name: prepared.name,
                model: prepared.model,
                column_name: prepared.column,
                test_type: prepared.test_type,
                severity: prepared.config.severity.as_str().to_string(),
                status: TestStatus::Error,
                failures: None,
                message: Some(message),
                compiled_sql: String::new(),
                started_at: now,
                ended_at: now,
                execution_time: 0.0,
                stored_failures: None,
            }
        }
    }
}

/// A test ready to run: its failing-rows query compiled for the target.
struct Prepared {
    name: String,
    model: String,
    column: Option<String>,
    test_type: String,
    config: schema::TestConfig,
    /// The failing rows (the model filtered by `where`, cut at `limit`).
    rows_sql: String,
    fail_calc: String,
}

impl Prepared {
    fn generic(target: &Target, test: &TestCase, relation: &dyn Fn(&Relation) -> String) -> Self {
        let base = relation(&test.relation);
        let model = match &test.config.where_ {
            Some(condition) => format!("(select * from {base} where {condition}) dbt_subquery"),
            None => base,
        };
        let rows = test.kind.failing_rows(
            &model,
            test.column.as_deref(),
            &test.args,
            target.dialect(),
            relation,
        );
        let fail_calc = if test.config.fail_calc == "count(*)" {
            test.kind.default_fail_calc().to_string()
        } else {
            test.config.fail_calc.clone()
        };
        Self {
            name: test.name.clone(),
            model: test.relation.shown(),
            column: test.column.clone(),
            test_type: test.written.clone(),
            rows_sql: with_limit(rows, test.config.limit),
            config: test.config.clone(),
            fail_calc,
        }
    }

    fn singular(
        target: &Target,
        test: &singular::SingularTest,
        tables: &BTreeMap<String, String>,
    ) -> Self {
        let relation = |r: &Relation| target.relation(r, table_key(tables, r));
        let rows = singular::render(&test.template, &relation);
        Self {
            name: test.name.clone(),
            model: test
                .relations
                .first()
                .map(Relation::shown)
                .unwrap_or_default(),
            column: None,
            test_type: "singular".into(),
            rows_sql: with_limit(rows, test.config.limit),
            fail_calc: test.config.fail_calc.clone(),
            config: test.config.clone(),
        }
    }

    /// Counts the failing rows and decides, as dbt's `get_test_sql` and test runner do.
    async fn run(&self, target: &Target, dag_id: &str) -> TestResult {
        let started_at = Utc::now();
        let clock = std::time::Instant::now();
        let sql = format!(
            "select cast({} as bigint) as failures from ({}) dbt_internal_test",
            self.fail_calc, self.rows_sql
        );
        let (status, failures, message) = match target.count_failures(&sql).await {
            Ok(n) => {
                let (status, failures, message) = verdict::decide(
                    n,
                    self.config.severity,
                    &self.config.warn_if,
                    &self.config.error_if,
                );
                (status, Some(failures), message)
            }
            Err(e) => (TestStatus::Error, None, Some(e)),
        };
        TestResult {
            test_id: format!("test.{dag_id}.{}", self.name),
            test_name: self.name.clone(),
            model: self.model.clone(),
            column_name: self.column.clone(),
            test_type: self.test_type.clone(),
            severity: self.config.severity.as_str().to_string(),
            status,
            failures,
            message,
            compiled_sql: sql,
            started_at,
            ended_at: Utc::now(),
            execution_time: clock.elapsed().as_secs_f64(),
            stored_failures: None,
        }
    }
}

/// A test not run because what it reads was not built, as dbt reports it (`SKIP`).
pub(crate) fn skipped_test(test: &TestCase, dag_id: &str, why: String) -> TestResult {
    let now = Utc::now();
    TestResult {
        test_id: format!("test.{dag_id}.{}", test.name),
        test_name: test.name.clone(),
        model: test.relation.shown(),
        column_name: test.column.clone(),
        test_type: test.kind.as_str().to_string(),
        severity: test.config.severity.as_str().to_string(),
        status: TestStatus::Skipped,
        failures: None,
        message: Some(why),
        compiled_sql: String::new(),
        started_at: now,
        ended_at: now,
        execution_time: 0.0,
        stored_failures: None,
    }
}

fn with_limit(rows: String, limit: Option<u64>) -> String {
    match limit {
        Some(n) => format!("{rows} limit {n}"),
        None => rows,
    }
}

/// `.../attempt=N.log` → `.../attempt=N.run_results.json`.
pub fn run_results_path(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    log.with_file_name(format!("{stem}.run_results.json"))
}

/// One line of the attempt log, as dbt prints a test.
pub(crate) fn log_line(i: usize, total: usize, r: &TestResult) -> String {
    let status = match r.status {
        TestStatus::Pass => "PASS".to_string(),
        TestStatus::Warn => format!("WARN {}", r.failures.unwrap_or(0)),
        TestStatus::Fail => format!("FAIL {}", r.failures.unwrap_or(0)),
        TestStatus::Error => "ERROR".to_string(),
        TestStatus::Skipped => "SKIP".to_string(),
    };
    let detail = r
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    format!(
        "{i} of {total} {status} {} [{:.2}s]{detail}",
        r.test_name, r.execution_time
    )
}
