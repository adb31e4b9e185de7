//! Data tests with dbt's semantics: the same schema file over the same rows gives the same
//! status and failure count under dbt-core 1.11 (`dbt test` on PostgreSQL), under Updraft
//! on the PostgreSQL tables, and under Updraft on Delta tables holding those rows; the
//! results are in `test_result`, `updraft test results` and a `run_results.json` that
//! dbt-artifacts-parser reads.

use crate::support::{Backend, Updraft, text};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The rows both sides test: duplicates, NULLs, bad values, orphans, out-of-range numbers.
const TWEETS: &[&str] = &[
    "('a', 'u1', 'positive', 0.5)",
    "('a', 'u1', 'neutral', 0.1)",
    "('b', 'u2', 'bad', 2.0)",
    "(NULL, 'u9', 'worse', -3.0)",
    "('c', NULL, NULL, NULL)",
    "('d', 'u3', 'bad', 0.2)",
    "('e', 'u2', 'negative', -0.5)",
];
const USERS: &[&str] = &["('u1', 'x')", "('u2', 'y')"];

/// dbt's singular tests: a query returning failing rows, one config call.
const SINGULAR: &[(&str, &str)] = &[
    (
        "positive_with_negative_score.sql",
        "select * from {{ source('raw', 'tweets') }}\nwhere sentiment_category = 'positive' and sentiment_score < 0\n",
    ),
    (
        "scores_above_one.sql",
        "{{ config(severity='warn') }}\nselect tweet_id, sentiment_score from {{ source('raw', 'tweets') }} where sentiment_score > 1\n",
    ),
];

/// dbt's syntax, both the `arguments:` form (dbt ≥ 1.10) and the inline one.
const SCHEMA: &str = r#"version: 2
sources:
  - name: raw
    schema: public
    tables:
      - name: users
      - name: tweets
        columns:
          - name: tweet_id
            data_tests:
              - unique
              - not_null
          - name: sentiment_category
            data_tests:
              - accepted_values:
                  arguments: {values: [positive, neutral, negative]}
                  config: {severity: warn}
              - accepted_values:
                  values: [positive, neutral]
                  config: {where: "sentiment_score < 1", error_if: ">5", warn_if: ">1"}
          - name: user_id
            data_tests:
              - relationships:
                  arguments: {to: "source('raw', 'users')", field: user_id}
                  config: {limit: 1}
              - unique:
                  config: {fail_calc: "sum(n_records)", warn_if: ">10", error_if: ">3"}
              - not_null:
                  config: {where: "tweet_id <> 'c'"}
          - name: sentiment_score
            data_tests:
              - accepted_values:
                  arguments: {values: [0.5, 0.1], quote: false}
"#;

fn dbt() -> String {
    std::env::var("DBT_BIN").unwrap_or_else(|_| {
        panic!(
            "DBT_BIN is not set: scripts/ensure-dbt.sh installs dbt (scripts/test-all sources it)"
        )
    })
}

