//! Pipeline and forecast at scale: generates SB_BENCH_DEALS deals (default 100,000) with their
//! stage histories (about ten changes each: ~1,000,000 history records) straight into a store,
//! then times through the real router:
//! - the forecast of a quarter (`/api/v1/forecast`), and the same "as of" 90 days ago; and
//!   the forecast read right after a stage move (a new version of the deals);
//! - the kanban page (`/pipeline`), full page and the board fragment htmx fetches;
//! - "as of" reconstruction of every deal a quarter back (`states_at`);
//! - a stage move: request -> committed -> the change event -> another viewer's board
//!   fetched again.
//!
//! `cargo bench --bench pipeline` (`SB_BENCH_DEALS=20000` for a quicker run).

use axum::body::Body;
use axum::http::Request;
use salesboard::app::{AppState, router};
use salesboard::clock::{Clock, SystemClock};
use salesboard::domain::Ts;
use salesboard::store::{pipeline as repo, users};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod support;
use support::percentiles;

const DAY: i64 = 86_400_000_000;

fn main() {
    let deals: usize = std::env::var("SB_BENCH_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = support::setup(|cfg| cfg.auth.access_token_ttl = Duration::from_secs(86_400));
    let (cfg, store, org) = (bench.cfg.clone(), bench.store.clone(), bench.org.clone());
    // Twenty owners.
    let now = SystemClock.now();
    for i in 0..20 {
        let input = salesboard::auth::accounts::NewUserInput {
            email: format!("rep{i}@example.com"),
            name: format!("Rep {i}"),
            role: "partnership_manager".into(),
            team: None,
            password: Some("benchmark password".into()),
        };
        salesboard::auth::accounts::create_user(
            &store,
            &salesboard::auth::accounts::ActingAs::cli(),
            org.id,
            input,
            now,
        )
        .unwrap();
    }
    let owners: Vec<_> = store
        .read(|t| users::list(t, org.id))
        .unwrap()
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let pipeline = store
        .read(|t| repo::pipelines(t, org.id))
        .unwrap()
        .remove(0);
    let spec = salesboard::pipeline::demo::Spec {
        deals,
        changes: 20,
        days: 720,
        seed: 9,
        now,
    };
    let t = Instant::now();
    let mut records = 0usize;
    salesboard::pipeline::demo::generate(
        &spec,
        org.id,
        &pipeline,
        &owners,
        &org.tz(),
        10_000,
        |b| {
            records += b.iter().map(|(_, h)| h.len()).sum::<usize>();
            store.write(|txn| repo::import_opportunities(txn, org.id, &b))
        },
    )
    .unwrap();
    let size = std::fs::metadata(cfg.db_path()).unwrap().len() as f64;
    println!(
        "generated {deals} deals with {records} history records in {:.1} s; data file {:.0} MB",
        t.elapsed().as_secs_f64(),
        size / 1e6
    );

    let state = AppState::new(
        store.clone(),
        Arc::new(cfg),
        Arc::new(SystemClock),
        bench.keys.clone(),
    )
    .expect("open the search index");
    let app = router(state.clone());
    let auth: &'static str = Box::leak(format!("Bearer {}", bench.token).into_boxed_str());
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = Request::get(path).header("authorization", auth);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::empty()).unwrap();
        let t = Instant::now();
        let r = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
            .unwrap();
        t.elapsed()
    };

    // The first read decodes every deal (once per data version).
    let cold = get("/api/v1/forecast?period=quarter", &[]);
    println!(
        "forecast, first read after a change (loads {deals} deals): {:.1} ms",
        cold.as_secs_f64() * 1e3
    );
    let as_of = Ts(now.0 - 90 * DAY).timestamp().to_string();
    // (name, path, extra headers)
    type Case<'a> = (String, String, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "forecast, this quarter, now".into(),
            "/api/v1/forecast?period=quarter".into(),
            vec![],
        ),
        (
            "forecast, this quarter as of 90 days ago".into(),
            format!("/api/v1/forecast?period=quarter&as_of={as_of}"),
            vec![],
        ),
        ("kanban page (full page)".into(), "/pipeline".into(), vec![]),
        (
            "kanban board fragment (htmx refresh)".into(),
            "/pipeline".into(),
            vec![
                ("hx-request", "true"),
                ("hx-target", "board"),
                ("hx-trigger", "board"),
            ],
        ),
        (
            "kanban board, closing this quarter".into(),
            "/pipeline?close=this_quarter".into(),
            vec![],
        ),
        (
            "opportunity list, 50 soonest".into(),
            "/api/v1/opportunities".into(),
            vec![],
        ),
    ];
    // `SB_BENCH_ONLY=kanban` times only the cases whose name contains that text.
    let only = std::env::var("SB_BENCH_ONLY").unwrap_or_default();
    for (name, path, headers) in cases.iter().filter(|c| c.0.contains(only.as_str())) {
        let samples: Vec<Duration> = (0..60).map(|_| get(path, headers)).collect();
        percentiles(name, samples);
    }

    // As-of reconstruction alone: every deal's state a quarter back.
    let book = state.books.get(&store, org.id).unwrap();
    let mut samples = Vec::new();
    let mut undone = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let s =
            salesboard::pipeline::states_at(&store, &book, org.id, Ts(now.0 - 91 * DAY)).unwrap();
        samples.push(t.elapsed());
        undone = s.changed();
    }
    let later = store
        .read(|t| repo::history_after(t, org.id, Ts(now.0 - 91 * DAY)))
        .unwrap()
        .len();
    percentiles(
        &format!(
            "as-of reconstruction, 91 days back ({later} records undone, {undone} deals changed since)"
        ),
        samples,
    );

    // Stage moves: PATCH, then the change event, then another viewer's board.
    let open: Vec<String> = book
        .opps
        .iter()
        .filter(|o| {
            pipeline
                .stage(o.state.stage)
                .is_some_and(|s| s.kind == salesboard::domain::pipeline::StageKind::Open)
        })
        .take(100)
        .map(|o| o.id.to_string())
        .collect();
    let stages: Vec<String> = pipeline
        .active_stages()
        .filter(|s| s.kind == salesboard::domain::pipeline::StageKind::Open)
        .map(|s| s.name.clone())
        .collect();
    let mut events = state.live.subscribe_pipeline(org.id);
    let mut commit = Vec::new();
    let mut seen = Vec::new();
    for (i, id) in open.iter().enumerate() {
        let body = format!("{{\"stage\": \"{}\"}}", stages[i % stages.len()]);
        let req = Request::patch(format!("/api/v1/opportunities/{id}"))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let t = Instant::now();
        let r = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert!(r.status().is_success(), "move: {}", r.status());
        commit.push(t.elapsed());
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), events.recv())
                .await
                .unwrap()
                .unwrap();
        });
        get(
            "/pipeline",
            &[
                ("hx-request", "true"),
                ("hx-target", "board"),
                ("hx-trigger", "board"),
            ],
        );
        seen.push(t.elapsed());
    }
    percentiles("stage move: request -> committed", commit);
    // The forecast right after a change: a new version of the deals, so nothing remembered
    // from the previous one (flows, the waterfall's starting states) helps.
    let mut after_change = Vec::new();
    for (i, id) in open.iter().take(30).enumerate() {
        let body = format!("{{\"stage\": \"{}\"}}", stages[(i + 1) % stages.len()]);
        let req = Request::patch(format!("/api/v1/opportunities/{id}"))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let r = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert!(r.status().is_success(), "move: {}", r.status());
        after_change.push(get("/api/v1/forecast?period=quarter", &[]));
    }
    percentiles(
        "forecast, this quarter, first read after a stage move",
        after_change,
    );
    percentiles(
        "stage move: request -> committed -> event -> other viewer's board",
        seen,
    );
}
