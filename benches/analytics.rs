//! KPI query latency over a large data set: loads demo data (SB_BENCH_EVENTS, default
//! 2,000,000 events over two years) straight into a store, then times summary, timeseries and
//! breakdown for the whole two-year range through the real handlers, uncached (the KPI cache
//! turned off: every query reads the rollups) and cached.
//!
//! `cargo bench --bench analytics` (add `SB_BENCH_EVENTS=10000000` for the 10M run).

use axum::body::Body;
use axum::http::Request;
use salesboard::app::{AppState, router};
use salesboard::clock::SystemClock;
use salesboard::ingest::demo;
use salesboard::store::sales;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

mod support;
use support::percentiles;

fn main() {
    let events: u64 = std::env::var("SB_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Long-lived token: loading ten million events takes minutes.
    let bench = support::setup(|cfg| cfg.auth.access_token_ttl = Duration::from_secs(86_400));
    let (cfg, store, org) = (bench.cfg.clone(), bench.store.clone(), bench.org.clone());

    let spec = demo::Spec {
        events,
        days: 730,
        seed: 1,
        last_day: jiff::civil::date(2026, 11, 20),
    };
    let t = Instant::now();
    let loaded = demo::generate(&spec, &org.tz(), 20_000, |b| {
        store.write(|txn| sales::apply(txn, &org, &b)).map(|_| ())
    })
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(cfg.db_path()).unwrap().len() as f64;
    println!(
        "demo load: {loaded} events in {secs:.1} s = {:.0} events/s (direct, batches of 20,000)",
        loaded as f64 / secs
    );
    println!(
        "data file: {:.0} MB = {:.0} MB per million events",
        size / 1e6,
        size / 1e6 / (loaded as f64 / 1e6)
    );
    println!("RSS after load: {:.0} MB", rss_mb());

    let (keys, token) = (bench.keys.clone(), bench.token.clone());
    let auth: &'static str = Box::leak(format!("Bearer {token}").into_boxed_str());
    let mut uncached_cfg = cfg.clone();
    uncached_cfg.analytics.cache_mb = 0;
    let uncached = router(AppState::new(
        store.clone(),
        Arc::new(uncached_cfg),
        Arc::new(SystemClock),
        keys.clone(),
    ));
    let cached = router(AppState::new(
        store,
        Arc::new(cfg),
        Arc::new(SystemClock),
        keys,
    ));
    let range = "from=2024-11-21&to=2026-11-20";
    let queries = [
        (
            "summary, 2 years, compare previous period",
            format!("/api/v1/metrics/summary?{range}"),
        ),
        (
            "summary, 2 years, channel filter",
            format!("/api/v1/metrics/summary?{range}&channel=online"),
        ),
        (
            "timeseries revenue by day, 2 years",
            format!("/api/v1/metrics/timeseries?metric=revenue&interval=day&{range}"),
        ),
        (
            "timeseries orders by week split by channel, 2 years",
            format!(
                "/api/v1/metrics/timeseries?metric=orders&interval=week&group_by=channel&{range}"
            ),
        ),
        (
            "timeseries revenue by hour, 30 days",
            "/api/v1/metrics/timeseries?metric=revenue&interval=hour&from=2026-10-22&to=2026-11-20"
                .to_string(),
        ),
        (
            "breakdown top 10 products by revenue, 2 years",
            format!("/api/v1/metrics/breakdown?dimension=product&metric=revenue&{range}"),
        ),
        (
            "breakdown top 10 customers by revenue, 30 days",
            "/api/v1/metrics/breakdown?dimension=customer&metric=revenue&from=2026-10-22&to=2026-11-20"
                .to_string(),
        ),
        (
            "breakdown top 10 customers by revenue, 2 years",
            format!("/api/v1/metrics/breakdown?dimension=customer&metric=revenue&{range}"),
        ),
        (
            "breakdown revenue by category, 2 years",
            format!("/api/v1/metrics/breakdown?dimension=category&metric=revenue&{range}"),
        ),
    ];
    for ((name, path), (mode, app)) in queries
        .iter()
        .flat_map(|q| [(q, ("uncached", &uncached)), (q, ("cached", &cached))])
    {
        let name = format!("{name} [{mode}]");
        let mut samples = Vec::new();
        for _ in 0..60 {
            let req = Request::get(path.as_str())
                .header("authorization", auth)
                .body(Body::empty())
                .unwrap();
            let t = Instant::now();
            let r = rt.block_on(app.clone().oneshot(req)).unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
                .unwrap();
            samples.push(t.elapsed());
        }
        percentiles(&name, samples);
    }
    println!("RSS at the end: {:.0} MB", rss_mb());
}
