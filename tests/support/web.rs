//! `updraft webserver` (or `standalone`) started for a test on a free loopback port, and
//! a small client of its API.

use super::service::{free_port, wait_until_listening};
use super::{Contract, Updraft};
use std::process::{Child, Stdio};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A running `updraft` serving HTTP; stopped (SIGTERM) when dropped.
pub struct WebServer {
    child: Child,
    pub base: String,
}

impl WebServer {
    /// Starts `updraft <command> --bind 127.0.0.1:PORT` for `u`, with more environment
    /// variables, and waits until it listens.
    pub fn start(u: &Updraft, command: &str, env: &[(&str, &str)]) -> WebServer {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(u.dir.path().join(format!("{command}.log"))).expect("log");
        let child = u
            .command(&[command, "--bind", &bind])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start updraft");
        let server = WebServer {
            child,
            base: format!("http://{bind}"),
        };
        wait_until_listening(port, &format!("updraft {command}"));
        server
    }

    /// A client that sends `token` (none: no Authorization header).
    pub fn client(&self, token: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: token.map(str::to_string),
            contract: Arc::new(OnceCell::new()),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal)
            .expect("signal");
    }

    /// Waits up to `limit` for the server to exit: its status, or None if it still runs.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends `request` as it is (raw bytes, for headers a client library would not
    /// send) and reads the answer until the server closes or 5 s pass.
    pub fn raw(&self, request: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr()).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        // A server that refuses a large body may close before it is all sent: its
        // answer is still there to read.
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API client bound to one server and token; every JSON answer it gets from the API
/// is checked against the server's OpenAPI document.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    token: Option<String>,
    contract: Arc<OnceCell<Contract>>,
}

impl Api {
    /// The server's contract, read once.
    async fn contract(&self) -> &Contract {
        self.contract
            .get_or_init(|| async {
                let url = format!("{}/api/v2/openapi.json", self.base);
                let answer = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .expect("the OpenAPI document");
                assert_eq!(answer.status(), 200, "GET /api/v2/openapi.json");
                Contract::new(answer.json().await.expect("the OpenAPI document as JSON"))
            })
            .await
    }

    /// Fails the test unless an API answer that says it is JSON matches the document.
    async fn check(&self, method: &reqwest::Method, path: &str, response: (u16, &str, &str)) {
        let (status, content_type, text) = response;
        let api = path.starts_with("/api/") || path.starts_with("/auth/");
        if !api || !content_type.starts_with("application/json") {
            return;
        }
        let body: serde_json::Value = json(text);
        let method = method.as_str().to_ascii_lowercase();
        self.contract().await.check(&method, path, status, &body);
    }

    /// Sends `method path` with an optional raw body; the status and the body as text.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.answer(&method, path, request).await
    }

    /// Sends `request` (`method path`); its status and body, checked against the document.
    async fn answer(
        &self,
        method: &reqwest::Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> (u16, String) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = response.text().await.expect("body");
        self.check(method, path, (status, &content_type, &text))
            .await;
        (status, text)
    }

    /// `GET path` asking for `accept`; the status and the body as text.
    pub async fn get_as(&self, path: &str, accept: &str) -> (u16, String) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept", accept);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.answer(&reqwest::Method::GET, path, request).await
    }

    /// `GET path` as JSON, with its status.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, text) = self.send(reqwest::Method::GET, path, None).await;
        (status, json(&text))
    }

    /// Triggers a run `run_id` of `dag_id`; fails the test unless it is created.
    pub async fn trigger(&self, dag_id: &str, run_id: &str) -> serde_json::Value {
        let body = serde_json::json!({ "dag_run_id": run_id }).to_string();
        let path = format!("/api/v2/dags/{dag_id}/dagRuns");
        let (status, run) = self.call(reqwest::Method::POST, &path, &body).await;
        assert_eq!(status, 200, "{run}");
        run
    }

    /// Waits up to `limit` until `GET path` answers with `field` equal to `value`, and
    /// returns that answer; fails the test with the last answer otherwise.
    pub async fn wait_until(
        &self,
        path: &str,
        field: &str,
        value: &serde_json::Value,
        limit: std::time::Duration,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let (_, answer) = self.get(path).await;
            if &answer[field] == value {
                return answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: `{field}` never became {value}: {answer}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `method path` with a JSON body, answered as JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.send(method, path, Some(body)).await;
        (status, json(&text))
    }
}

/// Parses an answer, failing the test with the text when it is not JSON.
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
