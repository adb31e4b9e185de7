//! dbt projects as they are: `tests/dbt_projects/shop` (a config tree at three levels,
//! custom schemas and an alias, seeds of every inferred type and `column_types`, project
//! macros with `return()`, `{% call %}` and `adapter.dispatch`, vars and an env var, an
//! ephemeral chain, each incremental strategy, `on_schema_change`, a post-hook, tests of
//! models and seeds) built by `dbt build` (dbt-core 1.11, dbt-postgres) and by
//! `updraft dbt build` into two schemas of one PostgreSQL, twice (the second time after
//! the seeds changed and with another var): the same relations, column types, rows and
//! test verdicts. And `updraft dbt ls` selects what `dbt ls` selects.

use crate::support::{Backend, Updraft, copy_tree, repo_path, text};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn dbt() -> String {
    std::env::var("DBT_BIN").expect("DBT_BIN (scripts/ensure-dbt.sh installs dbt)")
}

/// Writes `profiles.yml` for the database at `url`, target schema `schema`.
pub(crate) fn profiles(dir: &Path, url: &str, schema: &str) {
    let url = url::Url::parse(url).expect("database url");
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    std::fs::write(
        dir.join("profiles.yml"),
        format!(
            "{name}:\n  target: dev\n  outputs:\n    dev: {{type: postgres, host: '{}', port: {}, user: '{}', password: '', dbname: '{}', schema: {schema}, threads: 1}}\n",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432),
            url.username(),
            url.path().trim_start_matches('/'),
        ),
    )
    .unwrap();
}

/// Runs dbt in `project` with `args`; its stdout (it must succeed).
pub(crate) fn run_dbt(project: &Path, args: &[&str]) -> String {
    run_dbt_ending(project, args, false)
}

/// Runs dbt; it must succeed unless `may_fail`.
fn run_dbt_ending(project: &Path, args: &[&str], may_fail: bool) -> String {
    let out = std::process::Command::new(dbt())
        .args(args)
        // Not target/, where `updraft dbt` writes its artifacts.
        .args([
            "--profiles-dir",
            ".",
            "--project-dir",
            ".",
            "--target-path",
            "dbt_target",
        ])
        .current_dir(project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("SHOP_REGION", "north")
        .output()
        .expect("run dbt");
    let (stdout, stderr) = text(&out);
    assert!(
        may_fail || out.status.success(),
        "dbt {args:?}: {stdout}\n{stderr}"
    );
    stdout
}

/// Every relation of the schemas starting with `prefix` (the prefix cut off): its
/// columns and types, and its rows as sorted JSON.
pub(crate) async fn relations(
    db: &mut sqlx::PgConnection,
    prefix: &str,
) -> BTreeMap<String, (String, String)> {
    let names = relation_names(db, prefix).await;
    let mut out = BTreeMap::new();
    for (schema, table) in names {
        // Each column's name, type and comment (persist_docs), and the relation's comment.
        let columns: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text,
                    col_description(format('%I.%I', table_schema, table_name)::regclass, ordinal_position::int)
             FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(&schema)
        .bind(&table)
        .fetch_all(&mut *db)
        .await
        .unwrap();
        let sql = format!(
            "SELECT coalesce(json_agg(r ORDER BY r::text), '[]')::text FROM \"{schema}\".\"{table}\" r"
        );
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *db)
            .await
            .unwrap();
        let comment: Option<String> = sqlx::query_scalar(
            "SELECT obj_description(format('%I.%I', $1::text, $2::text)::regclass)",
        )
        .bind(&schema)
        .bind(&table)
        .fetch_one(&mut *db)
        .await
        .unwrap();
        let key = format!("{}.{table}", &schema[prefix.len()..]);
        out.insert(key, (format!("{columns:?} {comment:?}"), rows));
    }
    out
}

/// The (schema, name) of every relation of the schemas starting with `prefix`.
pub(crate) async fn relation_names(
    db: &mut sqlx::PgConnection,
    prefix: &str,
) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables
         WHERE table_schema = $1 OR table_schema LIKE $1 || '\\_%' ORDER BY 1, 2",
    )
    .bind(prefix)
    .fetch_all(&mut *db)
    .await
    .unwrap()
}

