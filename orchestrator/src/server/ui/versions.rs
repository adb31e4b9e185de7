//! A DAG's versions: each with when it was recorded, its hash, what changed and how many
//! runs used it, and the line-by-line difference between any two.

use super::dag_pages::{dag_tabs, when};
use super::{answer, page, url_escape};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::versions::{self, changes::DiffLine};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /dags/{dag_id}/versions?from=A&to=B`
pub async fn versions_page(
    State(state): State<Arc<AppState>>,
    Path(dag_id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    answer(&state, versions_body(&state, &dag_id, q).await)
}

async fn versions_body(state: &AppState, dag_id: &str, q: DiffQuery) -> Result<Markup, ApiError> {
    let (dag, _) = state.dag_named(dag_id).await?;
    let listed = versions::history(&state.store, dag_id).await?;
    let newest = listed.last().map_or(0, |v| v.version.version_number);
    let (from, to) = (
        q.from.unwrap_or(newest.saturating_sub(1).max(1)),
        q.to.unwrap_or(newest),
    );
    let diff = if listed.len() > 1 && from != to {
        versions::diff(&state.store, dag_id, (from, to)).await?
    } else {
        None
    };
    let base = format!("/dags/{}", url_escape(dag_id));
    let body = html! {
        h1 { (super::dag_name(&dag)) }
        (dag_tabs(dag_id, "Versions"))
        @if listed.is_empty() {
            p.muted { "No version recorded yet: a scheduler or a trigger records one when it reads the DAG's file." }
        } @else {
            p.muted { "A new version is recorded when the DAG's definition or a file its tasks name changes (not for comments or formatting). Each run is worked with the version it started with." }
            table {
                thead { tr { th { "version" } th { "recorded" } th { "hash" } th { "changes" } th { "runs" } } }
                tbody {
                    @for v in listed.iter().rev() {
                        tr id={"v" (v.version.version_number)} {
                            td { (v.version.version_number) }
                            td { (when(Some(v.version.created_at))) }
                            td { code { (v.version.content_hash.chars().take(12).collect::<String>()) } }
                            td { @match &v.changes { Some(c) => (c.summary()), None => "first version" } }
                            td { (v.runs) }
                        }
                    }
                }
            }
            @if listed.len() > 1 {
                form.actions method="get" action={(base) "/versions"} aria-label="Compare versions" {
                    label { "from " input type="number" name="from" value=(from) min="1" max=(newest); }
                    " "
                    label { "to " input type="number" name="to" value=(to) min="1" max=(newest); }
                    " "
                    button type="submit" { "Compare" }
                }
            }
            @match &diff {
                Some(d) => {
                    h2 { "Version " (d.from) " → " (d.to) }
                    p { (d.changes.summary()) }
                    @for (file, lines) in &d.files {
                        h3 { code { (file) } }
                        pre.diff {
                            @for line in lines {
                                @match line {
                                    DiffLine::Same(t) => span { "  " (t) "\n" },
                                    DiffLine::Added(t) => ins { "+ " (t) "\n" },
                                    DiffLine::Removed(t) => del { "- " (t) "\n" },
                                }
                            }
                        }
                    }
                }
                None if listed.len() > 1 && from != to => p.error { "No version " (from) " or " (to) "." },
                None => {}
            }
        }
    };
    Ok(page(state, &format!("{dag_id} versions"), None, body))
}
