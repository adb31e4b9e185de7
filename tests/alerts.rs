//! Alerts against real receivers on loopback: a task that fails after its retries sends
//! one message per retry and one Slack message and one email (a real SMTP server) for its
//! failure, the run's failure runs a shell command, a receiver that fails twice gets the message on the third try, one
//! that never answers is recorded as timed out without slowing the run, and the secret
//! in a connection's URL appears nowhere.

use crate::support::{Daemon, Receiver, SmtpServer, Updraft, WebServer, text, wait_for};
use std::time::Duration;

on_both_backends!(
    a_failing_task_alerts_on_each_retry_and_on_failure,
    a_receiver_that_fails_twice_gets_the_message_on_the_third_try,
    a_deadline_fires_once_while_a_slow_run_goes_on_and_not_for_a_fast_one,
    a_deadline_missed_while_no_scheduler_ran_fires_once_after_a_kill_9,
    failing_data_tests_alert_with_their_counts_and_failing_rows,
    a_killed_schedulers_attempt_alerts_once_from_the_next_one
);

/// The secret planted in the Slack connection's URL.
const SECRET: &str = "s3cr3t-hook-token-0123456789";

/// The secret a webhook's header takes from the environment.
const HEADER_SECRET: &str = "h3ader-s3cr3t-9876543210";

