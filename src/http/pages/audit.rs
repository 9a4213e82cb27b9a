//! `/admin/audit`: the org's audit log with filters, each record's changes, and CSV export.

use super::{SectionPage, shell};
use crate::app::AppState;
use crate::audit::Params;
use crate::auth::{Authz, perm};
use crate::error::{AppError, AppResult};
use crate::render::audit as r;
use crate::store::{StoreError, audit, orgs, users};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// Records per page.
const PAGE: usize = 50;
/// How many of the latest records the Action and Record menus are drawn from.
const CHOICES_FROM: usize = 20_000;

pub async fn audit_page(
    State(state): State<AppState>,
    a: Authz<perm::AuditView>,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> AppResult<Response> {
    let org = a.user().org;
    let limit = p.limit.map(|_| p.limit()).transpose()?.unwrap_or(PAGE);
    let q = p.clone();
    let (filters, list, error) = state
        .db(move |s| {
            Ok(s.read(|t| {
                let o = orgs::get(t, org)?.ok_or(StoreError::NotFound("Organization"))?;
                let mut people: Vec<(String, String)> = users::list(t, org)?
                    .into_iter()
                    .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.email)))
                    .collect();
                people.sort_by_key(|(_, n)| n.to_lowercase());
                let (actions, entities) = audit::recent_kinds(t, org, CHOICES_FROM)?;
                let choices = r::Choices {
                    users: people,
                    actions,
                    entities,
                };
                let filters = r::filters(&q, &choices).into_string();
                let (list, error) = match q.filter(&o) {
                    Ok(f) => {
                        let found = audit::find(t, org, &f, q.before, limit)?;
                        let list = r::list(&q, &found.records, found.next_before, &o.tz(), None);
                        (list.into_string(), None)
                    }
                    // shown inside the list, which htmx swaps in alone
                    Err(e) => (
                        r::list(&q, &[], None, &o.tz(), Some(&e.message)).into_string(),
                        Some(e),
                    ),
                };
                Ok((filters, list, error))
            })?)
        })
        .await?;
    let status = error
        .as_ref()
        .map_or(StatusCode::OK, |e: &AppError| e.status);
    let fragment = headers.get("hx-target").and_then(|v| v.to_str().ok()) == Some("audit-list")
        && !headers.contains_key("hx-history-restore-request");
    if fragment {
        return Ok((status, [("hx-push-url", r::href(&p))], Html(list)).into_response());
    }
    let page = SectionPage {
        shell: shell(&state, &a.principal, "Audit log", "/admin/audit").await?,
        heading: "Audit log".into(),
        back: None,
        actions: Vec::new(),
        error: None,
        body: format!("{filters}{list}"),
    };
    Ok((status, page).into_response())
}
