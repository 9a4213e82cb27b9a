//! `GET /live?view=…&v=…`: the SSE stream of one dashboard view for a signed-in browser.
//!
//! Events are named after the dashboard sections (`kpis`, `trend`, …; htmx's SSE extension
//! swaps each into the element with the same `sse-swap` name), carry the org's data version
//! as their id, and are only the sections that changed. Each update is serialized once by the
//! hub; every stream writes the same shared bytes. `refresh` tells a browser that fell
//! behind to reload the view. The stream ends when the session is revoked or the user is
//! disabled (checked every few seconds).
//!
//! A stream on a connection of its own (how a browser's `EventSource` usually comes, see
//! [`super::conn`]) is handed to [`super::direct`], whose updates the hub writes itself; the
//! others are a response body fed from the view's broadcast channel ([`event_stream`]).

use super::direct::DirectStream;
use super::{Bytes, Frame, Wire};
use crate::app::AppState;
use crate::auth::extract::RequiredPermission;
use crate::auth::{Authz, perm, sessions};
use crate::dashboard::{self, View};
use crate::domain::{FamilyId, OrgId, Permission, UserId};
use crate::error::{AppError, AppResult};
use crate::store::{orgs, sales};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::LazyLock;
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

fn refuse_other_sites(headers: &HeaderMap) -> AppResult<()> {
    if same_origin(headers) {
        return Ok(());
    }
    Err(AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Live updates are only served to this site's own pages.",
    ))
}

/// The view (`view=` holds the dashboard's canonical query) and the data version the browser
/// shows (`Last-Event-ID` after a reconnect, else `v=` from the page).
fn parse(query: Option<&str>, headers: &HeaderMap) -> AppResult<(View, Option<u64>)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let view = View::from_query(get("view").unwrap_or(""))?;
    Ok((view, shown_version(query, headers)))
}

/// Told to a browser that fell too far behind: reload the view.
pub(super) static REFRESH: LazyLock<Frame> =
    LazyLock::new(|| Frame::new(&b"event: refresh\ndata: behind\n\n"[..]));
/// A comment line: keeps idle connections open through proxies.
pub(super) static HEARTBEAT: LazyLock<Frame> =
    LazyLock::new(|| Frame::new(&b": keep-alive\n\n"[..]));

/// Whether the client takes gzip (`Accept-Encoding`, a zero quality refusing it). Browsers
/// do; live updates are HTML that shrinks about sevenfold.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .to_ascii_lowercase()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

struct Stream_ {
    rx: broadcast::Receiver<(u64, Frame)>,
    /// Sent before waiting for updates (the catch-up).
    first: Option<Frame>,
    /// The data version the browser shows; older updates still queued are skipped.
    shows: u64,
    watch: Watch,
    /// When to re-check the session (one timer for the stream's life, not one per wake-up).
    session_check: tokio::time::Interval,
    heartbeat: tokio::time::Interval,
    /// The last frame went out; end the stream.
    ended: bool,
    wire: Wire,
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    _open: OpenStream,
}

/// Whose stream it is, for the session re-checks.
#[derive(Clone)]
pub(super) struct Watch {
    pub(super) state: AppState,
    user: (OrgId, UserId, FamilyId),
    /// The permission the stream's content needs (re-checked with the session).
    needs: Permission,
}

impl Watch {
    /// The stream of `a`'s session, which needs the permission `a` was proven to hold.
    fn of<P: RequiredPermission>(state: &AppState, a: &Authz<P>) -> Watch {
        Watch {
            state: state.clone(),
            user: (a.user().org, a.user().id, a.principal.0.session),
            needs: P::PERMISSION,
        }
    }

    /// The heartbeat and session-check timers (one each for the stream's life, not one per
    /// wake-up).
    pub(super) fn timers(&self) -> (tokio::time::Interval, tokio::time::Interval) {
        let every = |d: Duration| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        };
        (
            every(self.state.cfg.live.heartbeat.max(Duration::from_secs(1))),
            every(SESSION_CHECK),
        )
    }

    /// Whether the session is still live and the user still holds the permission.
    pub(super) async fn allowed(&self) -> bool {
        let (org, uid, sid) = self.user;
        let now = self.state.clock.now();
        let live = self
            .state
            .db(move |st| sessions::live_user(st, org, uid, sid, now))
            .await;
        matches!(live, Ok(Some(ref u)) if u.role.has(self.needs))
    }
}

