//! Durable ingest throughput through the real HTTP handler (JSON parse, validation, group
//! commit, rollups), and ack latency for small single-event requests.
//!
//! Events arrive in time order (one second apart), as a live stream or an export does; a
//! second run sends late events spread over four weeks in every batch, the worst case for
//! the time-keyed tables (every batch touches every day).
//!
//! `cargo bench --bench ingest`. Prints events/s and latency percentiles. `SB_INGEST_CLIENTS`
//! (default 4) sets how many clients send the batches of the throughput runs.

use axum::body::Body;
use axum::http::Request;
use salesboard::app::{AppState, router};
use salesboard::clock::SystemClock;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

#[derive(Clone, Copy, PartialEq)]
enum Times {
    /// One second apart from 2026-10-01.
    InOrder,
    /// Spread over 28 days and 24 hours within every batch.
    Spread,
}

fn event(n: u64, times: Times) -> String {
    let at = match times {
        Times::InOrder => jiff::Timestamp::from_second(1_790_812_800 + n as i64)
            .unwrap()
            .to_string(),
        Times::Spread => format!("2026-10-{:02}T{:02}:15:00Z", 1 + n % 28, n % 24),
    };
    support::sale_json("o-", n, &at, 50_000)
}

fn batch(start: u64, n: u64, times: Times) -> String {
    let items: Vec<String> = (start..start + n).map(|i| event(i, times)).collect();
    format!("[{}]", items.join(","))
}

mod support;
use support::percentiles;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = support::setup(|_| {});
    let (store, keys, token) = (bench.store.clone(), bench.keys.clone(), bench.token.clone());
    let app = router(
        AppState::new(
            store,
            Arc::new(bench.cfg.clone()),
            Arc::new(SystemClock),
            keys,
        )
        .expect("open the search index"),
    );
    let auth: &'static str = Box::leak(format!("Bearer {token}").into_boxed_str());
    let post = move |body: String| {
        Request::post("/api/v1/events")
            .header("content-type", "application/json")
            .header("authorization", auth)
            .body(Body::from(body))
            .unwrap()
    };

    let clients: usize = std::env::var("SB_INGEST_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4);
    // 1. Throughput: concurrent clients (4 unless set), batches of 5,000 events: 400,000 in
    // time order, then 100,000 late ones spread over four weeks.
    for (label, first, count, times) in [
        ("in time order", 0u64, 400_000u64, Times::InOrder),
        (
            "late, spread over 28 days",
            2_000_000,
            100_000,
            Times::Spread,
        ),
    ] {
        let bodies: Vec<String> = (0..count / 5000)
            .map(|i| batch(first + i * 5000, 5000, times))
            .collect();
        let t = Instant::now();
        rt.block_on(async {
            let mut handles = Vec::new();
            for chunk in bodies.chunks(bodies.len().div_ceil(clients)) {
                let chunk: Vec<String> = chunk.to_vec();
                let app = app.clone();
                handles.push(tokio::spawn(async move {
                    for b in chunk {
                        let r = app.clone().oneshot(post(b)).await.unwrap();
                        assert!(r.status().is_success());
                        axum::body::to_bytes(r.into_body(), usize::MAX)
                            .await
                            .unwrap();
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        });
        let secs = t.elapsed().as_secs_f64();
        println!(
            "durable ingest via HTTP batches of 5000 ({clients} clients), {label}: {:.0} events/s ({count} events in {secs:.2} s)",
            count as f64 / secs,
        );
    }

    // 2. Single-event requests, 32 concurrent clients: requests/s and ack latency.
    let n_clients = 32u64;
    let per_client = 100u64;
    let t = Instant::now();
    let lat = rt.block_on(async {
        let mut handles = Vec::new();
        for c in 0..n_clients {
            let app = app.clone();

            handles.push(tokio::spawn(async move {
                let mut l = Vec::new();
                for i in 0..per_client {
                    let id = 1_000_000 + c * per_client + i;
                    let s = Instant::now();
                    let r = app
                        .clone()
                        .oneshot(post(event(id, Times::InOrder)))
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    axum::body::to_bytes(r.into_body(), usize::MAX)
                        .await
                        .unwrap();
                    l.push(s.elapsed());
                }
                l
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "single-event durable requests (32 clients): {:.0} requests/s",
        (n_clients * per_client) as f64 / secs
    );
    percentiles("single-event ack latency", lat);
    let size = std::fs::metadata(bench.cfg.db_path()).unwrap().len();
    println!(
        "data file: {:.1} MB after {} events ({:.0} bytes/event incl. rollups)",
        size as f64 / 1e6,
        500_000 + n_clients * per_client,
        size as f64 / (500_000 + n_clients * per_client) as f64
    );
}
