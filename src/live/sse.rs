//! `GET /live?view=…&v=…`: the SSE stream of one dashboard view for a signed-in browser.
//!
//! Events are named after the dashboard sections (`kpis`, `trend`, …; htmx's SSE extension
//! swaps each into the element with the same `sse-swap` name), carry the org's data version
//! as their id, and are only the sections that changed. Each update is serialized once by the
//! hub; every stream writes the same shared bytes. `refresh` tells a browser that fell
//! behind to reload the view. The stream ends when the session is revoked or the user is
//! disabled (checked every few seconds).

use super::{Bytes, Frame, Gzip};
use crate::app::AppState;
use crate::auth::{Authz, perm, sessions};
use crate::dashboard::{self, View};
use crate::domain::{FamilyId, OrgId, Permission, UserId};
use crate::error::{AppError, AppResult};
use crate::store::{orgs, sales};
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
static REFRESH: LazyLock<Frame> =
    LazyLock::new(|| Frame::new(&b"event: refresh\ndata: behind\n\n"[..]));
/// A comment line: keeps idle connections open through proxies.
static HEARTBEAT: LazyLock<Frame> = LazyLock::new(|| Frame::new(&b": keep-alive\n\n"[..]));

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

/// How one stream's frames go on the wire.
enum Wire {
    Plain,
    Gzip(Gzip),
}

impl Wire {
    fn bytes(&mut self, f: &Frame) -> Bytes {
        match self {
            Wire::Plain => f.plain().clone(),
            Wire::Gzip(z) => z.frame(f),
        }
    }
}

struct Stream_ {
    rx: broadcast::Receiver<(u64, Frame)>,
    /// Sent before waiting for updates (the catch-up).
    first: Option<Frame>,
    /// The data version the browser shows; older updates still queued are skipped.
    shows: u64,
    state: AppState,
    user: (OrgId, UserId, FamilyId),
    /// The permission the stream's content needs (re-checked with the session).
    needs: Permission,
    /// When to re-check the session (one timer for the stream's life, not one per wake-up).
    session_check: tokio::time::Interval,
    heartbeat: tokio::time::Interval,
    /// The last frame went out; end the stream.
    ended: bool,
    wire: Wire,
    closed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    _open: OpenStream,
}

/// Counts the stream in the `live_streams_open` gauge while it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> OpenStream {
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
    // Subscribe first, then look: an update committed in between is not missed.
    let sub = state.live.subscribe(org_id, &view).map_err(|_| {
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
    Ok(event_stream(
        &state,
        sub.rx,
        first,
        shows,
        (org_id, a.user().id, a.principal.0.session),
        Permission::SalesView,
        accepts_gzip(&headers),
    ))
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
    Ok(event_stream(
        &state,
        rx,
        first,
        version,
        (org_id, a.user().id, a.principal.0.session),
        Permission::PipelineView,
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
pub(crate) fn event_stream(
    state: &AppState,
    rx: broadcast::Receiver<(u64, Frame)>,
    first: Option<Frame>,
    shows: u64,
    user: (OrgId, UserId, FamilyId),
    needs: Permission,
    gzip: bool,
) -> Response {
    let every = state.cfg.live.heartbeat.max(Duration::from_secs(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut session_check =
        tokio::time::interval_at(tokio::time::Instant::now() + SESSION_CHECK, SESSION_CHECK);
    session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let s = Stream_ {
        rx,
        first,
        shows,
        user,
        needs,
        state: state.clone(),
        session_check,
        heartbeat,
        ended: false,
        wire: if gzip {
            Wire::Gzip(Gzip::default())
        } else {
            Wire::Plain
        },
        closed: Box::pin(state.live.closed()),
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
                    let (org, uid, sid) = s.user;
                    let now = s.state.clock.now();
                    let live = s
                        .state
                        .db(move |st| sessions::live_user(st, org, uid, sid, now))
                        .await;
                    if !matches!(live, Ok(Some(ref u)) if u.role.has(s.needs)) {
                        // Signed out, revoked or disabled: the page reloads its view, which
                        // sends the browser to sign in; then the stream ends.
                        s.ended = true;
                        return s.send(&REFRESH);
                    }
                }
            }
        }
    });
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // Tells nginx not to buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        axum::body::Body::from_stream(stream),
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
        let last = match &mut self.wire {
            Wire::Gzip(z) => z.end()?,
            Wire::Plain => return None,
        };
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
