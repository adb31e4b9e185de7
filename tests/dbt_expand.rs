//! `expand: models`: a `dbt` task's project as tasks of the DAG, one per model, seed and
//! snapshot (ephemeral models inlined), wired as the project's `ref()`s wire them, each
//! with its own tests; a model that fails fails alone (what reads it waits), and clearing
//! it after the fix runs it and what reads it, not the rest.

use crate::support::{Backend, Updraft, copy_tree, repo_path, text};
use sqlx::Connection;

const DAG: &str = r#"
dag_id: shop_models
tasks:
  prepare:
    type: noop
  marts:
    type: dbt
    depends_on: [prepare]
    retries: 0
    with:
      project: shop
      conn: warehouse
      schema: expanded
      expand: models
      select: "+customer_totals"
  report:
    type: noop
    depends_on: [marts]
"#;

/// Each task instance of the run and its state and try, by task id.
async fn states(db: &mut sqlx::PgConnection, run_id: &str) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT task_id, COALESCE(state, 'none'), try_number FROM task_instance
         WHERE dag_id = 'shop_models' AND run_id = $1 ORDER BY task_id",
    )
    .bind(run_id)
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expanded_project_runs_each_model_as_a_task_of_its_own() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    copy_tree(
        &repo_path("tests/dbt_projects/shop"),
        &u.dags().join("shop"),
    );
    u.write_dag("shop_models.yaml", DAG);
    let out = u.run(&["dag", "show", "shop_models"]);
    let (shown, stderr) = text(&out);
    assert!(out.status.success(), "{shown}\n{stderr}");
    // The ephemeral models (int_paid_orders, int_big_paid_orders) have no task.
    for task in [
        "marts.countries",
        "marts.customers",
        "marts.orders",
        "marts.stg_customers",
        "marts.stg_orders",
        "marts.customer_totals",
    ] {
        assert!(shown.contains(task), "{task} in\n{shown}");
    }
    assert!(!shown.contains("int_paid_orders"), "{shown}");

    // stg_orders is broken: it fails alone; what reads it waits, the rest is built.
    let file = u.dags().join("shop/models/staging/stg_orders.sql");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, good.replacen("select", "select no_such_column,", 1)).unwrap();
    let out = u.run(&["dag", "trigger", "shop_models", "--run-id", "r1"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let log = text(&u.run(&["task", "logs", "shop_models", "r1", "marts.customers"])).0;
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let first = states(&mut db, "r1").await;
    let state = |all: &[(String, String, i64)], id: &str| {
        all.iter()
            .find(|(t, _, _)| t == id)
            .map(|(_, s, n)| (s.clone(), *n))
            .unwrap_or_else(|| panic!("no {id} in {all:?}"))
    };
    assert_eq!(state(&first, "marts.stg_orders").0, "failed", "{first:?}");
    assert_eq!(state(&first, "marts.customer_totals").0, "upstream_failed");
    assert_eq!(state(&first, "report").0, "upstream_failed");
    for built in [
        "prepare",
        "marts.orders",
        "marts.customers",
        "marts.stg_customers",
    ] {
        assert_eq!(
            state(&first, built).0,
            "success",
            "{built}: {first:?}\n{log}"
        );
    }
    // Each task recorded its own model, and the tests that run after it.
    let models: Vec<(String, String)> =
        sqlx::query_as("SELECT task_id, model FROM model_run WHERE run_id = 'r1' ORDER BY 1")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(
        models
            .iter()
            .all(|(task, model)| *task == format!("marts.{model}")),
        "{models:?}"
    );
    let tests: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT task_id, test_name, status FROM test_result WHERE run_id = 'r1' ORDER BY 1, 2",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        tests
            .iter()
            .any(|(task, test, status)| task == "marts.stg_customers"
                && test == "unique_stg_customers_customer_id"
                && status == "pass"),
        "{tests:?}"
    );
    assert!(
        tests
            .iter()
            .filter(|(task, _, _)| task == "marts.stg_orders")
            .all(|(_, _, status)| status == "skipped"),
        "a failed model's tests are skipped: {tests:?}"
    );

    // Fixed and cleared on the DAG's new version (the run keeps the version it started
    // with, project files included, unless told): the model and what reads it run; the
    // rest is left as it was.
    std::fs::write(&file, good).unwrap();
    let out = u.run(&[
        "task",
        "clear",
        "shop_models",
        "r1",
        "--task",
        "^marts\\.stg_orders$",
        "--latest-version",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let second = states(&mut db, "r1").await;
    assert_eq!(state(&second, "marts.stg_orders"), ("success".into(), 2));
    assert_eq!(state(&second, "marts.customer_totals").0, "success");
    assert_eq!(state(&second, "report").0, "success");
    assert_eq!(
        state(&second, "marts.stg_customers"),
        ("success".into(), 1),
        "{second:?}"
    );
    let totals: i64 = sqlx::query_scalar("SELECT count(*) FROM expanded.customer_totals")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(totals > 0);
    u.cleanup().await;
}
