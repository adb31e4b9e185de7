//! The web server under hostile input, as a careful attacker would try it against a
//! server on loopback: a page of another site that rebinds its name to 127.0.0.1 (DNS
//! rebinding), other sites' forms and frames, an open redirect after login, clients that
//! send half a request or never stop reading a log, secrets that look like `false` or a
//! year, a grid offset that overflows, a 50 MB log, thousands of triggers at once, and a
//! clear of a task that is still running.

use crate::support::{Updraft, WebServer, text};
use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const OPERATOR: &str = "operator-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// A DAG of one quick task.
fn write_hello(u: &Updraft) {
    u.write_dag(
        "hello.yaml",
        "dag_id: hello\ntasks:\n  hi: { type: shell, with: { command: 'echo hi {{ conf.password | default(\"\") }}' } }\n",
    );
}

/// The header `name` of a raw HTTP answer (lower-case name), if present.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The status code of a raw HTTP answer.
fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The body of a raw HTTP answer, as JSON.
fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// A request with `headers` (each `Name: value`), and a JSON body when given.
fn request(method: &str, path: &str, host: &str, headers: &[&str], body: Option<&str>) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    if let Some(body) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or(""));
    text.into_bytes()
}

/// An open server (no tokens) answers only to loopback names, and takes changes only from
/// its own pages or from clients that are not browsers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_reach_an_open_server() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    write_hello(&u);
    let server = WebServer::start(&u, "webserver", &[]);
    let port = server.addr().rsplit(':').next().expect("port").to_string();
    let trigger = |run: &str| format!(r#"{{"dag_run_id": "{run}"}}"#);

    // DNS rebinding: the browser sends the attacker's name as Host.
    let rebound = format!("attacker.example:{port}");
    let answer = server.raw(&request(
        "POST",
        "/api/v2/dags/hello/dagRuns",
        &rebound,
        &[],
        Some(&trigger("rebind")),
    ));
    assert_eq!(status(&answer), 421, "{answer}");
    assert_eq!(json_body(&answer)["status"], json!(421), "{answer}");
    let answer = server.raw(&request("GET", "/api/v2/dags", &rebound, &[], None));
    assert_eq!(status(&answer), 421, "a read is refused too: {answer}");
    let answer = server.raw(&request("GET", "/", &rebound, &[], None));
    assert_eq!(status(&answer), 421, "and a page: {answer}");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_string(),
    ] {
        let answer = server.raw(&request("GET", "/api/v2/dags", &host, &[], None));
        assert_eq!(status(&answer), 200, "Host {host}: {answer}");
    }

    // Changes from another site's page are refused; from this server's pages and from
    // clients without an Origin they are made.
    let own = format!("127.0.0.1:{port}");
    for (headers, expected, run) in [
        (
            vec!["Origin: http://evil.example".to_string()],
            403,
            "csrf1",
        ),
        (vec!["Origin: null".to_string()], 403, "csrf2"),
        (
            vec!["Referer: http://evil.example/page".to_string()],
            403,
            "csrf3",
        ),
        (
            vec![format!("Origin: http://127.0.0.1:{port}")],
            200,
            "same_origin",
        ),
        (
            vec![format!("Referer: http://127.0.0.1:{port}/dags/hello")],
            200,
            "same_referer",
        ),
        (vec![], 200, "no_browser"),
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let answer = server.raw(&request(
            "POST",
            "/api/v2/dags/hello/dagRuns",
            &own,
            &headers,
            Some(&trigger(run)),
        ));
        assert_eq!(status(&answer), expected, "{headers:?}: {answer}");
    }
    let api = server.client(None);
    let (_, runs) = api.get("/api/v2/dags/hello/dagRuns").await;
    let mut ids: Vec<&str> = runs["dag_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["dag_run_id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["no_browser", "same_origin", "same_referer"], "{runs}");

    // Every answer carries the headers that keep it out of other sites' frames.
    for path in ["/", "/dags/hello", "/api/v2/dags", "/api/v2/nope", "/login"] {
        let answer = server.raw(&request("GET", path, &own, &[], None));
        assert_eq!(header(&answer, "x-frame-options"), Some("DENY"), "{path}");
        assert!(
            header(&answer, "content-security-policy")
                .is_some_and(|v| v.contains("frame-ancestors 'none'")),
            "{path}: {answer}"
        );
        assert_eq!(
            header(&answer, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&answer, "referrer-policy"),
            Some("same-origin"),
            "{path}"
        );
    }

    // A grid offset that would overflow shows the last page; the page still works.
    let answer = server.raw(&request(
        "GET",
        "/dags/hello?offset=9223372036854775807",
        &own,
        &[],
        None,
    ));
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.contains("3 runs"), "{answer}");
    let answer = server.raw(&request("GET", "/api/v2/monitor/health", &own, &[], None));
    assert_eq!(status(&answer), 200, "the server lives on: {answer}");

    // Rejections made below the handlers have the documented shape.
    let answer = server.raw(&request("GET", "/api/v2/dags/%FF%FE", &own, &[], None));
    let body = json_body(&answer);
    assert_eq!(body["status"], json!(status(&answer)), "{answer}");
    assert!(body["detail"].is_string(), "{answer}");
    let answer = server.raw(&request("GET", "/dags/hello?offset=abc", &own, &[], None));
    assert_eq!(status(&answer), 400, "{answer}");
    assert!(
        header(&answer, "content-type").is_some_and(|v| v.starts_with("text/html")),
        "a page's error is a page: {answer}"
    );
    let big = format!("token={}", "x".repeat(300 * 1024));
    let mut login = format!(
        "POST /login HTTP/1.1\r\nHost: {own}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    login.extend_from_slice(big.as_bytes());
    let answer = server.raw(&login);
    assert_eq!(status(&answer), 413, "{}", &answer[..answer.len().min(500)]);
    assert_eq!(json_body(&answer)["status"], json!(413));

    // An open server tells who runs the scheduler (it is this machine's own).
    assert!(server.stop().success());
    u.cleanup().await;
}

