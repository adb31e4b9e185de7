//! The flagship DAG `lakehouse_bronze_to_gold`, as shipped in `dags/` with its SQL in
//! `sql/`: files or a real Kafka-protocol broker → bronze → silver (+ quarantine) →
//! gold → the warehouse (SQLite by default, real PostgreSQL), checked against an
//! independent computation, and re-run to show nothing changes without new data.

use crate::support::{Backend, Broker, Updraft, generate_tweets, query_delta, text};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

const GOLD: [&str; 4] = [
    "popular_hashtags_by_hour",
    "active_users_by_day",
    "tweet_volume_by_region",
    "tweet_metrics_by_language",
];

fn generate(u: &Updraft, to: &str, count: u64, seed: u64, start: &str) {
    let options = [
        "--bad-ratio",
        "0.05",
        "--duplicate-ratio",
        "0.02",
        "--late-ratio",
        "0.05",
        "--start",
        start,
        "--days",
        "2",
        "--users",
        "500",
    ];
    generate_tweets(u, count, to, seed, &options);
}

fn trigger(u: &Updraft, run_id: &str, extra: &[&str]) {
    let mut args = vec![
        "dag",
        "trigger",
        "lakehouse_bronze_to_gold",
        "--run-id",
        run_id,
    ];
    args.extend_from_slice(extra);
    let out = u.run(&args);
    assert!(
        out.status.success(),
        "run {run_id} failed: {:?}",
        text(&out)
    );
}

/// What silver and quarantine must hold for these raw records, decided without Updraft:
/// the generator's malformed records are cut-off JSON, a missing `tweet_id`, a text
/// `followers_count` or an unparseable `created_at`.
fn tally<'a>(lines: impl Iterator<Item = &'a str>) -> (usize, BTreeSet<String>) {
    let mut bad = 0;
    let mut ids = BTreeSet::new();
    for line in lines {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => {
                bad += 1;
                continue;
            }
        };
        let ok = v["tweet_id"].is_string()
            && v["user"]["followers_count"].is_i64()
            && v["created_at"]
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok());
        if ok {
            ids.insert(v["tweet_id"].as_str().unwrap_or_default().to_string());
        } else {
            bad += 1;
        }
    }
    (bad, ids)
}

fn landing_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("landing dir").flatten() {
        if entry.path().extension().is_some_and(|x| x == "jsonl") {
            let text = std::fs::read_to_string(entry.path()).expect("read landing file");
            out.extend(text.lines().map(str::to_string));
        }
    }
    out
}

async fn rows(lake: &Path, table: &str, sql: &str) -> Vec<Value> {
    query_delta(&[("t", &lake.join(table))], sql).await
}

async fn count(lake: &Path, table: &str) -> usize {
    rows(lake, table, "SELECT COUNT(*) AS n FROM t").await[0]["n"]
        .as_u64()
        .expect("count") as usize
}

