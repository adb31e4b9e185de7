//! Running a dbt command over a project in a warehouse: nodes in order (seeds loaded,
//! models compiled and built, ephemeral models inlined as CTEs), each model's tests right
//! after it under `build`; a node that fails, or whose tests fail, skips what reads it.
//! Each node's result is logged as dbt prints it and reported (`model_run`,
//! `test_result`, asset events).

use super::project::{Node, NodeKind, Project};
use super::settings::Materialized;
use super::warehouse::{Build, Kind, Warehouse};
use super::{Command, seeds};
use crate::data_test::{self, Relation as TestRelation, TestCase};
use crate::{TaskError, TaskLog};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use updraft_core::Reports;
use updraft_core::report::TestStatus as Status;
use updraft_core::report::{ModelResult, ModelStatus, Report, TestResult};

/// How one node ended.
#[derive(Debug)]
pub enum Outcome {
    /// With its rows (None for a view or an ephemeral model).
    Built(Option<i64>),
    Failed(String),
    /// Not built because this node it reads was not (or its tests failed).
    Skipped(String),
}

/// What a command did.
#[derive(Debug, Default)]
pub struct Summary {
    pub nodes: Vec<(String, Outcome)>,
    /// Each built (or failed, or skipped) node as `model_run` records it.
    pub models: Vec<ModelResult>,
    pub tests: Vec<TestResult>,
}

impl Summary {
    /// dbt's last line: `Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..`.
    pub fn done_line(&self) -> String {
        let built = self.count(|o| matches!(o, Outcome::Built(_)));
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| matches!(o, Outcome::Skipped(_)));
        let test = |s: Status| self.tests.iter().filter(|t| t.status == s).count();
        let pass = built + test(Status::Pass);
        let error = failed + test(Status::Fail) + test(Status::Error);
        let total = self.nodes.len() + self.tests.len();
        format!(
            "Done. PASS={pass} WARN={} ERROR={error} SKIP={} TOTAL={total}",
            test(Status::Warn),
            skipped + test(Status::Skipped)
        )
    }

    /// How many nodes ended so.
    pub fn count(&self, f: fn(&Outcome) -> bool) -> usize {
        self.nodes.iter().filter(|(_, o)| f(o)).count()
    }

    /// The failures that fail the command: nodes that failed, tests of severity error
    /// that failed or errored.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::Failed(e) => Some(format!("{name}: {e}")),
                _ => None,
            })
            .collect();
        out.extend(
            self.tests
                .iter()
                .filter(|t| {
                    t.severity == "ERROR" && matches!(t.status, Status::Fail | Status::Error)
                })
                .map(|t| format!("{} {}", t.test_name, t.status)),
        );
        out
    }
}

/// Where results go as they come.
pub struct Sink<'a> {
    pub log: &'a TaskLog,
    pub reports: &'a Reports,
    pub cancel: &'a tokio_util::sync::CancellationToken,
    /// How the relations built and read are named as assets.
    pub assets: Assets<'a>,
}

/// How relations are named as assets: tables of a connection, or the lake's Delta tables.
pub enum Assets<'a> {
    /// `warehouse://<conn>/<schema>.<table>`.
    Conn(&'a str),
    /// `delta://lake/<schema>/<table>` (a source kept elsewhere: its location).
    Lake {
        root: &'a crate::lake::LakeRoot,
        elsewhere: &'a BTreeMap<(String, String), String>,
    },
}

impl Assets<'_> {
    fn uri(&self, relation: &super::relation::Relation) -> String {
        use updraft_core::report::{delta_asset_uri, warehouse_asset_uri};
        let (schema, name) = (&relation.schema, &relation.identifier);
        match self {
            Assets::Conn(conn) => warehouse_asset_uri(conn, &format!("{schema}.{name}")),
            Assets::Lake { root, elsewhere } => {
                let location = elsewhere
                    .get(&(schema.clone(), name.clone()))
                    .cloned()
                    .unwrap_or_else(|| root.location(schema, name));
                delta_asset_uri(&root.root, &location)
            }
        }
    }
}