/// Counts the stream in the `live_streams_open` gauge while it lives.
pub(super) struct OpenStream;

impl OpenStream {
    pub(super) fn new() -> OpenStream {
        metrics::gauge!("live_streams_open").increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("live_streams_open").decrement(1.0);
    }
}

pub async fn live(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    conn: Conn,
) -> AppResult<Response> {
    refuse_other_sites(&headers)?;
    if let Some(r) = conn.redirect(&state, &headers) {
        return Ok(r);
    }
    let (view, shown) = parse(query.as_deref(), &headers)?;
    let org_id = a.user().org;
    let gzip = accepts_gzip(&headers);
    // Subscribe first, then look: an update committed in between is not missed. A stream on
    // a connection of its own is written by the hub itself.
    let sub = if conn.own.is_some() {
        state
            .live
            .subscribe_direct(org_id, &view, gzip)
            .map(Sub::Direct)
    } else {
        state.live.subscribe(org_id, &view).map(|s| Sub::Channel(s.rx))
    }
    .map_err(|_| {
        AppError::unavailable(
            "Too many different dashboard views are open in this organization; live updates resume when some close.",
            30,
        )
    })?;
    let now = state.clock.now();
    let (hub, v2) = (state.live.clone(), view.clone());
    // A browser whose page is older than the data gets the current state at once: the
    // hub's snapshot when it is current, else one rendering (kept for the next browsers).
    let first = state
        .db(move |s| {
            s.read(|t| {
                let version = sales::data_version(t, org_id)?;
                if shown == Some(version) {
                    return Ok(Ok((version, None)));
                }
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Err(AppError::not_found("Organization")));
                };
                let stamp = dashboard::stamp(&org, now);
                if let Some(f) = hub.snapshot(org_id, &v2, version, &stamp) {
                    return Ok(Ok((version, Some(f))));
                }
                Ok(dashboard::sections(t, &org, &v2, now).map(|s| {
                    let f = super::full_frame(version, &s);
                    hub.keep_snapshot(org_id, &v2, version, &stamp, &f);
                    (version, Some(f))
                }))
            })?
        })
        .await?;
    let (shows, first) = first;
    let watch = Watch::of(&state, &a);
    Ok(match sub {
        Sub::Channel(rx) => event_stream(rx, first, shows, watch, gzip),
        Sub::Direct(direct) => {
            let mut r = stream_response(Body::empty(), gzip);
            r.extensions_mut().insert(DirectStream {
                direct,
                first,
                shows,
                watch,
            });
            r
        }
    })
}

/// How a dashboard stream gets its updates.
enum Sub {
    /// Served by hyper: from the view's channel.
    Channel(broadcast::Receiver<(u64, Frame)>),
    /// On a connection of its own: written by the hub.
    Direct(std::sync::Arc<super::direct::Direct>),
}

/// `GET /live/pipeline?v=…`: a `changed` event (its data the new version) after every
/// committed change to the org's pipelines and opportunities; the page then fetches its own
/// board (what a viewer sees depends on their scope, so there is nothing to share).
pub async fn live_pipeline(
    State(state): State<AppState>,
    a: Authz<perm::PipelineView>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    conn: Conn,
) -> AppResult<Response> {
    refuse_other_sites(&headers)?;
    if let Some(r) = conn.redirect(&state, &headers) {
        return Ok(r);
    }
    let shown = shown_version(query.as_deref(), &headers);
    let org_id = a.user().org;
    let rx = state.live.subscribe_pipeline(org_id);
    let version = state
        .db(move |s| Ok(s.read(|t| crate::store::pipeline::version(t, org_id))?))
        .await?;
    let first = (shown != Some(version)).then(|| super::pipeline_frame(version));
    let watch = Watch::of(&state, &a);
    Ok(event_stream(
        rx,
        first,
        version,
        watch,
        accepts_gzip(&headers),
    ))
}

