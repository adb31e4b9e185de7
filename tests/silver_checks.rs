//! `parse_json`'s row checks: a row for which a check's SQL is false goes to the
//! quarantine with the check's name as its reason, the first broken check winning; every
//! source record is in silver or in the quarantine, once.

use crate::support::{Backend, Updraft, generate_tweets, query_delta, text};
use serde_json::Value;
use std::collections::BTreeMap;

const DAG: &str = r#"
dag_id: checks
tasks:
  land:
    type: land
    with: { source: "file://{{ lake }}/landing", table: "{{ lake }}/bronze" }
  silver:
    type: parse_json
    depends_on: [land]
    with:
      source: "{{ lake }}/bronze"
      table: "{{ lake }}/silver"
      quarantine: "{{ lake }}/quarantine"
      columns:
        - {name: tweet_id, type: string}
        - {name: followers_count, path: user.followers_count, type: long}
        - {name: sentiment_score, type: double}
      carry: [file, line]
      checks:
        - {name: sentiment_in_range, sql: "sentiment_score BETWEEN -0.5 AND 0.5"}
        - {name: has_followers, sql: "followers_count > 100 AND file LIKE '%.jsonl'"}
"#;

/// The first check a landing line breaks, decided without Updraft: `None` for a record
/// that passes, `Some(None)` for one the schema already rejects.
fn expected(line: &str) -> Option<Option<&'static str>> {
    let Ok(record) = serde_json::from_str::<Value>(line) else {
        return Some(None);
    };
    let fits = record["tweet_id"].is_string()
        && record["user"]["followers_count"].is_i64()
        && record["sentiment_score"].is_number();
    if !fits {
        return Some(None);
    }
    let s = record["sentiment_score"].as_f64().unwrap();
    let f = record["user"]["followers_count"].as_i64().unwrap();
    if !(-0.5..=0.5).contains(&s) {
        Some(Some("sentiment_in_range"))
    } else if f <= 100 {
        Some(Some("has_followers"))
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_breaking_a_check_are_quarantined_under_its_name() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    u.write_dag("checks.yaml", DAG);
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let landing = lake.join("landing");
    let to = format!("file://{}", landing.display());
    generate_tweets(
        &u,
        4_000,
        &to,
        31,
        &["--bad-ratio", "0.03", "--users", "300"],
    );
    let out = u.run(&["dag", "trigger", "checks", "--run-id", "c1"]);
    assert!(out.status.success(), "{:?}", text(&out));

    let mut want: BTreeMap<&str, usize> = BTreeMap::new();
    let mut passing = 0;
    for entry in std::fs::read_dir(&landing).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            match expected(line) {
                None => passing += 1,
                Some(Some(check)) => *want.entry(check).or_default() += 1,
                Some(None) => {}
            }
        }
    }
    assert!(
        want["sentiment_in_range"] > 100 && want["has_followers"] > 10,
        "{want:?}"
    );
    let got = query_delta(
        &[("q", &lake.join("quarantine"))],
        "SELECT reason, count(*) AS n FROM q WHERE reason_code = 'check' GROUP BY reason",
    )
    .await;
    let got: BTreeMap<String, usize> = got
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let want: BTreeMap<String, usize> = want.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    assert_eq!(got, want);
    let silver = query_delta(
        &[("s", &lake.join("silver"))],
        "SELECT count(*) AS n, min(sentiment_score) AS lo, max(sentiment_score) AS hi, \
         min(followers_count) AS f FROM s",
    )
    .await;
    assert_eq!(silver[0]["n"].as_u64(), Some(passing as u64));
    assert!(silver[0]["lo"].as_f64().unwrap() >= -0.5 && silver[0]["hi"].as_f64().unwrap() <= 0.5);
    assert!(silver[0]["f"].as_i64().unwrap() > 100);

    // A check that names no column fails validation with the check's name.
    u.write_dag(
        "checks.yaml",
        &DAG.replace("followers_count > 100", "followers > 100"),
    );
    let out = u.run(&["dag", "trigger", "checks", "--run-id", "c2"]);
    assert!(!out.status.success());
    let states = u.run(&["-o", "json", "task", "states", "checks", "c2"]);
    let states = String::from_utf8_lossy(&states.stdout).to_string();
    assert!(states.contains("check `has_followers`"), "{states}");
    u.cleanup().await;
}

const BOOKS_DAG: &str = r#"
dag_id: books_silver
tasks:
  land:
    type: land
    with: { source: "file://{{ lake }}/landing", table: "{{ lake }}/bronze" }
  silver:
    type: parse_json
    depends_on: [land]
    with:
      source: "{{ lake }}/bronze"
      table: "{{ lake }}/silver"
      quarantine: "{{ lake }}/quarantine"
      text_values: true
      columns:
        - {name: name, path: Name, type: string}
        - {name: author, path: Author, type: string}
        - {name: user_rating, path: User Rating, type: double}
        - {name: reviews, path: Reviews, type: long}
        - {name: price, path: Price, type: double}
        - {name: year, path: Year, type: int}
        - {name: genre, path: Genre, type: string}
      carry: [file, line]
      checks:
        - {name: rating_in_range, sql: "user_rating BETWEEN 0 AND 5"}
        - {name: recent, sql: "year >= 2010"}
"#;

/// CSV rows (all text) become typed silver rows: empty ratings are missing, prices
/// written as text are the wrong type, a check takes the rest it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_text_is_typed_and_checked() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    u.write_dag("books.yaml", BOOKS_DAG);
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let landing = lake.join("landing");
    let to = format!("file://{}", landing.display());
    let args = [
        "generate",
        "books",
        "--count",
        "3000",
        "--seed",
        "9",
        "--bad-ratio",
        "0.3",
        "--to",
        &to,
    ];
    let out = u.run(&args);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["dag", "trigger", "books_silver", "--run-id", "b1"]);
    assert!(out.status.success(), "{:?}", text(&out));

    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    let (mut valid, mut rating_sum) = (0, 0.0);
    let file = std::fs::read_dir(&landing)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for row in csv::Reader::from_path(file).unwrap().records() {
        let row = row.unwrap();
        let reason = if row[2].trim().is_empty() {
            "missing_field"
        } else if row[4].trim().parse::<f64>().is_err() {
            "wrong_type"
        } else if row[5].trim().parse::<i32>().unwrap() < 2010 {
            "recent"
        } else {
            valid += 1;
            rating_sum += row[2].trim().parse::<f64>().unwrap();
            continue;
        };
        *want.entry(reason.to_string()).or_default() += 1;
    }
    assert_eq!(
        want.len(),
        3,
        "each way to be quarantined is in the sample: {want:?}"
    );
    let got = query_delta(
        &[("q", &lake.join("quarantine"))],
        "SELECT CASE WHEN reason_code = 'check' THEN reason ELSE reason_code END AS r, \
         count(*) AS n FROM q GROUP BY 1",
    )
    .await;
    let got: BTreeMap<String, usize> = got
        .iter()
        .map(|r| {
            (
                r["r"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, want);
    let silver = query_delta(
        &[("s", &lake.join("silver"))],
        "SELECT count(*) AS n, sum(user_rating) AS ratings FROM s",
    )
    .await;
    assert_eq!(silver[0]["n"].as_u64(), Some(valid as u64));
    let ratings = silver[0]["ratings"].as_f64().unwrap();
    assert!(
        (ratings - rating_sum).abs() < 1e-6,
        "{ratings} vs {rating_sum}"
    );
    u.cleanup().await;
}
