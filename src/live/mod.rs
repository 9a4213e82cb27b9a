//! Live dashboards. One hub for the server: browsers subscribe to (org, view); after the
//! writer commits, the org is marked changed; on each tick the hub renders every watched
//! view of each changed org **once** and fans the changed sections out to all of that view's
//! subscribers: it writes the streams on connections of their own itself ([`direct`]), and
//! the streams served by hyper take the update from a bounded broadcast channel. A browser
//! that falls behind gets one `refresh` instead of a backlog.
//!
//! An update is serialized once and compressed at most a few times for all streams: on its
//! own, and as the continuation of what streams carried last (the update before it, or the
//! catch-up handed to browsers that connected since); see [`Frame`].

pub mod conn;
pub mod direct;
pub mod sse;

use crate::dashboard::{self, Sections, View};
use crate::domain::OrgId;
use crate::store::{Store, orgs, sales};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::broadcast;

/// An update as it goes on the wire: the changed sections as server-sent events, serialized
/// once and shared by every subscriber (each stream writes the same bytes). For the streams
/// that are gzip-encoded (see [`Gzip`]) it is compressed once on its own (when the hub sends
/// it, or for a snapshot, when the first gzip stream needs it), and an update also once as
/// the continuation of each frame streams may have carried just before it.
#[derive(Clone)]
pub struct Frame {
    /// Tells frames apart (a stream's [`Gzip`] remembers the last one it carried).
    id: u64,
    plain: Bytes,
    /// `plain` as raw deflate blocks that refer to nothing before them and end on a byte
    /// boundary (a sync flush): any gzip stream can carry them as they are. Shared by the
    /// frame's clones.
    deflated: Arc<OnceLock<Bytes>>,
    /// `plain` as deflate blocks that also refer back into the text of the frame with this
    /// id, for the gzip streams that carried that frame last (their decoder just saw its
    /// text): the view's update before, and the catch-up that browsers connecting since got.
    /// An update mostly repeats those: these are a small part of `deflated`. Shared by the
    /// frame's clones.
    after: Arc<[(u64, Bytes)]>,
    /// CRC-32 and length of `plain`, for the gzip trailer.
    crc: crc32fast::Hasher,
}

pub type Bytes = axum::body::Bytes;

/// The next [`Frame::id`].
static NEXT_FRAME: AtomicU64 = AtomicU64::new(1);

impl Frame {
    pub fn new(plain: impl Into<Bytes>) -> Frame {
        let plain = plain.into();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        Frame {
            id: NEXT_FRAME.fetch_add(1, Ordering::Relaxed),
            plain,
            deflated: Arc::default(),
            after: Arc::new([]),
            crc,
        }
    }

    /// The frame, also compressed as the continuation of each of `prev` (for the streams
    /// that carry it right after that one).
    pub fn following<'a>(mut self, prev: impl IntoIterator<Item = &'a Frame>) -> Frame {
        let mut after: Vec<(u64, Bytes)> = self.after.to_vec();
        for p in prev {
            if p.id != self.id && !after.iter().any(|(id, _)| *id == p.id) {
                after.push((p.id, deflate(p.plain(), &self.plain)));
            }
        }
        self.after = after.into();
        self
    }

    /// The frame's server-sent events, uncompressed.
    pub fn plain(&self) -> &Bytes {
        &self.plain
    }

    /// The frame's deflate blocks (compressed on the first call).
    pub fn deflated(&self) -> &Bytes {
        self.deflated.get_or_init(|| deflate(&[], &self.plain))
    }
}

/// `text` as raw deflate blocks ending on a byte boundary (a sync flush), which may refer back
/// into `history`: the text a decoder saw just before (only its last 32 KiB can be referred
/// to). Level 6: once per update and view, and HTML shrinks about sevenfold on its own.
fn deflate(history: &[u8], text: &[u8]) -> Bytes {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(text.len() / 4 + 64),
        flate2::Compression::new(6),
    );
    // Writing to a Vec cannot fail; `flush` is a sync flush (byte-aligned, not final).
    let mut skip = 0;
    if !history.is_empty() {
        z.write_all(&history[history.len().saturating_sub(32 * 1024)..])
            .and_then(|()| z.flush())
            .expect("deflate into memory");
        skip = z.get_ref().len();
    }
    z.write_all(text)
        .and_then(|()| z.flush())
        .expect("deflate into memory");
    let mut out = std::mem::take(z.get_mut());
    out.drain(..skip);
    out.into()
}

