//! Turn every error into the right shape for who asked: the JSON envelope for the API, a styled
//! page for a browser, a toast fragment for htmx, a redirect to sign-in for an expired session.
//! Errors raised by layers (body limit, timeout, unknown route, panics) get the same treatment.

use super::{is_htmx, ops::status_is_error, pages};
use crate::error::AppError;
use crate::render;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/api"
        || path == "/metrics"
        || path == "/readyz"
        || path == "/healthz"
}

fn content_type(resp: &Response) -> &str {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub async fn normalize(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| path.clone());
    let htmx = is_htmx(req.headers());
    let is_get = req.method() == axum::http::Method::GET;
    let mut resp = next.run(req).await;
    let err = match resp.extensions_mut().remove::<AppError>() {
        Some(e) => e,
        None if status_is_error(resp.status())
            && !content_type(&resp).starts_with("text/html")
            && !content_type(&resp).starts_with("application/json") =>
        {
            AppError::from_status(resp.status())
        }
        None => return resp,
    };
    // Keep cookies the inner layers set (e.g. clearing a dead session).
    let cookies: Vec<HeaderValue> = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let mut out = if is_api(&path) {
        err.into_response()
    } else {
        page_error(err, &path_and_query, htmx, is_get)
    };
    for c in cookies {
        out.headers_mut().append(header::SET_COOKIE, c);
    }
    out
}

fn redirect(to: &str, htmx: bool) -> Response {
    if htmx {
        // htmx follows this with a full page load.
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        Redirect::to(to).into_response()
    }
}

fn page_error(err: AppError, path_and_query: &str, htmx: bool, is_get: bool) -> Response {
    match err.code {
        "unauthenticated" => {
            let next = if is_get && path_and_query != "/" {
                format!(
                    "/login?next={}",
                    form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect::<String>()
                )
            } else {
                "/login".to_string()
            };
            redirect(&next, htmx)
        }
        "password_change_required" => redirect("/account/password", htmx),
        _ if htmx => {
            let mut r = (err.status, render::toast::error(&err.message)).into_response();
            let h = r.headers_mut();
            h.insert("hx-retarget", HeaderValue::from_static("#toasts"));
            h.insert("hx-reswap", HeaderValue::from_static("beforeend"));
            // Whatever part of the answer the request meant to pick (`hx-select`), the toast
            // is the part to show.
            h.insert("hx-reselect", HeaderValue::from_static(".toast"));
            if let Some(s) = err.retry_after {
                h.insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
        _ => {
            let mut r = pages::error_page(&err);
            if let Some(s) = err.retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
    }
}
