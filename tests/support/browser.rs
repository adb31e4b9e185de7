//! Headless Chromium driven through its WebDriver (Debian's `chromium-driver`, started on
//! a free port): the W3C WebDriver calls the UI tests need, over reqwest.

use super::service::{free_port, wait_until_listening};
use base64::Engine;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver (and its browser) stop when dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let driver_bin =
            std::env::var("CHROMEDRIVER_BIN").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} ({e}); scripts/ensure-browser-and-prometheus.sh installs it")
            });
        wait_until_listening(port, "chromedriver");
        let http = reqwest::Client::new();
        let mut browser = Browser {
            driver,
            http,
            session: format!("http://127.0.0.1:{port}/session"),
        };
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
        }}});
        let answer = browser
            .call(reqwest::Method::POST, "", Some(capabilities))
            .await;
        let id = answer["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.session = format!("{}/{id}", browser.session);
        browser
    }

    /// The driver's whole answer to one command.
    async fn answer(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json")
    }

    /// The value of a command that must succeed.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let answer = self.answer(method.clone(), path, body).await;
        assert!(
            answer["value"]["error"].is_null(),
            "{method} {path}: {answer}"
        );
        answer["value"].clone()
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element `css` selects, waiting up to 15 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let query = json!({"using": "css selector", "value": css});
            let answer = self
                .answer(reqwest::Method::POST, "/element", Some(query))
                .await;
            if let Some(id) = answer["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no `{css}` on the page:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `body` to `action` of element `id` (click, clear, value).
    async fn act(&self, id: &str, action: &str, body: Value) {
        let path = format!("/element/{id}/{action}");
        self.call(reqwest::Method::POST, &path, Some(body)).await;
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.act(&id, "click", json!({})).await;
    }

    /// Replaces the text of the field `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.act(&id, "clear", json!({})).await;
        self.act(&id, "value", json!({ "text": text })).await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to `limit`) until the text of `css` contains `words`, reloading the page
    /// between looks when `reload`.
    pub async fn wait_for_text(&self, css: &str, words: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text(css).await;
            if text.contains(words) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{words}` never appeared in `{css}`: {text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The value `script` (a function body, `return ...`) gives on the page.
    pub async fn execute(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// The page's HTML now.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's address now.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot");
    }
}

impl Browser {
    /// Ends the session, which closes Chromium.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
