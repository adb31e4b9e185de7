//! `updraft webserver` (or `standalone`) started for a test on a free loopback port, and
//! a small client of its API.

use super::Updraft;
use super::service::{free_port, wait_until_listening};
use std::process::{Child, Stdio};

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
        }
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

/// An API client bound to one server and token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    token: Option<String>,
}

impl Api {
    /// Sends `method path` with an optional raw body; the status and the body as text.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// `GET path` as JSON, with its status.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, text) = self.send(reqwest::Method::GET, path, None).await;
        (status, json(&text))
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
