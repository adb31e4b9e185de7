//! `updraft conn list` and `updraft conn check` against real services of each kind:
//! PostgreSQL, SQLite, a Kafka-protocol broker, an S3 server (moto); a Spark Connect
//! server's check is in tests/spark.rs. A kind that does not answer fails within 10 s.

use crate::support::{Backend, Broker, S3Server, Updraft, create_database, drop_database, text};
use serde_json::Value;
use std::time::{Duration, Instant};

fn check(u: &Updraft, name: &str) -> (Option<i32>, Value, Duration) {
    let started = Instant::now();
    let out = u.run(&["conn", "check", name, "-o", "json"]);
    let took = started.elapsed();
    let answer: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{name}: {:?}", text(&out)));
    (out.status.code(), answer, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_connection_says_what_it_is_or_that_it_does_not_answer() {
    let broker = Broker::start();
    let s3 = S3Server::start("lake");
    let (pg_url, db) = create_database().await;
    let mut u = Updraft::new(Backend::Sqlite).await;
    let sqlite = u.dir.path().join("wh.db");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    u.env.extend(s3.env());
    for (name, uri) in [
        ("WH", pg_url.clone()),
        ("LOCAL", format!("sqlite://{}", sqlite.display())),
        ("EVENTS", format!("kafka://{}", broker.bootstrap)),
        ("LAKE", "s3://lake/updraft".to_string()),
        (
            "GONE",
            format!("postgres://u:hidden-pw@127.0.0.1:{dead_port}/db"),
        ),
    ] {
        u.env.push((format!("UPDRAFT_CONN_{name}"), uri));
    }
    let (code, pg, _) = check(&u, "wh");
    assert_eq!(
        (code, &pg["answers"]),
        (Some(0), &Value::Bool(true)),
        "{pg}"
    );
    assert!(
        pg["server"]
            .as_str()
            .unwrap_or_default()
            .starts_with("PostgreSQL"),
        "{pg}"
    );
    let (_, lite, _) = check(&u, "local");
    assert!(
        lite["server"]
            .as_str()
            .unwrap_or_default()
            .starts_with("SQLite 3"),
        "{lite}"
    );
    let (_, kafka, _) = check(&u, "events");
    assert!(
        kafka["server"]
            .as_str()
            .unwrap_or_default()
            .contains("1 broker(s)"),
        "{kafka}"
    );
    let (_, lake, _) = check(&u, "lake");
    assert!(
        lake["server"]
            .as_str()
            .unwrap_or_default()
            .starts_with("S3: the bucket lists"),
        "{lake}"
    );
    let (code, gone, took) = check(&u, "gone");
    assert_eq!(code, Some(1), "{gone}");
    assert_eq!(gone["answers"], false, "{gone}");
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert!(!gone.to_string().contains("hidden-pw"), "{gone}");
    let listed = u.run(&["conn", "list"]);
    let (listed, _) = text(&listed);
    assert!(
        listed.contains("gone") && listed.contains("u:***@"),
        "{listed}"
    );
    assert!(!listed.contains("hidden-pw"), "{listed}");
    let missing = u.run(&["conn", "check", "nope"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "an unknown name is a usage error"
    );
    drop_database(&db).await;
    u.cleanup().await;
}
