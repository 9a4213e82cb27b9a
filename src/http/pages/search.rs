//! `/search` (the full results page, usable without JavaScript) and `/search/suggest` (the
//! header box's grouped suggestions, swapped in by htmx as the user types).

use super::shell;
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::search::Kind;
use crate::error::AppResult;
use crate::render::search as r;
use crate::search::ask;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::SectionPage as SearchPage;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    q: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
}

/// Hits per results page.
const PAGE: usize = 20;

pub async fn search_page(
    State(state): State<AppState>,
    p: Principal,
    Query(params): Query<Params>,
) -> AppResult<Response> {
    let q = params.q.clone().unwrap_or_default();
    let kind = params.kind.as_deref().and_then(|k| Kind::parse(k).ok());
    let (results, offset, error) = if q.trim().is_empty() {
        (None, 0, None)
    } else {
        match ask::read(
            Some(&q),
            params.kind.as_deref(),
            params.cursor.as_deref(),
            None,
            PAGE,
        ) {
            Ok(a) => (Some(ask::run(&state, p.user(), &a).await?), a.offset, None),
            Err(e) => (None, 0, Some(e.message)),
        }
    };
    let title = if q.trim().is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {}", q.trim())
    };
    let body = r::page(&q, kind, results.as_ref(), offset, PAGE, error.as_deref());
    Ok(SearchPage {
        shell: shell(&state, &p, &title, "/search").await?,
        heading: "Search".into(),
        back: None,
        actions: Vec::new(),
        error: None,
        body: body.into_string(),
    }
    .into_response())
}

/// The suggestions under the header box (empty for an empty box; a bad query says why).
pub async fn suggest(
    State(state): State<AppState>,
    p: Principal,
    Query(params): Query<Params>,
) -> AppResult<Response> {
    let q = params.q.unwrap_or_default();
    if q.trim().is_empty() {
        return Ok(Html(String::new()).into_response());
    }
    let a = match ask::read(Some(&q), None, None, Some(40), 40) {
        Ok(a) => a,
        Err(e) => {
            let m = maud::html! { p.search-empty { (e.message) } };
            return Ok(Html(m.into_string()).into_response());
        }
    };
    let results = ask::run(&state, p.user(), &a).await?;
    Ok(Html(r::suggest(q.trim(), &results).into_string()).into_response())
}
