//! Live dashboards under load: a real server process, N browsers' worth of SSE streams on the
//! default dashboard view, and sales posted one at a time. Reports
//!
//! - event → update latency: from the API's acknowledgement (the sale is committed) to each
//!   stream receiving the changed KPI tiles, with the default 250 ms tick and a 50 ms tick;
//! - fan-out: for each update, how long after the first stream the others received it;
//! - server memory per idle stream (RSS with N streams open minus RSS before, over N).
//!
//! `cargo bench --bench live`. `SB_LIVE_CLIENTS` (default 1000) and `SB_LIVE_FANOUT_CLIENTS`
//! (default 10000) set the stream counts; `SB_LIVE_POSTS` (default 20) the updates per run.
//! The streams take gzip, as browsers do; `SB_LIVE_PLAIN=1` opens them uncompressed instead.
//! Each stream opens a connection of its own (as an `EventSource` usually does).
//!
//! The clients share the server's two cores. Each stream is opened on tokio, then its socket
//! goes to one of `SB_LIVE_READERS` (default 2) threads that wait on their sockets with epoll.
//! While sales are posted they only read and keep the bytes with the time they were read;
//! inflating and finding the events happens after (an event's time is still the read that
//! completed it). Inflating 21 KB per stream and update is a browser's work on its own
//! machine: done at once it took as much CPU as the server and was most of the measured
//! fan-out.

mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: std::process::Child,
    addr: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server process on a fresh data dir (an org and a signed-in admin), with `tick`.
fn server(tick: &str) -> Server {
    let support::Bench {
        store, token, _dir, ..
    } = support::setup(|_| {});
    // The bench's store handle must go before the server opens the file.
    drop(store);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_salesboard"))
        .arg("--data-dir")
        .arg(_dir.path())
        .arg("serve")
        .env("SALESBOARD_SERVER__LISTEN", "127.0.0.1:0")
        .env("SALESBOARD_LIVE__TICK", tick)
        .env("SALESBOARD_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on http://").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens");
    Server {
        child,
        addr,
        token,
        _dir,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What one stream received: the body bytes as read, each with the time it was read (decoded
/// later, see [`Log::decode`]), and the `kpis` events decoded so far.
#[derive(Default)]
struct Log {
    raw: Vec<(Instant, Vec<u8>)>,
    inflate: Option<flate2::write::GzDecoder<Vec<u8>>>,
    text: Vec<u8>,
    /// How much of `text` was searched for event ends already.
    scanned: usize,
    /// (version, when its last byte was read) of every `kpis` event.
    seen: Vec<(u64, Instant)>,
}

impl Log {
    /// Decode what was read since the last call. The read time of the bytes that complete an
    /// event is its arrival time, so decoding late changes no figure; it keeps the clients'
    /// inflating and parsing (a browser's work, on the browser's machine) off the two cores
    /// while the server fans an update out.
    fn decode(&mut self) {
        use std::io::Write;
        for (at, bytes) in std::mem::take(&mut self.raw) {
            let had = self.text.len();
            match &mut self.inflate {
                Some(z) => {
                    z.write_all(&bytes).expect("gzip");
                    z.flush().expect("gzip");
                    self.text.append(z.get_mut());
                }
                None => self.text.extend_from_slice(&bytes),
            }
            WIRE_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            TEXT_BYTES.fetch_add((self.text.len() - had) as u64, Ordering::Relaxed);
            // Only the new bytes are searched for event ends, and only each event's first
            // lines (`event:` and `id:` come before the data) are read.
            let from = self.scanned.saturating_sub(1);
            let ends: Vec<usize> = memchr::memmem::find_iter(&self.text[from..], b"\n\n")
                .map(|i| from + i + 2)
                .collect();
            let mut start = 0;
            for end in ends {
                let block = &self.text[start..end];
                start = end;
                let mut event: &[u8] = b"";
                let mut id = None;
                for line in block.split(|b| *b == b'\n') {
                    if let Some(v) = line.strip_prefix(b"event:") {
                        event = v.trim_ascii();
                    } else if let Some(v) = line.strip_prefix(b"id:") {
                        id = std::str::from_utf8(v.trim_ascii())
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok());
                    } else if line.starts_with(b"data:") {
                        break;
                    }
                }
                if let (Some(id), b"kpis") = (id, event) {
                    self.seen.push((id, at));
                }
            }
            self.text.drain(..start);
            self.scanned = self.text.len();
        }
    }
}

type Seen = Arc<Mutex<Log>>;

/// Body bytes every stream read off the wire, and what they decoded to.
static WIRE_BYTES: AtomicU64 = AtomicU64::new(0);
static TEXT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Open one stream (HTTP/1.0, so the body is the events, gzip-encoded unless `plain`, until
/// close), read the response head, and hand the socket to a reader thread.
async fn stream(
    addr: String,
    token: String,
    seen: Seen,
    plain: bool,
    reader: Reader,
) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let encoding = if plain { "identity" } else { "gzip" };
    let req = format!(
        "GET /live HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nAccept-Encoding: {encoding}\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send the request: {e}"))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 16384];
    let (at, i) = loop {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read the response: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&head)));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break (Instant::now(), i);
        }
    };
    let text = String::from_utf8_lossy(&head[..i]).to_ascii_lowercase();
    if !(text.starts_with("http/1.1 200") || text.starts_with("http/1.0 200")) {
        return Err(text);
    }
    assert_eq!(text.contains("content-encoding: gzip"), !plain, "{text}");
    let rest = head.split_off(i + 4);
    {
        let mut log = seen.lock().unwrap();
        if !plain {
            log.inflate = Some(flate2::write::GzDecoder::new(Vec::new()));
        }
        log.raw.push((at, rest));
    }
    let std = s
        .into_std()
        .map_err(|e| format!("detach the socket: {e}"))?;
    reader.add(std, seen);
    Ok(())
}