/// Runs `command` on the `selected` nodes of `project` in `warehouse`.
pub async fn execute(
    project: &Project,
    command: Command,
    selected: &BTreeSet<String>,
    warehouse: &mut Warehouse,
    (target, tests): (&data_test::Target, &[Check]),
    sink: &Sink<'_>,
) -> Result<Summary, TaskError> {
    let nodes: Vec<&Node> = project
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.name))
        .filter(|n| command.builds(n.kind))
        .collect();
    // Each chosen test with the node it runs after here: its own, or, when that one is
    // not built by this command, the last it reads that is.
    let chosen_tests: Vec<(&Check, &str)> = tests
        .iter()
        .filter(|t| t.chosen(selected, command == Command::Test))
        .map(|t| {
            let after = nodes
                .iter()
                .rev()
                .find(|n| n.name == t.after)
                .or_else(|| nodes.iter().rev().find(|n| t.reads.contains(&n.name)))
                .map_or(t.after.as_str(), |n| n.name.as_str());
            (t, after)
        })
        .collect();
    let unit_tests: Vec<&super::unit_tests::UnitTest> = project
        .unit_tests
        .iter()
        .filter(|t| selected.contains(&t.model))
        .collect();
    let total = nodes
        .iter()
        .filter(|n| n.settings.materialized != Materialized::Ephemeral)
        .count()
        + if matches!(command, Command::Build | Command::Test) {
            chosen_tests.len() + unit_tests.len()
        } else {
            0
        };
    sink.log.line(format!(
        "Found {} models, {} seeds, {} data tests, {} sources, {} macros",
        project
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Model)
            .count(),
        project
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Seed)
            .count(),
        tests.len(),
        project.invocation.sources.len(),
        project.macros.iter().map(|m| m.macros.len()).sum::<usize>()
    ));
    let schemas: Vec<String> = nodes
        .iter()
        .filter(|n| n.settings.materialized != Materialized::Ephemeral)
        .map(|n| n.relation.schema.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let on_run = (&project.file.on_run_start, &project.file.on_run_end);
    run_hooks(
        project,
        warehouse,
        ("on-run-start", on_run.0),
        &schemas,
        sink,
    )
    .await?;
    let mut summary = Summary::default();
    let mut broken: BTreeSet<String> = BTreeSet::new();
    let mut index = 0usize;
    for node in nodes {
        if sink.cancel.is_cancelled() {
            return Err(TaskError::Cancelled("stopped between models".into()));
        }
        if node.settings.materialized == Materialized::Ephemeral {
            if let Some(up) = node.refs.iter().find(|r| broken.contains(*r)) {
                broken.insert(node.name.clone());
                summary
                    .nodes
                    .push((node.name.clone(), Outcome::Skipped(up.clone())));
            }
            continue;
        }
        index += 1;
        let clock = std::time::Instant::now();
        let started_at = Utc::now();
        let mut failed_unit = None;
        if command == Command::Build && !node.refs.iter().any(|r| broken.contains(r)) {
            for test in unit_tests.iter().filter(|t| t.model == node.name) {
                let result = run_unit_test(project, test, warehouse).await;
                sink.log.line(data_test::log_line(index, total, &result));
                index += 1;
                if result.status != Status::Pass {
                    failed_unit = Some(format!("unit test {}", test.name));
                }
                sink.reports.push(Report::Test(result.clone()));
                summary.tests.push(result);
            }
        }
        let outcome = match node
            .refs
            .iter()
            .find(|r| broken.contains(*r))
            .or(failed_unit.as_ref())
        {
            Some(up) => Outcome::Skipped(up.clone()),
            None => match build_node(project, node, warehouse).await {
                Ok(rows) => Outcome::Built(rows),
                Err(e) => Outcome::Failed(e),
            },
        };
        let seconds = clock.elapsed().as_secs_f64();
        // A Delta table's event carries the version the build committed.
        let version = match (&outcome, &*warehouse) {
            (Outcome::Built(_), Warehouse::Lake(lake)) => {
                lake.version(&node.relation).await.ok().flatten()
            }
            _ => None,
        };
        let result = report_node(
            project,
            sink,
            (node, &outcome, version),
            (started_at, Utc::now()),
            seconds,
        );
        summary.models.push(result);
        sink.log
            .line(node_line(index, total, node, &outcome, seconds));
        let built = matches!(outcome, Outcome::Built(_));
        let mut ok = built;
        summary.nodes.push((node.name.clone(), outcome));
        if ok && command == Command::Build {
            for (test, _) in chosen_tests.iter().filter(|(_, a)| *a == node.name) {
                index += 1;
                let result = run_test(project, target, test).await;
                sink.log.line(data_test::log_line(index, total, &result));
                if result.severity == "ERROR"
                    && matches!(result.status, Status::Fail | Status::Error)
                {
                    // What reads the tested model is skipped (not what reads the node
                    // the test waited for).
                    match &test.case.relation {
                        TestRelation::Model(m) if *m != node.name => {
                            broken.insert(m.clone());
                        }
                        _ => ok = false,
                    }
                }
                sink.reports.push(Report::Test(result.clone()));
                summary.tests.push(result);
            }
        }
        if !ok {
            broken.insert(node.name.clone());
        }
        if !built && command == Command::Build {
            // Its tests are not run; dbt reports each as skipped.
            for (test, _) in chosen_tests.iter().filter(|(_, a)| *a == node.name) {
                index += 1;
                let why = format!("`{}` was not built", node.name);
                let result = data_test::skipped_test(&test.case, &project.file.name, why);
                sink.log.line(data_test::log_line(index, total, &result));
                sink.reports.push(Report::Test(result.clone()));
                summary.tests.push(result);
            }
        }
    }
    if command == Command::Test {
        for test in &unit_tests {
            index += 1;
            let result = run_unit_test(project, test, warehouse).await;
            sink.log.line(data_test::log_line(index, total, &result));
            sink.reports.push(Report::Test(result.clone()));
            summary.tests.push(result);
        }
        for (test, _) in chosen_tests {
            index += 1;
            let result = run_test(project, target, test).await;
            sink.log.line(data_test::log_line(index, total, &result));
            sink.reports.push(Report::Test(result.clone()));
            summary.tests.push(result);
        }
    }
    run_hooks(project, warehouse, ("on-run-end", on_run.1), &schemas, sink).await?;
    sink.log.line(summary.done_line());
    Ok(summary)
}

