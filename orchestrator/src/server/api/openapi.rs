//! The OpenAPI 3.1 document of the API, served at `/api/v2/openapi.json`: derived from the
//! handlers' annotations and the types they read and answer, so it cannot drift from the
//! answers (the tests check every answer against it).

use super::{assets, dags, login, monitor, run_list, runs, tasks, versions, xcom};
use crate::server::error::ApiError;
use axum::Json;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Updraft API",
        description = "Airflow 3's public REST API (`/api/v2`), as Updraft serves it: Airflow's \
            clients work unchanged. Updraft's own endpoints and fields ride along.",
    ),
    paths(
        dags::list, dags::get, dags::patch, dags::details, dags::tasks, dags::source,
        dags::stats,
        run_list::list, run_list::list_batch, runs::trigger, runs::get, runs::mark, runs::clear,
        runs::test_results, runs::callbacks,
        tasks::list, tasks::list_batch, tasks::get, tasks::mark, tasks::tries, tasks::log,
        tasks::list_mapped, tasks::get_mapped, tasks::mark_mapped,
        xcom::list, xcom::get,
        versions::list, versions::get,
        assets::list, assets::get, assets::events, assets::create_event,
        monitor::import_errors, monitor::health, monitor::version,
        login::token, document,
    ),
    components(schemas(ApiError)),
    modifiers(&Errors, &Bearer),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The JWT or token every request but a few sends as `Authorization: Bearer`.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "a configured API token, or a JWT from POST /auth/token",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The error answers any operation can give, all `ApiError`'s shape; and a description
/// for each success (Airflow's words).
struct Errors;

impl Modify for Errors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let errors = [
            ("400", "the request is wrong (the detail says what)"),
            ("401", "no token, or not a valid one"),
            ("403", "the token's role does not allow it"),
            ("404", "what the path names does not exist"),
            (
                "409",
                "the change conflicts with the state of what it changes",
            ),
        ];
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                // OpenAPI requires a description of every answer.
                for answer in operation.responses.responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(answer) = answer
                        && answer.description.is_empty()
                    {
                        answer.description = "Successful Response".to_string();
                    }
                }
                for (code, description) in errors {
                    let answer = ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            Content::new(Some(Ref::from_schema_name("ApiError"))),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry(code.to_string())
                        .or_insert(answer.into());
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, operation_id = "get_openapi", path = "/api/v2/openapi.json", tag = "Monitor", security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_schema_is_in_the_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        assert_eq!(doc["openapi"], "3.1.0");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let text = doc.to_string();
        let refs = text
            .match_indices("#/components/schemas/")
            .map(|(at, prefix)| {
                let rest = &text[at + prefix.len()..];
                &rest[..rest.find('"').unwrap_or(rest.len())]
            });
        for name in refs {
            assert!(
                schemas.contains_key(name),
                "`{name}` is referenced, not defined"
            );
        }
        for name in [
            "DagResponse",
            "DagRunResponse",
            "TaskInstanceResponse",
            "ApiError",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }
}
