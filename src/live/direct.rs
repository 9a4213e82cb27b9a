//! Dashboard streams on connections of their own, written by the hub itself.
//!
//! A dashboard stream served by [`super::conn`] (a connection of its own, no hyper) is not a
//! task woken up for every update. The hub writes each update's shared bytes straight into
//! the socket, from the thread that rendered the update (spread over the cores when many
//! streams watch): one non-blocking `write` per stream. Only what a socket does not take at
//! once (its buffer is full: a slow or stalled client) is left to the stream's own task,
//! which waits until the socket takes more. Updates coming meanwhile queue behind it, up to
//! the client buffer; a stream whose queue overflows gets one `refresh` instead of the
//! backlog, as a stream served by hyper does. The task also sends the catch-up and the
//! heartbeats, re-checks the session, notices the client going away, and writes the gzip
//! trailer at the end.
//!
//! Why: with 10,000 streams open, waking 10,000 tasks for each update (each then polling its
//! channel and the response body before its one `write`) was about a third of the server's
//! CPU per update, and the fan-out waited on it.

use super::conn::WRITE_TIMEOUT;
use super::sse::{HEARTBEAT, REFRESH, Watch};
use super::{Bytes, Frame, Wire};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;

/// The fewest streams a writing thread of its own is started for (starting one costs about
/// as much as writing a dozen streams).
const STREAMS_PER_THREAD: usize = 256;

/// One dashboard stream's side of the connection, shared by the hub and the stream's task.
pub struct Direct {
    out: Mutex<Out>,
    /// Tells the task there is work: bytes the socket did not take, or a failed write.
    wake: tokio::sync::Notify,
}

struct Out {
    /// The connection, once the response head is out (updates queue until then).
    sock: Option<Arc<TcpStream>>,
    wire: Wire,
    /// The newest data version sent or queued.
    shows: u64,
    /// What the socket did not take yet of the bytes last written.
    rest: Bytes,
    /// Frames waiting behind `rest`, with their data version (`None`: not data).
    queue: VecDeque<(Option<u64>, Frame)>,
    /// How many frames may wait.
    limit: usize,
    /// The queue overflowed and was dropped: a `refresh` goes next.
    behind: bool,
    /// The stream is ending: the hub's updates are not taken any more.
    closed: bool,
    /// A write failed: nothing more is written.
    broken: bool,
}

impl Out {
    /// Nothing waits: a new frame can be written at once.
    fn idle(&self) -> bool {
        self.sock.is_some() && self.rest.is_empty() && self.queue.is_empty() && !self.behind
    }

    fn enqueue(&mut self, version: Option<u64>, f: &Frame) {
        if self.queue.len() >= self.limit {
            self.queue.clear();
            self.behind = true;
        } else {
            self.queue.push_back((version, f.clone()));
        }
    }

    /// Write `bytes` (after nothing else is waiting); whatever the socket does not take stays
    /// in `rest`. `true`: all of it went out.
    fn write(&mut self, bytes: Bytes) -> bool {
        let Some(sock) = &self.sock else {
            return false;
        };
        match sock.try_write(&bytes) {
            Ok(n) if n == bytes.len() => return true,
            Ok(n) => self.rest = bytes.slice(n..),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.rest = bytes,
            Err(_) => self.broken = true,
        }
        false
    }

    /// Write what waits, as far as the socket takes it. `true`: nothing waits any more.
    fn advance(&mut self) -> bool {
        loop {
            if self.broken {
                return true;
            }
            if !self.rest.is_empty() {
                let rest = std::mem::take(&mut self.rest);
                if !self.write(rest) {
                    return self.broken;
                }
                continue;
            }
            let next = if std::mem::take(&mut self.behind) {
                REFRESH.clone()
            } else if let Some((_, f)) = self.queue.pop_front() {
                f
            } else {
                return true;
            };
            let bytes = self.wire.bytes(&next);
            if !self.write(bytes) {
                return self.broken;
            }
        }
    }
}

