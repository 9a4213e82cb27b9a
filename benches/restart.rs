//! Restart time after a crash: how long from starting `salesboard serve` until `GET /readyz`
//! answers 200, on a large data file (goal: ≤ 2 s with a 2 GB file), after a clean stop and
//! after a SIGKILL in the middle of ingest (redb then recovers the file at open).
//!
//! 1. SB_BENCH_EVENTS demo events (default 3,800,000: a data file of about 2 GB) are written
//!    through the store's ingest path, as `benches/backup.rs` does, plus an org API key; the
//!    store is then closed.
//! 2. The real binary is started on that data directory; each start is timed from spawn to
//!    the first 200 from `/readyz` (polled every 5 ms), split at the "listening on" banner
//!    (printed once the data file is open and the port bound).
//! 3. Starts after a SIGTERM (each stop is checked: did it close the data file cleanly, or
//!    would redb need a repair?), then SB_BENCH_ROUNDS rounds (default 5) of: a few clients
//!    post batches of sales to `POST /api/v1/events`, the server is killed with SIGKILL after
//!    a random-ish delay (seeded by SB_BENCH_SEED), restarted and timed.
//! 4. The recovery of a killed file timed in-process through redb alone (with its repair
//!    callback, to show whether a full repair ran), then a clean open of the same file.
//! 5. Once more with the data file evicted from the OS page cache (`fadvise(DONTNEED)` on that
//!    file only): a clean start, and a restart after a kill.
//!
//! `cargo bench --bench restart` (`SB_BENCH_EVENTS=300000` for a quicker run).

use salesboard::auth::accounts::ActingAs;
use salesboard::clock::{Clock, SystemClock};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod support;

const CLIENTS: u64 = 4;
const PER_BATCH: u64 = 50;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid value")),
        Err(_) => default,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A running server and how long it took to be ready.
struct Server {
    child: Child,
    base: String,
    /// Spawn → "listening on" banner (data file open, port bound).
    banner: Duration,
    /// Spawn → first 200 from `/readyz`.
    ready: Duration,
}