async fn a_failing_task_alerts_on_each_retry_and_on_failure(u: &Updraft) {
    let receiver = Receiver::start().await;
    let smtp = SmtpServer::start(u.dir.path());
    let ran = u.dir.path().join("on_failure.txt");
    u.write_dag(
        "alerting.yaml",
        &format!(
            "dag_id: alerting
default_args:
  retries: 2
  retry_delay: 1s
  on_retry:
    - webhook: {{url: '{base}/retry', headers: {{Authorization: 'Bearer {{{{ env.HOOK_TOKEN }}}}'}}}}
  on_failure:
    - slack: {{conn: alerts_slack}}
    - email: {{conn: smtp, to: [data-team@example.com], subject: '{{{{ dag_id }}}} needs you'}}
on_failure:
  - shell: {{command: 'echo \"$UPDRAFT_DAG_ID $UPDRAFT_STATE\" >> {ran}'}}
tasks:
  boom: {{type: shell, with: {{command: 'echo going wrong; exit 3'}}}}
  quiet:
    type: noop
    on_failure: []
",
            base = receiver.base,
            ran = ran.display()
        ),
    );
    let slack_url = format!("{}/slack?token={SECRET}", receiver.base);
    let out = u
        .command(&["dag", "trigger", "alerting", "--run-id", "r1"])
        .env("UPDRAFT_CONN_ALERTS_SLACK", &slack_url)
        .env("HOOK_TOKEN", HEADER_SECRET)
        .env(
            "UPDRAFT_CONN_SMTP",
            format!(
                "smtp://127.0.0.1:{}?tls=none&from=updraft@example.com",
                smtp.port
            ),
        )
        .env("UPDRAFT_BASE_URL", "https://updraft.example.com")
        .output()
        .expect("trigger");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "boom fails: {stdout} {stderr}");

    // Two retries, each a webhook with the event's facts.
    let mut retries = receiver.at("/retry");
    retries.sort_by_key(|r| r.body["try_number"].as_i64());
    let tries: Vec<(&serde_json::Value, &serde_json::Value)> = retries
        .iter()
        .map(|r| (&r.body["try_number"], &r.body["event"]))
        .collect();
    assert_eq!(
        tries,
        [
            (&serde_json::json!(1), &serde_json::json!("task_retry")),
            (&serde_json::json!(2), &serde_json::json!("task_retry"))
        ],
        "{retries:?}"
    );
    assert_eq!(retries[0].body["task_id"], "boom");
    assert!(
        retries[0].body["log_tail"]
            .as_str()
            .is_some_and(|t| t.contains("going wrong")),
        "the end of the attempt's log: {:?}",
        retries[0].body
    );
    assert!(
        retries[0]
            .headers
            .contains(&format!("Bearer {HEADER_SECRET}")),
        "the header is rendered from the environment: {}",
        retries[0].headers
    );
    assert_eq!(retries[0].body["dag_id"], "alerting");
    assert!(
        retries[0].body["error"]
            .as_str()
            .is_some_and(|e| e.contains("exit")),
        "{:?}",
        retries[0].body
    );
    // One Slack message for the failure: Block Kit, with what failed and the error.
    let slack = receiver.at("/slack");
    assert_eq!(slack.len(), 1, "{slack:?}");
    let message = &slack[0].body;
    assert_eq!(message["text"], "alerting.boom failed (try 3)", "{message}");
    assert_eq!(message["blocks"][0]["type"], "header");
    assert!(
        message
            .to_string()
            .contains("https://updraft.example.com/dags/alerting/runs/r1/tasks/boom"),
        "the task's page: {message}"
    );
    let shown = message.to_string();
    assert!(
        shown.contains("`boom`") && shown.contains("exit"),
        "{shown}"
    );
    // One email, in text and HTML, with the rendered subject and the error.
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    for words in [
        "Subject: alerting needs you",
        "To: data-team@example.com",
        "From: updraft@example.com",
        "Content-Type: text/plain",
        "Content-Type: text/html",
        "command exited with code 3",
    ] {
        assert!(mail[0].contains(words), "`{words}` in {}", mail[0]);
    }
    // The run's failure ran the shell action with the facts in its environment.
    let said = std::fs::read_to_string(&ran).expect("the shell action ran");
    assert_eq!(said.trim(), "alerting failed");

    // The history: four messages, all sent, and the secret nowhere.
    let out = u.run(&["alerts", "list", "--dag", "alerting", "-o", "json"]);
    let (listed, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("json");
    let mut events: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap_or_default().to_string(),
                r["action_kind"].as_str().unwrap_or_default().to_string(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    events.sort();
    let expected: Vec<(String, String, String)> = [
        ("run_failure", "shell", "sent"),
        ("task_failure", "email", "sent"),
        ("task_failure", "slack", "sent"),
        ("task_retry", "webhook", "sent"),
        ("task_retry", "webhook", "sent"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(events, expected, "{listed}");
    assert!(
        [SECRET, HEADER_SECRET]
            .iter()
            .all(|s| !listed.contains(s) && !stdout.contains(s) && !stderr.contains(s)),
        "a secret leaked"
    );
    // `alerts test` sends a sample of each action now and says what each receiver answered.
    let out = u
        .command(&[
            "alerts", "test", "alerting", "--event", "failure", "-o", "json",
        ])
        .env("UPDRAFT_CONN_ALERTS_SLACK", &slack_url)
        .env(
            "UPDRAFT_CONN_SMTP",
            format!("smtp://127.0.0.1:{}?tls=none", smtp.port),
        )
        .output()
        .expect("alerts test");
    let (said, err) = text(&out);
    assert!(out.status.success(), "{said} {err}");
    let samples: Vec<serde_json::Value> = serde_json::from_str(&said).expect("json");
    let kinds: Vec<(&str, &str)> = samples
        .iter()
        .map(|r| {
            (
                r["action_kind"].as_str().unwrap_or_default(),
                r["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("shell", "sent"), ("slack", "sent"), ("email", "sent")],
        "{said}"
    );
    assert_eq!(receiver.at("/slack").len(), 2);
    assert_eq!(smtp.messages().len(), 2);
    let out = u.run(&["alerts", "test", "alerting", "--event", "retry"]);
    let (said, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "HOOK_TOKEN is not set: {said}");
    assert!(
        said.contains("HOOK_TOKEN") || said.contains("undefined"),
        "{said}"
    );

    // The API, the run's page and /metrics show them too, without the secrets.
    let server = WebServer::start(u, "webserver", &[]);
    let api = server.client(None);
    let (status, answer) = api.get("/api/v2/dags/alerting/dagRuns/r1/callbacks").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["total_entries"], 5, "{answer}");
    let (status, page) = api.get_as("/dags/alerting/runs/r1", "text/html").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<h2>Alerts</h2>") && page.contains("task_retry"),
        "{page}"
    );
    let (status, task_page) = api
        .get_as("/dags/alerting/runs/r1/tasks/boom", "text/html")
        .await;
    assert_eq!(status, 200, "{task_page}");
    assert!(
        task_page.contains("task_failure") && !task_page.contains("run_failure"),
        "the task's alerts only: {task_page}"
    );
    let (status, metrics) = api.get_as("/metrics", "text/plain").await;
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("updraft_callbacks_total{kind=\"webhook\",status=\"sent\"} 2"),
        "{metrics}"
    );
    for shown in [answer.to_string(), page, task_page, metrics] {
        assert!(!shown.contains(SECRET) && !shown.contains(HEADER_SECRET));
    }
    drop(server);
    // `dag validate` refuses an action without a receiver, saying where.
    u.write_dag(
        "bad.yaml",
        "dag_id: bad\non_failure:\n  - slack: {text: hi}\ntasks:\n  a: {type: noop}\n",
    );
    let out = u.run(&["dag", "validate"]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.yaml:3:") && err.contains("conn:"),
        "{err}"
    );
    u.write_dag(
        "bad.yaml",
        "dag_id: bad\non_failure:\n  - pager: {to: me}\ntasks:\n  a: {type: noop}\n",
    );
    let out = u.run(&["dag", "validate"]);
    let (_, err) = text(&out);
    assert!(
        err.contains("bad.yaml:3:5") && err.contains("unknown variant `pager`"),
        "{err}"
    );
    u.write_dag(
        "bad.yaml",
        "dag_id: bad\ndeadline:\n  reference: started_at\n  interval: 2h\n  on_miss: [{shell: {command: 'true'}}]\ntasks:\n  a: {type: noop}\n",
    );
    let out = u.run(&["dag", "validate"]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.yaml:3:14") && err.contains("queued_at, logical_date, data_interval_end"),
        "{err}"
    );
}

async fn a_receiver_that_fails_twice_gets_the_message_on_the_third_try(u: &Updraft) {
    let receiver = Receiver::start().await;
    receiver.script("/flaky", &[500, 503]);
    u.write_dag(
        "flaky.yaml",
        &format!(
            "dag_id: flaky
on_success:
  - webhook: {{url: '{base}/flaky', body: {{text: '{{{{ dag_id }}}} {{{{ state }}}}'}}}}
  - webhook: {{url: '{base}/silent', timeout: 1}}
tasks:
  ok: {{type: noop}}
",
            base = receiver.base
        ),
    );
    let scheduler = Daemon::start(u, "scheduler", &[]);
    let started = std::time::Instant::now();
    let out = u.run(&["dag", "trigger", "flaky", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    wait_for(
        "the third try",
        Duration::from_secs(60),
        &[&scheduler],
        || async { receiver.at("/flaky").len() >= 3 },
    )
    .await;
    let got = receiver.at("/flaky");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].body, serde_json::json!({"text": "flaky success"}));
    // The silent receiver's message times out on each try, without holding the run.
    let store = u.store().await;
    let run = store.run("flaky", "r1").await.expect("run").expect("r1");
    assert_eq!(run.state.as_str(), "success");
    let ended = run.ended_at.expect("ended") - run.queued_at;
    assert!(
        ended.num_seconds() < 5,
        "the run waited for its alerts: {ended}"
    );
    wait_for(
        "the silent receiver's last try",
        Duration::from_secs(60),
        &[&scheduler],
        || async {
            let out = u.run(&["alerts", "list", "--failed", "-o", "json"]);
            text(&out).0.contains("timed out")
        },
    )
    .await;
    let out = u.run(&["alerts", "list", "--dag", "flaky", "-o", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text(&out).0).expect("json");
    let states: Vec<(i64, String, i64)> = {
        let mut s: Vec<(i64, String, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r["action_index"].as_i64().unwrap_or(-1),
                    r["state"].as_str().unwrap_or_default().to_string(),
                    r["attempts"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        states,
        [(0, "sent".to_string(), 3), (1, "failed".to_string(), 3)],
        "{rows:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(scheduler);
}

/// `slow` sleeps 6 s and `fast` does nothing, both with a 2 s deadline from queued_at.
fn write_deadline_dags(u: &Updraft, receiver: &Receiver) {
    for (dag_id, task) in [
        ("slow", "{type: shell, with: {command: 'sleep 6'}}"),
        ("fast", "{type: noop}"),
    ] {
        u.write_dag(
            &format!("{dag_id}.yaml"),
            &format!(
                "dag_id: {dag_id}
deadline:
  reference: queued_at
  interval: 2s
  on_miss:
    - webhook: {{url: '{base}/late/{dag_id}'}}
tasks:
  t: {task}
",
                base = receiver.base
            ),
        );
    }
}

async fn a_deadline_fires_once_while_a_slow_run_goes_on_and_not_for_a_fast_one(u: &Updraft) {
    let receiver = Receiver::start().await;
    write_deadline_dags(u, &receiver);
    let scheduler = Daemon::start(u, "scheduler", &[]);
    for dag_id in ["slow", "fast"] {
        let out = u.run(&["dag", "trigger", dag_id, "--run-id", "r1", "--queue-only"]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let queued = std::time::Instant::now();
    wait_for(
        "the slow run's deadline",
        Duration::from_secs(30),
        &[&scheduler],
        || async { !receiver.at("/late/slow").is_empty() },
    )
    .await;
    let fired_after = queued.elapsed();
    assert!(
        fired_after >= Duration::from_millis(1500) && fired_after < Duration::from_secs(5),
        "fired {fired_after:?} after the trigger, for a 2 s deadline"
    );
    let store = u.store().await;
    let run = store.run("slow", "r1").await.expect("run").expect("r1");
    assert_eq!(
        run.state.as_str(),
        "running",
        "the alert comes while the run goes on"
    );
    let message = &receiver.at("/late/slow")[0].body;
    assert_eq!(message["event"], "deadline_miss", "{message}");
    assert_eq!(message["reference"], "queued_at", "{message}");
    wait_for(
        "the slow run's end",
        Duration::from_secs(30),
        &[&scheduler],
        || async {
            store
                .run("slow", "r1")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.state.as_str() == "success")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.at("/late/slow").len(), 1, "once");
    assert!(
        receiver.at("/late/fast").is_empty(),
        "the fast run was in time"
    );
    drop(scheduler);
}

async fn a_deadline_missed_while_no_scheduler_ran_fires_once_after_a_kill_9(u: &Updraft) {
    let receiver = Receiver::start().await;
    write_deadline_dags(u, &receiver);
    let env = [("UPDRAFT_HEARTBEAT_TIMEOUT", "2s")];
    let first = Daemon::start(u, "first", &env);
    let out = u.run(&["dag", "trigger", "slow", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    wait_for(
        "the slow task to start",
        Duration::from_secs(30),
        &[&first],
        || async {
            store
                .tries("slow", "r1", Some("t"))
                .await
                .is_ok_and(|t| !t.is_empty())
        },
    )
    .await;
    first.kill9();
    // The deadline falls due while no scheduler runs; the next one fires it, once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.at("/late/slow").is_empty());
    let second = Daemon::start(u, "second", &env);
    wait_for(
        "the missed deadline",
        Duration::from_secs(30),
        &[&second],
        || async { !receiver.at("/late/slow").is_empty() },
    )
    .await;
    wait_for(
        "the run to end",
        Duration::from_secs(60),
        &[&second],
        || async {
            store
                .run("slow", "r1")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| !r.is_active())
        },
    )
    .await;
    assert_eq!(receiver.at("/late/slow").len(), 1, "once");
    drop(second);
}

/// Two schedulers on one PostgreSQL: a deadline and a failure each reach the receiver
/// once, whichever scheduler saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_send_each_alert_once() {
    let u = Updraft::new(crate::support::Backend::Postgres).await;
    let receiver = Receiver::start().await;
    write_deadline_dags(&u, &receiver);
    u.write_dag(
        "failing.yaml",
        &format!(
            "dag_id: failing\non_failure:\n  - webhook: {{url: '{}/failed'}}\ntasks:\n  t: {{type: shell, with: {{command: 'exit 1'}}}}\n",
            receiver.base
        ),
    );
    let a = Daemon::start(&u, "a", &[]);
    let b = Daemon::start(&u, "b", &[]);
    for run_id in ["r1", "r2", "r3"] {
        for dag_id in ["slow", "failing"] {
            let out = u.run(&["dag", "trigger", dag_id, "--run-id", run_id, "--queue-only"]);
            assert!(out.status.success(), "{:?}", text(&out));
        }
    }
    wait_for(
        "every alert",
        Duration::from_secs(60),
        &[&a, &b],
        || async { receiver.at("/late/slow").len() >= 3 && receiver.at("/failed").len() >= 3 },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut late: Vec<String> = receiver
        .at("/late/slow")
        .iter()
        .map(|r| r.body["run_id"].as_str().unwrap_or_default().to_string())
        .collect();
    late.sort();
    assert_eq!(late, ["r1", "r2", "r3"]);
    let mut failed: Vec<String> = receiver
        .at("/failed")
        .iter()
        .map(|r| r.body["run_id"].as_str().unwrap_or_default().to_string())
        .collect();
    failed.sort();
    assert_eq!(failed, ["r1", "r2", "r3"]);
    drop((a, b));
    u.cleanup().await;
}

async fn failing_data_tests_alert_with_their_counts_and_failing_rows(u: &Updraft) {
    let receiver = Receiver::start().await;
    let warehouse = u.dir.path().join("wh.db");
    std::fs::write(
        u.dags().join("schema.yml"),
        "version: 2\nmodels:\n  - name: users\n    columns:\n      - name: email\n        data_tests: [not_null]\n      - name: user_id\n        data_tests: [unique]\n",
    )
    .expect("schema");
    u.write_dag(
        "quality.yaml",
        &format!(
            "dag_id: quality
default_args:
  on_test_failure:
    - slack: {{url: '{base}/quality'}}
tasks:
  load:
    type: sql
    with:
      conn: wh
      sql: |
        CREATE TABLE users (user_id INTEGER, email TEXT);
        INSERT INTO users VALUES (1, 'a@x.org'), (2, NULL), (3, NULL);
  check:
    type: data_test
    depends_on: [load]
    with: {{schema_file: schema.yml, conn: wh, store_failures: true}}
",
            base = receiver.base
        ),
    );
    let out = u
        .command(&["dag", "trigger", "quality", "--run-id", "r1"])
        .env(
            "UPDRAFT_CONN_WH",
            format!("sqlite://{}", warehouse.display()),
        )
        .output()
        .expect("trigger");
    assert!(!out.status.success(), "not_null fails: {:?}", text(&out));
    let got = receiver.at("/quality");
    assert_eq!(got.len(), 1, "{got:?}");
    let message = &got[0].body;
    assert_eq!(
        message["text"], "quality.check: 1 of 2 data tests failed",
        "{message}"
    );
    let shown = message.to_string();
    assert!(
        shown.contains("not_null_users_email") && shown.contains("2 failing rows"),
        "the failing test and its count: {shown}"
    );
    assert!(
        shown.contains("```{\\\"email\\\":null}\\n{\\\"email\\\":null}```"),
        "the failing rows it kept (as dbt selects them): {shown}"
    );
}

async fn a_killed_schedulers_attempt_alerts_once_from_the_next_one(u: &Updraft) {
    let receiver = Receiver::start().await;
    u.write_dag(
        "crashy.yaml",
        &format!(
            "dag_id: crashy
tasks:
  work:
    type: shell
    retries: 1
    retry_delay: 0s
    on_retry:
      - webhook: {{url: '{base}/retry'}}
    on_success:
      - webhook: {{url: '{base}/ok'}}
    with: {{command: 'sleep 3'}}
",
            base = receiver.base
        ),
    );
    let env = [
        ("UPDRAFT_HEARTBEAT_TIMEOUT", "2s"),
        ("UPDRAFT_OPENLINEAGE_URL", receiver.base.as_str()),
    ];
    let first = Daemon::start(u, "first", &env);
    let out = u.run(&["dag", "trigger", "crashy", "--run-id", "r1", "--queue-only"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let store = u.store().await;
    wait_for(
        "the first try",
        Duration::from_secs(30),
        &[&first],
        || async {
            store
                .tries("crashy", "r1", Some("work"))
                .await
                .is_ok_and(|t| !t.is_empty())
        },
    )
    .await;
    first.kill9();
    let second = Daemon::start(u, "second", &env);
    wait_for(
        "the retry's success",
        Duration::from_secs(60),
        &[&second],
        || async { !receiver.at("/ok").is_empty() },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let retried = receiver.at("/retry");
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0].body["try_number"], 1);
    assert!(
        retried[0].body["error"]
            .as_str()
            .is_some_and(|e| e.contains("job")),
        "why the try failed: {:?}",
        retried[0].body
    );
    assert_eq!(receiver.at("/ok").len(), 1);
    // OpenLineage: the killed try ends FAIL (sent by the second scheduler, after its
    // START), the retry START then COMPLETE (the two tries' events may interleave).
    let lineage = receiver.at("/api/v1/lineage");
    let mut runs: Vec<String> = Vec::new();
    for r in &lineage {
        let run = r.body["run"]["runId"].as_str().unwrap_or_default();
        if !runs.iter().any(|seen| seen == run) {
            runs.push(run.to_string());
        }
    }
    assert_eq!(runs.len(), 2, "one OpenLineage run per try: {lineage:?}");
    let mut ends = Vec::new();
    for run in &runs {
        let kinds: Vec<&serde_json::Value> = lineage
            .iter()
            .filter(|r| r.body["run"]["runId"] == run.as_str())
            .map(|r| &r.body["eventType"])
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert_eq!(kinds[0], "START", "a START before its end: {kinds:?}");
        ends.push(kinds[1].as_str().unwrap_or_default());
    }
    ends.sort_unstable();
    assert_eq!(
        ends,
        ["COMPLETE", "FAIL"],
        "the killed try failed, its retry completed"
    );
    let failed = lineage
        .iter()
        .find(|r| r.body["eventType"] == "FAIL")
        .map(|r| r.body["run"]["facets"]["errorMessage"]["message"].clone());
    assert!(
        failed
            .as_ref()
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.contains("job")),
        "{failed:?}"
    );
    drop(second);
}
