//! The built-in task types against real services: `sql` on PostgreSQL and SQLite with
//! bound parameters, `http` against a local HTTP server (statuses, retries, bodies).

use crate::support::{Backend, Updraft, only_run, text};
use sqlx::Connection;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(sql_task_binds_parameters_in_one_transaction);

/// The warehouse is the test's own database: PostgreSQL or a SQLite file.
fn warehouse_url(u: &Updraft) -> String {
    if u.on_postgres() {
        u.database_url.clone()
    } else {
        format!("sqlite://{}", u.dir.path().join("wh.db").display())
    }
}

async fn rows(url: &str, sql: &str) -> Vec<(String, i64)> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
    }
}

async fn sql_task_binds_parameters_in_one_transaction(u: &Updraft) {
    let mut u2 = u.sibling();
    let wh = warehouse_url(&u2);
    u2.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), wh.clone()));
    u2.write_dag(
        "load.yaml",
        r#"
dag_id: load
tasks:
  ddl:
    type: sql
    with: { conn: warehouse, sql: "CREATE TABLE IF NOT EXISTS people (name TEXT PRIMARY KEY, n BIGINT)" }
  insert:
    type: sql
    depends_on: [ddl]
    with:
      conn: WAREHOUSE
      sql: "INSERT INTO people (name, n) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET n = excluded.n"
      parameters: ["{{ params.name }}", 42]
  half_done:
    type: sql
    depends_on: [insert]
    with:
      conn: warehouse
      sql: ["INSERT INTO people (name, n) VALUES ('rolled back', 1)", "INSERT INTO no_such_table VALUES (1)"]
"#,
    );
    // A quote in a bound value is data, not SQL.
    let out = u2.run(&[
        "dag",
        "trigger",
        "load",
        "--conf",
        r#"{"name": "O'Brien; DROP TABLE people"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let got = rows(&wh, "SELECT name, n FROM people ORDER BY name").await;
    assert_eq!(
        got,
        vec![("O'Brien; DROP TABLE people".to_string(), 42)],
        "the failed task's transaction left nothing"
    );
    let store = u2.store().await;
    let run = only_run(&store, "load").await;
    let insert = store
        .tries("load", &run.run_id, Some("insert"))
        .await
        .unwrap();
    assert_eq!(insert[0].state, "success");
    let metrics: serde_json::Value = serde_json::from_str(&insert[0].metrics).unwrap();
    assert_eq!(metrics["rows_affected"], 1);
    let failed = store
        .tries("load", &run.run_id, Some("half_done"))
        .await
        .unwrap();
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no_such_table"),
        "{failed:?}"
    );
    // Re-running leaves the same data.
    let out = u2.run(&["task", "clear", "load", &run.run_id, "--task", "^insert$"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        rows(&wh, "SELECT name, n FROM people ORDER BY name")
            .await
            .len(),
        1
    );
}

/// A tiny HTTP/1.1 server on loopback that answers with the given statuses in turn and
/// records each request's first line and body.
async fn http_server(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for status in statuses {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        let first = text.lines().next().unwrap_or_default().to_string();
                        log.lock()
                            .unwrap()
                            .push(format!("{first} {}", &text[head_end + 4..]));
                        break;
                    }
                }
            }
            let body = format!("{{\"status\": {status}}}");
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_task_retries_server_errors_and_not_client_errors() {
    let u = Updraft::new(Backend::Sqlite).await;
    let (base, seen) = http_server(vec![503, 201, 404]).await;
    u.write_dag(
        "api.yaml",
        &format!(
            r#"
dag_id: api
default_args: {{ retries: 2, retry_delay: 1s }}
tasks:
  post:
    type: http
    with:
      method: post
      url: "{base}/events/{{{{ ds }}}}"
      headers: {{ content-type: application/json }}
      body: {{ day: "{{{{ ds }}}}" }}
      expected_status: [200, 201]
  missing:
    type: http
    depends_on: [post]
    with: {{ url: "{base}/nope" }}
"#
        ),
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "api",
        "--logical-date",
        "2026-04-05",
        "--run-id",
        "r",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let store = u.store().await;
    let post = store.tries("api", "r", Some("post")).await.unwrap();
    assert_eq!(
        post.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(),
        ["failed", "success"],
        "503 is retried"
    );
    let metrics: serde_json::Value = serde_json::from_str(&post[1].metrics).unwrap();
    assert_eq!(metrics["status"], 201);
    let missing = store.tries("api", "r", Some("missing")).await.unwrap();
    assert_eq!(missing.len(), 1, "a 404 is not retried");
    assert!(
        missing[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("404")
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        r#"POST /events/2026-04-05 HTTP/1.1 {"day":"2026-04-05"}"#
    );
    assert_eq!(seen.len(), 3);
}