/// The gzip encoding of one stream, made of the shared [`Frame`]s: a header once, each frame's
/// deflate blocks as they are, and at the end an empty final block and the trailer (the CRC
/// of everything sent, combined from the frames' own).
#[derive(Default)]
pub struct Gzip {
    started: bool,
    finished: bool,
    crc: crc32fast::Hasher,
    /// The [`Frame::id`] of the last frame carried (0: none).
    last: u64,
}

/// A gzip header: deflate, no name, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl Gzip {
    /// The bytes that carry `f` on this stream.
    pub fn frame(&mut self, f: &Frame) -> Bytes {
        self.crc.combine(&f.crc);
        let blocks = match f.after.iter().find(|(prev, _)| *prev == self.last) {
            Some((_, blocks)) => blocks,
            None => f.deflated(),
        };
        self.last = f.id;
        if self.started {
            return blocks.clone();
        }
        self.started = true;
        let mut first = Vec::with_capacity(GZIP_HEADER.len() + blocks.len());
        first.extend_from_slice(&GZIP_HEADER);
        first.extend_from_slice(blocks);
        first.into()
    }

    /// The end of the stream (once; `None` after).
    pub fn end(&mut self) -> Option<Bytes> {
        if std::mem::replace(&mut self.finished, true) {
            return None;
        }
        let mut out = Vec::with_capacity(20);
        if !std::mem::replace(&mut self.started, true) {
            out.extend_from_slice(&GZIP_HEADER);
        }
        // An empty final block with fixed codes: BFINAL=1, BTYPE=01, end-of-block.
        out.extend_from_slice(&[0x03, 0x00]);
        let crc = std::mem::take(&mut self.crc);
        // ISIZE is the length modulo 2^32.
        let len = crc.total_len() as u32;
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        Some(out.into())
    }
}

/// How one stream's frames go on the wire.
pub(crate) enum Wire {
    Plain,
    Gzip(Gzip),
}

impl Wire {
    pub(crate) fn new(gzip: bool) -> Wire {
        if gzip {
            Wire::Gzip(Gzip::default())
        } else {
            Wire::Plain
        }
    }

    /// The bytes that carry `f` on this stream.
    pub(crate) fn bytes(&mut self, f: &Frame) -> Bytes {
        match self {
            Wire::Plain => f.plain().clone(),
            Wire::Gzip(z) => z.frame(f),
        }
    }

    /// The stream's last bytes (a gzip trailer), once.
    pub(crate) fn end(&mut self) -> Option<Bytes> {
        match self {
            Wire::Plain => None,
            Wire::Gzip(z) => z.end(),
        }
    }
}

/// Server-sent events for `sections` (by name) at `version`: `event`, `id`, one `data` line per
/// line of HTML.
pub fn frame<'a>(version: u64, sections: impl IntoIterator<Item = (&'a str, &'a str)>) -> Frame {
    let mut out = String::new();
    for (name, html) in sections {
        out.push_str("event: ");
        out.push_str(name);
        out.push_str("\nid: ");
        out.push_str(&version.to_string());
        out.push('\n');
        // SSE ends a line at CR, LF or CRLF: none may pass into a data line.
        for line in html.split(['\n', '\r']) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    Frame::new(out)
}

/// Every live section of a rendering, as one frame (what a new or stale browser needs).
pub fn full_frame(version: u64, s: &Sections) -> Frame {
    frame(
        version,
        dashboard::LIVE_SECTIONS.iter().map(|n| (*n, s.get(n))),
    )
}

struct Watched {
    view: View,
    /// The streams served by hyper.
    tx: broadcast::Sender<(u64, Frame)>,
    /// The streams on connections of their own, written by the hub (see [`direct`]); the
    /// ones that ended are dropped by [`Hub::sweep`].
    direct: Vec<Weak<direct::Direct>>,
    /// The last rendering sent, to send only what changed.
    last: Option<(u64, Sections)>,
    /// The last update sent: the next one is also compressed as its continuation.
    sent: Option<Frame>,
    /// The newest full rendering (data version, [`dashboard::stamp`]), for browsers that
    /// connect with an older page.
    snapshot: Option<(u64, String, Frame)>,
    /// `snapshot` was handed to a connecting browser: the next update is also compressed as
    /// its continuation.
    snapshot_out: bool,
    /// The [`dashboard::stamp`] of `last`: when the org's local date (or time zone, or
    /// currency) moves on, the view is rendered again even without new data.
    stamp: String,
}

