//! Silver's "the first row of a key wins": the survivor of every duplicate key is its
//! earliest landed copy — by source version, then file and line, or Kafka partition and
//! offset — whatever order a scan returns rows in, and two fresh runs on the same input
//! give identical silver tables.

use crate::support::{Backend, Broker, Updraft, generate_tweets, query_delta, text};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lands the `source` param into bronze (commits of 10,000 records, each more than
/// DataFusion's batch size) and parses it into silver, deduplicated on `tweet_id`.
const DAG: &str = r#"
dag_id: first_row
params: { source: "" }
tasks:
  land:
    type: land
    with: { source: "{{ params.source }}", table: "{{ lake }}/bronze", batch_size: 10000 }
  silver:
    type: parse_json
    depends_on: [land]
    with:
      source: "{{ lake }}/bronze"
      table: "{{ lake }}/silver"
      quarantine: "{{ lake }}/quarantine"
      columns:
        - {name: tweet_id, type: string}
        - {name: text, type: string}
        - {name: user_id, path: user.user_id, type: string}
      carry: [topic, partition, offset, file, line]
      dedupe_on: [tweet_id]
"#;

fn install(u: &mut Updraft) -> PathBuf {
    u.write_dag("first_row.yaml", DAG);
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    lake
}

fn trigger(u: &Updraft, run_id: &str, source: &str) {
    let conf = json!({ "source": source }).to_string();
    let out = u.run(&[
        "dag",
        "trigger",
        "first_row",
        "--run-id",
        run_id,
        "--conf",
        &conf,
    ]);
    assert!(out.status.success(), "run {run_id}: {:?}", text(&out));
}

/// Generated tweets (some malformed, some exact duplicates), as JSON lines.
fn generated(u: &Updraft, count: u64) -> Vec<String> {
    let dir = u.dir.path().join("generated");
    let to = format!("file://{}", dir.display());
    let options = ["--bad-ratio", "0.02", "--duplicate-ratio", "0.03"];
    generate_tweets(u, count, &to, 23, &options);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A copy of `line` (a valid tweet) whose text says where it was planted.
fn planted(line: &str, mark: &str) -> String {
    let mut record: Value = serde_json::from_str(line).unwrap();
    record["text"] = json!(format!("planted copy {mark}"));
    record.to_string()
}

/// The tweet id of a record that fits the DAG's schema, or `None`.
fn valid_id(line: &str) -> Option<String> {
    let record: Value = serde_json::from_str(line).ok()?;
    let fits = record["text"].is_string() && record["user"]["user_id"].is_string();
    record["tweet_id"]
        .as_str()
        .filter(|_| fits)
        .map(str::to_string)
}

/// Each valid key's first copy in reading order: (file, line) → text.
fn first_copies(files: &[(&str, &[String])]) -> BTreeMap<String, (String, i64, String)> {
    let mut first = BTreeMap::new();
    for (name, lines) in files {
        for (i, line) in lines.iter().enumerate() {
            if let Some(id) = valid_id(line) {
                let text = serde_json::from_str::<Value>(line).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string();
                first
                    .entry(id)
                    .or_insert((name.to_string(), i as i64 + 1, text));
            }
        }
    }
    first
}

fn write_file(dir: &Path, name: &str, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

async fn silver(lake: &Path) -> Vec<Value> {
    query_delta(
        &[("silver", &lake.join("silver"))],
        "SELECT * FROM silver ORDER BY tweet_id",
    )
    .await
}

fn survivors(rows: &[Value]) -> BTreeMap<String, (String, i64, String)> {
    rows.iter()
        .map(|r| {
            (
                r["tweet_id"].as_str().unwrap().to_string(),
                (
                    r["file"].as_str().unwrap().to_string(),
                    r["line"].as_i64().unwrap(),
                    r["text"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_earliest_copy_of_each_key_survives_in_files_and_runs_agree() {
    let mut first = Updraft::new(Backend::Sqlite).await;
    let lake = install(&mut first);
    let lines = generated(&first, 36_000);
    // Three files; copies with a different text planted after each key's first copy:
    // later in the same file, in a later file, and in a later commit of the same file.
    let (mut a, mut b, c) = (
        lines[..14_000].to_vec(),
        lines[14_000..26_000].to_vec(),
        lines[26_000..].to_vec(),
    );
    let keys: Vec<(String, String)> = a
        .iter()
        .filter_map(|l| valid_id(l).map(|id| (id, l.clone())))
        .step_by(997)
        .take(8)
        .collect();
    for (n, (_, line)) in keys.iter().enumerate() {
        a.insert(12_500 + n, planted(line, &format!("a{n}")));
        b.insert(100 * n, planted(line, &format!("b{n}")));
    }
    let landing = first.dir.path().join("landing");
    write_file(&landing, "a.jsonl", &a);
    write_file(&landing, "b.jsonl", &b);
    write_file(&landing, "c.jsonl", &c);
    let expected = first_copies(&[("a.jsonl", &a), ("b.jsonl", &b), ("c.jsonl", &c)]);
    let source = format!("file://{}", landing.display());
    trigger(&first, "r1", &source);

    let rows = silver(&lake).await;
    assert_eq!(rows.len(), expected.len(), "one row per valid key");
    let got = survivors(&rows);
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(id, want)| got.get(*id) != Some(want))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "later copies survived, e.g. {wrong:?}");
    for (id, _) in &keys {
        assert!(!got[id].2.starts_with("planted"), "{id}: {:?}", got[id]);
    }

    // A fresh installation on the same input writes the same silver table, row by row.
    let mut second = Updraft::new(Backend::Sqlite).await;
    let second_lake = install(&mut second);
    trigger(&second, "r1", &source);
    assert!(silver(&second_lake).await == rows, "two runs differ");

    // New lines in a later commit: copies of landed keys lose to the rows in silver, and
    // of a key new in this commit the first copy wins.
    let base = c.iter().find(|l| valid_id(l).is_some()).unwrap();
    let mut record: Value = serde_json::from_str(base).unwrap();
    record["tweet_id"] = json!("new-key");
    let mut more: Vec<String> = keys
        .iter()
        .map(|(_, l)| planted(l, "later commit"))
        .collect();
    record["text"] = json!("new first");
    more.push(record.to_string());
    record["text"] = json!("new second");
    more.push(record.to_string());
    let mut grown = a.clone();
    grown.extend(more);
    write_file(&landing, "a.jsonl", &grown);
    trigger(&first, "r2", &source);
    let after = survivors(&silver(&lake).await);
    for (id, _) in &keys {
        assert_eq!(after[id], got[id], "{id} changed in a later commit");
    }
    assert_eq!(after["new-key"].2, "new first");
    assert_eq!(after.len(), got.len() + 1);
    second.cleanup().await;
    first.cleanup().await;
}

/// Sends `(partition, record)` pairs, in order, to a new topic of three partitions.
async fn produce(bootstrap: &str, topic: &str, records: &[(i32, String)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    let _ = admin.create_topics(&[new], &AdminOptions::new()).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()
        .unwrap();
    for (partition, record) in records {
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(*partition)
                    .payload(record),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }
}

fn tweet(id: &str, text: &str) -> String {
    json!({"tweet_id": id, "text": text, "user": {"user_id": "u1"}}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_earliest_copy_survives_across_kafka_partitions_and_commits() {
    let broker = Broker::start();
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = install(&mut u);
    let source = format!("kafka://{}/dupes", broker.bootstrap);
    // Sent in this order, landed in one commit: within it, partition 0 comes first.
    let first: Vec<(i32, String)> = vec![
        (2, tweet("k1", "p2 first sent")),
        (1, tweet("k1", "p1")),
        (0, tweet("k2", "p0 o0")),
        (0, tweet("k1", "p0 last sent")),
        (2, tweet("k2", "p2")),
        (0, tweet("k2", "p0 o2")),
        (1, tweet("k3", "p1 o1")),
        (1, tweet("k3", "p1 o2")),
    ];
    produce(&broker.bootstrap, "dupes", &first).await;
    trigger(&u, "r1", &source);
    let texts = |rows: Vec<Value>| -> BTreeMap<String, (String, i64, i64)> {
        rows.iter()
            .map(|r| {
                (
                    r["tweet_id"].as_str().unwrap().to_string(),
                    (
                        r["text"].as_str().unwrap().to_string(),
                        r["partition"].as_i64().unwrap(),
                        r["offset"].as_i64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    let got = texts(silver(&lake).await);
    assert_eq!(got["k1"], ("p0 last sent".to_string(), 0, 1));
    assert_eq!(got["k2"], ("p0 o0".to_string(), 0, 0));
    assert_eq!(got["k3"], ("p1 o1".to_string(), 1, 1));

    // A later commit, on a lower partition, does not replace what silver holds.
    produce(&broker.bootstrap, "dupes", &[(0, tweet("k3", "p0 later"))]).await;
    trigger(&u, "r2", &source);
    let after = texts(silver(&lake).await);
    assert_eq!(after, got);
    u.cleanup().await;
}
