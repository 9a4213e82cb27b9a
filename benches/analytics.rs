//! KPI query latency over a large data set: loads demo data (SB_BENCH_EVENTS, default
//! 2,000,000 events over two years) straight into a store, then times summary, timeseries and
//! breakdown for the whole two-year range through the real handlers, uncached (the KPI cache
//! turned off: every query reads the rollups) and cached.
//!
//! `cargo bench --bench analytics` (add `SB_BENCH_EVENTS=10000000` for the 10M run, and
//! `SB_BENCH_ONLY=dashboard` to time only the queries whose name contains that text).

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
    let uncached = router(
        AppState::new(
            store.clone(),
            Arc::new(uncached_cfg),
            Arc::new(SystemClock),
            keys.clone(),
        )
        .expect("open the search index"),
    );
    let cached = router(
        AppState::new(store, Arc::new(cfg), Arc::new(SystemClock), keys)
            .expect("open the search index"),
    );
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
        ("dashboard page, last 30 days", "/dashboard".to_string()),
        (
            "dashboard page, this year, chart split by channel",
            "/dashboard?range=year&split=channel".to_string(),
        ),
        (
            "dashboard page, 2 years, channel filter",
            "/dashboard?range=custom&from=2024-11-21&to=2026-11-20&channel=online".to_string(),
        ),
        (
            "dashboard top customers panel, last 30 days",
            "/dashboard/top-customers".to_string(),
        ),
    ];
    // `SB_BENCH_ONLY=dashboard` runs only the queries whose name contains that text.
    let only = std::env::var("SB_BENCH_ONLY").unwrap_or_default();
    for ((name, path), (mode, app)) in queries
        .iter()
        .filter(|(name, _)| name.contains(only.as_str()))
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
    println!("RSS after the queries: {:.0} MB", rss_mb());
    rt.block_on(page_views(cached, auth));
    println!("RSS at the end: {:.0} MB", rss_mb());
}

/// The dashboard over real HTTP (the client in this process too): page views per second with
/// 200 concurrent users, and what a first visit transfers compressed.
async fn page_views(app: axum::Router, auth: &'static str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    // Page weight: the page and everything it loads, as a browser asks for them.
    let page = client
        .get(format!("{base}/dashboard"))
        .header("authorization", auth)
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
    let html = page.bytes().await.unwrap();
    let plain = client
        .get(format!("{base}/dashboard"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = html.len();
    let mut parts = vec![format!("page {:.1} KB", html.len() as f64 / 1e3)];
    for piece in plain.split("src=\"").chain(plain.split("href=\"")).skip(1) {
        let url = piece.split('"').next().unwrap_or("");
        if url.starts_with("/assets/") && (url.contains(".css") || url.contains(".js")) {
            let r = client
                .get(format!("{base}{url}"))
                .header("accept-encoding", "gzip, deflate, br, zstd")
                .send()
                .await
                .unwrap();
            let n = r.bytes().await.unwrap().len();
            total += n;
            parts.push(format!(
                "{} {:.1} KB",
                url.rsplit('/').next().unwrap_or(url),
                n as f64 / 1e3
            ));
        }
    }
    println!(
        "first visit transfers {:.1} KB compressed ({}), no third-party requests",
        total as f64 / 1e3,
        parts.join(", ")
    );

    let users = 200;
    let secs = 10.0;
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..users {
        let (client, url) = (client.clone(), format!("{base}/dashboard"));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let r = client
                    .get(&url)
                    .header("authorization", auth)
                    .header("accept-encoding", "gzip, deflate, br, zstd")
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    println!(
        "dashboard page views over HTTP, {users} concurrent users for {secs:.0} s: {:.0} views/s",
        all.len() as f64 / secs
    );
    percentiles("dashboard page view latency (200 users)", all);
}
