//! The user-events lambda of seed 004 on the embedded defaults: the speed layer's
//! per-minute aggregates equal an independent count over the generated events, also after
//! late events arrive for minutes already aggregated (recomputed, never counted twice);
//! the nightly batch's KPIs equal an independent computation; and for a finished day the
//! two layers agree.

use crate::support::{Backend, Updraft, text};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One good event, as the test reads it from the landing files.
struct Event {
    user: String,
    kind: String,
    source: String,
    page: String,
    amount: f64,
    at: DateTime<Utc>,
}

/// Every good event of the landing folder (bad ones: broken JSON, no user, no time).
fn events(landing: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(landing).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let (Some(user), Ok(at)) = (
                v["user_id"].as_str(),
                DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap_or_default()),
            ) else {
                continue;
            };
            out.push(Event {
                user: user.to_string(),
                kind: v["event_type"].as_str().unwrap().to_string(),
                source: v["source"].as_str().unwrap().to_string(),
                page: v["page"].as_str().unwrap().to_string(),
                amount: v["amount"].as_f64().unwrap_or(0.0),
                at: at.with_timezone(&Utc),
            });
        }
    }
    out
}

fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp() - at.timestamp().rem_euclid(60)
}

/// A warehouse time (ISO text on SQLite) as Unix seconds.
fn seconds(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn warehouse(u: &Updraft) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", u.home().join("warehouse.db").display());
    <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap()
}

/// `realtime.*` against a count of `events`.
async fn assert_realtime(wh: &mut sqlx::SqliteConnection, events: &[Event]) {
    let mut want: BTreeMap<(i64, String, String), (i64, BTreeSet<&str>)> = BTreeMap::new();
    let mut logins: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut revenue: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for e in events {
        let m = minute(e.at);
        let entry = want
            .entry((m, e.kind.clone(), e.source.clone()))
            .or_default();
        entry.0 += 1;
        entry.1.insert(&e.user);
        if e.kind == "login" {
            *logins.entry((m, e.source.clone())).or_default() += 1;
        }
        if e.kind == "purchase" {
            let r = revenue.entry(m).or_default();
            r.0 += 1;
            r.1 += e.amount;
        }
    }
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT minute, event_type, source, events, users FROM realtime_events_per_minute",
    )
    .fetch_all(&mut *wh)
    .await
    .unwrap();
    let got: BTreeMap<(i64, String, String), (i64, i64)> = rows
        .into_iter()
        .map(|(m, t, s, n, u)| ((seconds(&m), t, s), (n, u)))
        .collect();
    let want_counts: BTreeMap<(i64, String, String), (i64, i64)> = want
        .into_iter()
        .map(|(k, (n, users))| (k, (n, users.len() as i64)))
        .collect();
    assert_eq!(
        got.len(),
        want_counts.len(),
        "one row per minute, type and source"
    );
    assert!(
        got == want_counts,
        "events and users per minute, type and source"
    );

    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT minute, source, logins FROM realtime_logins_per_minute")
            .fetch_all(&mut *wh)
            .await
            .unwrap();
    let got: BTreeMap<(i64, String), i64> = rows
        .into_iter()
        .map(|(m, s, n)| ((seconds(&m), s), n))
        .collect();
    assert_eq!(got, logins, "logins per minute and source");

    let rows: Vec<(String, i64, f64)> =
        sqlx::query_as("SELECT minute, purchases, revenue FROM realtime_revenue_per_minute")
            .fetch_all(&mut *wh)
            .await
            .unwrap();
    assert_eq!(rows.len(), revenue.len());
    for (m, purchases, amount) in rows {
        let (n, sum) = revenue[&seconds(&m)];
        assert_eq!(purchases, n, "purchases at {m}");
        assert!(
            (amount - sum).abs() < 1e-6,
            "revenue at {m}: {amount} vs {sum}"
        );
    }
}

