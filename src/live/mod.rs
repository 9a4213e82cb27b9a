//! Live dashboards. One hub for the server: browsers subscribe to (org, view); after the
//! writer commits, the org is marked changed; on each tick the hub renders every watched
//! view of each changed org **once** and fans the changed sections out to all of that view's
//! subscribers over a bounded broadcast channel. A browser that falls behind the channel gets
//! one `refresh` instead of a backlog.

pub mod sse;

use crate::dashboard::{self, Sections, View};
use crate::domain::OrgId;
use crate::store::{Store, orgs, sales};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// An update as it goes on the wire: the changed sections as server-sent events, serialized
/// once and shared by every subscriber (each stream writes the same bytes).
pub type Frame = axum::body::Bytes;

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
        for line in html.split('\n') {
            out.push_str("data: ");
            out.push_str(line.strip_suffix('\r').unwrap_or(line));
            out.push('\n');
        }
        out.push('\n');
    }
    Frame::from(out)
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
    tx: broadcast::Sender<Frame>,
    /// The last rendering sent, to send only what changed.
    last: Option<(u64, Sections)>,
    /// The newest full rendering, for browsers that connect with an older page.
    snapshot: Option<(u64, Frame)>,
}

#[derive(Default)]
struct State {
    /// org -> canonical view query -> its channel
    orgs: HashMap<OrgId, HashMap<String, Watched>>,
    dirty: HashSet<OrgId>,
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
    pub rx: broadcast::Receiver<Frame>,
}

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
    pub fn subscribe(&self, org: OrgId, view: &View) -> Subscription {
        let mut st = self.lock();
        let views = st.orgs.entry(org).or_default();
        let w = views.entry(view.query()).or_insert_with(|| Watched {
            view: view.clone(),
            tx: broadcast::channel(self.buffer).0,
            last: None,
            snapshot: None,
        });
        Subscription {
            rx: w.tx.subscribe(),
        }
    }

    /// The view's newest full rendering, if it shows `version`.
    pub fn snapshot(&self, org: OrgId, view: &View, version: u64) -> Option<Frame> {
        let st = self.lock();
        let w = st.orgs.get(&org)?.get(&view.query())?;
        w.snapshot
            .as_ref()
            .filter(|(v, _)| *v == version)
            .map(|(_, f)| f.clone())
    }

    /// Keep a full rendering that a connecting browser needed, for the next ones (never
    /// replaces a newer one; the base that live updates are diffed against is not touched).
    pub fn keep_snapshot(&self, org: OrgId, view: &View, version: u64, f: &Frame) {
        let mut st = self.lock();
        if let Some(w) = st.orgs.get_mut(&org).and_then(|v| v.get_mut(&view.query()))
            && w.snapshot.as_ref().is_none_or(|(v, _)| *v < version)
        {
            w.snapshot = Some((version, f.clone()));
        }
    }

    /// The org's data changed: its watched views are rendered on the next tick.
    pub fn changed(&self, org: OrgId) {
        self.lock().dirty.insert(org);
    }

    /// How many browsers watch, over all orgs and views.
    pub fn subscribers(&self) -> usize {
        self.lock()
            .orgs
            .values()
            .flat_map(|v| v.values())
            .map(|w| w.tx.receiver_count())
            .sum()
    }

    /// Render every watched view of the changed orgs once and send what changed. Blocking
    /// (reads the store): run it on a blocking thread.
    pub fn tick(&self, store: &Store, now: crate::domain::Ts) {
        let work: Vec<(OrgId, Vec<(String, View)>)> = {
            let mut st = self.lock();
            let dirty: Vec<OrgId> = st.dirty.drain().collect();
            // Forget views nobody watches any more.
            for views in st.orgs.values_mut() {
                views.retain(|_, w| w.tx.receiver_count() > 0);
            }
            st.orgs.retain(|_, v| !v.is_empty());
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
                let mut out = Vec::with_capacity(views.len());
                for (key, view) in &views {
                    match dashboard::sections(t, &org, view, now) {
                        Ok(s) => out.push((key.clone(), version, s)),
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
            let mut st = self.lock();
            let Some(views) = st.orgs.get_mut(&org_id) else {
                continue;
            };
            for (key, version, sections) in rendered {
                let Some(w) = views.get_mut(&key) else {
                    continue;
                };
                let changed: Vec<(&str, &str)> = dashboard::LIVE_SECTIONS
                    .iter()
                    .filter(|name| {
                        w.last
                            .as_ref()
                            .is_none_or(|(_, old)| old.get(name) != sections.get(name))
                    })
                    .map(|name| (*name, sections.get(name)))
                    .collect();
                if !changed.is_empty() {
                    // No receivers is not an error: the view is dropped on the next tick.
                    let _ = w.tx.send(frame(version, changed));
                }
                w.snapshot = Some((version, full_frame(version, &sections)));
                w.last = Some((version, sections));
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
            loop {
                every.tick().await;
                if hub.lock().dirty.is_empty() {
                    continue;
                }
                let (h, s, now) = (hub.clone(), store.clone(), clock.now());
                if tokio::task::spawn_blocking(move || h.tick(&s, now))
                    .await
                    .is_err()
                {
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
            std::str::from_utf8(&f).unwrap(),
            "event: kpis\nid: 7\ndata: <p>a</p>\ndata: <p>b</p>\n\nevent: ticker\nid: 7\ndata: <ol></ol>\n\n"
        );
    }
}