impl Watched {
    /// How many streams watch the view.
    fn watching(&self) -> usize {
        self.tx.receiver_count() + self.direct.iter().filter(|d| d.strong_count() > 0).count()
    }
}

/// Distinct views one org may have open at once (each costs a rendering per update).
pub const MAX_VIEWS_PER_ORG: usize = 200;

/// How often watched orgs are checked for a new local day without new data.
const DATE_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// org -> canonical view query -> its channel
    orgs: HashMap<OrgId, HashMap<String, Watched>>,
    dirty: HashSet<OrgId>,
    /// org -> the channel of its pipeline boards: one `changed` event per committed change
    /// (each browser then fetches its own board, which depends on the viewer's scope).
    pipelines: HashMap<OrgId, broadcast::Sender<(u64, Frame)>>,
}

/// The event that tells a pipeline page its data moved on to `version`.
pub fn pipeline_frame(version: u64) -> Frame {
    frame(version, [("changed", version.to_string().as_str())])
}

#[derive(Clone)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    buffer: usize,
    /// Set on shutdown: open streams end so the server can stop.
    closing: tokio::sync::watch::Sender<bool>,
}

/// What a new subscriber gets.
pub struct Subscription {
    /// (data version, frame) of each update.
    pub rx: broadcast::Receiver<(u64, Frame)>,
}

/// The org already has [`MAX_VIEWS_PER_ORG`] different views open.
#[derive(Debug)]
pub struct TooManyViews;