/// How the stream request arrived (see [`super::conn`]).
pub struct Conn {
    uri: axum::http::Uri,
    version: axum::http::Version,
    own: Option<super::conn::OwnConnection>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Conn {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Conn {
            uri: parts.uri.clone(),
            version: parts.version,
            own: parts.extensions.get().copied(),
        })
    }
}

impl Conn {
    /// A stream asked for over a kept-alive connection is sent to ask again on another.
    fn redirect(&self, state: &AppState, headers: &HeaderMap) -> Option<Response> {
        super::conn::own_connection_redirect(
            &self.uri,
            self.version,
            headers,
            self.own,
            state.cfg.tls_enabled(),
        )
    }
}

/// The data version the browser shows: `Last-Event-ID` after a reconnect, else `v=`.
fn shown_version(query: Option<&str>, headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, _)| k == "v")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|v| v.trim().parse().ok())
}

/// The SSE response for one subscriber: the catch-up `first`, then every frame newer than
/// `shows`, heartbeats, one `refresh` when it fell behind, and the end when the user's
/// session is revoked, the user disabled or no longer holding `needs`, or the server stops.
/// `gzip`: the stream is gzip-encoded.
fn event_stream(
    rx: broadcast::Receiver<(u64, Frame)>,
    first: Option<Frame>,
    shows: u64,
    watch: Watch,
    gzip: bool,
) -> Response {
    let (heartbeat, session_check) = watch.timers();
    let s = Stream_ {
        rx,
        first,
        shows,
        closed: Box::pin(watch.state.live.closed()),
        watch,
        session_check,
        heartbeat,
        ended: false,
        wire: Wire::new(gzip),
        _open: OpenStream::new(),
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if s.ended {
            return s.end();
        }
        if let Some(f) = s.first.take() {
            return s.send(&f);
        }
        loop {
            tokio::select! {
                _ = &mut s.closed => return s.end(),
                msg = s.rx.recv() => match msg {
                    // Queued before the catch-up was taken: already shown.
                    Ok((v, _)) if v <= s.shows => continue,
                    Ok((v, f)) => {
                        s.shows = v;
                        return s.send(&f);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too far behind: skip the backlog, reload once.
                        s.rx = s.rx.resubscribe();
                        return s.send(&REFRESH);
                    }
                    Err(broadcast::error::RecvError::Closed) => return s.end(),
                },
                _ = s.heartbeat.tick() => {
                    return s.send(&HEARTBEAT);
                }
                _ = s.session_check.tick() => {
                    if !s.watch.allowed().await {
                        // Signed out, revoked or disabled: the page reloads its view, which
                        // sends the browser to sign in; then the stream ends.
                        s.ended = true;
                        return s.send(&REFRESH);
                    }
                }
            }
        }
    });
    stream_response(Body::from_stream(stream), gzip)
}

/// An event stream's response: its headers and `body`.
fn stream_response(body: Body, gzip: bool) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // Tells nginx not to buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if gzip {
        h.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    response
}

/// One step of a stream: the bytes to send and the stream after them, or its end.
type Step = Option<(Result<Bytes, Infallible>, Stream_)>;

impl Stream_ {
    fn send(mut self, f: &Frame) -> Step {
        let bytes = self.wire.bytes(f);
        Some((Ok(bytes), self))
    }

    /// The end: a gzip stream's trailer first.
    fn end(mut self) -> Step {
        self.ended = true;
        let last = self.wire.end()?;
        Some((Ok(last), self))
    }
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
    fn gzip_is_used_when_accepted_and_not_refused() {
        assert!(accepts_gzip(&h(&[(
            "accept-encoding",
            "gzip, deflate, br, zstd"
        )])));
        assert!(accepts_gzip(&h(&[(
            "accept-encoding",
            "br;q=1.0, GZIP;q=0.5"
        )])));
        assert!(!accepts_gzip(&h(&[("accept-encoding", "gzip;q=0, br")])));
        assert!(!accepts_gzip(&h(&[("accept-encoding", "gzip; Q=0.0")])));
        assert!(!accepts_gzip(&h(&[("accept-encoding", "identity")])));
        assert!(!accepts_gzip(&h(&[])));
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