/// The gold tables computed in plain Rust from silver's rows.
fn expected_gold(silver: &[Value]) -> BTreeMap<&'static str, Vec<Value>> {
    #[derive(Default)]
    struct Acc {
        n: f64,
        users: HashSet<String>,
        verified: HashSet<String>,
        sentiment: f64,
        engagement: f64,
        length: f64,
        pos: f64,
        neu: f64,
        neg: f64,
    }
    fn add(acc: &mut Acc, r: &Value) {
        let user = r["user_id"].as_str().unwrap_or_default().to_string();
        acc.n += 1.0;
        if r["verified"].as_bool() == Some(true) {
            acc.verified.insert(user.clone());
        }
        acc.users.insert(user);
        acc.sentiment += r["sentiment_score"].as_f64().unwrap_or(f64::NAN);
        acc.engagement += r["engagement_score"].as_f64().unwrap_or(f64::NAN);
        acc.length += r["text_length"].as_f64().unwrap_or(f64::NAN);
        match r["sentiment_category"].as_str() {
            Some("positive") => acc.pos += 1.0,
            Some("neutral") => acc.neu += 1.0,
            _ => acc.neg += 1.0,
        }
    }
    let mut tags: BTreeMap<(String, i64, String), Acc> = BTreeMap::new();
    let mut days: BTreeMap<String, Acc> = BTreeMap::new();
    let mut regions: BTreeMap<(String, i64, String), Acc> = BTreeMap::new();
    let mut languages: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in silver {
        let date = r["event_date"].as_str().unwrap_or_default().to_string();
        let hour = r["event_hour"].as_i64().unwrap_or(-1);
        for tag in r["hashtags"].as_array().into_iter().flatten() {
            let key = (
                date.clone(),
                hour,
                tag.as_str().unwrap_or_default().to_string(),
            );
            add(tags.entry(key).or_default(), r);
        }
        add(days.entry(date.clone()).or_default(), r);
        let region = r["region"].as_str().unwrap_or_default().to_string();
        add(regions.entry((date.clone(), hour, region)).or_default(), r);
        let language = r["language"].as_str().unwrap_or_default().to_string();
        add(languages.entry((date, language)).or_default(), r);
    }
    let mut out = BTreeMap::new();
    out.insert(
        "popular_hashtags_by_hour",
        tags.iter()
            .map(|((d, h, t), a)| json!({"event_date": d, "event_hour": h, "hashtag": t, "tweet_count": a.n,
                "unique_users": a.users.len(), "avg_sentiment": a.sentiment / a.n, "total_engagement": a.engagement}))
            .collect(),
    );
    out.insert(
        "active_users_by_day",
        days.iter()
            .map(|(d, a)| json!({"event_date": d, "active_users": a.users.len(), "verified_active_users": a.verified.len(),
                "tweet_count": a.n, "tweets_per_user": a.n / a.users.len() as f64, "total_engagement": a.engagement}))
            .collect(),
    );
    out.insert(
        "tweet_volume_by_region",
        regions
            .iter()
            .map(|((d, h, r), a)| json!({"event_date": d, "event_hour": h, "region": r, "tweet_count": a.n,
                "unique_users": a.users.len(), "avg_sentiment": a.sentiment / a.n, "avg_engagement": a.engagement / a.n}))
            .collect(),
    );
    out.insert(
        "tweet_metrics_by_language",
        languages
            .iter()
            .map(|((d, l), a)| json!({"event_date": d, "language": l, "tweet_count": a.n, "avg_text_length": a.length / a.n,
                "avg_sentiment": a.sentiment / a.n, "positive_tweets": a.pos, "neutral_tweets": a.neu,
                "negative_tweets": a.neg, "avg_engagement": a.engagement / a.n, "total_engagement": a.engagement}))
            .collect(),
    );
    out
}

/// The columns that identify a row of each gold table.
fn keys(table: &str) -> &'static [&'static str] {
    match table {
        "popular_hashtags_by_hour" => &["event_date", "event_hour", "hashtag"],
        "tweet_volume_by_region" => &["event_date", "event_hour", "region"],
        "tweet_metrics_by_language" => &["event_date", "language"],
        _ => &["event_date"],
    }
}