impl Direct {
    pub(super) fn new(gzip: bool, limit: usize) -> Arc<Direct> {
        Arc::new(Direct {
            out: Mutex::new(Out {
                sock: None,
                wire: Wire::new(gzip),
                shows: 0,
                rest: Bytes::new(),
                queue: VecDeque::new(),
                limit: limit.max(1),
                behind: false,
                closed: false,
                broken: false,
            }),
            wake: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // Plain data: a panic elsewhere leaves nothing half-changed that matters here.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An update at `version` (the hub offers them in version order): written now if nothing
    /// waits, else queued for the task.
    pub(super) fn offer(&self, version: u64, f: &Frame) {
        let mut o = self.lock();
        if o.closed || o.broken || version <= o.shows {
            return;
        }
        o.shows = version;
        if o.idle() {
            let bytes = o.wire.bytes(f);
            if o.write(bytes) {
                return;
            }
        } else {
            o.enqueue(Some(version), f);
        }
        if o.sock.is_some() {
            drop(o);
            self.wake.notify_one();
        }
    }

    /// The response head is out: the catch-up `first` (if any) goes first, then what was
    /// offered meanwhile and is newer than `shows`, the version the catch-up shows.
    fn start(&self, sock: Arc<TcpStream>, first: Option<Frame>, shows: u64) {
        let mut o = self.lock();
        o.sock = Some(sock);
        o.queue.retain(|(v, _)| v.is_none_or(|v| v > shows));
        o.shows = o.shows.max(shows);
        if let Some(f) = first {
            o.queue.push_front((None, f));
        }
    }

    /// A heartbeat, unless something is on its way anyway.
    fn heartbeat(&self) {
        let mut o = self.lock();
        if o.idle() {
            let bytes = o.wire.bytes(&HEARTBEAT);
            o.write(bytes);
        }
    }

    /// The last frame: nothing is taken after it.
    fn last(&self, f: &Frame) {
        let mut o = self.lock();
        o.enqueue(None, f);
        o.closed = true;
    }

    /// Write everything waiting, waiting for the socket as needed. `false`: the client is
    /// gone or stopped reading.
    async fn flush(&self, sock: &TcpStream) -> bool {
        loop {
            {
                let mut o = self.lock();
                if o.advance() {
                    return !o.broken;
                }
            }
            match tokio::time::timeout(WRITE_TIMEOUT, sock.writable()).await {
                Ok(Ok(())) => {}
                _ => {
                    self.lock().broken = true;
                    return false;
                }
            }
        }
    }

    /// Close the stream: the rest of a half-written frame and, for gzip, the trailer go out.
    async fn finish(&self, sock: &TcpStream) {
        let writable = {
            let mut o = self.lock();
            o.closed = true;
            o.queue.clear();
            o.behind = false;
            if !o.broken
                && let Some(end) = o.wire.end()
            {
                let rest = std::mem::take(&mut o.rest);
                let mut both = Vec::with_capacity(rest.len() + end.len());
                both.extend_from_slice(&rest);
                both.extend_from_slice(&end);
                o.rest = both.into();
            }
            !o.broken
        };
        if writable {
            self.flush(sock).await;
        }
        self.lock().sock = None;
    }
}

/// Offer an update to `streams`, spread over the cores when there are many.
pub(super) fn deliver(streams: &[Arc<Direct>], version: u64, f: &Frame) {
    // Looked up once: it reads the cgroup's CPU limit from files.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = cores.min(streams.len() / STREAMS_PER_THREAD).max(1);
    if threads == 1 {
        streams.iter().for_each(|d| d.offer(version, f));
        return;
    }
    let mut parts = streams.chunks(streams.len().div_ceil(threads));
    let mine = parts.next().unwrap_or_default();
    std::thread::scope(|s| {
        for part in parts {
            s.spawn(move || part.iter().for_each(|d| d.offer(version, f)));
        }
        mine.iter().for_each(|d| d.offer(version, f));
    });
}

/// What [`super::conn`] needs to serve a dashboard stream: handed over in the extensions of
/// the response the handler made (whose body is empty).
#[derive(Clone)]
pub struct DirectStream {
    pub(super) direct: Arc<Direct>,
    pub(super) first: Option<Frame>,
    pub(super) shows: u64,
    pub(super) watch: Watch,
}

impl DirectStream {
    /// Serve the stream on `tcp` (its response head written) until it ends, then close.
    pub async fn run(self, tcp: TcpStream) {
        let DirectStream {
            direct: d,
            first,
            shows,
            watch,
        } = self;
        let _open = super::sse::OpenStream::new();
        let sock = Arc::new(tcp);
        d.start(sock.clone(), first, shows);
        let (mut heartbeat, mut session_check) = watch.timers();
        let closed = watch.state.live.closed();
        tokio::pin!(closed);
        let mut ignored = [0u8; 64];
        while d.flush(&sock).await {
            tokio::select! {
                _ = &mut closed => break,
                _ = d.wake.notified() => {}
                _ = heartbeat.tick() => d.heartbeat(),
                _ = session_check.tick() => {
                    if !watch.allowed().await {
                        // Signed out, revoked or disabled: the page reloads its view, which
                        // sends the browser to sign in; then the stream ends.
                        d.last(&REFRESH);
                        d.flush(&sock).await;
                        break;
                    }
                }
                // The client closed (whatever else it sends is ignored).
                ready = sock.readable() => match ready.and_then(|()| sock.try_read(&mut ignored)) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                },
            }
        }
        d.finish(&sock).await;
        drop(d);
        if let Ok(mut tcp) = Arc::try_unwrap(sock) {
            use tokio::io::AsyncWriteExt;
            let _ = tcp.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    /// A connected pair on loopback: the server's end as the stream's socket, and the client.
    async fn pair() -> (Arc<TcpStream>, std::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = l.accept().await.unwrap();
        (Arc::new(server), client)
    }

    /// Read until what came ends with `end` (10 s at most).
    fn read_until(c: &mut std::net::TcpStream, end: &str) -> String {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while !out.ends_with(end.as_bytes()) {
            let n = c.read(&mut buf).expect("more bytes in time");
            assert!(n > 0, "the connection closed");
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).unwrap()
    }

    fn update(v: u64) -> Frame {
        super::super::frame(v, [("kpis", format!("<p>{v}</p>").as_str())])
    }

    /// Updates offered before the head is out wait; the catch-up goes first and queued
    /// updates it already shows are dropped; later updates are written by the hub at once.
    #[tokio::test]
    async fn the_catch_up_goes_first_then_only_newer_updates() {
        let (sock, mut client) = pair().await;
        let d = Direct::new(false, 8);
        d.offer(3, &update(3));
        d.offer(4, &update(4));
        d.start(sock.clone(), Some(update(3)), 3);
        assert!(d.flush(&sock).await);
        d.offer(4, &update(4));
        d.offer(5, &update(5));
        let got = read_until(&mut client, "<p>5</p>\n\n");
        let ids: Vec<&str> = got.lines().filter(|l| l.starts_with("id: ")).collect();
        assert_eq!(ids, ["id: 3", "id: 4", "id: 5"], "{got}");
    }

    /// A client that stops reading: the socket fills, updates queue, and past the limit the
    /// queue is dropped for one `refresh`; the stream carries on once the client reads.
    #[tokio::test]
    async fn a_client_that_falls_behind_gets_one_refresh_then_new_updates() {
        let (sock, mut client) = pair().await;
        let d = Direct::new(false, 2);
        d.start(sock.clone(), None, 0);
        let big = |v: u64| {
            let html = format!("<p>{v}</p>{}", "x".repeat(256 * 1024));
            super::super::frame(v, [("kpis", html.as_str())])
        };
        let mut v = 0;
        while d.lock().rest.is_empty() {
            v += 1;
            d.offer(v, &big(v));
            assert!(v < 100, "the socket never filled");
        }
        for _ in 0..3 {
            v += 1;
            d.offer(v, &big(v));
        }
        assert!(d.lock().behind, "the queue overflowed");
        v += 1;
        d.offer(v, &update(v));
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            loop {
                let n = client.read(&mut buf).unwrap();
                all.extend_from_slice(&buf[..n]);
                if n == 0 || all.ends_with(format!("<p>{v}</p>\n\n").as_bytes()) {
                    return String::from_utf8(all).unwrap();
                }
            }
        });
        assert!(d.flush(&sock).await);
        let got = reader.join().unwrap();
        let events: Vec<&str> = got.lines().filter(|l| l.starts_with("event: ")).collect();
        assert_eq!(events.iter().filter(|e| **e == "event: refresh").count(), 1);
        assert!(got.ends_with(&format!("<p>{v}</p>\n\n")));
    }

    /// A gzip stream written partly by the hub and partly by its task decodes whole, the
    /// trailer included.
    #[tokio::test]
    async fn a_gzip_stream_ends_whole() {
        let (sock, mut client) = pair().await;
        let d = Direct::new(true, 8);
        d.start(sock.clone(), Some(update(1)), 1);
        assert!(d.flush(&sock).await);
        d.offer(2, &update(2));
        d.heartbeat();
        d.finish(&sock).await;
        drop(sock);
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(wire.as_slice())
            .read_to_string(&mut text)
            .expect("a whole gzip stream");
        assert_eq!(
            text,
            "event: kpis\nid: 1\ndata: <p>1</p>\n\nevent: kpis\nid: 2\ndata: <p>2</p>\n\n: keep-alive\n\n"
        );
    }
}
