//! The API's errors: JSON `{status, title, detail}` (as Airflow's API answers) with the
//! status code that says whose fault it is; rejections made below the handlers are given
//! the same shape.

use super::AppState;
use crate::runs::RunsError;
use crate::store::StoreError;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// An error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// The HTTP status code.
    #[serde(serialize_with = "as_code")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    /// The status code's reason.
    pub title: &'static str,
    /// What is wrong, and where.
    pub detail: String,
}

fn as_code<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl ApiError {
    /// The error `status` with its standard reason as the title.
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: status.canonical_reason().unwrap_or("Error"),
            detail: updraft_core::secrets::mask(&detail.into()).into_owned(),
        }
    }

    /// 400: the request is wrong.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no token, or not a valid one.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: the token's role does not allow it.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: what the path names does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 405: the path exists, not with this method.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, detail)
    }

    /// 413: the body is too large.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
    }

    /// 421: the request names a host this server does not answer to.
    pub fn misdirected(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::MISDIRECTED_REQUEST, detail)
    }

    /// 503: the request could not be done in time.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    /// 409: it clashes with what exists.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 500: our failure; the detail is logged, the caller gets the gist.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string());
        tracing::error!("API request failed: {}", e.detail);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(&self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The longest rejection text kept as an error's detail.
const MAX_DETAIL: usize = 1024;

/// Gives every error the documented shape: rejections made below the handlers (a path
/// that is not UTF-8, a query string or form that does not parse, a body too large) come
/// as plain text, and become `{status, title, detail}` — or, for a page a browser is
/// loading, the error page.
pub async fn errors_as_json(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let loading_page = request.method() == Method::GET && super::ui::is_page(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || shaped {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), MAX_DETAIL * 4).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let mut detail: String = text.trim().chars().take(MAX_DETAIL).collect();
    if detail.is_empty() {
        detail = status.canonical_reason().unwrap_or("error").to_string();
    }
    let error = ApiError::new(status, detail);
    if loading_page {
        super::ui::error_page(&state, error)
    } else {
        error.into_response()
    }
}

impl From<RunsError> for ApiError {
    fn from(e: RunsError) -> Self {
        match e {
            RunsError::Invalid { field, message } => {
                Self::bad_request(format!("{field}: {message}"))
            }
            RunsError::NotFound(m) => Self::not_found(m),
            RunsError::Conflict(m) => Self::conflict(m),
            RunsError::Store(e) => Self::internal(e),
            RunsError::Failed(e) => Self::internal(format!("{e:#}")),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        RunsError::from(e).into()
    }
}
