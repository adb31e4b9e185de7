//! The `sql_models` task on a SQLite and on a PostgreSQL warehouse: models built in
//! `ref()` order (a view, a table, an incremental table keyed on two columns), re-runs
//! that change nothing, new and changed source rows picked up, and a broken model that
//! fails the task and skips what reads it.

use crate::support::{Backend, Updraft, text};
use sqlx::Connection;

const DAG: &str = r#"
dag_id: models
tasks:
  models:
    type: sql_models
    retries: 0
    with: {conn: warehouse, models: models, schema: marts}
"#;

const SOURCES: &str = "version: 2\nsources:\n  - name: silver\n    tables: [{name: books}]\n";
const STG: &str = "select trim(name) as name, upper(trim(author)) as author, rating, year\nfrom {{ source('silver', 'books') }}\n";
const DIM: &str = "{{ config(materialized='table') }}\nselect author, count(*) as books, avg(rating) as avg_rating\nfrom {{ ref('stg_books') }} group by author\n";
const FACT: &str = "{{ config(materialized='incremental', unique_key=['name', 'year']) }}\n\
select s.name, s.year, d.author, s.rating\n\
from {{ ref('stg_books') }} s join {{ ref('dim_author') }} d on d.author = s.author\n\
{% if is_incremental() %}where s.year >= (select max(year) from {{ this }}){% endif %}\n";

/// The warehouse, read and written by the test itself.
enum Warehouse {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Warehouse {
    async fn exec(&mut self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Warehouse::Postgres(db) => sqlx::raw_sql(sql).execute(db).await.map(|_| ()),
            Warehouse::Sqlite(db) => sqlx::raw_sql(sql).execute(db).await.map(|_| ()),
        }
        .expect("warehouse sql");
    }

    /// A table by its dotted name (`marts.fact_books` is `marts_fact_books` on SQLite).
    fn table(&self, dotted: &str) -> String {
        match self {
            Warehouse::Postgres(_) => dotted.to_string(),
            Warehouse::Sqlite(_) => dotted.replace('.', "_"),
        }
    }

    async fn facts(&mut self) -> Vec<(String, i64, String, Option<f64>)> {
        let sql = format!(
            "SELECT name, year, author, rating FROM {} ORDER BY name, year",
            self.table("marts.fact_books")
        );
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Warehouse::Postgres(db) => sqlx::query_as(sql).fetch_all(db).await,
            Warehouse::Sqlite(db) => sqlx::query_as(sql).fetch_all(db).await,
        }
        .expect("facts")
    }

    async fn authors(&mut self) -> Vec<(String, i64, Option<f64>)> {
        let sql = format!(
            "SELECT author, books, avg_rating FROM {} ORDER BY author",
            self.table("marts.dim_author")
        );
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Warehouse::Postgres(db) => sqlx::query_as(sql).fetch_all(db).await,
            Warehouse::Sqlite(db) => sqlx::query_as(sql).fetch_all(db).await,
        }
        .expect("authors")
    }
}

