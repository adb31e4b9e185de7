//! Alerts against real receivers on loopback: a task that fails after its retries sends
//! one message per retry and one Slack message and one email (a real SMTP server) for its
//! failure, the run's failure runs a shell command, a receiver that fails twice gets the message on the third try, one
//! that never answers is recorded as timed out without slowing the run, and the secret
//! in a connection's URL appears nowhere.

use crate::support::{Daemon, Receiver, SmtpServer, Updraft, text, wait_for};
use std::time::Duration;

on_both_backends!(
    a_failing_task_alerts_on_each_retry_and_on_failure,
    a_receiver_that_fails_twice_gets_the_message_on_the_third_try
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