/// A thread reading many streams' sockets: it waits for any of them to have bytes with epoll
/// (through `mio`) and logs each read with its time. Ten thousand browsers would each read
/// their own stream on their own machine; here they share the server's two cores, so the
/// reading side is kept as cheap as a load generator's (a task per stream on tokio cost
/// about as much CPU again as the server spent sending).
#[derive(Clone)]
struct Reader {
    tx: std::sync::mpsc::Sender<(std::net::TcpStream, Seen)>,
    waker: Arc<mio::Waker>,
}

const WAKE: mio::Token = mio::Token(usize::MAX);

impl Reader {
    fn spawn(stop: Arc<AtomicBool>) -> (Reader, std::thread::JoinHandle<()>) {
        let mut poll = mio::Poll::new().expect("epoll");
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE).expect("waker"));
        let (tx, rx) = std::sync::mpsc::channel::<(std::net::TcpStream, Seen)>();
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<(mio::net::TcpStream, Seen)> = Vec::new();
            let mut events = mio::Events::with_capacity(1024);
            let mut buf = vec![0u8; 16384];
            loop {
                match poll.poll(&mut events, None) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => panic!("epoll: {e}"),
                }
                for ev in events.iter() {
                    if ev.token() == WAKE {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        for (std, seen) in rx.try_iter() {
                            let mut s = mio::net::TcpStream::from_std(std);
                            poll.registry()
                                .register(&mut s, mio::Token(conns.len()), mio::Interest::READABLE)
                                .expect("register a stream");
                            conns.push((s, seen));
                        }
                        continue;
                    }
                    let (s, seen) = &mut conns[ev.token().0];
                    // Edge-triggered: read until the socket is empty.
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                let at = Instant::now();
                                seen.lock().unwrap().raw.push((at, buf[..n].to_vec()));
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                }
            }
        });
        (Reader { tx, waker }, thread)
    }

    fn add(&self, s: std::net::TcpStream, seen: Seen) {
        self.tx.send((s, seen)).expect("the reader runs");
        self.waker.wake().expect("wake the reader");
    }
}

/// Open streams, closed again when dropped.
struct Streams {
    seen: Vec<Seen>,
    readers: Vec<(Reader, std::thread::JoinHandle<()>)>,
    stop: Arc<AtomicBool>,
}

impl Drop for Streams {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for (r, t) in std::mem::take(&mut self.readers) {
            r.waker.wake().ok();
            t.join().ok();
        }
    }
}

async fn open_streams(srv: &Server, n: usize) -> Streams {
    let plain = env("SB_LIVE_PLAIN", 0) == 1;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..env("SB_LIVE_READERS", 2).max(1))
        .map(|_| Reader::spawn(stop.clone()))
        .collect();
    let mut streams = Streams {
        seen: Vec::with_capacity(n),
        readers,
        stop,
    };
    let started = Instant::now();
    let mut retried = 0;
    // Connect in waves so the listen backlog rarely overflows.
    for wave in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut opening = Vec::with_capacity(wave.len());
        for i in wave {
            let seen: Seen = Default::default();
            streams.seen.push(seen.clone());
            let reader = streams.readers[i % streams.readers.len()].0.clone();
            let (addr, token) = (srv.addr.clone(), srv.token.clone());
            // A connection reset while thousands open at once (the listen queue overflows
            // and the kernel falls back to SYN cookies) is retried, as `EventSource` does.
            opening.push(tokio::spawn(async move {
                let mut tries = 0;
                loop {
                    tries += 1;
                    let open = stream(
                        addr.clone(),
                        token.clone(),
                        seen.clone(),
                        plain,
                        reader.clone(),
                    );
                    match tokio::time::timeout(Duration::from_secs(60), open).await {
                        Ok(Ok(())) => return Ok(tries - 1),
                        Ok(Err(_)) if tries < 3 => continue,
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err("no response head within 60 s".to_string()),
                    }
                }
            }));
        }
        for (i, o) in wave.iter().zip(opening) {
            match o.await.expect("a stream's task") {
                Ok(n) => retried += n,
                Err(e) => panic!("stream {i} did not open in three tries: {e}"),
            }
        }
    }
    println!(
        "  opened {n} streams in {:.1} s ({retried} opened again after a reset)",
        started.elapsed().as_secs_f64()
    );
    streams
}

