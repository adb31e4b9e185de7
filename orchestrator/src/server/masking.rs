//! JSON answers and pages pass through the secrets masker, as every other output does: a
//! password that reached a stored error or a `conf` is shown as `***`. The masker sees
//! values, not text: JSON is masked in its strings and HTML in its text and attribute
//! values, so an answer stays valid whatever was registered as a secret.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use updraft_core::secrets;

/// The largest answer the masker reads whole (pages show a log's tail, not the log).
const MAX_MASKED_BYTES: usize = 16 * 1024 * 1024;

/// What kind of answer, for masking.
enum Kind {
    Json,
    Html,
}

/// Masks the secrets in a JSON or HTML answer.
pub async fn mask_secrets(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let kind = match response.headers().get(header::CONTENT_TYPE) {
        Some(v) if v.as_bytes().starts_with(b"application/json") => Kind::Json,
        Some(v) if v.as_bytes().starts_with(b"text/html") => Kind::Html,
        _ => return response,
    };
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_MASKED_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::internal(format!("cannot read an answer: {e}")).into_response(),
    };
    let text = String::from_utf8_lossy(&bytes);
    // Nothing to hide (the usual case): the answer as it was, not a copy.
    if matches!(text, Cow::Borrowed(_)) && matches!(secrets::mask(&text), Cow::Borrowed(_)) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let masked = match kind {
        Kind::Json => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut value) => {
                secrets::mask_json(&mut value);
                value.to_string()
            }
            Err(e) => {
                return ApiError::internal(format!("an answer is not JSON: {e}")).into_response();
            }
        },
        Kind::Html => secrets::mask_html(&text).into_owned(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(masked))
}