/// Test name → status, from dbt's `run_results.json` of the project `name`.
pub(crate) fn dbt_verdicts(project: &Path, name: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(project.join("dbt_target/run_results.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let id = r["unique_id"].as_str()?;
            let test = match id.strip_prefix(&format!("test.{name}.")) {
                Some(test) => test.rsplit_once('.').map_or(test, |(n, _)| n),
                // `unit_test.<project>.<model>.<name>`
                None => {
                    id.strip_prefix(&format!("unit_test.{name}."))?
                        .split_once('.')?
                        .1
                }
            };
            Some((test.to_string(), r["status"].as_str()?.to_uppercase()))
        })
        .collect()
}

/// Test name → status, from the lines `updraft dbt build` prints (`3 of 20 PASS name`).
pub(crate) fn our_verdicts(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "of")?;
            let status = *words.get(at + 2)?;
            // A test's line ends with its time (`[0.01s]`); a node's names its relation.
            let is_test = |i: usize| words.get(i).is_some_and(|w| w.starts_with('['));
            let (name, status) = match status {
                "PASS" => (words.get(at + 3)?, status),
                "WARN" | "FAIL" => (words.get(at + 4)?, status),
                "SKIP" if is_test(at + 4) => (words.get(at + 3)?, "SKIPPED"),
                "ERROR" if is_test(at + 4) => (words.get(at + 3)?, status),
                _ => return None,
            };
            Some((name.to_string(), status.to_string()))
        })
        .collect()
}

pub(crate) fn updraft_dbt(u: &Updraft, project: &Path, args: &[&str]) -> String {
    updraft_dbt_ending(u, project, args, false)
}

fn updraft_dbt_ending(u: &Updraft, project: &Path, args: &[&str], may_fail: bool) -> String {
    updraft_dbt_on(u, project, "warehouse", args, may_fail)
}

/// `updraft dbt <args[0]> --project P --conn <conn> --schema ours <args[1..]>`; it must
/// succeed unless `may_fail`. Its stdout.
pub(crate) fn updraft_dbt_on(
    u: &Updraft,
    project: &Path,
    conn: &str,
    args: &[&str],
    may_fail: bool,
) -> String {
    let project = project.to_string_lossy().to_string();
    let mut all = vec!["dbt"];
    all.extend_from_slice(&args[..1]);
    all.extend(["--project", &project, "--conn", conn, "--schema", "ours"]);
    all.extend_from_slice(&args[1..]);
    let out = u.run(&all);
    let (stdout, stderr) = text(&out);
    assert!(
        may_fail || out.status.success(),
        "updraft {all:?}: {stdout}\n{stderr}"
    );
    stdout
}

