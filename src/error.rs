//! One error type for the whole app: a stable machine code, an HTTP status and a human message.
//!
//! | code | status | when |
//! |---|---|---|
//! | `validation` | 422 | a field's value breaks a rule (`field` names it) |
//! | `bad_request` | 400 | malformed JSON / form / query, unknown field, bad path |
//! | `unsupported_media_type` | 415 | wrong `Content-Type` |
//! | `payload_too_large` | 413 | body over `server.max_body_bytes` |
//! | `unauthenticated` | 401 | no or expired credentials |
//! | `invalid_credentials` | 401 | wrong email or password (never says which) |
//! | `forbidden` | 403 | authenticated but lacking the permission |
//! | `password_change_required` | 403 | a one-time password must be replaced first |
//! | `csrf` | 403 | a cookie-authenticated write failed the CSRF check |
//! | `not_found` | 404 | no such route or record (also for other orgs' records) |
//! | `method_not_allowed` | 405 | |
//! | `conflict` | 409 | unique value taken, stale update |
//! | `rate_limited` | 429 | too many attempts; `Retry-After` says when to retry |
//! | `unavailable` | 503 | overloaded or shutting down; `Retry-After` |
//! | `storage_full` | 507 | the disk holding the data file is (nearly) full; nothing was written |
//! | `storage_unavailable` | 503 | the data file is being reopened after a disk error; `Retry-After` |
//! | `storage` | 500 | the data file failed (details in the log) |
//! | `internal` | 500 | a bug (details in the log) |

use crate::domain::Invalid;
use crate::store::StoreError;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error answer is `{"error": AppError}` (see [`crate::http::openapi`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub struct AppError {
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `validation`, `not_found`, `rate_limited`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The input field at fault, where there is one.
    pub field: Option<String>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        AppError {
            message: format!("{field}: {message}"),
            field: Some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "")
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign in to continue.",
        )
    }
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "That email and password do not match an active account.",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn password_change_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "Choose a new password before continuing.",
        )
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "This request did not come from a salesboard page. Reload the page and try again.",
        )
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found."),
        )
    }
    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        AppError {
            field: field.map(str::to_string),
            ..Self::new(StatusCode::CONFLICT, "conflict", message)
        }
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        AppError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "Too many attempts. Try again in {} seconds.",
                    retry_after.max(1)
                ),
            )
        }
    }
    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        AppError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side. It has been logged; please try again.",
        )
    }

    /// The error a bare status (from a layer or the router) stands for.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found("Page"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "method_not_allowed",
                "That method is not allowed here.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "payload_too_large",
                "The request body is too large.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported_media_type",
                "Unsupported content type.",
            ),
            StatusCode::REQUEST_TIMEOUT => {
                Self::new(status, "timeout", "The request took too long.")
            }
            StatusCode::UNAUTHORIZED => Self::unauthenticated(),
            StatusCode::FORBIDDEN => Self::forbidden("You do not have access to this."),
            s if s.is_client_error() => {
                Self::new(s, "bad_request", "The request could not be understood.")
            }
            s => Self::new(
                s,
                "internal",
                "Something went wrong on our side. Please try again.",
            ),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a AppError,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Envelope { error: &self }).unwrap_or_default();
        let mut resp = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // The page layer turns this into HTML for browser requests.
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        AppError::validation(e.field, e.message)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::not_found(what),
            StoreError::Conflict { field, message } => AppError::conflict(Some(field), message),
            StoreError::Invalid(inv) => inv.into(),
            e @ StoreError::Full { .. } => {
                tracing::warn!(error = %e, "write refused: disk full");
                AppError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "The disk holding the data is full, so nothing of this was saved. \
                     Everything saved before is safe and can still be read. An administrator \
                     needs to free disk space; saving resumes by itself.",
                )
            }
            e if e.is_disk_full() => {
                tracing::error!(error = %e, "the disk filled up while saving");
                AppError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "The disk holding the data filled up while saving this, so it was most \
                     likely not saved. Everything saved before is safe and can still be read. \
                     An administrator needs to free disk space; saving resumes by itself.",
                )
            }
            e if e.is_reopening() => {
                tracing::warn!(error = %e, "storage unavailable");
                AppError {
                    retry_after: Some(1),
                    ..AppError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "The data file is being reopened after a disk error, so this could not \
                         be done. Try again in a moment.",
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "storage error");
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage",
                    "The data file could not be read or written. The error has been logged.",
                )
            }
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            JsonRejection::JsonSyntaxError(e) => {
                AppError::bad_request(format!("Malformed JSON: {}", source_text(&e)))
            }
            JsonRejection::JsonDataError(e) => {
                AppError::bad_request(format!("Invalid JSON body: {}", source_text(&e)))
            }
            other => AppError::bad_request(other.body_text()),
        }
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s = inner.to_string();
        cur = inner.source();
    }
    s
}

impl From<FormRejection> for AppError {
    fn from(r: FormRejection) -> Self {
        match r {
            FormRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            other if other.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the form as application/x-www-form-urlencoded.",
            ),
            other => AppError::bad_request(format!("Invalid form: {}", source_text(&other))),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::bad_request(format!("Invalid query string: {}", source_text(&r)))
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A malformed id can never name a record, so it is simply not found.
        AppError::not_found("Record")
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::internal(e)
    }
}