/// Start the binary on `dir` and time it to the first 200 from `/readyz`.
fn start(rt: &tokio::runtime::Runtime, http: &reqwest::Client, dir: &Path) -> Server {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_salesboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SALESBOARD_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let base = loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "server exited early");
        if let Some(rest) = l.trim_end().split("listening on ").nth(1) {
            break rest.to_string();
        }
    };
    let banner = t.elapsed();
    std::thread::spawn(move || for _ in out.lines() {});
    let url = format!("{base}/readyz");
    rt.block_on(async {
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(300), "not ready in 300 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let ready = t.elapsed();
    Server {
        child,
        base,
        banner,
        ready,
    }
}

/// Would redb need a full repair to open `file` (the last close was not clean)? The open is
/// abandoned at the repair's first callback, before anything is written.
fn needs_repair(file: &Path) -> bool {
    match redb::Builder::new()
        .set_repair_callback(|s: &mut redb::RepairSession| s.abort())
        .open(file)
    {
        Ok(db) => {
            drop(db);
            false
        }
        Err(redb::DatabaseError::RepairAborted) => true,
        Err(e) => panic!("probing {}: {e}", file.display()),
    }
}

/// Repair `file` in-process if it needs it (so that the next start is a clean one).
fn make_clean(file: &Path) {
    if needs_repair(file) {
        let t = Instant::now();
        drop(redb::Builder::new().open(file).unwrap());
        println!(
            "  (file repaired in-process first: {:.0} ms)",
            ms(t.elapsed())
        );
    }
}

/// SIGTERM and wait for a successful exit; then whether the data file was closed cleanly.
fn stop(s: Server, file: &Path) -> bool {
    terminate(s);
    !needs_repair(file)
}

fn terminate(mut s: Server) {
    let pid = s.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let st = s.child.wait().unwrap();
    assert!(st.success(), "server did not stop cleanly: {st}");
}

/// SIGKILL while `CLIENTS` clients post batches, `delay` after they start. Returns the
/// acknowledged batches and the failed requests (cut off by the kill, or refused).
fn kill_mid_ingest(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    mut s: Server,
    key: &str,
    round: u64,
    delay: Duration,
    at: &str,
) -> (u64, u64) {
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/v1/events", s.base);
    let auth = format!("Bearer {key}");
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, url, auth, at) = (http.clone(), url.clone(), auth.clone(), at.to_string());
            let (acked, failed, done) = (acked.clone(), failed.clone(), done.clone());
            rt.spawn(async move {
                let mut i = 0u64;
                while !done.load(Ordering::SeqCst) {
                    let prefix = format!("rs{round}-{c}-");
                    let items: Vec<String> = (i..i + PER_BATCH)
                        .map(|n| support::sale_json(&prefix, n, &at, 50_000))
                        .collect();
                    i += PER_BATCH;
                    let res = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("authorization", &auth)
                        .body(format!("[{}]", items.join(",")))
                        .send()
                        .await;
                    let ok = match res {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    if ok && !done.load(Ordering::SeqCst) {
                        acked.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        if done.load(Ordering::SeqCst) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(delay);
    s.child.kill().unwrap(); // SIGKILL
    done.store(true, Ordering::SeqCst);
    s.child.wait().unwrap();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    (acked.load(Ordering::SeqCst), failed.load(Ordering::SeqCst))
}

/// Write the file's dirty pages out and drop it from the OS page cache.
fn evict(file: &Path) {
    let f = std::fs::File::open(file).unwrap();
    f.sync_all().unwrap();
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

fn summary(name: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        println!("{name}: none");
        return;
    }
    v.sort();
    println!(
        "{name}: n={} median {:.0} ms, max {:.0} ms (min {:.0} ms)",
        v.len(),
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        ms(v[0])
    );
}

fn main() {
    let events: u64 = env("SB_BENCH_EVENTS", 3_800_000);
    let rounds: u64 = env("SB_BENCH_ROUNDS", 5);
    let mut seed: u64 = env("SB_BENCH_SEED", 7);
    let mut rand = move || {
        // xorshift64*: the same delays for the same seed
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The data directory (kept until the end by `_dir`).
    let bench = support::setup(|_| {});
    let (n, gen_secs) = support::load_demo(&bench, events);
    let support::Bench {
        cfg,
        store,
        org,
        _dir,
        ..
    } = bench;
    let now = SystemClock.now();
    let (_, key) =
        salesboard::auth::apikeys::create(&store, &ActingAs::cli(), org.id, "restart", now)
            .unwrap();
    // Close the data file: the server opens it itself.
    drop(store);
    let dir: PathBuf = cfg.data.dir.clone();
    let file = cfg.db_path();
    let size = || std::fs::metadata(&file).unwrap().len() as f64 / 1e6;
    println!(
        "data: {n} events in {gen_secs:.1} s; data file {:.0} MB ({})",
        size(),
        file.display()
    );
    // Sales of today, as a live feed would send them.
    let at = now.timestamp().to_string();

    // First start: no search index yet (it is rebuilt in the background).
    let s = start(&rt, &http, &dir);
    println!(
        "first start (no search index yet): ready in {:.0} ms (banner {:.0} ms)",
        ms(s.ready),
        ms(s.banner)
    );
    let mut was_clean = stop(s, &file);
    println!("  SIGTERM: data file closed cleanly: {was_clean}");

    // Starts after SIGTERM, split by whether that stop closed the file cleanly.
    let (mut clean, mut unclean) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let s = start(&rt, &http, &dir);
        println!(
            "start {i} after SIGTERM (closed cleanly: {was_clean}): ready in {:.0} ms (banner {:.0} ms)",
            ms(s.ready),
            ms(s.banner)
        );
        if was_clean { &mut clean } else { &mut unclean }.push(s.ready);
        // let it run a little, as a server would
        std::thread::sleep(Duration::from_millis(300));
        was_clean = stop(s, &file);
        println!("  SIGTERM: data file closed cleanly: {was_clean}");
    }
    make_clean(&file);

    // Kill mid-ingest, restart, time.
    let mut s = start(&rt, &http, &dir);
    let mut after_kill = Vec::new();
    let mut total_acked = 0;
    for round in 0..rounds {
        let delay = Duration::from_millis(500 + rand() % 2000);
        let (acked, failed) = kill_mid_ingest(&rt, &http, s, &key, round, delay, &at);
        total_acked += acked;
        s = start(&rt, &http, &dir);
        println!(
            "kill {round} after {:.0} ms of ingest ({acked} batches of {PER_BATCH} acknowledged, {failed} cut off): restart ready in {:.0} ms (banner {:.0} ms); file {:.0} MB",
            ms(delay),
            ms(s.ready),
            ms(s.banner),
            size()
        );
        after_kill.push(s.ready);
    }
    println!("acknowledged batches in all kill rounds: {total_acked}");

    // redb alone opening a killed file: is the time its repair?
    let delay = Duration::from_millis(500 + rand() % 2000);
    kill_mid_ingest(&rt, &http, s, &key, rounds + 1, delay, &at);
    println!("killed: needs repair: {}", needs_repair(&file));
    let calls = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let db = {
        let calls = calls.clone();
        redb::Builder::new()
            .set_cache_size(usize::try_from(cfg.data.cache_mb << 20).unwrap())
            .set_repair_callback(move |_: &mut redb::RepairSession| {
                calls.fetch_add(1, Ordering::SeqCst);
            })
            .create(&file)
            .unwrap()
    };
    let repair = t.elapsed();
    drop(db);
    println!(
        "redb open of a killed file in-process: {:.0} ms, repair callback called {} times ({})",
        ms(repair),
        calls.load(Ordering::SeqCst),
        if calls.load(Ordering::SeqCst) > 0 {
            "full repair"
        } else {
            "no repair"
        }
    );
    let t = Instant::now();
    drop(redb::Builder::new().create(&file).unwrap());
    println!(
        "redb open of the same file, closed cleanly: {:.0} ms",
        ms(t.elapsed())
    );
    let s = start(&rt, &http, &dir);
    println!(
        "server start after that: ready in {:.0} ms (banner {:.0} ms)",
        ms(s.ready),
        ms(s.banner)
    );
    println!("  SIGTERM: data file closed cleanly: {}", stop(s, &file));
    make_clean(&file);

    // Cold OS page cache: clean, then after a kill.
    evict(&file);
    let s = start(&rt, &http, &dir);
    println!(
        "clean start, data file not in the page cache: ready in {:.0} ms (banner {:.0} ms)",
        ms(s.ready),
        ms(s.banner)
    );
    let delay = Duration::from_millis(500 + rand() % 2000);
    let (acked, _) = kill_mid_ingest(&rt, &http, s, &key, rounds, delay, &at);
    evict(&file);
    let s = start(&rt, &http, &dir);
    println!(
        "kill ({acked} batches acknowledged), data file not in the page cache: restart ready in {:.0} ms (banner {:.0} ms)",
        ms(s.ready),
        ms(s.banner)
    );
    println!("  SIGTERM: data file closed cleanly: {}", stop(s, &file));

    println!("---");
    println!("data file {:.0} MB, {n}+ events", size());
    summary(
        "start after a SIGTERM that closed the file cleanly, spawn → /readyz 200",
        clean,
    );
    if !unclean.is_empty() {
        summary(
            "start after a SIGTERM that left the file needing repair, spawn → /readyz 200",
            unclean,
        );
    }
    summary(
        "restart after SIGKILL mid-ingest, spawn → /readyz 200",
        after_kill,
    );
}
