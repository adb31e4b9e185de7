//! The shipped `books_warehouse` DAG on the embedded defaults: a generated best-sellers
//! CSV with dirt goes through every layer with nothing lost or doubled, the warehouse
//! models equal what an independent reading of the CSV gives, a re-run changes nothing,
//! and an orphan fact row makes the relationships test fail the run.

use crate::support::{Backend, Updraft, text};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};

/// DataFusion's `initcap`: each word's first letter upper case, the rest lower case.
fn initcap(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if in_word {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = false;
        }
    }
    out
}

/// What the CSV should become, decided without Updraft: per standardised author, the
/// number of clean rows and their average rating; and how many rows there are in all.
fn expected(landing: &std::path::Path) -> (BTreeMap<String, (i64, f64)>, usize, usize) {
    let mut seen = BTreeSet::new();
    let (mut rows, mut records) = (Vec::new(), 0);
    for entry in std::fs::read_dir(landing).unwrap() {
        for row in csv::Reader::from_path(entry.unwrap().path())
            .unwrap()
            .records()
        {
            let row = row.unwrap();
            records += 1;
            let (Ok(rating), Ok(price), Ok(year)) = (
                row[2].trim().parse::<f64>(),
                row[4].trim().parse::<f64>(),
                row[5].trim().parse::<i32>(),
            ) else {
                continue;
            };
            let clean = (0.0..=5.0).contains(&rating)
                && price >= 0.0
                && matches!(&row[6], "Fiction" | "Non Fiction");
            // The same book once standardised: the first copy stays.
            let author = initcap(row[1].trim());
            if clean && seen.insert((row[0].trim().to_string(), author.clone(), year)) {
                rows.push((author, rating));
            }
        }
    }
    let mut authors: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    for (author, rating) in &rows {
        let entry = authors.entry(author.clone()).or_default();
        entry.0 += 1;
        entry.1 += rating;
    }
    for value in authors.values_mut() {
        value.1 /= value.0 as f64;
    }
    (authors, rows.len(), records)
}

async fn dim(wh: &mut sqlx::SqliteConnection) -> Vec<(String, i64, f64)> {
    sqlx::query_as("SELECT author, books, avg_rating FROM marts_dim_author ORDER BY author")
        .fetch_all(wh)
        .await
        .unwrap()
}

