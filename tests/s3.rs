//! Lakes on object storage: the lakehouse DAG with every table on `s3://` (moto's
//! S3-compatible server), and two landers racing on one S3 table — conditional put makes
//! one commit lose, and the records still land exactly once.

use crate::support::{Backend, S3Server, Updraft, query_delta_at, repo_path, text};

const LAKE: &str = "s3://lake/updraft";

fn options(s3: &S3Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

async fn count(s3: &S3Server, table: &str) -> i64 {
    let opts = options(s3);
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{LAKE}/{table}");
    let rows = query_delta_at(&[("t", &url)], "SELECT COUNT(*) AS n FROM t", &opts).await;
    rows[0]["n"].as_i64().unwrap_or_else(|| panic!("{rows:?}"))
}

fn on_s3(u: &mut Updraft, s3: &S3Server) -> std::path::PathBuf {
    let landing = u.dir.path().join("landing");
    u.env.extend(s3.env());
    u.env.push(("UPDRAFT_LAKE".into(), LAKE.into()));
    u.env
        .push(("UPDRAFT_SOURCE".into(), landing.display().to_string()));
    u.env.push((
        "UPDRAFT_DAGS_FOLDER".into(),
        repo_path("dags").display().to_string(),
    ));
    landing
}

fn generate(u: &Updraft, landing: &std::path::Path, count: u64) {
    let to = format!("file://{}", landing.display());
    let n = count.to_string();
    let out = u.run(&[
        "generate",
        "tweets",
        "--count",
        &n,
        "--to",
        &to,
        "--bad-ratio",
        "0.02",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lakehouse_dag_on_s3() {
    let s3 = S3Server::start("lake");
    let mut u = Updraft::new(Backend::Sqlite).await;
    let landing = on_s3(&mut u, &s3);
    generate(&u, &landing, 5_000);
    let out = u.run(&[
        "dag",
        "trigger",
        "lakehouse_bronze_to_gold",
        "--run-id",
        "s3",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(count(&s3, "bronze/tweets").await, 5_000);
    let valid = count(&s3, "silver/tweets").await;
    let bad = count(&s3, "silver/tweets_quarantine").await;
    assert!(bad > 0 && valid > 4_000, "silver {valid}, quarantine {bad}");
    assert!(count(&s3, "gold/active_users_by_day").await > 0);
    // The gold stage as a dbt project on the same lake: tables on S3 read and written.
    let out = u.run(&["dag", "trigger", "lakehouse_gold_dbt", "--run-id", "s3-dbt"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        count(&s3, "gold_dbt/active_users_by_day").await,
        count(&s3, "gold/active_users_by_day").await
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "lakehouse_bronze_to_gold",
        "--run-id",
        "s3-again",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        count(&s3, "bronze/tweets").await,
        5_000,
        "a re-run lands nothing twice"
    );
    assert_eq!(count(&s3, "silver/tweets").await, valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_landers_on_s3_land_exactly_once() {
    let s3 = S3Server::start("lake");
    let mut u = Updraft::new(Backend::Sqlite).await;
    let landing = on_s3(&mut u, &s3);
    generate(&u, &landing, 20_000);
    let land = ["task", "test", "lakehouse_bronze_to_gold", "land"];
    let racers: Vec<_> = (0..2)
        .map(|_| {
            u.command(&land)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut racer in racers {
        racer.wait().expect("wait"); // one may fail: the other committed first
    }
    let out = u.run(&land);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(count(&s3, "bronze/tweets").await, 20_000);
}
