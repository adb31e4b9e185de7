//! The `email` action: a message in plain text and HTML sent over SMTP with `lettre`,
//! through the server a connection names: `smtps://` is TLS from the start (port 465),
//! `smtp://` requires STARTTLS (port 587) unless the connection says `?tls=opportunistic`
//! or, for a relay on the same host, `?tls=none`.

use super::send::NotSent;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use std::time::Duration;
use updraft_core::Connection;

/// What to send, rendered.
pub struct Email<'a> {
    pub to: &'a [String],
    pub from: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub body: Option<&'a str>,
}

/// Sends `email` about the event `facts` through the server of `conn`.
pub async fn send_email(
    conn: &Connection,
    email: &Email<'_>,
    facts: &Value,
    limit: Duration,
) -> Result<String, NotSent> {
    let server = url::Url::parse(conn.secret_uri())
        .map_err(|e| permanent(format!("connection {conn}: {e}")))?;
    let host = server
        .host_str()
        .ok_or_else(|| permanent(format!("connection {conn}: no host")))?
        .to_string();
    let query = |key: &str| {
        server
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let tls_parameters =
        || TlsParameters::new(host.clone()).map_err(|e| permanent(format!("TLS for {host}: {e}")));
    let (tls, default_port) = match (server.scheme(), query("tls").as_deref()) {
        ("smtps", _) => (Tls::Wrapper(tls_parameters()?), 465),
        ("smtp", None | Some("starttls")) => (Tls::Required(tls_parameters()?), 587),
        ("smtp", Some("opportunistic")) => (Tls::Opportunistic(tls_parameters()?), 587),
        ("smtp", Some("none")) => (Tls::None, 25),
        (scheme, tls) => {
            return Err(permanent(format!(
                "connection {conn}: use smtp:// or smtps:// (got {scheme}://, tls={})",
                tls.unwrap_or("")
            )));
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        .port(server.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(limit));
    if !server.username().is_empty() {
        let user = percent_decoded(server.username());
        let password = percent_decoded(server.password().unwrap_or(""));
        transport = transport.credentials(Credentials::new(user, password));
    }
    let from = email
        .from
        .map(str::to_string)
        .or_else(|| query("from"))
        .unwrap_or_else(|| format!("updraft@{}", gethostname::gethostname().to_string_lossy()));
    let message = message(email, &from, facts)?;
    let sent = tokio::time::timeout(limit, transport.build().send(message)).await;
    match sent {
        Err(_) => Err(NotSent {
            message: format!("no answer within {} s", limit.as_secs()),
            retryable: true,
            timed_out: true,
        }),
        Ok(Ok(answer)) => Ok(answer.message().collect::<Vec<_>>().join(" ")),
        Ok(Err(e)) if e.is_permanent() => Err(permanent(e.to_string())),
        Ok(Err(e)) => Err(NotSent {
            message: updraft_core::secrets::mask(&e.to_string()).into_owned(),
            retryable: true,
            timed_out: e.is_timeout(),
        }),
    }
}

/// The message: the subject and body given (rendered), or Updraft's, as plain text and
/// HTML.
fn message(email: &Email<'_>, from: &str, facts: &Value) -> Result<Message, NotSent> {
    let get = |key: &str| super::event::fact(facts, key);
    let (dag, task, state) = (get("dag_id"), get("task_id"), get("state"));
    let headline = if task.is_empty() {
        format!("[Updraft] DAG {dag}: run {} {state}", get("run_id"))
    } else {
        format!("[Updraft] {dag}.{task} {state}")
    };
    let headline = facts["summary"]
        .as_str()
        .map_or(headline, |s| format!("[Updraft] {s}"));
    let subject = email.subject.map_or(headline, str::to_string);
    let lines: Vec<(&str, String)> = [
        ("DAG", dag),
        ("Run", get("run_id")),
        ("Task", task),
        ("Try", get("try_number")),
        ("State", state),
        ("Error", get("error")),
        ("Link", get("url")),
        ("Log", get("log_tail")),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let tests: Vec<String> = facts["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(super::send::test_line)
        .collect();
    let text = match email.body {
        Some(body) => body.to_string(),
        None => lines
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .chain(tests.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let html = maud::html! {
        @if let Some(body) = email.body {
            pre { (body) }
        } @else {
            table {
                @for (k, v) in &lines {
                    tr { th align="left" { (k) } td { @if *k == "Error" || *k == "Log" { pre { (v) } } @else { (v) } } }
                }
            }
            @for test in &tests { pre { (test) } }
        }
    };
    let mut builder = Message::builder().from(mailbox(from)?).subject(subject);
    if email.to.is_empty() {
        return Err(permanent("no recipient: give `to:`"));
    }
    for to in email.to {
        builder = builder.to(mailbox(to)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(text, html.into_string()))
        .map_err(|e| permanent(e.to_string()))
}

/// An address, or why it is not one.
fn mailbox(address: &str) -> Result<Mailbox, NotSent> {
    address
        .parse()
        .map_err(|e| permanent(format!("`{address}` is not an email address: {e}")))
}

/// A URL's user or password, `%XX` escapes decoded (a `+` stays a `+`).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn permanent(message: impl Into<String>) -> NotSent {
    NotSent {
        message: updraft_core::secrets::mask(&message.into()).into_owned(),
        retryable: false,
        timed_out: false,
    }
}