async fn post_sale(c: &reqwest::Client, srv: &Server, n: usize) -> Instant {
    let at = jiff::Timestamp::now().to_string();
    let body = format!("[{}]", support::sale_json("live-", n as u64, &at, 500));
    let r = c
        .post(format!("http://{}/api/v1/events", srv.addr))
        .bearer_auth(&srv.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    Instant::now()
}

/// Post `posts` sales one at a time, `gap` apart, and report latency and fan-out (and the
/// server's memory per idle stream, measured before the first sale).
async fn run(name: &str, srv: &Server, clients: usize, posts: usize, gap: Duration) {
    println!("{name}: {clients} streams");
    let pid = srv.child.id();
    // One stream first, so the one-time allocations of the first render are not counted.
    let warm = open_streams(srv, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let opened = open_streams(srv, clients).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    println!(
        "  server RSS {:.1} MiB before the streams, {:.1} MiB with them idle: {:.1} KiB per stream",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / clients as f64
    );
    drop(warm);
    let streams = &opened.seen;
    let c = reqwest::Client::new();
    // Each stream got the current state on connect; its version is the base.
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        let firsts: Vec<Option<u64>> = streams
            .iter()
            .map(|s| {
                let mut log = s.lock().unwrap();
                log.decode();
                log.seen.first().map(|x| x.0)
            })
            .collect();
        if firsts.iter().all(Option::is_some) {
            break firsts.iter().flatten().copied().max().unwrap_or(0);
        }
        assert!(
            Instant::now() < deadline,
            "streams did not all get the first state"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (wire0, text0) = (
        WIRE_BYTES.load(Ordering::Relaxed),
        TEXT_BYTES.load(Ordering::Relaxed),
    );
    let mut acked: HashMap<u64, Instant> = HashMap::new();
    for i in 0..posts {
        let t = post_sale(&c, srv, i).await;
        acked.insert(base + 1 + i as u64, t);
        tokio::time::sleep(gap).await;
    }
    // Wait until every stream saw the last update.
    let last = base + posts as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while streams.iter().any(|s| {
        let mut log = s.lock().unwrap();
        log.decode();
        log.seen.last().is_none_or(|x| x.0 < last)
    }) {
        assert!(
            Instant::now() < deadline,
            "not every stream got the last update"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latency = Vec::new();
    let mut fanout = Vec::new();
    let mut first: HashMap<u64, Instant> = HashMap::new();
    for s in streams {
        for (v, at) in s.lock().unwrap().seen.iter() {
            let f = first.entry(*v).or_insert(*at);
            if at < f {
                *f = *at;
            }
        }
    }
    let mut updates = 0usize;
    for s in streams {
        for (v, at) in s.lock().unwrap().seen.iter() {
            if let Some(sent) = acked.get(v) {
                latency.push(at.saturating_duration_since(*sent));
                fanout.push(at.saturating_duration_since(first[v]));
                updates += 1;
            }
        }
    }
    // Updates can coalesce (two commits in one tick): each stream gets the newest.
    println!("  {updates} updates received for {posts} sales");
    let per = updates.max(1) as f64 * 1024.0;
    println!(
        "  per update and stream: {:.1} KiB on the wire, {:.1} KiB of events",
        (WIRE_BYTES.load(Ordering::Relaxed) - wire0) as f64 / per,
        (TEXT_BYTES.load(Ordering::Relaxed) - text0) as f64 / per
    );
    support::percentiles("  sale acknowledged -> tiles received", latency);
    support::percentiles("  fan-out (after the first stream)", fanout);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients = env("SB_LIVE_CLIENTS", 1000);
    let fan = env("SB_LIVE_FANOUT_CLIENTS", 10_000);
    let posts = env("SB_LIVE_POSTS", 20);
    rt.block_on(async {
        {
            let srv = server("250ms");
            run(
                "default tick (250 ms)",
                &srv,
                clients,
                posts,
                Duration::from_millis(400),
            )
            .await;
        }
        {
            let srv = server("50ms");
            run(
                "50 ms tick",
                &srv,
                clients,
                posts,
                Duration::from_millis(150),
            )
            .await;
        }
        {
            let srv = server("250ms");
            run(
                "fan-out",
                &srv,
                fan,
                posts.min(10),
                Duration::from_millis(600),
            )
            .await;
        }
    });
}