/// Runs the project's `on-run-start` or `on-run-end` hooks, each on its own, as dbt does;
/// a failing one fails the command.
async fn run_hooks(
    project: &Project,
    warehouse: &mut Warehouse,
    (which, hooks): (&str, &[String]),
    schemas: &[String],
    sink: &Sink<'_>,
) -> Result<(), TaskError> {
    if hooks.is_empty() {
        return Ok(());
    }
    sink.log
        .line(format!("Running {} {which} hook(s)", hooks.len()));
    for (i, hook) in hooks.iter().enumerate() {
        let name = format!("{}.{which}.{i}", project.file.name);
        let clock = std::time::Instant::now();
        let sql = project.render_hook(hook, schemas)?;
        if !sql.trim().is_empty() {
            warehouse
                .in_transaction(std::slice::from_ref(&sql))
                .await
                .map_err(|e| TaskError::Fatal(format!("{name}: {e}")))?;
        }
        sink.log.line(format!(
            "{} of {} OK hook: {name} [{:.2}s]",
            i + 1,
            hooks.len(),
            clock.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// A test of the project: a generic test of its property files, or a singular test with
/// its SQL already rendered.
pub struct Check {
    pub case: TestCase,
    pub rows: Option<Result<String, String>>,
    /// The node after which it runs under `build`: the last, in build order, of the
    /// nodes it reads (a `relationships` test waits for its `to` too, as in dbt).
    pub after: String,
    /// The models, seeds and snapshots it reads.
    pub reads: Vec<String>,
}

impl Check {
    /// Whether a selection of nodes selects it: when it reads any of them (dbt's eager
    /// indirect selection); a test of sources only when `sources_too`.
    pub fn chosen(&self, selected: &BTreeSet<String>, sources_too: bool) -> bool {
        self.reads.iter().any(|r| selected.contains(r))
            || (sources_too && matches!(self.case.relation, TestRelation::Source { .. }))
    }
}

/// The last of `names` in the project's build order (`fallback` when none is a node).
fn last_built(project: &Project, names: &[String], fallback: &str) -> String {
    project
        .nodes
        .iter()
        .rev()
        .find(|n| names.contains(&n.name))
        .map_or_else(|| fallback.to_string(), |n| n.name.clone())
}

/// The project's tests, from its property files (for the enabled nodes) and its
/// singular tests (each run after the last of the nodes it reads).
pub fn project_tests(project: &Project) -> Result<Vec<Check>, TaskError> {
    let tests = data_test::tests_of(
        &project.properties,
        &project.file.root,
        &project.generic_tests(),
    )?;
    let mut out: Vec<Check> = tests
        .into_iter()
        .filter(|t| t.config.enabled)
        .filter(|t| match &t.relation {
            TestRelation::Model(m) => project.node(m).is_some(),
            TestRelation::Source { .. } => true,
        })
        .map(|case| {
            let mut reads: Vec<String> = std::iter::once(case.relation.clone())
                .chain(case.kind.other_relations(&case.args))
                .filter_map(|r| match r {
                    TestRelation::Model(m) => Some(m),
                    TestRelation::Source { .. } => None,
                })
                .collect();
            reads.dedup();
            let after = last_built(project, &reads, &case.relation.shown());
            Check {
                case,
                rows: None,
                after,
                reads,
            }
        })
        .collect();
    for singular in project.singular() {
        let last = last_built(project, &singular.refs, &singular.name);
        let (config, rows) = match data_test::test_config(&singular.config) {
            Ok(config) => (config, singular.sql),
            Err((key, message)) => (
                Default::default(),
                Err(format!("{}: config `{key}`: {message}", singular.path)),
            ),
        };
        if !config.enabled {
            continue;
        }
        out.push(Check {
            case: TestCase {
                name: singular.name,
                kind: data_test::Kind::Project,
                written: "singular".into(),
                relation: TestRelation::Model(last.clone()),
                column: None,
                args: Default::default(),
                config,
            },
            rows: Some(rows),
            after: last,
            reads: singular.refs,
        });
    }
    Ok(out)
}

/// Runs one test: a built-in generic test by the `data_test` engine, a project's own by
/// its macro, a singular test by its SQL (an error rendering one is the test's error, as
/// dbt reports it).
async fn run_test(project: &Project, target: &data_test::Target, check: &Check) -> TestResult {
    let relation = |r: &TestRelation| resolve(project, r);
    let test = &check.case;
    if let Some(rows) = &check.rows {
        return data_test::run_rows_test(target, test, rows.clone(), &project.file.name).await;
    }
    if test.kind != data_test::Kind::Project {
        return data_test::run_test(target, test, &relation, &project.file.name).await;
    }
    // The model as dbt's `get_where_subquery` gives it: the relation itself, or a
    // subquery under the test's `where`.
    let model = match (&test.config.where_, relation_of(project, &test.relation)) {
        (Some(condition), _) => minijinja::Value::from_safe_string(format!(
            "(select * from {} where {condition}) dbt_subquery",
            relation(&test.relation)
        )),
        (None, Some(found)) => minijinja::Value::from_object(found),
        (None, None) => minijinja::Value::from_safe_string(relation(&test.relation)),
    };
    let rows = project
        .render_test(
            &test.written,
            model,
            test.column.as_deref(),
            &test.args,
            test_layer(&test.config),
        )
        .map_err(|e| e.to_string());
    data_test::run_rows_test(target, test, rows, &project.file.name).await
}

/// Runs one unit test; its verdict as a test's (`unit_test.<project>.<model>.<name>`).
async fn run_unit_test(
    project: &Project,
    test: &super::unit_tests::UnitTest,
    warehouse: &mut Warehouse,
) -> TestResult {
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    let (status, failures, message, sql) =
        match super::unit_tests::run(project, test, warehouse).await {
            Ok((0, sql)) => (Status::Pass, Some(0), None, sql),
            Ok((n, sql)) => (
                Status::Fail,
                Some(n),
                Some(format!(
                    "{n} rows differ between the model's rows and the expected ones"
                )),
                sql,
            ),
            Err(e) => (Status::Error, None, Some(e), String::new()),
        };
    TestResult {
        test_id: format!(
            "unit_test.{}.{}.{}",
            project.file.name, test.model, test.name
        ),
        test_name: test.name.clone(),
        model: test.model.clone(),
        column_name: None,
        test_type: "unit".into(),
        severity: "ERROR".into(),
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

/// A test's relation as the warehouse names it.
fn resolve(project: &Project, relation: &TestRelation) -> String {
    match relation_of(project, relation) {
        Some(found) => found.sql(),
        None => match relation {
            TestRelation::Model(m) => super::relation::quote(m),
            TestRelation::Source { table, .. } => super::relation::quote(table),
        },
    }
}

/// A test's configs as its macro's `config.get` reads them.
fn test_layer(config: &data_test::TestConfig) -> super::config::Layer {
    let mut layer = super::config::Layer::new();
    if let Some(store) = config.store_failures {
        layer.insert("store_failures".into(), serde_json::Value::Bool(store));
    }
    layer
}

/// The relation of a tested model or source, when the project has it.
fn relation_of(project: &Project, relation: &TestRelation) -> Option<super::relation::Relation> {
    match relation {
        TestRelation::Model(m) => project.node(m).map(|n| n.relation.clone()),
        TestRelation::Source { source, table } => project
            .invocation
            .sources
            .get(&(source.clone(), table.clone()))
            .cloned(),
    }
}

/// Builds one seed or model; the database's or the template's message on failure.
async fn build_node(
    project: &Project,
    node: &Node,
    warehouse: &mut Warehouse,
) -> Result<Option<i64>, String> {
    let postgres = matches!(warehouse, Warehouse::Postgres(_));
    warehouse
        .ensure_schema(&node.relation.schema)
        .await
        .map_err(|e| e.to_string())?;
    if node.kind == NodeKind::Seed {
        let data = seeds::read(&node.file, &node.settings).map_err(|e| e.to_string())?;
        if let Warehouse::Lake(lake) = warehouse {
            return lake
                .load_seed(&node.relation, &data, node.settings.quote_columns)
                .await
                .map(Some)
                .map_err(|e| e.to_string());
        }
        let found = warehouse
            .existing(&node.relation)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
        // A full refresh recreates the table; otherwise it is emptied and refilled.
        let exists = found && !project.invocation.full_refresh;
        if found && !exists {
            warehouse
                .in_transaction(&[format!("DROP TABLE {} CASCADE", node.relation.sql())])
                .await
                .map_err(|e| e.to_string())?;
        }
        let statements = seeds::statements(&node.relation, &data, &node.settings, exists, postgres);
        warehouse
            .in_transaction(&statements)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(Some(i64::try_from(data.rows.len()).unwrap_or(i64::MAX)));
    }
    if node.kind == NodeKind::Snapshot {
        return build_snapshot(project, node, warehouse).await;
    }
    let full_refresh = node
        .settings
        .full_refresh
        .unwrap_or(project.invocation.full_refresh);
    let incremental = node.settings.materialized == Materialized::Incremental
        && !full_refresh
        && warehouse
            .existing(&node.relation)
            .await
            .map_err(|e| e.to_string())?
            == Some(Kind::Table);
    let sql = compiled_sql(project, node, incremental).map_err(|e| e.to_string())?;
    let hooks = |list: &[super::settings::Hook]| -> Result<Vec<(String, bool)>, String> {
        list.iter()
            .map(|h| {
                project
                    .compile(node, &h.sql, incremental)
                    .map(|(sql, _)| (sql, h.transaction))
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let pre = hooks(&node.settings.pre_hook)?;
    let mut post = hooks(&node.settings.post_hook)?;
    if matches!(warehouse, Warehouse::Postgres(_)) && node.settings.persist_docs != (false, false) {
        // Only columns the model has are commented, as dbt-postgres does.
        let existing: Vec<String> = warehouse
            .columns(&format!("(\n{sql}\n) q"))
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        post.extend(
            persist_docs(node, &existing)
                .into_iter()
                .map(|sql| (sql, true)),
        );
    }
    warehouse
        .build(&Build {
            relation: &node.relation,
            sql: &sql,
            materialized: node.settings.materialized,
            unique_key: &node.settings.unique_key,
            strategy: node.settings.strategy,
            on_schema_change: node.settings.on_schema_change,
            pre_hooks: &pre,
            post_hooks: &post,
            full_refresh,
        })
        .await
        .map_err(|e| e.to_string())
}

/// dbt's `persist_docs`: the model's and its columns' descriptions as PostgreSQL
/// comments, in the build's transaction.
fn persist_docs(node: &Node, existing: &[String]) -> Vec<String> {
    let (relation, columns) = node.settings.persist_docs;
    let text = |t: &str| format!("$dbt_comment_literal_block${t}$dbt_comment_literal_block$");
    let kind = if node.settings.materialized == Materialized::View {
        "view"
    } else {
        "table"
    };
    let target = node.relation.sql();
    let mut out = Vec::new();
    if relation && !node.description.is_empty() {
        out.push(format!(
            "comment on {kind} {target} is {}",
            text(&node.description)
        ));
    }
    if columns {
        for (column, description) in node
            .column_docs
            .iter()
            .filter(|(c, _)| existing.contains(c))
        {
            out.push(format!(
                "comment on column {target}.{} is {}",
                super::relation::quote(column),
                text(description)
            ));
        }
    }
    out
}

/// Builds a snapshot: created the first time, its history extended afterwards.
async fn build_snapshot(
    project: &Project,
    node: &Node,
    warehouse: &mut Warehouse,
) -> Result<Option<i64>, String> {
    let Some(strategy) = &node.settings.snapshot else {
        return Err("a snapshot without a strategy".into());
    };
    let sql = compiled_sql(project, node, false).map_err(|e| e.to_string())?;
    let described = warehouse
        .columns(&format!("(\n{sql}\n) sbq"))
        .await
        .map_err(|e| e.to_string())?;
    let columns: Vec<String> = described.iter().map(|(name, _)| name.clone()).collect();
    let now = Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    let dialect = match warehouse {
        Warehouse::Postgres(_) => super::snapshots::Dialect::Postgres,
        Warehouse::Sqlite(_) => super::snapshots::Dialect::Sqlite { now },
        Warehouse::Lake(_) => super::snapshots::Dialect::Lake {
            now,
            timestamps: described
                .iter()
                .filter(|(_, t)| t.starts_with("timestamp"))
                .map(|(name, _)| name.clone())
                .collect(),
        },
    };
    let snapshot = super::snapshots::Snapshot {
        relation: &node.relation,
        sql: &sql,
        unique_key: &node.settings.unique_key,
        strategy,
        hard_deletes: node.settings.hard_deletes,
        columns: &columns,
        dialect,
    };
    let exists = warehouse
        .existing(&node.relation)
        .await
        .map_err(|e| e.to_string())?
        .is_some();
    if let Warehouse::Lake(lake) = warehouse {
        let rows = if exists {
            snapshot.rebuilt()
        } else {
            snapshot.first()
        };
        return lake
            .replace(&node.relation, &rows)
            .await
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let statements = if exists {
        snapshot.update()
    } else {
        snapshot.create()
    };
    warehouse
        .in_transaction(&statements)
        .await
        .map_err(|e| e.to_string())?;
    warehouse
        .count(&node.relation.sql())
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A model's SQL as it runs: rendered, with the ephemeral models it reads inlined as
/// CTEs (`__dbt__cte__<name>`, each before what reads it), no trailing `;`.
pub fn compiled_sql(
    project: &Project,
    node: &Node,
    incremental: bool,
) -> Result<String, TaskError> {
    let (sql, seen) = project.compile(node, &node.template, incremental)?;
    inline_ephemeral(project, &sql, &seen.refs)
}

/// A rendered model's SQL with the ephemeral models of `refs` inlined as CTEs
/// (`__dbt__cte__<name>`, each before what reads it), no trailing `;`.
pub fn inline_ephemeral(
    project: &Project,
    sql: &str,
    refs: &[String],
) -> Result<String, TaskError> {
    let mut ctes: Vec<(String, String)> = Vec::new();
    collect_ctes(project, refs, &mut ctes, 0)?;
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let defs: Vec<String> = ctes
        .iter()
        .map(|(name, body)| format!("__dbt__cte__{name} as (\n{body}\n)"))
        .collect();
    Ok(with_ctes(sql, &defs))
}

/// `sql` with the CTEs `defs` (`name as (...)`) before it: merged into its own `with`
/// when it has one, as dbt injects them.
pub fn with_ctes(sql: &str, defs: &[String]) -> String {
    if defs.is_empty() {
        return sql.to_string();
    }
    let trimmed = sql.trim_start();
    let lowered = trimmed.to_ascii_lowercase();
    if lowered.starts_with("with ") || lowered.starts_with("with\n") {
        format!("with {},{}", defs.join(", "), &trimmed[4..])
    } else {
        format!("with {}\n{sql}", defs.join(", "))
    }
}

/// The ephemeral models `refs` reads, depth first, each once.
fn collect_ctes(
    project: &Project,
    refs: &[String],
    out: &mut Vec<(String, String)>,
    depth: usize,
) -> Result<(), TaskError> {
    if depth > 64 {
        return Err(TaskError::Config(
            "ephemeral models nest more than 64 deep".into(),
        ));
    }
    for name in refs {
        let Some(node) = project.node(name) else {
            continue;
        };
        if node.settings.materialized != Materialized::Ephemeral
            || out.iter().any(|(n, _)| n == name)
        {
            continue;
        }
        let (sql, seen) = project.compile(node, &node.template, false)?;
        collect_ctes(project, &seen.refs, out, depth + 1)?;
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name.clone(), sql.trim().trim_end_matches(';').to_string()));
        }
    }
    Ok(())
}

/// The log line dbt prints for a node.
fn node_line(i: usize, total: usize, node: &Node, outcome: &Outcome, seconds: f64) -> String {
    let what = format!("{}.{}", node.relation.schema, node.relation.identifier);
    let kind = match node.kind {
        NodeKind::Seed => "seed file".to_string(),
        NodeKind::Snapshot => "snapshot".to_string(),
        NodeKind::Model => format!("{} model", node.settings.materialized.as_str()),
    };
    match outcome {
        Outcome::Built(Some(rows)) => {
            format!("{i} of {total} OK created {kind} {what} ({rows} rows) [{seconds:.2}s]")
        }
        Outcome::Built(None) => format!("{i} of {total} OK created {kind} {what} [{seconds:.2}s]"),
        Outcome::Failed(e) => format!("{i} of {total} ERROR creating {kind} {what}: {e}"),
        Outcome::Skipped(up) => format!("{i} of {total} SKIP {kind} {what}: `{up}` was not built"),
    }
}

/// Reports a node's build (`model_run`) and the assets it wrote and read.
fn report_node(
    project: &Project,
    sink: &Sink<'_>,
    (node, outcome, version): (&Node, &Outcome, Option<i64>),
    (started_at, ended_at): (DateTime<Utc>, DateTime<Utc>),
    seconds: f64,
) -> ModelResult {
    use updraft_core::report::{AssetAccess, AssetEvent};
    let relation = format!("{}.{}", node.relation.schema, node.relation.identifier);
    let (status, row_count, message) = match outcome {
        Outcome::Built(rows) => (ModelStatus::Success, *rows, None),
        Outcome::Failed(e) => (ModelStatus::Error, None, Some(e.clone())),
        Outcome::Skipped(up) => (
            ModelStatus::Skipped,
            None,
            Some(format!("`{up}` was not built")),
        ),
    };
    let result = ModelResult {
        model: node.name.clone(),
        relation: relation.clone(),
        materialized: node.settings.materialized.as_str(),
        status,
        row_count,
        message,
        started_at,
        ended_at,
        execution_time: seconds,
    };
    sink.reports.push(Report::Model(result.clone()));
    let Outcome::Built(rows) = outcome else {
        return result;
    };
    let event = |uri: String, access, rows, version| {
        Report::Asset(AssetEvent {
            uri,
            access,
            version,
            rows,
            partitions: Vec::new(),
        })
    };
    let read: BTreeSet<String> = node
        .sources
        .iter()
        .filter_map(|key| project.invocation.sources.get(key))
        .map(|r| sink.assets.uri(r))
        .collect();
    for source in read {
        sink.reports
            .push(event(source, AssetAccess::Read, None, None));
    }
    sink.reports.push(event(
        sink.assets.uri(&node.relation),
        AssetAccess::Write,
        *rows,
        version,
    ));
    result
}