/// With tokens: any host name (the tokens protect) unless `allowed_hosts` names them; the
/// login page only returns to this site, never takes a form of another site, and marks
/// its cookie `Secure` behind TLS; health tells nothing of the hosts without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_cannot_be_turned_against_a_user() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    write_hello(&u);
    let tokens = format!("operator:{OPERATOR},viewer:{VIEWER}");
    let server = WebServer::start(
        &u,
        "standalone",
        &[
            ("UPDRAFT_API_TOKENS", &tokens),
            ("UPDRAFT_ALLOWED_HOSTS", "updraft.example.com"),
        ],
    );
    let own = server.addr().to_string();
    let bearer = format!("Authorization: Bearer {VIEWER}");
    let answer = server.raw(&request(
        "GET",
        "/api/v2/dags",
        "updraft.example.com",
        &[&bearer],
        None,
    ));
    assert_eq!(status(&answer), 200, "a listed name: {answer}");
    let answer = server.raw(&request(
        "GET",
        "/api/v2/dags",
        "attacker.example",
        &[&bearer],
        None,
    ));
    assert_eq!(status(&answer), 421, "an unlisted name: {answer}");

    // The redirect after logging in stays on this site, whatever `next` says.
    let form = |next: &str| {
        let body = format!("token={VIEWER}&next={next}");
        format!(
            "POST /login HTTP/1.1\r\nHost: {own}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    for next in [
        "/%09/evil.example/",
        "//evil.example/",
        "/%5Cevil.example",
        "https://evil.example/",
        "/dags%0D%0ASet-Cookie:%20x=1",
    ] {
        let answer = server.raw(form(next).as_bytes());
        assert_eq!(status(&answer), 303, "{next}: {answer}");
        assert_eq!(header(&answer, "location"), Some("/"), "{next}: {answer}");
    }
    let answer = server.raw(form("/dags/hello").as_bytes());
    assert_eq!(header(&answer, "location"), Some("/dags/hello"), "{answer}");
    let cookie = header(&answer, "set-cookie").expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    // Behind a proxy that ends TLS the cookie is only sent over TLS.
    let proxied = form("/").replace(
        "Connection: close\r\n",
        "Connection: close\r\nX-Forwarded-Proto: https\r\n",
    );
    let answer = server.raw(proxied.as_bytes());
    assert!(
        header(&answer, "set-cookie").is_some_and(|c| c.contains("; Secure")),
        "{answer}"
    );

    // Another site's form can neither log a user in with the attacker's token nor log
    // them out.
    let csrf = form("/").replace(
        "Connection: close\r\n",
        "Connection: close\r\nOrigin: http://evil.example\r\n",
    );
    let answer = server.raw(csrf.as_bytes());
    assert_eq!(status(&answer), 403, "{answer}");
    assert_eq!(header(&answer, "set-cookie"), None, "{answer}");
    let answer = server.raw(&request(
        "POST",
        "/logout",
        &own,
        &["Origin: http://evil.example"],
        None,
    ));
    assert_eq!(status(&answer), 403, "{answer}");

    // Health: the status for anyone, the schedulers' hosts and processes for token holders.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (_, open) = loop {
        let seen = server.client(None).get("/api/v2/monitor/health").await;
        if seen.1["scheduler"]["status"] == json!("healthy") {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "no healthy scheduler: {}",
            seen.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alive = &open["schedulers"][0];
    assert!(alive["heartbeat_age_seconds"].is_number(), "{open}");
    for hidden in ["hostname", "pid", "job_id"] {
        assert!(alive.get(hidden).is_none(), "`{hidden}` shown: {open}");
    }
    let (_, known) = server
        .client(Some(VIEWER))
        .get("/api/v2/monitor/health")
        .await;
    assert!(known["schedulers"][0]["pid"].is_number(), "{known}");
    assert!(server.stop().success());
    u.cleanup().await;
}

/// Secrets that look like settings (`false`, a year) are not masked, so answers stay
/// valid JSON and pages valid HTML; a real one is masked in strings only; a conf's
/// password is hidden from viewers and masked in the task's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_break_answers() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    write_hello(&u);
    let env = [
        ("USE_SECRET_STORE", "false"),
        ("DB_PASSWORD", "2026"),
        ("SERVICE_TOKEN", "s3cret-service-value"),
    ];
    let mut cmd = u.command(&[
        "dag",
        "trigger",
        "hello",
        "--run-id",
        "s3cret-service-value-run",
        "--conf",
        r#"{"password": "conf-pass-98765", "note": "uses s3cret-service-value", "on": false}"#,
    ]);
    cmd.envs(env);
    let out = cmd.output().expect("trigger");
    assert!(out.status.success(), "{:?}", text(&out));
    let server = WebServer::start(&u, "webserver", &env);
    let api = server.client(None);
    let (status, dags) = api.get("/api/v2/dags").await;
    assert_eq!(status, 200, "{dags}");
    assert_eq!(dags["dags"][0]["is_paused"], json!(false), "{dags}");
    let (_, runs) = api.get("/api/v2/dags/hello/dagRuns").await;
    let run = &runs["dag_runs"][0];
    assert!(
        run["logical_date"]
            .as_str()
            .is_some_and(|d| d.starts_with("20")),
        "{run}"
    );
    assert_eq!(run["dag_run_id"], json!("***-run"), "{run}");
    assert_eq!(
        run["conf"],
        json!({"password": "***", "note": "uses ***", "on": false}),
        "{run}"
    );
    let page = api
        .http
        .get(format!("{}/dags/hello/runs/***-run", server.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 404, "the id is masked in pages, not altered");
    let run_page = api
        .http
        .get(format!(
            "{}/dags/hello/runs/s3cret-service-value-run",
            server.base
        ))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        run_page.contains("<link rel=\"stylesheet\"")
            && run_page.contains("&quot;password&quot;: &quot;***&quot;"),
        "{run_page}"
    );
    assert!(
        !run_page.contains("conf-pass-98765") && !run_page.contains("s3cret-service-value"),
        "{run_page}"
    );
    let (_, log) = api
        .send(
            Method::GET,
            "/api/v2/dags/hello/dagRuns/s3cret-service-value-run/taskInstances/hi/logs/1",
            None,
        )
        .await;
    assert!(log.contains("hi ***"), "{log}");
    assert!(!log.contains("conf-pass-98765"), "{log}");

    // The CLI's JSON too.
    let mut cmd = u.command(&["dag", "runs", "hello", "-o", "json"]);
    cmd.envs(env);
    let out = cmd.output().expect("dag runs");
    let runs: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(&out)));
    assert_eq!(runs[0]["conf"]["password"], json!("***"), "{runs}");
    assert_eq!(runs[0]["conf"]["on"], json!(false), "{runs}");
    assert!(server.stop().success());
    u.cleanup().await;
}

