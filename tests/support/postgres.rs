//! The PostgreSQL server the tests create their own databases on (scripts/ensure-postgres.sh
//! starts it and sets UPDRAFT_TEST_PG_URL).

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("UPDRAFT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

async fn admin_sql(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url())
        .await
        .expect("connect to PostgreSQL (set UPDRAFT_TEST_PG_URL)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .expect("admin sql");
}

/// A fresh, empty database of this test process: its URL and its name.
pub async fn create_database() -> (String, String) {
    let name = format!(
        "updraft_t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    admin_sql(&format!("DROP DATABASE IF EXISTS {name}")).await;
    admin_sql(&format!("CREATE DATABASE {name}")).await;
    let base = pg_admin_url();
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => panic!("bad UPDRAFT_TEST_PG_URL {base}"),
    };
    (url, name)
}

/// Drops a database made by `create_database`, closing its connections.
pub async fn drop_database(name: &str) {
    admin_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}