/// `test name -> (status, failures)` of a `run_results.json` (dbt's or ours).
fn verdicts(
    run_results: &serde_json::Value,
    unique_id_prefix: &str,
) -> BTreeMap<String, (String, i64)> {
    run_results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["unique_id"].as_str().expect("unique_id");
            let name = id.strip_prefix(unique_id_prefix).expect("prefix");
            // dbt ends its ids with a hash of the test: `.<10 hex>`.
            let name = match name.rsplit_once('.') {
                Some((n, hash)) if hash.len() == 10 => n,
                _ => name,
            };
            (
                name.to_string(),
                (
                    r["status"].as_str().expect("status").to_string(),
                    r["failures"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect()
}

/// Runs `dbt test` on the database at `url` with `schema.yml`; its verdicts.
fn dbt_verdicts(dir: &Path, url: &str) -> BTreeMap<String, (String, i64)> {
    let url = url::Url::parse(url).expect("database url");
    let project = dir.join("dbt_project");
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::write(
        project.join("dbt_project.yml"),
        "name: parity\nversion: '1.0'\nprofile: parity\n",
    )
    .unwrap();
    std::fs::write(
        project.join("profiles.yml"),
        format!(
            "parity:\n  target: dev\n  outputs:\n    dev: {{type: postgres, host: '{}', port: {}, user: '{}', password: '', dbname: '{}', schema: public, threads: 1}}\n",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432),
            url.username(),
            url.path().trim_start_matches('/'),
        ),
    )
    .unwrap();
    std::fs::write(project.join("models/schema.yml"), SCHEMA).unwrap();
    std::fs::create_dir_all(project.join("tests")).unwrap();
    for (file, sql) in SINGULAR {
        std::fs::write(project.join("tests").join(file), sql).unwrap();
    }
    let out = Command::new(dbt())
        .args(["test", "--profiles-dir", ".", "--project-dir", "."])
        .current_dir(&project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .expect("run dbt");
    // dbt exits 1 when a test fails, which some do here.
    let results = std::fs::read_to_string(project.join("target/run_results.json"))
        .unwrap_or_else(|e| panic!("dbt wrote no run_results.json ({e}): {:?}", text(&out)));
    verdicts(&serde_json::from_str(&results).unwrap(), "test.parity.")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_equal_dbts_on_postgres_and_on_delta() {
    use sqlx::Connection;
    let mut u = Updraft::new(Backend::Postgres).await;
    let mut db = sqlx::PgConnection::connect(&u.database_url).await.unwrap();
    let setup = format!(
        "CREATE TABLE tweets (tweet_id text, user_id text, sentiment_category text, sentiment_score double precision);
         INSERT INTO tweets VALUES {};
         CREATE TABLE users (user_id text, name text);
         INSERT INTO users VALUES {};",
        TWEETS.join(", "),
        USERS.join(", ")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut db)
        .await
        .unwrap();
    let dbt = dbt_verdicts(u.dir.path(), &u.database_url);
    assert_eq!(dbt.len(), 10, "{dbt:?}");
    let statuses: std::collections::BTreeSet<&str> =
        dbt.values().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["fail", "pass", "warn"].into(),
        "the data covers every verdict"
    );

    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    u.env
        .push(("UPDRAFT_CONN_WH".into(), u.database_url.clone()));
    std::fs::write(u.dags().join("schema.yml"), SCHEMA).unwrap();
    std::fs::create_dir_all(u.dags().join("singular")).unwrap();
    for (file, sql) in SINGULAR {
        std::fs::write(u.dags().join("singular").join(file), sql).unwrap();
    }
    let values = |rows: &[&str], columns: &str| {
        format!("SELECT * FROM (VALUES {}) AS t({columns})", rows.join(", "))
    };
    u.write_dag(
        "parity.yaml",
        &format!(
            r#"dag_id: parity
tasks:
  tweets_delta:
    type: delta_sql
    with: {{tables: {{}}, query: "{}", table: "{{{{ lake }}}}/raw/tweets", mode: overwrite}}
  users_delta:
    type: delta_sql
    with: {{tables: {{}}, query: "{}", table: "{{{{ lake }}}}/raw/users", mode: overwrite}}
  test_warehouse:
    type: data_test
    with: {{schema_file: schema.yml, singular: singular, conn: wh, store_failures: true}}
  test_delta:
    type: data_test
    depends_on: [tweets_delta, users_delta]
    with:
      schema_file: schema.yml
      singular: singular
      store_failures: true
      tables: {{raw.tweets: "{{{{ lake }}}}/raw/tweets", raw.users: "{{{{ lake }}}}/raw/users"}}
"#,
            values(
                TWEETS,
                "tweet_id, user_id, sentiment_category, sentiment_score"
            ),
            values(USERS, "user_id, name"),
        ),
    );
    let out = u.run(&["dag", "trigger", "parity", "--run-id", "r"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "error-severity tests fail: {:?}",
        text(&out)
    );
    for task in ["test_warehouse", "test_delta"] {
        let file = u.home().join(format!(
            "logs/dag_id=parity/run_id=r/task_id={task}/attempt=1.run_results.json"
        ));
        let ours: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("our run_results.json"))
                .unwrap();
        assert_eq!(
            ours["metadata"]["dbt_schema_version"],
            "https://schemas.getdbt.com/dbt/run-results/v6.json"
        );
        assert_eq!(verdicts(&ours, "test.parity."), dbt, "{task} against dbt");
        // dbt's own artifact parser reads it.
        let python = std::env::var("DBT_PYTHON").expect("DBT_PYTHON (scripts/ensure-dbt.sh)");
        let parsed = Command::new(python)
            .args([
                "-c",
                "import json, sys\nfrom dbt_artifacts_parser.parser import parse_run_results\nr = parse_run_results(json.load(open(sys.argv[1])))\nprint(len(r.results))",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(parsed.status.success(), "{:?}", text(&parsed));
        assert_eq!(text(&parsed).0.trim(), "10");
        let junit =
            std::fs::read_to_string(file.with_file_name("attempt=1.junit.xml")).expect("junit");
        assert!(
            junit.contains("tests=\"10\" failures=\"5\" errors=\"0\""),
            "{junit}"
        );
    }

    // The history holds every test, and `updraft test results` lists them.
    let out = u.run(&["test", "results", "parity", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failed tests exit 1: {:?}",
        text(&out)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 20);
    let unique = rows
        .iter()
        .find(|r| {
            r["task_id"] == "test_delta" && r["test_name"] == "source_unique_raw_tweets_tweet_id"
        })
        .expect("unique test");
    assert_eq!(unique["status"], "fail");
    assert_eq!(unique["failures"], 1);
    assert_eq!(
        unique["message"],
        "Got 1 result, configured to fail if != 0"
    );
    assert_eq!(unique["model"], "raw.tweets");
    assert_eq!(unique["column_name"], "tweet_id");
    let out = u.run(&[
        "test", "results", "parity", "r", "--status", "warn", "-o", "json",
    ]);
    let warned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        warned
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "warn")
    );
    // One data_test task run now: the same results, nothing recorded.
    let out = u.run(&["test", "run", "parity", "test_delta", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let now: serde_json::Value = serde_json::from_slice(&out.stdout).expect("results on stdout");
    let now: BTreeMap<String, (String, i64)> = now
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["test_name"].as_str().unwrap().to_string();
            (
                name,
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["failures"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect();
    assert_eq!(now, dbt);
    assert_eq!(
        u.store()
            .await
            .runs("parity", None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // The failing rows were kept, in the lake and in the warehouse.
    for task in ["test_delta", "test_warehouse"] {
        let out = u.run(&[
            "test",
            "failures",
            "parity",
            "r",
            "source_not_null_raw_tweets_tweet_id",
            "--task",
            task,
            "-o",
            "json",
        ]);
        assert!(out.status.success(), "{task}: {:?}", text(&out));
        let kept: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(kept.as_array().unwrap().len(), 1, "{task}: {kept}");
        let out = u.run(&[
            "test",
            "failures",
            "parity",
            "r",
            "scores_above_one",
            "--task",
            task,
            "-o",
            "json",
        ]);
        let kept: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(kept[0]["tweet_id"], "b", "{task}: {kept}");
    }
    assert!(
        lake.join("audit/source_not_null_raw_tweets_tweet_id/_delta_log")
            .is_dir()
    );
    let store = u.store().await;
    let tis = store.task_instances("parity", "r").await.unwrap();
    let tries = |id: &str| {
        tis.iter()
            .find(|t| t.task_id == id)
            .map(|t| (t.state.stored().map(String::from), t.try_number))
    };
    assert_eq!(
        tries("test_delta"),
        Some((Some("failed".into()), 1)),
        "no retry fixes data"
    );
    u.cleanup().await;
}

/// Broken schema files are refused when the DAG loads, pointing into the schema file.
#[tokio::test]
async fn broken_schema_files_point_at_the_problem() {
    let u = Updraft::new(Backend::Sqlite).await;
    for (yaml, expected) in [
        (
            "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: c\n        data_tests: [uniq]\n",
            "schema.yml:6:22: unknown test `uniq`",
        ),
        (
            "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: c\n        data_tests:\n          - accepted_values: {quote: false}\n",
            "schema.yml:7:",
        ),
        (
            "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: c\n        data_tests:\n          - not_null: {config: {warn_if: lots}}\n",
            "`warn_if`: `lots` is not a condition",
        ),
        (
            "version: 2\nmodels:\n  - name: elsewhere\n    columns:\n      - name: c\n        data_tests: [not_null]\n",
            "reads `elsewhere`, which is not in `tables`",
        ),
    ] {
        std::fs::write(u.dags().join("schema.yml"), yaml).unwrap();
        let dag = u.write_dag(
            "t.yaml",
            "dag_id: t\ntasks:\n  check:\n    type: data_test\n    with: {schema_file: schema.yml, tables: {t: /nowhere}}\n",
        );
        let out = u.run(&["dag", "validate", dag.to_str().unwrap()]);
        let err = text(&out).1;
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("t.yaml:5:"), "the DAG file's position: {err}");
        assert!(err.contains(expected), "expected `{expected}` in {err}");
    }
    u.cleanup().await;
}
