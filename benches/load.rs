//! Ingest load tool: offers events at a fixed rate in small batches over real HTTP and reports
//! the durable ack latency (from the moment each request was due, so a stalled server cannot
//! hide its queueing: no coordinated omission).
//!
//! ```text
//! cargo bench --bench load                      # starts its own server (temp data dir)
//! SB_LOAD_RATE=20000 SB_LOAD_BATCH=20 cargo bench --bench load
//! SB_LOAD_URL=http://127.0.0.1:8000 SB_LOAD_KEY=sbk_... cargo bench --bench load
//! ```
//!
//! The load generator runs in the same process as the server it starts (both share this
//! machine's two cores, as a client on the same box would). Failed requests (e.g. 503 when the
//! ingest queue is full) are counted by status and reported apart, never hidden.
//!
//! Settings (environment): `SB_LOAD_RATE` events/s offered (default 10,000), `SB_LOAD_BATCH`
//! events per request (default 10), `SB_LOAD_SECS` seconds of load (default 20, after 2 s of
//! warm-up), `SB_LOAD_URL` + `SB_LOAD_KEY` to load a running server with an org API key
//! instead. The events are the same on every run but for their times and ids, which follow
//! the run's start (sales happening as they are offered; reruns against one server are not
//! duplicates).

mod support;

use salesboard::auth::accounts::ActingAs;
use salesboard::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid value")),
        Err(_) => default,
    }
}

/// Sale `n` of a run that started at `run` (µs since the epoch): happening as it is offered.
fn event(run: u64, n: u64, rate: u64) -> String {
    let at = jiff::Timestamp::from_microsecond((run + n * 1_000_000 / rate) as i64).unwrap();
    support::sale_json(&format!("load-{run}-"), n, &at.to_string(), 50_000)
}

fn batch(run: u64, start: u64, n: u64, rate: u64) -> String {
    let items: Vec<String> = (start..start + n).map(|i| event(run, i, rate)).collect();
    format!("[{}]", items.join(","))
}

struct Outcome {
    /// From when the request was due to when the answer arrived.
    latency: Duration,
    /// The HTTP status, or `None` when no answer came (connection error, timeout).
    status: Option<u16>,
    measured: bool,
}

fn main() {
    let rate: u64 = env("SB_LOAD_RATE", 10_000);
    let per_request: u64 = env("SB_LOAD_BATCH", 10);
    let secs: u64 = env("SB_LOAD_SECS", 20);
    let warmup = Duration::from_secs(2);
    assert!(rate > 0 && per_request > 0 && secs > 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // Our own server, unless one is named.
        let (base, key, server, _dir) = match std::env::var("SB_LOAD_URL") {
            Ok(url) => {
                let key = std::env::var("SB_LOAD_KEY").expect("SB_LOAD_KEY with SB_LOAD_URL");
                (url.trim_end_matches('/').to_string(), key, None, None)
            }
            Err(_) => {
                let support::Bench {
                    cfg,
                    store,
                    org,
                    _dir,
                    ..
                } = support::setup(|cfg| {
                    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
                });
                let (_, key) = salesboard::auth::apikeys::create(
                    &store,
                    &ActingAs::cli(),
                    org.id,
                    "load",
                    SystemClock.now(),
                )
                .unwrap();
                // The server opens the data file itself.
                drop(store);
                let server = salesboard::server::start(cfg, Arc::new(SystemClock))
                    .await
                    .unwrap();
                (server.base_url(), key, Some(server), Some(_dir))
            }
        };
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            // A stalled server shows up as failed requests, not a tool that never ends.
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let url = format!("{base}/api/v1/events");
        let auth = format!("Bearer {key}");
        let run = SystemClock.now().0 as u64;
        let interval = Duration::from_secs_f64(per_request as f64 / rate as f64);
        let total = Duration::from_secs(secs) + warmup;
        let requests = (total.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
        // Bodies are built before the clock starts, so the load tool's own work stays out of
        // the measured path.
        let bodies: Vec<String> = (0..requests)
            .map(|i| batch(run, i * per_request, per_request, rate))
            .collect();
        println!(
            "offering {rate} events/s in requests of {per_request} ({:.0} requests/s) for {secs} s after {} s of warm-up",
            rate as f64 / per_request as f64,
            warmup.as_secs()
        );
        let in_flight = Arc::new(AtomicU64::new(0));
        let max_in_flight = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
        let start = Instant::now();
        for (i, body) in bodies.into_iter().enumerate() {
            let due = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            let (client, url, auth, tx) = (client.clone(), url.clone(), auth.clone(), tx.clone());
            let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
            let measured = due - start >= warmup;
            tokio::spawn(async move {
                let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                max_in_flight.fetch_max(now, Ordering::Relaxed);
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", auth)
                    .body(body)
                    .send()
                    .await;
                let status = match res {
                    Ok(r) => {
                        let code = r.status().as_u16();
                        r.bytes().await.ok().map(|_| code)
                    }
                    Err(_) => None,
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = tx.send(Outcome {
                    latency: due.elapsed(),
                    status,
                    measured,
                });
            });
        }
        drop(tx);
        let sent_in = start.elapsed();
        let (mut latencies, mut failed_latencies) = (Vec::new(), Vec::new());
        let mut acked_events = 0u64;
        // Failures by status ("none": no answer), so shed load (503) is never hidden.
        let mut failures: std::collections::BTreeMap<String, u64> = Default::default();
        while let Some(o) = rx.recv().await {
            match o.status {
                Some(s) if (200..300).contains(&s) => {
                    acked_events += per_request;
                    if o.measured {
                        latencies.push(o.latency);
                    }
                }
                other => {
                    let key = other.map_or("none".to_string(), |s| s.to_string());
                    *failures.entry(key).or_default() += 1;
                    if o.measured {
                        failed_latencies.push(o.latency);
                    }
                }
            }
        }
        let failed: u64 = failures.values().sum();
        let elapsed = start.elapsed();
        println!(
            "acknowledged {acked_events} events in {:.2} s ({:.0} events/s; offered for {:.2} s); failed requests: {failed} {failures:?}; most requests in flight: {}",
            elapsed.as_secs_f64(),
            acked_events as f64 / elapsed.as_secs_f64(),
            sent_in.as_secs_f64(),
            max_in_flight.load(Ordering::Relaxed)
        );
        if !latencies.is_empty() {
            support::percentiles("durable ack latency (from when due)", latencies);
        }
        if !failed_latencies.is_empty() {
            support::percentiles("failed request latency (from when due)", failed_latencies);
        }
        if let Some(s) = server {
            s.shutdown().await.unwrap();
        }
    });
}