/// Half-sent requests are closed after the header deadline; SIGTERM ends the server
/// within seconds although clients hold half-sent requests and a followed log; a second
/// signal ends it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_can_hold_the_server() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag(
        "slow.yaml",
        "dag_id: slow\ntasks:\n  wait: { type: shell, with: { command: 'echo started; sleep 60' } }\n",
    );
    let mut server = WebServer::start(&u, "standalone", &[]);
    let api = server.client(None);

    // A client that never finishes its headers is cut off after the deadline (10 s).
    let half = |server: &WebServer| {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(server.addr()).expect("connect");
        s.write_all(b"GET /api/v2/dags HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .expect("send");
        s
    };
    let started = Instant::now();
    let mut first = half(&server);
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let read = std::io::Read::read(&mut first, &mut buf);
    let waited = started.elapsed();
    assert!(
        !read
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "still open after {waited:?}"
    );
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );

    // A hundred of them do not keep others out.
    let held: Vec<_> = (0..100).map(|_| half(&server)).collect();
    let (status, _) = api.get("/api/v2/monitor/health").await;
    assert_eq!(status, 200);

    // A followed log of a long task, and SIGTERM: the server is gone within seconds.
    api.trigger("slow", "long").await;
    api.wait_until(
        "/api/v2/dags/slow/dagRuns/long/taskInstances/wait",
        "state",
        &json!("running"),
        Duration::from_secs(30),
    )
    .await;
    let follow = api
        .http
        .get(format!(
            "{}/api/v2/dags/slow/dagRuns/long/taskInstances/wait/logs/1?follow=true",
            server.base
        ))
        .send()
        .await
        .expect("follow");
    assert_eq!(follow.status(), 200);
    let reading = tokio::spawn(async move { follow.text().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    server.signal(Signal::SIGTERM);
    let exited = server.wait_exit(Duration::from_secs(9));
    assert!(
        exited.is_some(),
        "still running {:?} after SIGTERM",
        stopping.elapsed()
    );
    let followed = reading.await.expect("join");
    assert!(
        followed.is_ok_and(|t| t.contains("started")),
        "the followed log ended with what was written"
    );
    drop(held);

    // A second signal does not wait for anything.
    let mut server = WebServer::start(&u, "standalone", &[]);
    let _held: Vec<_> = (0..10).map(|_| half(&server)).collect();
    // Answered after them, so they were taken in and hold the shutdown.
    let (status, _) = server.client(None).get("/api/v2/monitor/health").await;
    assert_eq!(status, 200);
    server.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let twice = Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(2));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "a second SIGTERM ends it at once"
    );
    assert!(twice.elapsed() < Duration::from_secs(2));
    u.cleanup().await;
}

