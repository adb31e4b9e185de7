//! A real HTTP receiver on loopback for alert and sensor tests: it records every request
//! it is sent (path and JSON body) and answers each path with the statuses a test scripts
//! (then 200) and the body it sets (none by default), or never answers (`/silent`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What one request brought.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: serde_json::Value,
    /// The request's headers, as text (for looking for secrets).
    pub headers: String,
}

#[derive(Default)]
struct Book {
    received: Vec<Received>,
    /// Statuses still to answer, by path.
    script: HashMap<String, Vec<u16>>,
    /// The body answered, by path.
    bodies: HashMap<String, String>,
}

/// The receiver; it stops when dropped.
pub struct Receiver {
    pub base: String,
    book: Arc<Mutex<Book>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts listening on a free loopback port.
    pub async fn start() -> Receiver {
        let book = Arc::new(Mutex::new(Book::default()));
        let app = Router::new()
            .route("/{*path}", axum::routing::post(record).get(record))
            .with_state(book.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, book, task }
    }

    /// Answers the next requests to `path` with `statuses`, in order.
    pub fn script(&self, path: &str, statuses: &[u16]) {
        let mut book = self.book.lock().expect("book");
        book.script.insert(path.to_string(), statuses.to_vec());
    }

    /// Answers the next requests to `path` with `body` (JSON).
    pub fn answer_with(&self, path: &str, body: serde_json::Value) {
        let mut book = self.book.lock().expect("book");
        book.bodies.insert(path.to_string(), body.to_string());
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.book.lock().expect("book").received.clone()
    }

    /// What was received at `path`.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(book): State<Arc<Mutex<Book>>>,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let path = format!("/{path}");
    let (status, answer) = {
        let mut book = book.lock().expect("book");
        book.received.push(Received {
            path: path.clone(),
            body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            headers: format!("{headers:?}"),
        });
        let status = match book.script.get_mut(&path) {
            Some(list) if !list.is_empty() => list.remove(0),
            _ => 200,
        };
        (status, book.bodies.get(&path).cloned().unwrap_or_default())
    };
    if path == "/silent" {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        answer,
    )
}
