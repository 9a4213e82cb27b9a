//! `GET /api/v1/search`: the records of the caller's org they may see, best matches first.

use super::{Json, Query};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::search::Kind;
use crate::error::AppResult;
use crate::search::Status;
use crate::search::ask::{self, link};
use crate::search::query::Marked;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for (up to 200 characters). Words match anywhere in names, emails,
    /// domains, SKUs, notes and next steps; the last word also as a prefix; words of five
    /// letters or more with one typo. `"quoted words"` match as a phrase. Operators:
    /// `kind:partner|opportunity|customer|product|user`, `owner:me`, `stage:NAME`,
    /// `tier:NAME` (names with spaces in quotes or with `-`).
    pub q: Option<String>,
    /// Only this kind (partner, opportunity, customer, product or user).
    pub kind: Option<String>,
    /// Hits per page, 1–100 (default 20).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    /// partner, opportunity, customer, product or user
    #[schema(value_type = String)]
    kind: Kind,
    /// The record's id (customer id or SKU for customers and products).
    id: String,
    /// The record's name, with the byte ranges of the matched words.
    title: Marked,
    /// Where the words matched outside the name, if they did.
    context: Option<Marked>,
    /// A short summary of the record.
    summary: String,
    /// The record's page.
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    hits: Vec<SearchHit>,
    /// Matches per kind the caller may see (ignoring `kind`).
    counts: BTreeMap<String, u64>,
    /// Matches of the kinds asked for.
    total: u64,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
    /// ready, rebuilding or catching_up: while not ready, recent changes may be missing.
    #[schema(value_type = Object)]
    index: Status,
}

/// Search the caller's org: only records the caller may see are counted and returned.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchQuery),
    responses((status = 200, description = "A page of hits", body = SearchPage),
              (status = 422, description = "Bad query, kind, limit or cursor (the field is named)")))]
pub async fn search(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<SearchQuery>,
) -> AppResult<Json<SearchPage>> {
    let a = ask::read(
        q.q.as_deref(),
        q.kind.as_deref(),
        q.cursor.as_deref(),
        q.limit,
        20,
    )?;
    let r = ask::run(&state, p.user(), &a).await?;
    let end = a.offset + r.hits.len();
    Ok(Json(SearchPage {
        next_cursor: (end < r.total as usize && !r.hits.is_empty()).then(|| end.to_string()),
        hits: r
            .hits
            .into_iter()
            .map(|h| SearchHit {
                url: link(h.kind, &h.key),
                kind: h.kind,
                id: h.key,
                title: h.title,
                context: h.context,
                summary: h.line,
            })
            .collect(),
        counts: r
            .counts
            .iter()
            .map(|(k, n)| (k.as_str().to_string(), *n))
            .collect(),
        total: r.total,
        index: r.status,
    }))
}