async fn count(wh: &mut sqlx::SqliteConnection, table: &str) -> usize {
    let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(wh)
        .await
        .unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_to_models_on_the_embedded_defaults() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    // Without --to, where the DAG looks.
    let landing = lake.join("landing/books");
    let out = u.run(&[
        "generate",
        "books",
        "--count",
        "3000",
        "--seed",
        "8",
        "--bad-ratio",
        "0.1",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let trigger = |run_id: &str| u.run(&["dag", "trigger", "books_warehouse", "--run-id", run_id]);
    let out = trigger("b1");
    assert!(out.status.success(), "{:?}", text(&out));

    let (authors, facts, records) = expected(&landing);
    assert_eq!(records, 3_000);
    let url = format!("sqlite://{}", u.home().join("warehouse.db").display());
    let mut wh = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let got = dim(&mut wh).await;
    assert_eq!(got.len(), authors.len(), "one row per standardised author");
    for (author, books, avg) in &got {
        let (want_books, want_avg) = authors[author];
        assert_eq!(*books, want_books, "{author}");
        assert!(
            (avg - want_avg).abs() < 1e-9,
            "{author}: {avg} vs {want_avg}"
        );
    }
    assert_eq!(count(&mut wh, "marts_fact_books").await, facts);
    assert!(count(&mut wh, "silver_books").await >= facts);
    let layers = crate::support::query_delta(
        &[
            ("bronze", &lake.join("bronze/books")),
            ("q", &lake.join("silver/books_quarantine")),
        ],
        "SELECT (SELECT count(*) FROM bronze) AS bronze, (SELECT count(*) FROM q) AS quarantined",
    )
    .await;
    assert_eq!(layers[0]["bronze"].as_u64(), Some(3_000));
    let quarantined = layers[0]["quarantined"].as_u64().unwrap() as usize;
    assert!(
        quarantined > 0 && quarantined + facts < 3_000,
        "repeated rows are dropped, not quarantined"
    );

    // Again: nothing changes anywhere.
    let out = trigger("b2");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(dim(&mut wh).await, got);
    assert_eq!(count(&mut wh, "marts_fact_books").await, facts);

    // A fact row inserted by hand whose author is not in the dimension: the relationships
    // test fails.
    sqlx::query(
        "INSERT INTO marts_fact_books (name, year, author_key, user_rating, reviews, price, genre)
         VALUES ('Orphan', 2015, 999999, 4.0, 10, 5.0, 'Fiction')",
    )
    .execute(&mut wh)
    .await
    .unwrap();
    let out = u.run(&["test", "run", "books_warehouse", "test_models"]);
    assert!(!out.status.success(), "{:?}", text(&out));
    let (stdout, stderr) = text(&out);
    let report = format!("{stdout}{stderr}");
    assert!(
        report.contains("relationships_marts.fact_books_author_key")
            || report.contains("relationships"),
        "{report}"
    );
    u.cleanup().await;
}

/// The same through Kafka into a PostgreSQL warehouse: the CSV produced into a topic (one
/// partition, so the first copy of a repeated book is the CSV's first), landed from it;
/// a second run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_models_in_postgres() {
    let broker = crate::support::Broker::start();
    let mut u = Updraft::new(Backend::Postgres).await;
    u.use_shipped_dags();
    let warehouse = u.database_url.clone();
    u.env
        .push(("UPDRAFT_CONN_WAREHOUSE".into(), warehouse.clone()));
    let csv_dir = u.dir.path().join("csv");
    let to = format!("file://{}", csv_dir.display());
    let out = u.run(&[
        "generate",
        "books",
        "--count",
        "1500",
        "--seed",
        "12",
        "--bad-ratio",
        "0.1",
        "--to",
        &to,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let file = std::fs::read_dir(&csv_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let topic = format!("kafka://{}/books", broker.bootstrap);
    let file_arg = file.display().to_string();
    let out = u.run(&["produce", &file_arg, "--to", &topic, "--partitions", "1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let conf = serde_json::json!({ "source": topic }).to_string();
    for run_id in ["k1", "k2"] {
        let out = u.run(&[
            "dag",
            "trigger",
            "books_warehouse",
            "--run-id",
            run_id,
            "--conf",
            &conf,
        ]);
        assert!(out.status.success(), "{run_id}: {:?}", text(&out));
        let (authors, facts, _) = expected(&csv_dir);
        let mut db = sqlx::PgConnection::connect(&warehouse).await.unwrap();
        let got: Vec<(String, i64, f64)> = sqlx::query_as(
            "SELECT author, books, avg_rating FROM marts.dim_author ORDER BY author",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert_eq!(
            got.len(),
            authors.len(),
            "{run_id}: one row per standardised author"
        );
        for (author, books, avg) in &got {
            assert_eq!(*books, authors[author].0, "{run_id}: {author}");
            assert!((avg - authors[author].1).abs() < 1e-9, "{run_id}: {author}");
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM marts.fact_books")
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(n as usize, facts, "{run_id}: one fact per clean CSV row");
    }
    u.cleanup().await;
}

/// The books pipeline in its two-DAG form (`dags/assets`): loading silver.books into the
/// warehouse triggers `books_models` by itself, the models equal the CSV's reading, and
/// each model is an asset written from what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_follow_the_load_of_silver_books() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.dir.path().join("lake");
    let folder = crate::support::repo_path("dags/assets");
    u.env
        .push(("UPDRAFT_DAGS_FOLDER".into(), folder.display().to_string()));
    let landing = lake.join("landing/books");
    let out = u.run(&["generate", "books", "--count", "800", "--seed", "3"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let scheduler = crate::support::Daemon::start(&u, "scheduler", &[]);
    let store = u.store().await;
    let s = &store;
    crate::support::wait_for(
        "the scheduler to read the DAGs",
        std::time::Duration::from_secs(20),
        &[&scheduler],
        move || async move {
            s.scheduled_on_assets()
                .await
                .is_ok_and(|on| on.iter().any(|(_, dag)| dag == "books_models"))
        },
    )
    .await;
    let out = u.run(&["dag", "trigger", "books_silver", "--run-id", "s1"]);
    assert!(out.status.success(), "{:?}", text(&out));
    crate::support::wait_for(
        "the models' run",
        std::time::Duration::from_secs(60),
        &[&scheduler],
        move || async move {
            let runs = s.runs("books_models", None, 10).await.unwrap_or_default();
            runs.len() == 1 && runs[0].state == "success"
        },
    )
    .await;
    let (authors, _, _) = expected(&landing);
    let url = format!("sqlite://{}", u.home().join("warehouse.db").display());
    let mut wh = sqlx::SqliteConnection::connect(&url).await.unwrap();
    assert_eq!(dim(&mut wh).await.len(), authors.len());
    let out = u.run(&["asset", "lineage", "warehouse://warehouse/marts.dim_author"]);
    let (said, _) = text(&out);
    for line in [
        "delta://lake/silver/books -> books_silver.load_silver -> warehouse://warehouse/silver.books",
        "warehouse://warehouse/silver.books => books_models (DAG) (triggers)",
    ] {
        assert!(said.lines().any(|l| l == line), "`{line}` in:\n{said}");
    }
    let models = "warehouse://warehouse/silver.books -> books_models.models -> \
        warehouse://warehouse/marts.dim_author, warehouse://warehouse/marts.fact_books, \
        warehouse://warehouse/marts.stg_books";
    assert!(
        said.lines().any(|l| l == models),
        "each model written, from silver.books:\n{said}"
    );
    assert!(scheduler.stop().success());
    u.cleanup().await;
}