/// A task page shows the end of a 50 MB log, not the log; the server's memory stays flat
/// while eight people open it and the whole log streams from the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_log_never_enters_memory() {
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    write_hello(&u);
    let out = u.run(&["dag", "trigger", "hello", "--run-id", "big"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let log = u
        .home()
        .join("logs/dag_id=hello/run_id=big/task_id=hi/attempt=1.log");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&log).expect("log"));
        for i in 0..500_000u32 {
            writeln!(file, "line {i:07} {}", "x".repeat(88)).expect("write");
        }
        writeln!(file, "the last line").expect("write");
    }
    let size = std::fs::metadata(&log).expect("size").len();
    assert!(size > 50_000_000, "{size}");
    let server = WebServer::start(&u, "webserver", &[]);
    let rss = || {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .expect("VmRSS")
    };
    let page_url = format!("{}/dags/hello/runs/big/tasks/hi", server.base);
    let http = reqwest::Client::new();
    let first = http
        .get(&page_url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(first.len() < 1_200_000, "a {} byte page", first.len());
    assert!(first.contains("the last line"), "the tail is shown");
    assert!(!first.contains("line 0000000"), "the head is not");
    assert!(first.contains("show all") && first.contains("download=true"));
    let before = rss();
    let pages = (0..8).map(|_| {
        let (http, url) = (http.clone(), page_url.clone());
        tokio::spawn(async move { http.get(url).send().await.expect("page").bytes().await })
    });
    for page in pages {
        let body = page.await.expect("join").expect("body");
        assert!(body.len() < 1_200_000);
    }
    let mut whole = http
        .get(format!(
            "{}/api/v2/dags/hello/dagRuns/big/taskInstances/hi/logs/1",
            server.base
        ))
        .header("accept", "text/plain")
        .send()
        .await
        .expect("log");
    let mut streamed = 0usize;
    while let Some(chunk) = whole.chunk().await.expect("chunk") {
        streamed += chunk.len();
    }
    assert_eq!(streamed as u64, size, "the whole log streams");
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 40 * 1024,
        "the server grew by {grown} kB serving a {size} byte log"
    );
    assert!(server.stop().success());
    u.cleanup().await;
}

