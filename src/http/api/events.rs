//! `POST /api/v1/events`: one event or a JSON array of them. Each item is validated on its
//! own; valid ones are stored durably (group commit) before the answer is sent; the answer
//! lists, per rejected item, its index, code and message, and which items were duplicates.

use super::Json;
use crate::app::AppState;
use crate::auth::extract::Ingester;
use crate::domain::events::{self, ItemError};
use crate::error::{AppError, AppResult};
use crate::ingest::SubmitError;
use crate::store::{orgs, sales::Applied};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Rejected {
    index: usize,
    #[serde(flatten)]
    error: ItemError,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestResult {
    /// Newly stored events.
    accepted: usize,
    /// Indices of items whose (type, id) was already stored: accepted before, not counted again.
    duplicates: Vec<usize>,
    rejected: Vec<Rejected>,
}

/// Send sales, refunds, customers and traffic.
///
/// One event object, or an array of them (at most `ingest.max_events_per_request`, default
/// 10,000). Valid items are stored durably before the answer; each rejected item is
/// listed with its index, code and message. Authenticate with a user's access token or an org
/// API key.
#[utoipa::path(post, path = "/events", tag = "events",
    request_body(content = Vec<events::RawEvent>, description = "An array of events, or one event object"),
    responses(
        (status = 200, description = "Stored (some items may be rejected or duplicates)", body = IngestResult),
        (status = 422, description = "Every item was rejected (listed per item); an empty or oversized batch answers the error envelope instead", body = IngestResult),
        (status = 503, description = "Ingest is busy; retry after `Retry-After` seconds. Nothing of the request was stored", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    who: Ingester,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, Json<IngestResult>)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send events as JSON with `Content-Type: application/json`.",
        ));
    }
    // Items stay raw JSON text here and are parsed straight into the event shape one by one
    // (no intermediate `Value` tree), so one bad item is reported without failing the rest.
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::bad_request("The body is not UTF-8 text."))?;
    let items: Vec<&RawValue> = match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text),
        Some(b'{') => serde_json::from_str::<&RawValue>(text).map(|v| vec![v]),
        _ => {
            return Err(AppError::bad_request(
                "Send one event object or an array of events.",
            ));
        }
    }
    .map_err(|e| AppError::bad_request(format!("Malformed JSON: {e}")))?;
    let max = state.cfg.ingest.max_events_per_request;
    if items.len() > max {
        return Err(AppError::validation(
            "events",
            format!("at most {max} events per request; split the batch"),
        ));
    }
    if items.is_empty() {
        return Err(AppError::validation("events", "the array is empty"));
    }
    let org_id = who.org;
    let org = state
        .db(move |s| Ok(s.read(|t| orgs::get(t, org_id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))?;
    let mut valid = Vec::with_capacity(items.len());
    let mut valid_index = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let pricing = events::Intake {
            currency: &org.currency,
            rates: &state.cfg.exchange_rates,
            oldest: state.cfg.oldest_event(state.clock.now()),
        };
        match events::parse(item.get(), &pricing) {
            Ok(e) => {
                valid.push(e);
                valid_index.push(i);
            }
            Err(error) => rejected.push(Rejected { index: i, error }),
        }
    }
    let outcome = if valid.is_empty() {
        Vec::new()
    } else {
        match state.writer.submit(org_id, valid).await {
            Ok(o) => o,
            Err(SubmitError::QueueFull) => {
                return Err(AppError::unavailable(
                    "Ingest is busy. Retry shortly; nothing of this request was stored.",
                    1,
                ));
            }
            Err(SubmitError::Stopped) => {
                return Err(AppError::unavailable(
                    "The server is shutting down. Retry shortly; nothing of this request was stored.",
                    5,
                ));
            }
            Err(SubmitError::Storage(e)) => return Err(e),
        }
    };
    let accepted = crate::store::sales::accepted(&outcome);
    let duplicates: Vec<usize> = outcome
        .iter()
        .zip(&valid_index)
        .filter(|(o, _)| **o == Applied::Duplicate)
        .map(|(_, i)| *i)
        .collect();
    let status = if rejected.is_empty() || accepted + duplicates.len() > 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Json(IngestResult {
            accepted,
            duplicates,
            rejected,
        }),
    ))
}
