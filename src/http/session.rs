//! Browser sessions: find the access cookie (or rotate the refresh cookie when it has expired),
//! and enforce CSRF on every state-changing request that carries our cookies.

use super::cookies;
use crate::app::AppState;
use crate::auth::csrf;
use crate::auth::extract::CookieAccess;
use crate::auth::sessions;
use crate::error::AppError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn browser_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // API clients with a Bearer token carry no ambient credentials: nothing to do.
    // Static files need no session (and must not trigger refresh-token rotation).
    if req.headers().contains_key(header::AUTHORIZATION) || req.uri().path().starts_with("/assets/")
    {
        return next.run(req).await;
    }
    let cfg = state.cfg.clone();
    let names = cookies::names(&cfg);
    let now = state.clock.now();
    let mut set_cookies = Vec::new();
    let access = cookies::get(req.headers(), names.access).map(str::to_string);
    let refresh = cookies::get(req.headers(), names.refresh).map(str::to_string);

    let mut claims = access.as_deref().and_then(|t| state.keys.verify(t, now));
    let mut token = access.filter(|_| claims.is_some());
    if claims.is_none()
        && let Some(r) = refresh
    {
        let (keys, auth_cfg) = (state.keys.clone(), cfg.auth.clone());
        let grace = Some(cfg.auth.refresh_reuse_grace);
        let res = state
            .db(move |store| sessions::refresh(store, &keys, &auth_cfg, now, &r, grace))
            .await;
        match res {
            Ok(issued) => {
                set_cookies = cookies::for_session(&cfg, &issued);
                claims = state.keys.verify(&issued.access, now);
                token = Some(issued.access);
            }
            // The data file cannot save the rotation right now (disk full, reopening): the
            // session is still good, so keep its cookies and say what is wrong.
            Err(e) if e.code.starts_with("storage") => return e.into_response(),
            Err(_) => set_cookies = cookies::clear_session(&cfg),
        }
    }
    if let Some(t) = token {
        req.extensions_mut().insert(CookieAccess(t));
    }

    if is_unsafe(req.method()) {
        let authority = req.uri().authority().map(|a| a.as_str().to_string());
        if !csrf::same_origin(req.headers(), authority.as_deref()) {
            return with_cookies(AppError::csrf().into_response(), set_cookies);
        }
        // Signing in is not a cookie-authenticated action: a stale (revoked but still
        // signed) access cookie must not stop someone from signing in again.
        let signing_in = req.uri().path() == "/login";
        if let Some(sid) = claims
            .as_ref()
            .and_then(|c| c.session())
            .filter(|_| !signing_in)
        {
            let (ok, rebuilt) = check_token(req, &state, sid).await;
            match rebuilt {
                Some(r) if ok => req = r,
                _ => return with_cookies(AppError::csrf().into_response(), set_cookies),
            }
        }
    }
    let had_cookies = claims.is_some();
    let resp = next.run(req).await;
    // The cookies named a session that is no longer valid (revoked, user disabled): drop them
    // so the browser stops sending them.
    let dead = had_cookies
        && resp
            .extensions()
            .get::<AppError>()
            .is_some_and(|e| e.code == "unauthenticated");
    if dead && set_cookies.is_empty() {
        set_cookies = cookies::clear_session(&cfg);
    }
    with_cookies(resp, set_cookies)
}

/// Look for the CSRF token in the header, or else in a url-encoded form body (which is then
/// put back so the handler can read it), or for a multipart upload in the query.
async fn check_token(
    req: Request,
    state: &AppState,
    sid: crate::domain::FamilyId,
) -> (bool, Option<Request>) {
    let secret = state.keys.secret();
    if let Some(h) = req
        .headers()
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
    {
        let ok = csrf::token_matches(secret, sid, h);
        return (ok, Some(req));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // File uploads without JavaScript carry the token in the form's action URL: the body is
    // too large to buffer here.
    if content_type.starts_with("multipart/form-data") {
        let ok = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == csrf::FIELD)
            .is_some_and(|(_, v)| csrf::token_matches(secret, sid, &v));
        return (ok, Some(req));
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return (false, Some(req));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.cfg.server.max_body_bytes).await else {
        return (false, None);
    };
    let ok = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == csrf::FIELD)
        .is_some_and(|(_, v)| csrf::token_matches(secret, sid, &v));
    (ok, Some(Request::from_parts(parts, Body::from(bytes))))
}

fn with_cookies(mut resp: Response, cookies: Vec<axum::http::HeaderValue>) -> Response {
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}
