//! Backups at scale: SB_BENCH_EVENTS demo events (default 2,000,000: a year of sales, refunds,
//! sign-ups and traffic) written through the store's ingest path, then:
//! - an online backup (`store::backup::write`, what the running server does for
//!   `salesboard backup`), compressed and not: data-file MB/s and the backup's size;
//! - single-event ingest ack latency through the real router (32 clients), alone and while
//!   backups run back to back;
//! - `salesboard verify` of the data file (every record decoded, references, audit chains,
//!   rollups recomputed from all raw events);
//! - a restore into a new directory.
//!
//! `cargo bench --bench backup` (`SB_BENCH_EVENTS=200000` for a quicker run).

use axum::body::Body;
use axum::http::Request;
use salesboard::app::{AppState, router};
use salesboard::clock::{Clock, SystemClock};
use salesboard::store::backup;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

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
    let bench = support::setup(|_| {});
    let store = bench.store.clone();
    let now = SystemClock.now();
    let (n, secs) = support::load_demo(&bench, events);
    let file = bench.cfg.db_path();
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "data: {n} events in {secs:.1} s; data file {:.0} MB",
        size as f64 / 1e6
    );

    // Online backups.
    let out = bench.cfg.data.dir.join("bench.sbbackup");
    for compress in [true, false] {
        let t = Instant::now();
        let w = backup::write(&store, &out, compress, now).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "backup ({}): {:.1} s = {:.0} MB/s of data file; {} records; backup file {:.0} MB",
            if compress { "zstd" } else { "uncompressed" },
            secs,
            size as f64 / 1e6 / secs,
            w.header.records(),
            w.bytes as f64 / 1e6
        );
    }

    // Ack latency, alone and during backups.
    let app = router(
        AppState::new(
            store.clone(),
            Arc::new(bench.cfg.clone()),
            Arc::new(SystemClock),
            bench.keys.clone(),
        )
        .expect("open the search index"),
    );
    let auth: &'static str = Box::leak(format!("Bearer {}", bench.token).into_boxed_str());
    let ack = |first: u64| {
        let app = app.clone();
        rt.block_on(async move {
            let mut handles = Vec::new();
            for c in 0..32u64 {
                let app = app.clone();
                handles.push(tokio::spawn(async move {
                    let mut l = Vec::new();
                    for i in 0..60u64 {
                        let id = first + c * 1000 + i;
                        let body = support::sale_json("b-", id, "2026-11-20T10:00:00Z", 5000);
                        let req = Request::post("/api/v1/events")
                            .header("content-type", "application/json")
                            .header("authorization", auth)
                            .body(Body::from(body))
                            .unwrap();
                        let s = Instant::now();
                        let r = app.clone().oneshot(req).await.unwrap();
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
        })
    };
    percentiles("ingest ack latency, alone", ack(10_000_000));
    let busy = Arc::new(AtomicBool::new(true));
    let backups = {
        let (store, busy, out) = (store.clone(), busy.clone(), out.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while busy.load(Ordering::SeqCst) {
                backup::write(&store, &out, true, now).unwrap();
                n += 1;
            }
            n
        })
    };
    // let the first backup get going
    std::thread::sleep(Duration::from_millis(200));
    let during = ack(20_000_000);
    busy.store(false, Ordering::SeqCst);
    let ran = backups.join().unwrap();
    percentiles(
        &format!("ingest ack latency, while backups run ({ran} ran)"),
        during,
    );

    // Verify and restore need the file to themselves.
    drop(app);
    let dir = bench.cfg.data.dir.clone();
    drop(store);
    drop(bench.store);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let report = salesboard::verify::data_file(&file).unwrap();
    println!(
        "verify of {n}+ events: {:.1} s, {} problems",
        t.elapsed().as_secs_f64(),
        report.problems.len()
    );
    for p in &report.problems {
        println!("  {p}");
    }
    let target = dir.join("restored");
    let t = Instant::now();
    backup::restore(&out, &target, false, now).unwrap();
    println!("restore: {:.1} s", t.elapsed().as_secs_f64());
}