/// Asserts two row sets are equal, numbers within floating-point rounding.
fn assert_same_rows(what: &str, table: &str, actual: &[Value], expected: &[Value]) {
    let index = |rows: &[Value]| -> BTreeMap<String, Value> {
        rows.iter()
            .map(|r| {
                (
                    keys(table)
                        .iter()
                        .map(|k| r[*k].to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                    r.clone(),
                )
            })
            .collect()
    };
    let (a, e) = (index(actual), index(expected));
    assert_eq!(actual.len(), a.len(), "{what} {table}: duplicate keys");
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        e.keys().collect::<Vec<_>>(),
        "{what} {table}: different row keys"
    );
    for (key, expected_row) in &e {
        let actual_row = &a[key];
        for (column, want) in expected_row.as_object().expect("object row") {
            let got = &actual_row[column];
            let same = match (got.as_f64(), want.as_f64()) {
                (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                _ => got == want,
            };
            assert!(
                same,
                "{what} {table} row {key} column {column}: got {got}, want {want}"
            );
        }
    }
}

async fn silver_rows(lake: &Path) -> Vec<Value> {
    rows(
        lake,
        "silver/tweets",
        "SELECT tweet_id, user_id, verified, hashtags, region, language, sentiment_score, engagement_score, \
         text_length, sentiment_category, CAST(event_date AS VARCHAR) AS event_date, event_hour FROM t",
    )
    .await
}

async fn gold_rows(lake: &Path, table: &str) -> Vec<Value> {
    rows(
        lake,
        &format!("gold/{table}"),
        "SELECT * EXCLUDE (event_date), CAST(event_date AS VARCHAR) AS event_date FROM t",
    )
    .await
}

/// Checks silver against the raw records, and gold against silver.
async fn check_layers(lake: &Path, raw: &[String]) {
    assert_eq!(
        count(lake, "bronze/tweets").await,
        raw.len(),
        "bronze holds every raw record once"
    );
    let (bad, ids) = tally(raw.iter().map(String::as_str));
    assert_eq!(
        count(lake, "silver/tweets_quarantine").await,
        bad,
        "quarantine holds the bad records"
    );
    let silver = silver_rows(lake).await;
    let silver_ids: BTreeSet<String> = silver
        .iter()
        .map(|r| r["tweet_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        silver.len(),
        silver_ids.len(),
        "silver has one row per tweet_id"
    );
    assert_eq!(silver_ids, ids, "silver holds exactly the valid tweets");
    let expected = expected_gold(&silver);
    for table in GOLD {
        assert_same_rows(
            "gold",
            table,
            &gold_rows(lake, table).await,
            &expected[table],
        );
    }
}

/// Table versions, to show a re-run without new data commits nothing.
async fn versions(lake: &Path) -> Vec<(String, i64)> {
    let mut wanted = vec![
        "bronze.tweets".to_string(),
        "silver.tweets_quarantine".to_string(),
    ];
    wanted.extend(GOLD.iter().map(|g| format!("gold.{g}")));
    let found = updraft_tasks::lake_tables(lake.to_str().expect("utf-8"))
        .await
        .expect("lake tables");
    wanted
        .into_iter()
        .map(|name| {
            let version = found.iter().find(|t| t.name == name).map(|t| t.version);
            (name, version.expect("table in the lake"))
        })
        .collect()
}

/// Every table the run wrote is an asset at the version its Delta log holds, written by
/// the task that writes it and read by the tasks that read it, with no declaration; the
/// warehouse tables too.
async fn assert_assets_recorded(u: &Updraft, lake: &Path) {
    let out = u.run(&["asset", "list", "-o", "json"]);
    let (listed, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let assets: Vec<Value> = serde_json::from_str(&listed).expect("json");
    let find = |uri: &str| {
        assets
            .iter()
            .find(|a| a["uri"] == uri)
            .unwrap_or_else(|| panic!("no asset {uri} in {listed}"))
            .clone()
    };
    for (name, version) in versions(lake).await {
        let uri = format!("delta://lake/{}", name.replace('.', "/"));
        assert_eq!(find(&uri)["version"], serde_json::json!(version), "{uri}");
    }
    let bronze = find("delta://lake/bronze/tweets");
    assert_eq!(
        bronze["producers"],
        serde_json::json!(["lakehouse_bronze_to_gold.land"])
    );
    assert!(
        bronze["consumers"]
            .as_array()
            .is_some_and(|c| c.contains(&serde_json::json!("lakehouse_bronze_to_gold.silver"))),
        "{bronze}"
    );
    for g in GOLD {
        let warehouse = find(&format!("warehouse://warehouse/gold.{g}"));
        assert_eq!(
            warehouse["producers"],
            serde_json::json!([format!("lakehouse_bronze_to_gold.load_{g}")])
        );
        assert!(
            find("delta://lake/silver/tweets")["consumers"]
                .as_array()
                .is_some_and(|c| c.contains(&serde_json::json!(format!(
                    "lakehouse_bronze_to_gold.gold_{g}"
                )))),
            "gold_{g} reads silver"
        );
        assert!(
            find(&format!("delta://lake/gold/{g}"))["consumers"]
                .as_array()
                .is_some_and(|c| c.contains(&serde_json::json!(format!(
                    "lakehouse_bronze_to_gold.load_{g}"
                ))))
        );
    }
    // The DAG's page says what it writes and reads.
    let server = crate::support::WebServer::start(u, "webserver", &[]);
    let (status, page) = server
        .client(None)
        .get_as("/dags/lakehouse_bronze_to_gold", "text/html")
        .await;
    assert_eq!(status, 200, "{page}");
    for words in [
        "<h2>Tables</h2>",
        "<code>delta://lake/silver/tweets</code>",
        "<code>warehouse://warehouse/gold.active_users_by_day</code>",
    ] {
        assert!(page.contains(words), "`{words}` in {page}");
    }
    drop(server);
    let out = u.run(&["asset", "show", "delta://lake/bronze/tweets", "-o", "json"]);
    let events: Vec<Value> = serde_json::from_str(&text(&out).0).expect("json");
    assert!(
        events
            .iter()
            .any(|e| e["access"] == "write" && e["row_count"].as_i64().is_some_and(|n| n > 0)),
        "{events:?}"
    );
}

async fn sqlite_table(u: &Updraft, table: &str) -> Vec<Value> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", u.home().join("warehouse.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("warehouse");
    let name = format!("gold_{table}");
    let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT name FROM pragma_table_info('{name}')"
    )))
    .fetch_all(&mut db)
    .await
    .expect("columns");
    let pairs: Vec<String> = columns.iter().map(|c| format!("'{c}', \"{c}\"")).collect();
    let sql = format!("SELECT json_object({}) FROM \"{name}\"", pairs.join(", "));
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut db)
        .await
        .expect("rows");
    rows.iter()
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect()
}

