//! `/api/v1`: JSON handlers, one file per area.

mod account;
mod admin;
mod apikeys;
mod backups;
mod catalog;
mod events;
mod metrics;
mod partners;
mod pipeline;
mod search;

use crate::app::AppState;
use crate::error::AppError;
use axum::extract::FromRequest;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every API route with its OpenAPI entry (one `routes!` per path; see `http::openapi`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account::login))
        .routes(routes!(account::refresh))
        .routes(routes!(account::logout))
        .routes(routes!(account::me))
        .routes(routes!(account::change_password))
        .routes(routes!(admin::org))
        .routes(routes!(admin::roles))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user, admin::update_user))
        .routes(routes!(admin::reset_password))
        .routes(routes!(admin::list_teams, admin::create_team))
        .routes(routes!(admin::get_team))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::export_audit))
        .routes(routes!(backups::list, backups::create))
        .routes(routes!(events::ingest))
        .routes(routes!(apikeys::list, apikeys::create))
        .routes(routes!(apikeys::revoke))
        .routes(routes!(catalog::list_customers))
        .routes(routes!(catalog::get_customer))
        .routes(routes!(catalog::list_products))
        .routes(routes!(catalog::get_product))
        .routes(routes!(search::search))
        .routes(routes!(metrics::summary))
        .routes(routes!(metrics::timeseries))
        .routes(routes!(metrics::breakdown))
        .routes(routes!(pipeline::list_pipelines, pipeline::create_pipeline))
        .routes(routes!(pipeline::get_pipeline, pipeline::update_pipeline))
        .routes(routes!(
            pipeline::list_opportunities,
            pipeline::create_opportunity
        ))
        .routes(routes!(
            pipeline::get_opportunity,
            pipeline::update_opportunity
        ))
        .routes(routes!(pipeline::opportunity_history))
        .routes(routes!(pipeline::forecast))
        .routes(routes!(pipeline::list_targets, pipeline::set_target))
        .routes(routes!(partners::list_partners, partners::create_partner))
        .routes(routes!(partners::export_partners))
        .routes(routes!(partners::get_partner, partners::update_partner))
        .routes(routes!(partners::partner_health))
        .routes(routes!(partners::list_notes, partners::add_note))
        .routes(routes!(partners::get_settings, partners::put_settings))
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