fn generate(u: &Updraft, count: &str, seed: &str, start: &str, hours: &str) {
    let out = u.run(&[
        "generate",
        "user-events",
        "--count",
        count,
        "--seed",
        seed,
        "--start",
        start,
        "--hours",
        hours,
        "--bad-ratio",
        "0.02",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
}

fn trigger(u: &Updraft, args: &[&str]) {
    let mut all = vec!["dag", "trigger"];
    all.extend_from_slice(args);
    let out = u.run(&all);
    assert!(out.status.success(), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_layer_counts_late_events_once_and_agrees_with_the_batch() {
    let mut u = Updraft::new(Backend::Sqlite).await;
    let lake = u.use_shipped_dags();
    let landing = lake.join("landing/user_events");
    // Without --to, where the DAGs look: the first day, then late events for minutes the
    // speed layer has already aggregated.
    generate(&u, "20000", "31", "2026-01-01T00:00:00Z", "3");
    trigger(&u, &["user_events_realtime", "--run-id", "r1"]);
    let mut wh = warehouse(&u).await;
    assert_realtime(&mut wh, &events(&landing)).await;

    generate(&u, "3000", "32", "2026-01-01T01:10:00Z", "1");
    trigger(&u, &["user_events_realtime", "--run-id", "r2"]);
    trigger(&u, &["user_events_realtime", "--run-id", "r3"]);
    let day1 = events(&landing);
    assert_realtime(&mut wh, &day1).await;

    // The next day, with new users among the old.
    generate(&u, "10000", "33", "2026-01-02T00:00:00Z", "2");
    trigger(&u, &["user_events_realtime", "--run-id", "r4"]);
    let all = events(&landing);
    assert_realtime(&mut wh, &all).await;
    // Every other line is in the quarantine, once.
    let lines: usize = std::fs::read_dir(&landing)
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 33_000);
    let quarantined = crate::support::query_delta(
        &[("q", &lake.join("silver/user_events_quarantine"))],
        "SELECT count(*) AS n FROM q",
    )
    .await;
    assert_eq!(
        quarantined[0]["n"].as_u64(),
        Some((lines - all.len()) as u64)
    );
    assert!(lines - all.len() > 400, "about 2 % planted");

    for day in ["2026-01-01", "2026-01-02"] {
        trigger(
            &u,
            &[
                "user_events_bronze_to_gold",
                "--logical-date",
                day,
                "--run-id",
                day,
            ],
        );
    }
    for day in ["2026-01-01", "2026-01-02"] {
        let date: NaiveDate = day.parse().unwrap();
        let today: Vec<&Event> = all.iter().filter(|e| e.at.date_naive() == date).collect();
        let earlier: BTreeSet<&str> = all
            .iter()
            .filter(|e| e.at.date_naive() < date)
            .map(|e| e.user.as_str())
            .collect();
        let active: BTreeSet<&str> = today.iter().map(|e| e.user.as_str()).collect();
        let new = active.iter().filter(|u| !earlier.contains(*u)).count() as i64;
        let (got_active, got_new): (i64, i64) = sqlx::query_as(
            "SELECT active_users, new_users FROM gold_daily_active_users WHERE event_date = ?1",
        )
        .bind(day)
        .fetch_one(&mut wh)
        .await
        .unwrap();
        assert_eq!((got_active, got_new), (active.len() as i64, new), "{day}");
        assert!(
            day == "2026-01-01" || (0 < new && new < got_active),
            "{day}: {new}"
        );

        for source in ["mobile", "web"] {
            let visitors: BTreeSet<&str> = today
                .iter()
                .filter(|e| e.source == source)
                .map(|e| e.user.as_str())
                .collect();
            let buyers: BTreeSet<&str> = today
                .iter()
                .filter(|e| e.source == source && e.kind == "purchase")
                .map(|e| e.user.as_str())
                .collect();
            let (v, p, rate): (i64, i64, f64) = sqlx::query_as(
                "SELECT visitors, purchasers, conversion_rate FROM gold_conversion_rate
                 WHERE event_date = ?1 AND source = ?2",
            )
            .bind(day)
            .bind(source)
            .fetch_one(&mut wh)
            .await
            .unwrap();
            assert_eq!((v, p), (visitors.len() as i64, buyers.len() as i64));
            assert!((rate - p as f64 / v as f64).abs() < 1e-12);
        }

        let mut pages: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
        for e in today.iter().filter(|e| e.kind == "purchase") {
            let entry = pages.entry(e.page.as_str()).or_default();
            entry.0 += 1;
            entry.1 += e.amount;
        }
        let rows: Vec<(String, i64, f64)> = sqlx::query_as(
            "SELECT page, purchases, revenue FROM gold_top_pages_by_purchases WHERE event_date = ?1",
        )
        .bind(day)
        .fetch_all(&mut wh)
        .await
        .unwrap();
        assert_eq!(rows.len(), pages.len(), "{day}");
        for (page, n, revenue) in rows {
            let (want_n, want_revenue) = pages[page.as_str()];
            assert_eq!(n, want_n, "{page}");
            assert!((revenue - want_revenue).abs() < 1e-6, "{page}");
        }

        // The two layers agree on the finished day.
        let disagree: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT g.source, g.event_type, g.events, coalesce(r.events, 0)
             FROM gold_events_by_source g
             LEFT JOIN (SELECT source, event_type, sum(events) AS events
                        FROM realtime_events_per_minute WHERE event_date = ?1
                        GROUP BY source, event_type) r
               ON r.source = g.source AND r.event_type = g.event_type
             WHERE g.event_date = ?1 AND g.events <> coalesce(r.events, 0)",
        )
        .bind(day)
        .fetch_all(&mut wh)
        .await
        .unwrap();
        assert!(disagree.is_empty(), "{day}: {disagree:?}");
        let (batch, speed): (f64, f64) = sqlx::query_as(
            "SELECT (SELECT sum(revenue) FROM gold_top_pages_by_purchases WHERE event_date = ?1),
                    (SELECT sum(revenue) FROM realtime_revenue_per_minute WHERE event_date = ?1)",
        )
        .bind(day)
        .fetch_one(&mut wh)
        .await
        .unwrap();
        assert!((batch - speed).abs() < 1e-6, "{day}: {batch} vs {speed}");
        let kinds: i64 =
            sqlx::query_scalar("SELECT count(*) FROM gold_events_by_source WHERE event_date = ?1")
                .bind(day)
                .fetch_one(&mut wh)
                .await
                .unwrap();
        assert_eq!(kinds, 10, "{day}: five types from two sources");
    }
    u.cleanup().await;
}

/// What the warehouse's speed layer holds: all events, and seconds since the newest.
async fn realtime_now(db: &mut sqlx::PgConnection) -> Option<(i64, f64)> {
    sqlx::query_as(
        "SELECT sum(events)::int8, extract(epoch FROM now() - max(last_event_at))::float8
         FROM realtime.events_per_minute",
    )
    .fetch_one(db)
    .await
    .ok()
    .filter(|(n, _): &(Option<i64>, Option<f64>)| n.is_some())
    .map(|(n, lag)| (n.unwrap_or(0), lag.unwrap_or(f64::MAX)))
}

/// A live stream into Kafka with `updraft scheduler` running the speed layer every 30 s:
/// the warehouse is never a minute behind the newest event, and once the producer stops
/// it holds every event, by type as the generator made them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_the_warehouse_within_a_minute() {
    use sqlx::Connection;
    let broker = crate::support::Broker::start();
    let mut u = Updraft::new(Backend::Postgres).await;
    let lake = u.dir.path().join("lake");
    let topic = format!("kafka://{}/user-events", broker.bootstrap);
    for (k, v) in [
        ("UPDRAFT_LAKE", lake.display().to_string()),
        ("UPDRAFT_CONN_WAREHOUSE", u.database_url.clone()),
        ("USER_EVENTS_SOURCE", topic.clone()),
    ] {
        u.env.push((k.into(), v));
    }
    // Only the speed layer is scheduled here.
    let dag = std::fs::read_to_string(crate::support::repo_path("dags/user_events_realtime.yaml"))
        .unwrap();
    u.write_dag("user_events_realtime.yaml", &dag);
    crate::support::copy_tree(&crate::support::repo_path("sql"), &u.dir.path().join("sql"));

    let (rate, count) = (300u64, 12_000u64);
    let mut producer = u
        .command(&[
            "generate",
            "user-events",
            "--rate",
            &rate.to_string(),
            "--count",
            &count.to_string(),
            "--seed",
            "41",
            "--to",
            &topic,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = std::fs::File::create(u.dir.path().join("scheduler.log")).unwrap();
    let mut scheduler = u
        .command(&["scheduler"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut db = sqlx::PgConnection::connect(&u.database_url).await.unwrap();
    let started = std::time::Instant::now();
    let mut worst_lag: f64 = 0.0;
    let mut first_seen = None;
    while producer.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed().as_secs() < 120,
            "the producer did not finish"
        );
        if let Some((_, lag)) = realtime_now(&mut db).await {
            first_seen.get_or_insert(started.elapsed());
            worst_lag = worst_lag.max(lag);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(producer.wait().unwrap().success());
    let first_seen = first_seen.expect("the speed layer loaded nothing while events came");
    assert!(first_seen.as_secs() < 60, "first rows after {first_seen:?}");
    let scheduler_log = || std::fs::read_to_string(u.dir.path().join("scheduler.log")).unwrap();
    assert!(
        worst_lag < 60.0,
        "{worst_lag} s behind; {}",
        scheduler_log()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while realtime_now(&mut db).await.map(|(n, _)| n) != Some(count as i64) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            realtime_now(&mut db).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let pid = nix::unistd::Pid::from_raw(scheduler.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(scheduler.wait().unwrap().success());

    // The same seed makes the same events; only their times were live.
    let mut generator = updraft_generate::user_events::UserEventGenerator::new(
        updraft_generate::user_events::UserEventOptions {
            seed: 41,
            count,
            start: Utc::now(),
            span: chrono::Duration::hours(1),
            live: false,
            users: 1_000,
            events_per_new_user: 50,
            bad_ratio: 0.0,
        },
    )
    .unwrap();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for _ in 0..count {
        use updraft_generate::RecordSource;
        let v: Value = serde_json::from_str(&generator.next_record().1).unwrap();
        *want
            .entry(v["event_type"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let got: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, sum(events)::int8 FROM realtime.events_per_minute GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(got.into_iter().collect::<BTreeMap<_, _>>(), want);
    println!("live: first rows after {first_seen:?}, at most {worst_lag:.1} s behind");
    u.cleanup().await;
}