async fn postgres_table(url: &str, table: &str) -> Vec<Value> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await.expect("warehouse");
    let sql = format!("SELECT row_to_json(t)::text FROM gold.{table} t");
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut db)
        .await
        .expect("rows");
    rows.iter()
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect()
}

/// Every quarantined record is a bronze record, kept with a reason naming what is wrong.
async fn assert_quarantine_explains(lake: &Path) {
    let tables = [
        ("q", lake.join("silver/tweets_quarantine")),
        ("b", lake.join("bronze/tweets")),
    ];
    let tables: Vec<(&str, &Path)> = tables.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let joined = query_delta(
        &tables,
        "SELECT COUNT(*) AS n FROM q JOIN b ON q.raw = b.value AND q.line = b.line AND q.file = b.file",
    )
    .await;
    let all = query_delta(&tables[..1], "SELECT COUNT(*) AS n FROM q").await;
    assert_eq!(
        joined[0]["n"], all[0]["n"],
        "quarantined rows keep the raw record and its file and line"
    );
    let reasons: Vec<String> = query_delta(&tables[..1], "SELECT DISTINCT reason FROM q")
        .await
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for expected in [
        "invalid JSON at line 1 column",
        "missing required field `tweet_id`",
        "`user.followers_count`: expected an integer, got string \"lots\"",
        "`created_at`: expected an ISO 8601 timestamp or Unix seconds, got string \"yesterday-ish\"",
    ] {
        assert!(
            reasons.iter().any(|r| r.starts_with(expected)),
            "no reason starting with {expected:?} in {reasons:?}"
        );
    }
    // The detail varies per record; the code groups them by kind, one group per kind.
    let codes: Vec<(String, i64)> = query_delta(
        &tables[..1],
        "SELECT reason_code, COUNT(*) AS n FROM q GROUP BY reason_code ORDER BY reason_code",
    )
    .await
    .iter()
    .map(|r| {
        (
            r["reason_code"].as_str().unwrap_or("NULL").to_string(),
            r["n"].as_i64().unwrap_or(0),
        )
    })
    .collect();
    let kinds: Vec<&str> = codes.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        kinds,
        ["invalid_json", "missing_field", "wrong_type"],
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().map(|(_, n)| n).sum::<i64>(),
        all[0]["n"].as_i64().unwrap(),
        "every quarantined row has a code"
    );
}

