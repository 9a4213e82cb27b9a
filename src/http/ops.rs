//! Operations endpoints and request telemetry: `/healthz`, `/readyz`, `/metrics`.

use crate::app::AppState;
use crate::error::AppError;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.db(|s| Ok(s.ping()?)).await {
        Ok(()) => "ready".into_response(),
        Err(_) => AppError::unavailable("The data file is not answering.", 5).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.store.free_space(); // refreshes data_disk_free_bytes
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Count requests and time them, labelled by route template (not raw path) and status.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = crate::clock::monotonic();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// One span per request with its id; org and user are filled in by the auth extractor.
pub fn make_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        org_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    )
}

pub fn status_is_error(s: StatusCode) -> bool {
    s.is_client_error() || s.is_server_error()
}