on_both_backends!(
    clearing_a_running_task_is_refused,
    concurrent_triggers_never_clash
);

/// A clear that would reach a running task is refused with 409 (as a mark is), and
/// leaves no attempt `running` behind; once the task ended, the clear runs it again.
async fn clearing_a_running_task_is_refused(u: &Updraft) {
    u.write_dag(
        "slow.yaml",
        "dag_id: slow\ntasks:\n  wait: { type: shell, with: { command: 'sleep 3' } }\n  after: { type: noop, depends_on: [wait] }\n",
    );
    let server = WebServer::start(u, "standalone", &[]);
    let api = server.client(None);
    api.trigger("slow", "r").await;
    api.wait_until(
        "/api/v2/dags/slow/dagRuns/r/taskInstances/wait",
        "state",
        &json!("running"),
        Duration::from_secs(30),
    )
    .await;
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v2/dags/slow/dagRuns/r/clear",
            r#"{"dry_run": false}"#,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`wait`") && d.contains("is running")),
        "{body}"
    );
    let out = u.run(&["task", "clear", "slow", "r"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("is running"), "{:?}", text(&out));
    api.wait_until(
        "/api/v2/dags/slow/dagRuns/r",
        "state",
        &json!("success"),
        Duration::from_secs(30),
    )
    .await;
    let (_, tries) = api
        .get("/api/v2/dags/slow/dagRuns/r/taskInstances/wait/tries")
        .await;
    assert_eq!(tries["total_entries"], json!(1), "{tries}");
    assert_eq!(tries["task_instances"][0]["state"], json!("success"));
    assert!(tries["task_instances"][0]["end_date"].is_string());

    // Ended, it clears and runs again as try 2.
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v2/dags/slow/dagRuns/r/clear",
            r#"{"dry_run": false, "task_ids": ["wait"]}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, tries) = api
            .get("/api/v2/dags/slow/dagRuns/r/taskInstances/wait/tries")
            .await;
        let states: Vec<&Value> = tries["task_instances"]
            .as_array()
            .map(|t| t.iter().map(|t| &t["state"]).collect())
            .unwrap_or_default();
        if states == [&json!("success"), &json!("success")] {
            break;
        }
        assert!(Instant::now() < deadline, "try 2 never ended: {tries}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.stop().success());
}

/// Two servers on one history, 50 triggers at once each with distinct run ids and no
/// logical date: every one is created (no clash on a shared microsecond).
async fn concurrent_triggers_never_clash(u: &Updraft) {
    write_hello(u);
    let (a, b) = (
        WebServer::start(u, "webserver", &[]),
        WebServer::start(u, "webserver", &[]),
    );
    let mut calls = Vec::new();
    for (s, server) in [&a, &b].into_iter().enumerate() {
        for i in 0..50 {
            let api = server.client(None);
            calls.push(tokio::spawn(async move {
                api.call(
                    Method::POST,
                    "/api/v2/dags/hello/dagRuns",
                    &format!(r#"{{"dag_run_id": "s{s}_{i}"}}"#),
                )
                .await
            }));
        }
    }
    for call in calls {
        let (status, body) = call.await.expect("join");
        assert_eq!(status, 200, "{body}");
    }
    let (_, runs) = a
        .client(None)
        .get("/api/v2/dags/hello/dagRuns?limit=200")
        .await;
    assert_eq!(runs["total_entries"], json!(100), "{runs}");
    drop((a, b));
}
