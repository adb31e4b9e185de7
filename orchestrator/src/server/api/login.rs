//! `POST /auth/token`: a user's name and password for a login token, as Airflow 3 (and
//! `airflowctl auth login`) asks for one.

use super::Body;
use crate::server::AppState;
use crate::server::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The body of a login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: String,
}

/// A login's answer.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
}

/// A login token (a JWT) for a configured user's name and password. A wrong name and a
/// wrong password get the same answer, after the same work.
#[utoipa::path(post, operation_id = "create_token", path = "/auth/token", tag = "Login", security(()), request_body = Credentials,
    responses((status = 201, body = TokenResponse)))]
pub async fn token(
    State(state): State<Arc<AppState>>,
    Body(credentials): Body<Credentials>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let Some(jwt) = state.settings.jwt.clone() else {
        return Err(ApiError::not_found(
            "this server has no API users: log in with a configured token instead",
        ));
    };
    let users = state.settings.api_users.clone();
    // Argon2 takes tens of milliseconds on purpose: off the async workers.
    let user = tokio::task::spawn_blocking(move || {
        let found = users.iter().find(|u| u.username == credentials.username);
        let candidate = found.or(users.first())?;
        let good = candidate.has_password(&credentials.password);
        found.filter(|_| good).cloned()
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(user) = user else {
        return Err(ApiError::unauthorized("invalid username or password"));
    };
    let access_token = crate::server::auth::issue(&user, &jwt).map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(TokenResponse { access_token })))
}
