//! `/api/v1`: JSON handlers, one file per area.

mod account;
mod admin;
mod apikeys;
mod catalog;
mod events;
mod metrics;

use crate::app::AppState;
use crate::error::AppError;
use axum::Router;
use axum::extract::FromRequest;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(account::login))
        .route("/auth/refresh", post(account::refresh))
        .route("/auth/logout", post(account::logout))
        .route("/auth/me", get(account::me))
        .route("/auth/password", post(account::change_password))
        .route("/org", get(admin::org))
        .route("/roles", get(admin::roles))
        .route("/users", get(admin::list_users).post(admin::create_user))
        .route(
            "/users/{id}",
            get(admin::get_user).patch(admin::update_user),
        )
        .route("/users/{id}/reset-password", post(admin::reset_password))
        .route("/teams", get(admin::list_teams).post(admin::create_team))
        .route("/teams/{id}", get(admin::get_team))
        .route("/audit", get(admin::audit))
        .route("/events", post(events::ingest))
        .route("/api-keys", get(apikeys::list).post(apikeys::create))
        .route("/api-keys/{id}", axum::routing::delete(apikeys::revoke))
        .route("/customers", get(catalog::list_customers))
        .route("/customers/{id}", get(catalog::get_customer))
        .route("/products", get(catalog::list_products))
        .route("/products/{sku}", get(catalog::get_product))
        .route("/metrics/summary", get(metrics::summary))
        .route("/metrics/timeseries", get(metrics::timeseries))
        .route("/metrics/breakdown", get(metrics::breakdown))
        .fallback(|| async { AppError::not_found("API route") })
}

/// `axum::Json` with our error envelope for every rejection (bad JSON, wrong content type,
/// unknown field, too large).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query strings with our error envelope.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);
