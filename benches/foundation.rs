//! Foundation numbers: cold start to /readyz, login (argon2id included), home page server time.
//!
//! `cargo bench --bench foundation`. Criterion reports means; the percentile lines
//! (p50/p95/p99) come from a separate timed loop over the same request.

use axum::body::Body;
use axum::http::Request;
use criterion::Criterion;
use salesboard::app::{AppState, router};
use salesboard::clock::SystemClock;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod support;
use support::{PASSWORD, percentiles};

struct Fixture {
    app: axum::Router,
    token: String,
    _bench: support::Bench,
}

fn fixture() -> Fixture {
    let bench = support::setup(|cfg| {
        cfg.rate_limit.login_per_account_per_minute = u32::MAX;
        cfg.rate_limit.login_per_ip_per_minute = u32::MAX;
    });
    let state = AppState::new(
        bench.store.clone(),
        Arc::new(bench.cfg.clone()),
        Arc::new(SystemClock),
        bench.keys.clone(),
    )
    .expect("open the search index");
    Fixture {
        app: router(state),
        token: bench.token.clone(),
        _bench: bench,
    }
}

fn login_request() -> Request<Body> {
    Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"email":"bench@example.com","password":"{PASSWORD}"}}"#
        )))
        .unwrap()
}

fn home_request(token: &str) -> Request<Body> {
    Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn call(app: &axum::Router, req: Request<Body>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
}

fn bench_requests(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let f = fixture();
    c.bench_function("login (argon2id verify + session commit)", |b| {
        b.to_async(rt).iter(|| call(&f.app, login_request()))
    });
    c.bench_function("home page (auth + render)", |b| {
        b.to_async(rt).iter(|| call(&f.app, home_request(&f.token)))
    });
    let mut s = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        rt.block_on(call(&f.app, login_request()));
        s.push(t.elapsed());
    }
    percentiles("login server time", s);
    let mut s = Vec::new();
    for _ in 0..5000 {
        let t = Instant::now();
        rt.block_on(call(&f.app, home_request(&f.token)));
        s.push(t.elapsed());
    }
    percentiles("home page server time", s);
}

/// Spawn the real binary on an empty data dir; time until /readyz answers 200.
fn cold_start(rt: &tokio::runtime::Runtime) {
    use std::io::{BufRead, BufReader};
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_salesboard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("SALESBOARD_LOG__LEVEL", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_string();
        rt.block_on(async {
            loop {
                if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                    && r.status().is_success()
                {
                    break;
                }
            }
        });
        samples.push(t.elapsed());
        child.kill().unwrap();
        child.wait().unwrap();
    }
    percentiles(
        "cold start to /readyz (empty data dir, incl. first-run setup)",
        samples,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    bench_requests(&mut c, &rt);
    cold_start(&rt);
    c.final_summary();
}
