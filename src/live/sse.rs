//! `GET /live?view=…&v=…`: the SSE stream of one dashboard view for a signed-in browser.
//!
//! Events are named after the dashboard sections (`kpis`, `trend`, …; htmx's SSE extension
//! swaps each into the element with the same `sse-swap` name), carry the org's data version
//! as their id, and are only the sections that changed. `refresh` tells a browser that fell
//! behind to reload the view. The stream ends when the session is revoked or the user is
//! disabled (checked every few seconds).

use super::Update;
use crate::app::AppState;
use crate::auth::{Authz, perm, sessions};
use crate::dashboard::{self, View};
use crate::error::{AppError, AppResult};
use crate::store::{orgs, sales};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How often an open stream re-checks that its session is still live.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// Refuse cross-site requests: a page on another site must not open a stream with the
/// user's cookie (EventSource sends cookies).
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// The view (`view=` holds the dashboard's canonical query) and the data version the browser
/// shows (`Last-Event-ID` after a reconnect, else `v=` from the page).
fn parse(query: Option<&str>, headers: &HeaderMap) -> AppResult<(View, Option<u64>)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let inner: Vec<(String, String)> = form_urlencoded::parse(get("view").unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let view = View::parse(inner.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let shown = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(get("v"))
        .and_then(|v| v.trim().parse().ok());
    Ok((view, shown))
}

fn event(name: &str, version: u64, html: &str) -> Event {
    Event::default()
        .event(name)
        .id(version.to_string())
        .data(html)
}

struct Stream_ {
    rx: broadcast::Receiver<Arc<Update>>,
    /// Events to send before waiting for updates.
    queued: std::collections::VecDeque<Event>,
    state: AppState,
    user: (
        crate::domain::OrgId,
        crate::domain::UserId,
        crate::domain::FamilyId,
    ),
    next_check: tokio::time::Instant,
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

pub async fn live(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if !same_origin(&headers) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Live updates are only served to this site's own pages.",
        ));
    }
    let (view, shown) = parse(query.as_deref(), &headers)?;
    let org_id = a.user().org;
    // Subscribe first, then look: an update committed in between is not missed.
    let sub = state.live.subscribe(org_id, &view);
    let now = state.clock.now();
    let v2 = view.clone();
    let catch_up = state
        .db(move |s| {
            s.read(|t| {
                let version = sales::data_version(t, org_id)?;
                if shown == Some(version) {
                    return Ok(Ok(None));
                }
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Err(AppError::not_found("Organization")));
                };
                Ok(dashboard::sections(t, &org, &v2, now).map(|s| Some((version, s))))
            })?
        })
        .await?;
    let mut queued = std::collections::VecDeque::new();
    if let Some((version, sections)) = catch_up {
        for name in dashboard::LIVE_SECTIONS {
            queued.push_back(event(name, version, sections.get(name)));
        }
    }
    let s = Stream_ {
        rx: sub.rx,
        queued,
        user: (org_id, a.user().id, a.principal.0.session),
        state: state.clone(),
        next_check: tokio::time::Instant::now() + SESSION_CHECK,
        closed: Box::pin(state.live.closed()),
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        loop {
            if let Some(e) = s.queued.pop_front() {
                return Some((Ok(e), s));
            }
            tokio::select! {
                _ = &mut s.closed => return None,
                msg = s.rx.recv() => match msg {
                    Ok(u) => {
                        for (name, html) in &u.changed {
                            s.queued.push_back(event(name, u.version, html));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too far behind: skip the backlog, reload once.
                        s.rx = s.rx.resubscribe();
                        s.queued.push_back(Event::default().event("refresh").data("behind"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(s.next_check) => {
                    s.next_check = tokio::time::Instant::now() + SESSION_CHECK;
                    let (org, uid, sid) = s.user;
                    let now = s.state.clock.now();
                    let live = s
                        .state
                        .db(move |st| sessions::live_user(st, org, uid, sid, now))
                        .await;
                    if !matches!(live, Ok(Some(ref u)) if u.role.has(crate::domain::Permission::SalesView)) {
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.cfg.live.heartbeat)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn only_this_sites_pages_may_open_a_stream() {
        assert!(same_origin(&h(&[("host", "sb.example:8080")])));
        assert!(same_origin(&h(&[
            ("host", "sb.example:8080"),
            ("origin", "https://sb.example:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "sb.example:8080"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "sb.example:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
    }

    #[test]
    fn the_view_and_the_shown_version_come_from_the_query_or_last_event_id() {
        let (v, shown) = parse(Some("view=range%3D7d%26channel%3Dweb&v=12"), &h(&[])).unwrap();
        assert_eq!(v.query(), "range=7d&channel=web");
        assert_eq!(shown, Some(12));
        let (_, shown) = parse(Some("v=12"), &h(&[("last-event-id", "15")])).unwrap();
        assert_eq!(shown, Some(15));
        assert_eq!(
            parse(Some("view=range%3Dforever"), &h(&[]))
                .unwrap_err()
                .field
                .as_deref(),
            Some("range")
        );
    }
}