/// Where the warehouse copy of the gold tables is.
enum Warehouse<'a> {
    Sqlite(&'a Updraft),
    Postgres(&'a str),
}

async fn assert_warehouse_equals_gold(warehouse: &Warehouse<'_>, lake: &Path) {
    for table in GOLD {
        let loaded = match warehouse {
            Warehouse::Sqlite(u) => sqlite_table(u, table).await,
            Warehouse::Postgres(url) => postgres_table(url, table).await,
        };
        assert_same_rows("warehouse", table, &loaded, &gold_rows(lake, table).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_to_gold_and_sqlite_warehouse_on_embedded_defaults() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    let landing = lake.join("landing");
    generate(
        &u,
        &format!("file://{}", landing.display()),
        20_000,
        7,
        "2026-01-01T00:00:00Z",
    );
    trigger(&u, "first", &[]);
    let raw = landing_lines(&landing);
    check_layers(&lake, &raw).await;
    assert_warehouse_equals_gold(&Warehouse::Sqlite(&u), &lake).await;
    assert_quarantine_explains(&lake).await;
    assert_assets_recorded(&u, &lake).await;

    // The gold stage as a dbt project on the lake (dags/lakehouse_gold_dbt.yaml, one
    // task per model) builds the same four tables, and its tests pass.
    let out = u.run(&[
        "dag",
        "trigger",
        "lakehouse_gold_dbt",
        "--run-id",
        "gold-dbt",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    for table in GOLD {
        let by_dbt = rows(
            &lake,
            &format!("gold_dbt/{table}"),
            "SELECT * EXCLUDE (event_date), CAST(event_date AS VARCHAR) AS event_date FROM t",
        )
        .await;
        assert_same_rows("dbt", table, &by_dbt, &gold_rows(&lake, table).await);
    }
    // Each model is an asset at the version it committed, written by its own task and
    // reading silver.
    let out = u.run(&["asset", "list", "-o", "json"]);
    let assets: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let found = updraft_tasks::lake_tables(lake.to_str().expect("utf-8"))
        .await
        .expect("lake tables");
    for table in GOLD {
        let uri = format!("delta://lake/gold_dbt/{table}");
        let asset = assets
            .iter()
            .find(|a| a["uri"] == uri.as_str())
            .expect(&uri);
        let committed = found.iter().find(|t| t.name == format!("gold_dbt.{table}"));
        assert_eq!(
            asset["version"],
            json!(committed.expect(&uri).version),
            "{uri}"
        );
        assert_eq!(
            asset["producers"],
            json!([format!("lakehouse_gold_dbt.gold.{table}")])
        );
    }

    // Nothing new: every table keeps its version, the warehouse its rows.
    let before = versions(&lake).await;
    trigger(&u, "again", &[]);
    assert_eq!(
        versions(&lake).await,
        before,
        "a re-run without new data commits nothing"
    );

    // A copied lake knows how far each table has read: running it reprocesses nothing.
    let copy = u.dir.path().join("lake2");
    let cp = std::process::Command::new("cp")
        .args(["-r", lake.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .expect("cp");
    assert!(cp.success());
    trigger(&u, "copied", &["--lake", copy.to_str().unwrap()]);
    assert_eq!(
        versions(&copy).await,
        before,
        "a run of a copied lake commits nothing"
    );

    // New records, some for dates gold already has (late events), plus a replay of an
    // already-landed valid tweet in a new file: silver must not take it twice.
    generate(
        &u,
        &format!("file://{}", landing.display()),
        6_000,
        8,
        "2025-12-31T12:00:00Z",
    );
    let replay = raw
        .iter()
        .find(|l| tally(std::iter::once(l.as_str())).1.len() == 1)
        .expect("a valid record")
        .clone();
    std::fs::write(landing.join("replay.jsonl"), format!("{replay}\n")).expect("replay file");
    trigger(&u, "more", &[]);
    check_layers(&lake, &landing_lines(&landing)).await;
    assert_warehouse_equals_gold(&Warehouse::Sqlite(&u), &lake).await;
    let out = u.run(&[
        "test",
        "results",
        "lakehouse_bronze_to_gold",
        "more",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "every data test passes: {:?}",
        text(&out)
    );
    let results: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(results.as_array().expect("array").len() >= 20, "{results}");
    // Gold's asset event of that run names the dates it rebuilt: those of the new records.
    let out = u.run(&[
        "asset",
        "show",
        "delta://lake/gold/active_users_by_day",
        "-o",
        "json",
    ]);
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let rebuilt = events
        .iter()
        .find(|e| e["run_id"] == "more" && e["access"] == "write")
        .unwrap_or_else(|| panic!("gold written in run `more`: {events:?}"));
    let dates: Vec<String> =
        serde_json::from_str(rebuilt["partitions"].as_str().unwrap_or("[]")).expect("partitions");
    assert!(
        !dates.is_empty() && dates.iter().all(|d| d.starts_with("event_date=20")),
        "{rebuilt}"
    );

    // A duplicate tweet put into silver by hand: the next run's silver test finds it, and
    // no gold table is built from silver.
    let dags = u.dir.path().join("dags");
    std::fs::write(
        dags.join("dup.yaml"),
        format!(
            "dag_id: dup\ntasks:\n  dup:\n    type: delta_sql\n    with: {{tables: {{silver: '{0}/silver/tweets'}}, query: 'SELECT * FROM silver LIMIT 1', table: '{0}/silver/tweets', mode: append, partition_by: [event_date]}}\n",
            lake.display()
        ),
    )
    .expect("dup dag");
    let out = u.run(&[
        "--dags-folder",
        dags.to_str().unwrap(),
        "dag",
        "trigger",
        "dup",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    generate(
        &u,
        &format!("file://{}", landing.display()),
        1_000,
        9,
        "2026-01-02T00:00:00Z",
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "lakehouse_bronze_to_gold",
        "--run-id",
        "dup",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let out = u.run(&[
        "test",
        "results",
        "lakehouse_bronze_to_gold",
        "dup",
        "--status",
        "fail",
        "-o",
        "json",
    ]);
    let failed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed = failed.as_array().expect("array");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["test_name"], "unique_tweets_tweet_id");
    assert_eq!(failed[0]["failures"], 1);
    let store = u.store().await;
    for ti in store
        .task_instances("lakehouse_bronze_to_gold", "dup")
        .await
        .expect("tis")
    {
        if ti.task_id.starts_with("gold_") {
            assert_eq!(ti.state.stored(), Some("upstream_failed"), "{ti:?}");
        }
    }
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_source_by_conf_into_postgres_warehouse() {
    let broker = Broker::start();
    let mut u = Updraft::new(Backend::Postgres).await;
    let lake = u.use_shipped_dags();
    let warehouse = u.database_url.clone();
    u.env
        .push(("UPDRAFT_CONN_WAREHOUSE".into(), warehouse.clone()));
    let topic = format!("kafka://{}/tweets", broker.bootstrap);
    let files = u.dir.path().join("sent");
    // The same records go to Kafka and to a folder, to know what was sent.
    let send = |count, seed, start| {
        generate(&u, &topic, count, seed, start);
        generate(
            &u,
            &format!("file://{}", files.display()),
            count,
            seed,
            start,
        );
    };
    send(8_000, 11, "2026-02-01T00:00:00Z");
    let conf = json!({ "source": topic }).to_string();
    trigger(&u, "from-kafka", &["--conf", &conf]);
    let raw = landing_lines(&files);
    check_layers(&lake, &raw).await;
    assert_warehouse_equals_gold(&Warehouse::Postgres(&warehouse), &lake).await;

    // More events on the topic, then a re-run: the warehouse follows gold again.
    send(3_000, 12, "2026-02-02T00:00:00Z");
    trigger(&u, "more-kafka", &["--conf", &conf]);
    check_layers(&lake, &landing_lines(&files)).await;
    assert_warehouse_equals_gold(&Warehouse::Postgres(&warehouse), &lake).await;
    u.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_before_any_data_skips_the_rest() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    std::fs::create_dir_all(lake.join("landing")).expect("landing dir");
    trigger(&u, "empty", &[]);
    let out = u.run(&[
        "-o",
        "json",
        "task",
        "states",
        "lakehouse_bronze_to_gold",
        "empty",
    ]);
    let states: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json states");
    for task in &states {
        let want = if task["task_id"] == "land" {
            "success"
        } else {
            "skipped"
        };
        assert_eq!(task["state"], want, "{task}");
    }
    assert_eq!(states.len(), 17);
}