/// The shop's second round: new orders, one changed, a customer of an unknown country.
pub(crate) fn change_shop_seeds(project: &Path) {
    let seeds = project.join("seeds");
    let orders = std::fs::read_to_string(seeds.join("orders.csv")).unwrap();
    let orders = orders.replace(
        "7.10,2024-01-03,2024-01-03 09:15:00,true,returned",
        "7.10,2024-01-03,2024-01-03 09:15:00,true,shipped",
    ) + "6,11,55.00,2024-01-04,2024-01-04 08:00:00,true,placed,gift,\n7,15,1.99,2024-01-05,2024-01-05 23:59:59,false,placed,,\n";
    std::fs::write(seeds.join("orders.csv"), orders).unwrap();
    let mut customers = std::fs::read_to_string(seeds.join("customers.csv")).unwrap();
    customers.push_str("14,jürgen,DE,2023-03-03,5\n");
    std::fs::write(seeds.join("customers.csv"), customers).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_builds_the_same_tables_and_verdicts_as_dbt_build() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    u.env.push(("SHOP_REGION".into(), "north".into()));
    let project = u.dir.path().join("shop");
    copy_tree(&repo_path("tests/dbt_projects/shop"), &project);
    profiles(&project, &url, "theirs");
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();

    for round in ["1", "2"] {
        if round == "2" {
            change_shop_seeds(&project);
        }
        let vars = format!("{{round: {round}}}");
        // One unit test fails on purpose: both exit 1 and skip its model.
        run_dbt_ending(&project, &["build", "--vars", &vars], true);
        let ours = updraft_dbt_ending(&u, &project, &["build", "--vars", &vars], true);
        let theirs = relations(&mut db, "theirs").await;
        let mine = relations(&mut db, "ours").await;
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            mine.keys().collect::<Vec<_>>(),
            "round {round}: the same relations"
        );
        for (name, (columns, rows)) in &theirs {
            let (my_columns, my_rows) = &mine[name];
            assert_eq!(columns, my_columns, "round {round}: columns of {name}");
            assert_eq!(rows, my_rows, "round {round}: rows of {name}");
        }
        assert!(
            theirs.contains_key("_staging.customers_clean"),
            "{:?}",
            theirs.keys()
        );
        assert!(theirs.contains_key("_raw.countries"), "{:?}", theirs.keys());
        assert!(
            theirs[".customer_totals"]
                .0
                .contains("Paid orders of 10.00 or more: they're counted"),
            "persist_docs: {:?}",
            theirs[".customer_totals"].0
        );
        assert!(
            theirs[".customer_totals"]
                .0
                .contains("by its name in the `countries` seed"),
            "a docs block in a description: {:?}",
            theirs[".customer_totals"].0
        );
        let (theirs, mine) = (dbt_verdicts(&project, "shop"), our_verdicts(&ours));
        assert_eq!(theirs, mine, "round {round}: test verdicts\n{ours}");
        assert!(theirs.len() >= 12, "{theirs:?}");
        // The project's own generic tests (one in tests/generic/) and singular tests ran.
        assert_eq!(theirs["is_positive_customer_totals_big_orders"], "WARN");
        assert_eq!(theirs["totals_are_counted"], "PASS");
        assert_eq!(theirs["delete_insert_keeps_the_columns_it_selects"], "PASS");
        assert_eq!(theirs["merge_reads_csv_and_sql_fixtures"], "PASS");
        assert_eq!(theirs["counts_an_ephemeral_input_given_as_sql"], "PASS");
        assert_eq!(theirs["columns_follow_the_round_var"], "PASS");
        assert_eq!(theirs["append_expects_another_round"], "FAIL");
        assert!(
            theirs.contains_key("at_most_stg_orders_amount_cents__10000"),
            "{theirs:?}"
        );
        if round == "1" {
            assert_eq!(
                theirs["relationships_stg_orders_customer_id__customer_id__ref_customer_totals_"],
                "PASS"
            );
        }
        if round == "2" {
            assert_eq!(theirs["not_null_customer_totals_country_name"], "WARN");
            assert_eq!(theirs["no_order_without_customer"], "WARN");
            assert_eq!(
                theirs["relationships_stg_orders_customer_id__customer_id__ref_customer_totals_"],
                "WARN"
            );
        }
    }

    // dbt's own parser reads the artifacts `updraft dbt build` wrote.
    let python = std::env::var("DBT_PYTHON").expect("DBT_PYTHON (scripts/ensure-dbt.sh)");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\n\
             from dbt_artifacts_parser.parser import parse_manifest, parse_run_results\n\
             m = parse_manifest(json.load(open(sys.argv[1])))\n\
             r = parse_run_results(json.load(open(sys.argv[2])))\n\
             kinds = sorted({n.resource_type.value if hasattr(n.resource_type, 'value') else n.resource_type for n in m.nodes.values()})\n\
             print(len(m.nodes), len(m.sources), len(r.results), ','.join(kinds))\n\
             ours, theirs = json.load(open(sys.argv[1])), json.load(open(sys.argv[3]))\n\
             for k in ['semantic_models', 'metrics', 'saved_queries', 'exposures', 'groups', 'unit_tests']:\n\
             \x20   assert sorted(ours[k]) == sorted(theirs[k]) and theirs[k], (k, sorted(ours[k]), sorted(theirs[k]))\n\
             \x20   for i, t in theirs[k].items():\n\
             \x20       for f in ['path', 'original_file_path', 'fqn', 'filter', 'owner', 'type', 'model']:\n\
             \x20           assert ours[k][i].get(f) == t.get(f), (i, f, ours[k][i].get(f), t.get(f))\n\
             \x20       if k in ('semantic_models', 'exposures', 'unit_tests'):\n\
             \x20           assert ours[k][i]['depends_on']['nodes'] == t['depends_on']['nodes'], i\n\
             print('described as dbt describes them')",
        ])
        .arg(project.join("target/manifest.json"))
        .arg(project.join("target/run_results.json"))
        .arg(project.join("dbt_target/manifest.json"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "dbt-artifacts-parser: {stdout}\n{stderr}"
    );
    // The semantic models, metrics, saved queries, exposures, groups and unit tests of
    // the property files are in the manifest as dbt writes them.
    assert!(
        stdout.contains("described as dbt describes them"),
        "{stdout}"
    );
    let counts: Vec<&str> = stdout.split_whitespace().collect();
    // 9 models + 3 seeds + the tests; the run: 12 nodes built (ephemeral ones are not) and the tests.
    assert_eq!(counts.get(3), Some(&"model,seed,test"), "{stdout}");
    let nodes: usize = counts[0].parse().unwrap();
    let results: usize = counts[2].parse().unwrap();
    assert!(nodes >= 12 + 12 && results >= 10 + 12, "{stdout}");

    // Selection picks what dbt's picks.
    for selector in [
        "tag:nightly",
        "+customer_totals",
        "stg_orders+",
        "1+customer_totals",
        "path:models/staging",
        "config.materialized:incremental",
        "resource_type:seed",
        "staging,tag:staging",
        "@stg_customers",
        "marts --exclude orders_append",
    ] {
        let (select, exclude) = match selector.split_once(" --exclude ") {
            Some((s, e)) => (s, Some(e)),
            None => (selector, None),
        };
        let mut args = vec![
            "ls",
            "--quiet",
            "--select",
            select,
            "--resource-type",
            "model",
            "--resource-type",
            "seed",
            "--output",
            "name",
        ];
        if let Some(e) = exclude {
            args.extend(["--exclude", e]);
        }
        let mut theirs: Vec<String> = run_dbt(&project, &args)
            .lines()
            .filter(|l| !l.contains(' ') && !l.is_empty() && !l.contains('\u{1b}'))
            .map(str::to_string)
            .collect();
        theirs.sort();
        let mut ours_args = vec!["ls", "--select", select, "--nodes-only"];
        if let Some(e) = exclude {
            ours_args.extend(["--exclude", e]);
        }
        let mut ours: Vec<String> = updraft_dbt(&u, &project, &ours_args)
            .lines()
            .map(|l| l.rsplit('.').next().unwrap_or(l).to_string())
            .collect();
        ours.sort();
        assert!(
            !theirs.is_empty(),
            "dbt ls --select {selector} picked nothing"
        );
        assert_eq!(theirs, ours, "selector {selector}");
    }
}