impl Hub {
    pub fn new(buffer: usize) -> Hub {
        Hub {
            state: Default::default(),
            buffer: buffer.max(1),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    /// End every open stream (server shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the server is shutting down.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            // An error means the hub itself is gone: also a reason to stop.
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watch `view` of `org`. Dropping the receiver unsubscribes (the view is forgotten on
    /// the next tick once nobody watches it).
    pub fn subscribe(&self, org: OrgId, view: &View) -> Result<Subscription, TooManyViews> {
        let mut st = self.lock();
        let w = self.watched(&mut st, org, view)?;
        Ok(Subscription {
            rx: w.tx.subscribe(),
        })
    }

    /// Watch `view` of `org` from a stream on a connection of its own, which the hub writes
    /// itself (see [`direct`]). Dropping the stream unsubscribes.
    pub fn subscribe_direct(
        &self,
        org: OrgId,
        view: &View,
        gzip: bool,
    ) -> Result<Arc<direct::Direct>, TooManyViews> {
        let mut st = self.lock();
        let w = self.watched(&mut st, org, view)?;
        let d = direct::Direct::new(gzip, self.buffer);
        w.direct.push(Arc::downgrade(&d));
        Ok(d)
    }

    /// The view's entry, made if new (refused when the org has too many views open).
    fn watched<'a>(
        &self,
        st: &'a mut State,
        org: OrgId,
        view: &View,
    ) -> Result<&'a mut Watched, TooManyViews> {
        let views = st.orgs.entry(org).or_default();
        let key = view.query();
        if !views.contains_key(&key) {
            // Make room from views nobody watches any more before refusing.
            views.retain(|_, w| w.watching() > 0);
            if views.len() >= MAX_VIEWS_PER_ORG {
                return Err(TooManyViews);
            }
        }
        Ok(views.entry(key).or_insert_with(|| Watched {
            view: view.clone(),
            tx: broadcast::channel(self.buffer).0,
            direct: Vec::new(),
            last: None,
            sent: None,
            snapshot: None,
            snapshot_out: false,
            stamp: String::new(),
        }))
    }

    /// How many dashboard streams of `org` are open.
    pub fn watchers(&self, org: OrgId) -> usize {
        self.lock()
            .orgs
            .get(&org)
            .map_or(0, |views| views.values().map(Watched::watching).sum())
    }

    /// The view's newest full rendering, if it shows `version` as of `stamp`.
    pub fn snapshot(&self, org: OrgId, view: &View, version: u64, stamp: &str) -> Option<Frame> {
        let mut st = self.lock();
        let w = st.orgs.get_mut(&org)?.get_mut(&view.query())?;
        let f = w
            .snapshot
            .as_ref()
            .filter(|(v, s, _)| *v == version && s == stamp)
            .map(|(_, _, f)| f.clone())?;
        w.snapshot_out = true;
        Some(f)
    }

    /// Keep a full rendering that a connecting browser needed, for the next ones (never
    /// replaces a newer one; the base that live updates are diffed against is not touched).
    pub fn keep_snapshot(&self, org: OrgId, view: &View, version: u64, stamp: &str, f: &Frame) {
        let mut st = self.lock();
        if let Some(w) = st.orgs.get_mut(&org).and_then(|v| v.get_mut(&view.query()))
            && w.snapshot.as_ref().is_none_or(|(v, _, _)| *v < version)
        {
            w.snapshot = Some((version, stamp.to_string(), f.clone()));
            w.snapshot_out = true;
        }
    }

    /// Forget views nobody watches any more (their renderings go with them).
    fn sweep(&self) {
        let mut st = self.lock();
        for views in st.orgs.values_mut() {
            for w in views.values_mut() {
                w.direct.retain(|d| d.strong_count() > 0);
            }
            views.retain(|_, w| w.watching() > 0);
        }
        st.orgs.retain(|_, v| !v.is_empty());
        st.pipelines.retain(|_, tx| tx.receiver_count() > 0);
    }

    /// Follow the org's pipeline changes.
    pub fn subscribe_pipeline(&self, org: OrgId) -> broadcast::Receiver<(u64, Frame)> {
        let mut st = self.lock();
        st.pipelines
            .entry(org)
            .or_insert_with(|| broadcast::channel(self.buffer).0)
            .subscribe()
    }

    /// The org's pipelines or opportunities changed (committed at `version`): tell every open
    /// pipeline page at once (no tick: a moved card should show up everywhere quickly).
    pub fn pipeline_changed(&self, org: OrgId, version: u64) {
        // Built before taking the lock that connecting streams wait on. Not compressed here:
        // the first gzip stream that sends it does (once, for all), and with no pipeline page
        // open nobody does.
        let f = pipeline_frame(version);
        let st = self.lock();
        if let Some(tx) = st.pipelines.get(&org)
            && tx.receiver_count() > 0
        {
            let _ = tx.send((version, f));
        }
    }

    /// Mark orgs whose local date, time zone or currency moved on since their views were
    /// rendered (a "today" view must move to the new day without waiting for a sale).
    fn check_dates(&self, store: &Store, now: crate::domain::Ts) {
        let watched: Vec<(OrgId, Vec<String>)> = {
            let st = self.lock();
            st.orgs
                .iter()
                .map(|(o, v)| (*o, v.values().map(|w| w.stamp.clone()).collect()))
                .collect()
        };
        for (org_id, stamps) in watched {
            let current = match store.read(|t| orgs::get(t, org_id)) {
                Ok(Some(org)) => dashboard::stamp(&org, now),
                _ => continue,
            };
            if stamps.iter().any(|s| *s != current) {
                self.changed(org_id);
            }
        }
    }

    /// The org's data changed: its watched views are rendered on the next tick.
    pub fn changed(&self, org: OrgId) {
        self.lock().dirty.insert(org);
    }

    /// Render every watched view of the changed orgs once and send what changed. Blocking
    /// (reads the store): run it on a blocking thread.
    pub fn tick(&self, store: &Store, now: crate::domain::Ts) {
        self.sweep();
        let work: Vec<(OrgId, Vec<(String, View)>)> = {
            let mut st = self.lock();
            let dirty: Vec<OrgId> = st.dirty.drain().collect();
            dirty
                .into_iter()
                .filter_map(|org| {
                    let views = st.orgs.get(&org)?;
                    Some((
                        org,
                        views
                            .iter()
                            .map(|(k, w)| (k.clone(), w.view.clone()))
                            .collect(),
                    ))
                })
                .collect()
        };
        for (org_id, views) in work {
            let rendered = store.read(|t| {
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Vec::new());
                };
                let version = sales::data_version(t, org_id)?;
                let stamp = dashboard::stamp(&org, now);
                let mut out = Vec::with_capacity(views.len());
                for (key, view) in &views {
                    match dashboard::sections(t, &org, view, now) {
                        Ok(s) => out.push((key.clone(), version, stamp.clone(), s)),
                        Err(e) => tracing::warn!(org = org_id.0, view = %key, error = %e.message, "live render failed"),
                    }
                }
                Ok(out)
            });
            let rendered = match rendered {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(org = org_id.0, error = %e, "live render failed");
                    continue;
                }
            };
            // Which sections changed, under the lock; the frames are serialized and
            // compressed outside it (streams connecting meanwhile wait on the same lock).
            let plans: Vec<_> = {
                let st = self.lock();
                let Some(views) = st.orgs.get(&org_id) else {
                    continue;
                };
                rendered
                    .into_iter()
                    .filter_map(|(key, version, stamp, sections)| {
                        let w = views.get(&key)?;
                        let changed: Vec<&'static str> = dashboard::LIVE_SECTIONS
                            .into_iter()
                            .filter(|name| {
                                w.last
                                    .as_ref()
                                    .is_none_or(|(_, old)| old.get(name) != sections.get(name))
                            })
                            .collect();
                        // What streams may have carried last: the update before, and the
                        // catch-up handed to the browsers that connected since.
                        let handed = w.snapshot.as_ref().filter(|_| w.snapshot_out);
                        let before: Vec<Frame> = w
                            .sent
                            .iter()
                            .chain(handed.map(|(_, _, f)| f))
                            .cloned()
                            .collect();
                        Some((key, version, stamp, sections, changed, before))
                    })
                    .collect()
            };
            let built: Vec<_> = plans
                .into_iter()
                .map(|(key, version, stamp, sections, changed, before)| {
                    // An update goes to the streams at once: compressed here, off the async
                    // workers (on its own, and as the continuation of the update before it).
                    // The snapshot only when a gzip stream connects and needs it.
                    let update = (!changed.is_empty()).then(|| {
                        let f = frame(version, changed.iter().map(|n| (*n, sections.get(n))))
                            .following(&before);
                        f.deflated();
                        f
                    });
                    let full = full_frame(version, &sections);
                    (key, version, stamp, sections, update, full)
                })
                .collect();
            let mut writes = Vec::new();
            {
                let mut st = self.lock();
                let Some(views) = st.orgs.get_mut(&org_id) else {
                    continue;
                };
                for (key, version, stamp, sections, update, full) in built {
                    let Some(w) = views.get_mut(&key) else {
                        continue;
                    };
                    if let Some(f) = update {
                        let direct: Vec<_> = w.direct.iter().filter_map(Weak::upgrade).collect();
                        if w.tx.receiver_count() > 0 {
                            let _ = w.tx.send((version, f.clone()));
                        }
                        w.sent = Some(f.clone());
                        writes.push((direct, version, f));
                    }
                    w.snapshot = Some((version, stamp.clone(), full));
                    w.snapshot_out = false;
                    w.last = Some((version, sections));
                    w.stamp = stamp;
                }
            }
            // Written outside the lock (streams connecting meanwhile wait on it). A stream
            // that subscribes now reads a version that includes these updates.
            for (streams, version, f) in writes {
                direct::deliver(&streams, version, &f);
            }
        }
    }

    /// Follow the writer's commits and tick until the process ends.
    pub fn spawn(
        &self,
        store: Arc<Store>,
        clock: crate::clock::SharedClock,
        mut commits: broadcast::Receiver<OrgId>,
        tick: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        let marker = hub.clone();
        tokio::spawn(async move {
            loop {
                match commits.recv().await {
                    Ok(org) => marker.changed(org),
                    // Missed some: every watched org may have changed.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let mut st = marker.lock();
                        let all: Vec<OrgId> = st.orgs.keys().copied().collect();
                        st.dirty.extend(all);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_date_check = tokio::time::Instant::now() + DATE_CHECK;
            loop {
                every.tick().await;
                let check_dates = tokio::time::Instant::now() >= next_date_check;
                if check_dates {
                    next_date_check = tokio::time::Instant::now() + DATE_CHECK;
                }
                if hub.lock().dirty.is_empty() && !check_dates {
                    hub.sweep();
                    continue;
                }
                let (h, s, now) = (hub.clone(), store.clone(), clock.now());
                let work = move || {
                    if check_dates {
                        h.check_dates(&s, now);
                    }
                    h.tick(&s, now)
                };
                if tokio::task::spawn_blocking(work).await.is_err() {
                    tracing::error!("live tick panicked");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frame_is_one_event_per_section_with_a_data_line_per_html_line() {
        let f = super::frame(7, [("kpis", "<p>a</p>\n<p>b</p>"), ("ticker", "<ol></ol>")]);
        assert_eq!(
            std::str::from_utf8(f.plain()).unwrap(),
            "event: kpis\nid: 7\ndata: <p>a</p>\ndata: <p>b</p>\n\nevent: ticker\nid: 7\ndata: <ol></ol>\n\n"
        );
    }

    /// A gzip stream made of shared frames (and cut anywhere) decodes to the frames' text, and
    /// each frame is readable as soon as it is sent.
    #[test]
    fn a_gzip_stream_of_shared_frames_decodes_frame_by_frame() {
        let frames: Vec<super::Frame> = (0..5u64)
            .map(|v| {
                let html = format!("<p>{}</p>\n", "x".repeat(v as usize * 300));
                super::frame(v, [("kpis", html.as_str()), ("ticker", "<ol></ol>")])
            })
            .collect();
        gzip_stream_decodes(&frames);
    }

    /// An update that follows the one before goes, on the streams that carried that one last,
    /// as its much shorter continuation; on the others (joined since, or something else went
    /// in between) whole. Every stream decodes to its frames' text either way.
    #[test]
    fn an_update_goes_as_the_continuation_of_the_one_before_where_that_was_last() {
        // Like the tiles after a sale: one figure changes, the rest is as before.
        let tiles = |v: u64| {
            let rows: String = (0..200u64)
                .map(|i| format!("<li>{} sold {}</li>", (i * 7919) % 1000, (i * 104_729) % 97))
                .collect();
            super::frame(
                v,
                [("kpis", format!("<p>{v}.00</p><ul>{rows}</ul>").as_str())],
            )
        };
        let first = tiles(1);
        let second = tiles(2).following([&first]);
        let third = tiles(3).following([&second, &first]);
        let beat = super::Frame::new(&b": keep-alive\n\n"[..]);
        let mut gz = super::Gzip::default();
        gz.frame(&first);
        let cont = gz.frame(&second);
        assert_eq!(cont, second.after[0].1);
        assert!(cont.len() * 4 < second.deflated().len(), "{}", cont.len());
        // A stream whose last frame was `first` (the catch-up it got on connecting) gets
        // `third` as the continuation of that.
        let mut joined = super::Gzip::default();
        joined.frame(&first);
        assert_eq!(joined.frame(&third), third.after[1].1);
        // Whole where the stream's last frame was another.
        let mut late = super::Gzip::default();
        late.frame(&second);
        late.frame(&beat);
        assert_eq!(&late.frame(&third), third.deflated());
        for frames in [
            vec![first.clone(), second.clone(), third.clone()],
            vec![second.clone(), third.clone()],
            vec![first.clone(), beat.clone(), second.clone(), third.clone()],
            vec![first.clone(), third.clone()],
        ] {
            gzip_stream_decodes(&frames);
        }
    }

    /// Carry `frames` on one gzip stream: each is readable as soon as it is sent, and the whole
    /// stream (trailer checked) decodes to their text.
    fn gzip_stream_decodes(frames: &[super::Frame]) {
        use std::io::Read;
        let mut gz = super::Gzip::default();
        let mut wire = Vec::new();
        let mut text = Vec::new();
        for f in frames {
            wire.extend_from_slice(&gz.frame(f));
            text.extend_from_slice(f.plain());
            // Everything sent so far decodes before the stream ends.
            let mut so_far = Vec::new();
            let mut d = flate2::read::GzDecoder::new(wire.as_slice());
            let _ = d.read_to_end(&mut so_far);
            assert_eq!(so_far, text);
        }
        wire.extend_from_slice(&gz.end().unwrap());
        assert!(gz.end().is_none());
        let mut all = Vec::new();
        flate2::read::GzDecoder::new(wire.as_slice())
            .read_to_end(&mut all)
            .expect("a whole gzip stream, trailer checked");
        assert_eq!(all, text);
    }

    #[test]
    fn an_empty_gzip_stream_is_whole() {
        use std::io::Read;
        // A stream that sent nothing still ends as a valid (empty) gzip stream.
        let mut empty = super::Gzip::default();
        let mut none = Vec::new();
        flate2::read::GzDecoder::new(empty.end().unwrap().as_ref())
            .read_to_end(&mut none)
            .unwrap();
        assert!(none.is_empty());
    }
}