fn models(u: &Updraft, dim: &str) {
    let dir = u.dags().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("sources.yml", SOURCES),
        ("stg_books.sql", STG),
        ("dim_author.sql", dim),
        ("fact_books.sql", FACT),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `(model, status, row_count)` of a run's `model_run` rows, by model.
async fn model_runs(u: &Updraft, run_id: &str) -> Vec<(String, String, Option<i64>)> {
    let sql = format!(
        "SELECT model, status, row_count FROM model_run WHERE run_id = '{run_id}' ORDER BY model"
    );
    let sql = sqlx::AssertSqlSafe(sql);
    if u.on_postgres() {
        let mut db = sqlx::PgConnection::connect(&u.database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut db).await.unwrap()
    } else {
        let mut db = sqlx::SqliteConnection::connect(&u.database_url)
            .await
            .unwrap();
        sqlx::query_as(sql).fetch_all(&mut db).await.unwrap()
    }
}

fn trigger(u: &Updraft, run_id: &str) -> std::process::Output {
    u.run(&["dag", "trigger", "models", "--run-id", run_id])
}

async fn builds_models_in_order(u: &mut Updraft, mut wh: Warehouse) {
    u.write_dag("models.yaml", DAG);
    models(u, DIM);
    let books = wh.table("silver.books");
    if let Warehouse::Postgres(_) = wh {
        wh.exec("CREATE SCHEMA silver").await;
    }
    wh.exec(&format!(
        "CREATE TABLE {books} (name TEXT, author TEXT, rating DOUBLE PRECISION, year BIGINT);
         INSERT INTO {books} VALUES ('A', 'x', 4.0, 2010), (' B ', 'X ', 3.0, 2011), ('C', 'y', 5.0, 2012)"
    ))
    .await;
    let out = trigger(u, "m1");
    assert!(out.status.success(), "{:?}", text(&out));
    let row = |n: &str, y: i64, a: &str, r: f64| (n.to_string(), y, a.to_string(), Some(r));
    assert_eq!(
        wh.authors().await,
        [
            ("X".to_string(), 2, Some(3.5)),
            ("Y".to_string(), 1, Some(5.0))
        ]
    );
    let first = vec![
        row("A", 2010, "X", 4.0),
        row("B", 2011, "X", 3.0),
        row("C", 2012, "Y", 5.0),
    ];
    assert_eq!(wh.facts().await, first);
    let built = |status: &str, dim: Option<i64>, fact: Option<i64>| {
        vec![
            ("dim_author".to_string(), status.to_string(), dim),
            ("fact_books".to_string(), status.to_string(), fact),
            ("stg_books".to_string(), "success".to_string(), None),
        ]
    };
    assert_eq!(
        model_runs(u, "m1").await,
        built("success", Some(2), Some(3))
    );

    // Again: nothing changes.
    let out = trigger(u, "m2");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(wh.facts().await, first);

    // A changed and a new row: the incremental model replaces one and adds the other.
    wh.exec(&format!(
        "UPDATE {books} SET rating = 4.5 WHERE name = 'C';
         INSERT INTO {books} VALUES ('D', 'y', 4.0, 2013)"
    ))
    .await;
    let out = trigger(u, "m3");
    assert!(out.status.success(), "{:?}", text(&out));
    let second = vec![
        row("A", 2010, "X", 4.0),
        row("B", 2011, "X", 3.0),
        row("C", 2012, "Y", 4.5),
        row("D", 2013, "Y", 4.0),
    ];
    assert_eq!(wh.facts().await, second);
    assert_eq!(wh.authors().await[1], ("Y".to_string(), 2, Some(4.25)));

    // A broken model fails the task by name and skips the model that reads it.
    models(
        u,
        "{{ config(materialized='table') }}\nselect author, count(*) as books, avg(ratng) as avg_rating from {{ ref('stg_books') }} group by author",
    );
    wh.exec(&format!("INSERT INTO {books} VALUES ('E', 'z', 2.0, 2014)"))
        .await;
    let out = trigger(u, "m4");
    assert!(!out.status.success());
    let states = u.run(&["-o", "json", "task", "states", "models", "m4"]);
    let states = String::from_utf8_lossy(&states.stdout).to_string();
    assert!(
        states.contains("dim_author") && states.contains("1 skipped"),
        "{states}"
    );
    assert_eq!(wh.facts().await, second, "the fact model was skipped");
    let runs = model_runs(u, "m4").await;
    assert_eq!(
        runs.iter()
            .map(|(m, s, _)| (m.as_str(), s.as_str()))
            .collect::<Vec<_>>(),
        [
            ("dim_author", "error"),
            ("fact_books", "skipped"),
            ("stg_books", "success")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_on_the_embedded_sqlite_warehouse() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let path = u.dir.path().join("warehouse.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    let wh = Warehouse::Sqlite(sqlx::SqliteConnection::connect(&url).await.unwrap());
    builds_models_in_order(&mut u, wh).await;
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_on_a_postgres_warehouse() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    let wh = Warehouse::Postgres(sqlx::PgConnection::connect(&url).await.unwrap());
    builds_models_in_order(&mut u, wh).await;
    u.cleanup().await;
}

/// The same model folder built by dbt-core (`dbt run`, dbt-postgres) and by
/// `sql_models` on the same PostgreSQL source gives the same tables and view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_tables_as_dbt_run() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    u.write_dag("models.yaml", DAG);
    models(&u, DIM);
    let mut wh = Warehouse::Postgres(sqlx::PgConnection::connect(&url).await.unwrap());
    wh.exec(
        "CREATE SCHEMA silver;
         CREATE TABLE silver.books (name TEXT, author TEXT, rating DOUBLE PRECISION, year BIGINT);
         INSERT INTO silver.books VALUES ('A', 'x', 4.0, 2010), (' B ', 'X ', 3.0, 2011),
           ('C', 'y', 5.0, 2012), ('D', ' y', 3.5, 2012), ('E', 'z', NULL, 2013)",
    )
    .await;

    // dbt first, into schema marts.
    let parsed = url::Url::parse(&url).unwrap();
    let project = u.dir.path().join("dbt_project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("dbt_project.yml"),
        "name: parity\nversion: '1.0'\nprofile: parity\nmodel-paths: [models]\n",
    )
    .unwrap();
    std::fs::write(
        project.join("profiles.yml"),
        format!(
            "parity:\n  target: dev\n  outputs:\n    dev: {{type: postgres, host: '{}', port: {}, user: '{}', password: '', dbname: '{}', schema: marts, threads: 1}}\n",
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port().unwrap_or(5432),
            parsed.username(),
            parsed.path().trim_start_matches('/'),
        ),
    )
    .unwrap();
    let ours = u.dags().join("models");
    let theirs = project.join("models");
    std::fs::create_dir_all(&theirs).unwrap();
    for entry in std::fs::read_dir(&ours).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, theirs.join(path.file_name().unwrap())).unwrap();
    }
    let dbt = std::env::var("DBT_BIN").expect("DBT_BIN (scripts/ensure-dbt.sh installs dbt)");
    let out = std::process::Command::new(dbt)
        .args(["run", "--profiles-dir", ".", "--project-dir", "."])
        .current_dir(&project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .expect("run dbt");
    assert!(out.status.success(), "dbt run: {:?}", text(&out));
    let staged = "SELECT name, year, author, rating FROM marts.stg_books ORDER BY name";
    let stg_dbt: Vec<(String, i64, String, Option<f64>)> = sqlx::query_as(staged)
        .fetch_all(match &mut wh {
            Warehouse::Postgres(db) => db,
            Warehouse::Sqlite(_) => unreachable!(),
        })
        .await
        .unwrap();
    let (facts_dbt, authors_dbt) = (wh.facts().await, wh.authors().await);
    assert_eq!(
        facts_dbt.len(),
        5,
        "dbt built the fact table: {facts_dbt:?}"
    );

    // Then ours, from nothing.
    wh.exec("DROP SCHEMA marts CASCADE").await;
    let out = trigger(&u, "ours");
    assert!(out.status.success(), "{:?}", text(&out));
    let stg_ours: Vec<(String, i64, String, Option<f64>)> = sqlx::query_as(staged)
        .fetch_all(match &mut wh {
            Warehouse::Postgres(db) => db,
            Warehouse::Sqlite(_) => unreachable!(),
        })
        .await
        .unwrap();
    assert_eq!(stg_ours, stg_dbt);
    assert_eq!(wh.authors().await, authors_dbt);
    assert_eq!(wh.facts().await, facts_dbt);
    u.cleanup().await;
}