const DAG: &str = r#"
dag_id: shop
tasks:
  seed:
    type: dbt
    with: {project: shop, conn: warehouse, schema: nightly, command: seed}
  marts:
    type: dbt
    depends_on: [seed]
    retries: 0
    with:
      project: shop
      conn: warehouse
      schema: nightly
      select: "+tag:nightly"
      exclude: orders_append          # its unit test fails on purpose
      vars: {min_amount: "{{ params.min_amount }}"}
params:
  min_amount: 5
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dbt_task_records_each_model_and_test_and_a_failure_skips_what_reads_it() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    copy_tree(
        &repo_path("tests/dbt_projects/shop"),
        &u.dags().join("shop"),
    );
    u.write_dag("shop.yaml", DAG);
    let out = u.run(&["dag", "validate"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["dag", "trigger", "shop"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    // The var reached the models: orders under 5.00 are left out.
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM nightly.orders_merge")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(orders, 3);
    let models: Vec<(String, String, String)> =
        sqlx::query_as("SELECT task_id, model, status FROM model_run ORDER BY task_id, model")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let built: Vec<&str> = models
        .iter()
        .filter(|(t, _, s)| t == "marts" && s == "success")
        .map(|(_, m, _)| m.as_str())
        .collect();
    // `+tag:nightly`: the marts and everything upstream (ephemeral models are inlined),
    // but the excluded one.
    assert_eq!(
        built,
        [
            "big_order_count",
            "countries",
            "customer_totals",
            "customers",
            "orders",
            "orders_by_status",
            "orders_columns",
            "orders_delete_insert",
            "orders_merge",
            "stg_customers",
            "stg_orders"
        ],
        "{models:?}"
    );
    assert_eq!(
        models.iter().filter(|(t, _, _)| t == "seed").count(),
        3,
        "{models:?}"
    );
    let tests: i64 = sqlx::query_scalar("SELECT count(*) FROM test_result WHERE task_id = 'marts'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(tests >= 6, "{tests} test results");
    // dbt's artifacts are next to the attempt's log.
    let logs = u.home().join("logs/dag_id=shop");
    let mut found = Vec::new();
    let mut stack = vec![logs];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains("task_id=marts") {
                found.push(path.file_name().unwrap().to_string_lossy().to_string());
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        [
            "attempt=1.log",
            "attempt=1.manifest.json",
            "attempt=1.run_results.json"
        ],
        "the marts attempt's files"
    );

    // A model the database refuses fails the task; what reads it is skipped.
    let file = u.dags().join("shop/models/staging/stg_orders.sql");
    std::fs::write(
        &file,
        "select no_such_column as order_id from {{ ref('orders') }}",
    )
    .unwrap();
    let out = u.run(&["dag", "trigger", "shop"]);
    assert!(!out.status.success());
    let states: Vec<(String, String)> = sqlx::query_as(
        "SELECT model, status FROM model_run WHERE task_id = 'marts' AND model IN ('stg_orders', 'customer_totals')
         ORDER BY started_at DESC, model LIMIT 2",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        states.contains(&("stg_orders".into(), "error".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("customer_totals".into(), "skipped".into())),
        "{states:?}"
    );
}

/// The rows of a snapshot, its times left out when they are the build's clock (`check`).
/// A snapshot's rows as sorted JSON, with `columns` (the times of versions made at
/// `now()` differ between the two tools: those are compared as `current` only).
async fn history(db: &mut sqlx::PgConnection, table: &str, columns: &str) -> Vec<String> {
    let sql =
        format!("SELECT row_to_json(r)::text FROM (SELECT {columns} FROM {table}) r ORDER BY 1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_keep_the_same_history_as_dbt_snapshot() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    let project = u.dir.path().join("history");
    copy_tree(&repo_path("tests/dbt_projects/history"), &project);
    profiles(&project, &url, "theirs");
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    // The same rounds on SQLite (`raw.accounts` is the table `raw_accounts` there).
    let lite_path = u.dir.path().join("lite.db");
    let lite_url = format!("sqlite://{}?mode=rwc", lite_path.display());
    u.env.push(("UPDRAFT_CONN_LITE".into(), lite_url.clone()));
    let mut lite = sqlx::SqliteConnection::connect(&lite_url).await.unwrap();
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let rounds = [
        "CREATE SCHEMA raw; CREATE TABLE raw.accounts (id int, name text, plan text, updated_at timestamp);
         INSERT INTO raw.accounts VALUES (1, 'ada', 'free', '2024-01-01 10:00'), (2, 'grace', 'pro', '2024-01-01 11:00'),
           (3, 'linus', 'free', '2024-01-02 09:00')",
        // A plan changes (newer time), a name changes (same plan), a key goes, one comes.
        "UPDATE raw.accounts SET plan = 'pro', updated_at = '2024-02-01 08:00' WHERE id = 1;
         UPDATE raw.accounts SET name = 'Grace', updated_at = '2024-02-02 08:00' WHERE id = 2;
         DELETE FROM raw.accounts WHERE id = 3;
         INSERT INTO raw.accounts VALUES (4, 'margaret', 'free', '2024-02-03 12:00')",
        // The plan changes back; a row changes without a newer time (timestamp sees nothing).
        "UPDATE raw.accounts SET plan = 'free', updated_at = '2024-03-01 08:00' WHERE id = 1;
         UPDATE raw.accounts SET plan = 'team' WHERE id = 4;
         INSERT INTO raw.accounts VALUES (3, 'linus', 'team', '2024-03-02 09:00')",
    ];
    for (round, change) in rounds.iter().enumerate() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(change.to_string()))
            .execute(&mut db)
            .await
            .unwrap();
        let on_sqlite = change
            .replace("CREATE SCHEMA raw; ", "")
            .replace("raw.accounts", "raw_accounts");
        sqlx::raw_sql(sqlx::AssertSqlSafe(on_sqlite))
            .execute(&mut lite)
            .await
            .unwrap();
        let snapshot = |conn: &str, schema: &str| {
            let project = project.to_string_lossy().to_string();
            let out = u.run(&[
                "dbt",
                "snapshot",
                "--project",
                &project,
                "--conn",
                conn,
                "--schema",
                schema,
            ]);
            assert!(out.status.success(), "{:?}", text(&out));
        };
        snapshot("lite", "lite");
        run_dbt(&project, &["snapshot"]);
        snapshot("warehouse", "ours");
        // The lake: the source is the Delta table its `external: {location}` names.
        let source = u.dir.path().join("raw_accounts");
        crate::dbt_lake::write_accounts(&source, &mut db).await;
        snapshot("lake", "ours");
        let by_now = "id, name, plan, dbt_valid_to is null as current";
        for (table, columns) in [
            (
                "accounts_by_time",
                "id, name, plan, updated_at, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to",
            ),
            ("accounts_by_plan", by_now),
            ("accounts_all", by_now),
            (
                "accounts_kept",
                "id, name, plan, updated_at, dbt_is_deleted, dbt_valid_to is null as current",
            ),
        ] {
            let theirs = history(&mut db, &format!("theirs.{table}"), columns).await;
            let ours = history(&mut db, &format!("ours.{table}"), columns).await;
            assert_eq!(theirs, ours, "round {}: {table}", round + 1);
            // SQLite keeps the same versions (its times and ids are its own).
            let versions =
                "SELECT id, name, plan, dbt_valid_to IS NULL FROM {} ORDER BY 1, 2, 3, 4";
            let on_pg: Vec<(i32, String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(
                versions.replace("{}", &format!("ours.{table}")),
            ))
            .fetch_all(&mut db)
            .await
            .unwrap();
            let on_sqlite: Vec<(i32, String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(
                versions.replace("{}", &format!("lite_{table}")),
            ))
            .fetch_all(&mut lite)
            .await
            .unwrap();
            assert_eq!(on_pg, on_sqlite, "round {}: {table} on SQLite", round + 1);
            // So does the lake.
            let on_lake = crate::dbt_lake::versions(&lake.join("ours").join(table)).await;
            let on_pg: Vec<String> = on_pg
                .iter()
                .map(|(id, name, plan, current)| format!("{id} {name} {plan} {current}"))
                .collect();
            assert_eq!(on_pg, on_lake, "round {}: {table} on the lake", round + 1);
            if table == "accounts_by_time" {
                // By time, the lake's versions are PostgreSQL's to the id and the second.
                let pg: Vec<String> = sqlx::query_scalar(
                    "SELECT id || ' ' || dbt_scd_id || ' ' || dbt_valid_from::text || ' '
                       || coalesce(dbt_valid_to::text, '-') FROM ours.accounts_by_time ORDER BY 1",
                )
                .fetch_all(&mut db)
                .await
                .unwrap();
                let lake_rows = crate::support::query_delta(
                    &[("t", &lake.join("ours").join(table))],
                    "SELECT cast(id as varchar) || ' ' || dbt_scd_id || ' '
                       || to_char(dbt_valid_from, '%Y-%m-%d %H:%M:%S') || ' '
                       || coalesce(to_char(dbt_valid_to, '%Y-%m-%d %H:%M:%S'), '-') AS v
                     FROM t ORDER BY 1",
                )
                .await;
                let on_lake: Vec<&str> = lake_rows.iter().filter_map(|r| r["v"].as_str()).collect();
                assert_eq!(
                    pg,
                    on_lake,
                    "round {}: accounts_by_time's versions",
                    round + 1
                );
            }
        }
    }
    // Three rounds leave versions: ada 3 by time, margaret's silent change unseen.
    let ada: i64 = sqlx::query_scalar("SELECT count(*) FROM ours.accounts_by_time WHERE id = 1")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(ada, 3);
    let gone: Option<bool> = sqlx::query_scalar(
        "SELECT bool_or(dbt_valid_to IS NOT NULL) FROM ours.accounts_all WHERE id = 3",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(gone, Some(true), "a deleted key's version was closed");
    // new_record: linus's versions are the first (closed), its deletion (closed) and its
    // return (current). (The return's dbt_valid_from is its updated_at, older than the
    // deletion's, stamped now: as dbt has it.)
    let linus: Vec<(String, bool)> = sqlx::query_as(
        "SELECT dbt_is_deleted, dbt_valid_to IS NULL FROM ours.accounts_kept WHERE id = 3
         ORDER BY 1, 2",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        linus,
        [
            ("False".into(), false),
            ("False".into(), true),
            ("True".into(), false)
        ]
    );
}
