//! Application state and the router. `router(state)` is testable without a socket.

use crate::auth::jwt::JwtKeys;
use crate::auth::ratelimit::Limiters;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::{Router, middleware};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower_http::CompressionLevel;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub cfg: Arc<Config>,
    pub clock: SharedClock,
    pub keys: Arc<JwtKeys>,
    pub limits: Arc<Limiters>,
    pub metrics: PrometheusHandle,
    pub writer: crate::ingest::Writer,
    pub kpi_cache: crate::analytics::cache::KpiCache,
    pub jobs: crate::import::job::Jobs,
    /// Open live dashboards (see `live`).
    pub live: crate::live::Hub,
    /// Decoded pipelines and opportunities per org (see `pipeline`).
    pub books: crate::pipeline::Books,
    /// The search index and its indexer (see `search`).
    pub search: crate::search::Search,
    /// Backups made and checked while running (see `backups`).
    pub backups: crate::backups::Tracker,
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        cfg: Arc<Config>,
        clock: SharedClock,
        keys: Arc<JwtKeys>,
    ) -> Result<Self, crate::search::SearchError> {
        Ok(AppState {
            search: crate::search::Search::start(&store, &cfg.search)?,
            limits: Arc::new(Limiters::new(&cfg.rate_limit)),
            writer: crate::ingest::Writer::start(
                store.clone(),
                cfg.ingest.queue_requests,
                cfg.ingest.max_events_per_commit,
            ),
            kpi_cache: crate::analytics::cache::KpiCache::new(cfg.analytics.cache_mb),
            jobs: Default::default(),
            live: crate::live::Hub::new(cfg.live.client_buffer),
            books: Default::default(),
            backups: Default::default(),
            store,
            cfg,
            clock,
            keys,
            metrics: metrics_handle(),
        })
    }

    /// Run blocking store work off the async threads (redb is synchronous).
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let r = f(&store);
            // A store error `f` turned into its own may hide a disk failure: look.
            if r.as_ref().is_err_and(|e| e.code == "storage") {
                store.probe();
            }
            r
        })
        .await?
    }

    /// Who acts on the pipeline, for [`crate::pipeline`] operations: `user` holding the
    /// permission at `scope`, in `org`, now.
    pub fn caller(
        &self,
        user: &crate::domain::user::User,
        scope: crate::domain::Scope,
        org: crate::domain::org::Org,
    ) -> crate::pipeline::Caller {
        crate::pipeline::Caller {
            by: crate::auth::accounts::ActingAs::user(user),
            scope,
            org,
            rates: self.cfg.exchange_rates.clone(),
            now: self.clock.now(),
        }
    }

    /// [`AppState::db`] for work that changes `org`'s pipelines or opportunities: once it
    /// has committed, every open pipeline page of the org hears of it.
    pub async fn db_pipeline<T: Send + 'static>(
        &self,
        org: crate::domain::OrgId,
        f: impl FnOnce(&Store) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let (out, version) = self
            .db(move |s| {
                let out = f(s)?;
                // The change is saved: failing to read the new version only delays live views.
                Ok((
                    out,
                    s.read(|t| crate::store::pipeline::version(t, org)).ok(),
                ))
            })
            .await?;
        if let Some(v) = version {
            self.live.pipeline_changed(org, v);
        }
        Ok(out)
    }
}

/// The process-wide Prometheus recorder (one per process, shared by every server in it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case ours stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(state: AppState) -> Router {
    let cfg = state.cfg.clone();
    let (api, spec) = utoipa_axum::router::OpenApiRouter::new()
        .nest("/api/v1", http::api::routes())
        .split_for_parts();
    Router::new()
        .merge(http::pages::routes(&cfg))
        .merge(api)
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/api/docs")
                .url("/api/openapi.json", http::openapi::finish(spec)),
        )
        .merge(http::ops::routes())
        .route("/assets/{*path}", axum::routing::get(http::assets::serve))
        .fallback(|| async { AppError::from_status(axum::http::StatusCode::NOT_FOUND) })
        // Innermost first: each `.layer` wraps everything above it.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::session::browser_session,
        ))
        .layer(DefaultBodyLimit::max(cfg.server.max_body_bytes))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                AppError::internal("handler panicked").into_response()
            },
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            cfg.server.request_timeout,
        ))
        .layer(middleware::from_fn(http::errors::normalize))
        .layer(middleware::from_fn_with_state(
            cfg.clone(),
            http::headers::security_headers,
        ))
        // gzip only (tower-http's `compression-br` is off): brotli sets up large match tables for every response, which
        // made compression most of the CPU time of a cached dashboard view (perf: about half
        // of all samples at 200 concurrent users); gzip at level 4 costs a fraction and the
        // pages are a few KB either way. Assets are cached by browsers for good (hashed URLs).
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Precise(4))
                // downloads (backups) are compressed already, and keep their length and ranges
                .compress_when(
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new("application/octet-stream")),
                ),
        )
        .layer(middleware::from_fn(http::ops::track_metrics))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(http::ops::make_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Background upkeep: forget rate-limit state of quiet clients (every minute); delete raw
/// events and audit records past their retention windows and record every partner's health
/// score of the day, marking those below their org's threshold at risk (at start, then hourly).
pub fn spawn_upkeep(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut minutes = 0u64;
        loop {
            tick.tick().await;
            state.limits.sweep();
            if minutes.is_multiple_of(60)
                && let Some(before) = state.cfg.oldest_event(state.clock.now())
            {
                let store = state.store.clone();
                upkeep_job("raw events deleted past retention", move || {
                    expire_raw(&store, before).map_err(|e| e.to_string())
                })
                .await;
            }
            if minutes.is_multiple_of(60) && state.cfg.audit.keep_days > 0 {
                let (store, keep, now) = (
                    state.store.clone(),
                    state.cfg.audit.keep_days,
                    state.clock.now(),
                );
                upkeep_job("audit records removed past retention", move || {
                    crate::audit::apply_retention(&store, keep, now).map_err(|e| e.to_string())
                })
                .await;
            }
            if minutes.is_multiple_of(60) {
                let (store, books, now) =
                    (state.store.clone(), state.books.clone(), state.clock.now());
                upkeep_job("partners marked at risk", move || {
                    crate::partners::refresh_all(&store, &books, now)
                        .map(|n| n as u64)
                        .map_err(|e| e.message)
                })
                .await;
            }
            minutes += 1;
        }
    })
}

/// Run one upkeep job off the async threads and log what it did (nothing when it did nothing).
async fn upkeep_job(
    what: &'static str,
    job: impl FnOnce() -> Result<u64, String> + Send + 'static,
) {
    match tokio::task::spawn_blocking(job).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(count = n, "upkeep: {what}"),
        Ok(Err(e)) => tracing::error!(error = %e, "upkeep failed: {what}"),
        Err(e) => tracing::error!(error = %e, "upkeep panicked: {what}"),
    }
}

/// Delete every org's raw events before `before`, in transactions of at most 10,000.
pub fn expire_raw(store: &Store, before: crate::domain::Ts) -> crate::store::StoreResult<u64> {
    const STEP: usize = 10_000;
    let mut total = 0u64;
    for org in store.read(crate::store::orgs::list)? {
        loop {
            let n = store.write(|t| crate::store::sales::expire_raw(t, org.id, before, STEP))?;
            total += n as u64;
            metrics::counter!("raw_events_expired_total").increment(n as u64);
            if n < STEP {
                break;
            }
        }
    }
    Ok(total)
}
