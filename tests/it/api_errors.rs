//! Bad input gets a clear 4xx with a stable code, never a 500; security headers everywhere.

use crate::support::*;
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_requests_get_clear_codes() {
    let s = TestServer::start_with(|c| c.server.max_body_bytes = 4096).await;
    let owner = s.owner_token().await;
    let c = client();
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            c.post(s.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(s.url("/api/v1/auth/login"))
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            c.post(s.url("/api/v1/auth/login"))
                .json(&serde_json::json!({"email": "a@b.co"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(s.url("/api/v1/auth/login"))
                .json(&serde_json::json!({"email": "a@b.co", "password": "x", "admin": true})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&owner)
                .json(&serde_json::json!({"email": "x".repeat(10_000), "role": "viewer"})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&owner)
                .json(&serde_json::json!({"email": "not-an-email", "role": "viewer"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&owner)
                .json(&serde_json::json!({"email": "a@b.co", "role": "emperor"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            c.get(s.url("/api/v1/users/not-an-id")).bearer_auth(&owner),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            c.get(s.url("/api/v1/nothing-here")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            c.delete(s.url("/api/v1/auth/me")).bearer_auth(&owner),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            c.get(s.url("/api/v1/users")),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            c.get(s.url("/api/v1/users")).bearer_auth("not.a.jwt"),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            c.get(s.url("/api/v1/audit?limit=0")).bearer_auth(&owner),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            c.get(s.url("/api/v1/audit?limit=abc")).bearer_auth(&owner),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "application/json", "case {i}");
        let (st, got) = error_code(r).await;
        assert_eq!((st, got.as_str()), (status, code), "case {i}");
    }
    // validation names the field
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"email": "not-an-email", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["field"], "email");
    // a duplicate is a conflict and nothing was half-written
    s.user(&owner, "dup@example.com", "viewer").await;
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"email": "DUP@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::CONFLICT, "conflict".into())
    );
    let (_, list) = s.get_json(&owner, "/api/v1/users").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn security_headers_on_every_kind_of_response() {
    let s = TestServer::start().await;
    let c = client();
    let paths = [
        "/",
        "/login",
        "/healthz",
        "/readyz",
        "/metrics",
        "/no-such-page",
        "/api/v1/nope",
        "/api/v1/auth/me",
        "/admin/users",
        "/assets/css/app.css",
        "/assets/missing.js",
    ];
    for p in paths {
        let r = c.get(s.url(p)).send().await.unwrap();
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("CSP on {p}"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{p}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{p}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{p}");
        assert!(h.contains_key("referrer-policy"), "{p}");
        assert!(h.contains_key("x-request-id"), "{p}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS without TLS ({p})"
        );
    }
    // a browser asking for a missing page gets a styled HTML page with the status
    let r = c.get(s.url("/no-such-page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("We could not find that page")
    );
    s.stop().await;
}

#[tokio::test]
async fn ops_endpoints_and_hashed_assets() {
    let s = TestServer::start().await;
    let c = client();
    assert_eq!(
        c.get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        c.get(s.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    c.get(s.url("/login")).send().await.unwrap();
    let m = c
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"}"),
        "{m}"
    );
    assert!(m.contains("http_request_duration_seconds_bucket"), "{m}");

    let page = c
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = page
        .split("href=\"")
        .find_map(|p| p.split('"').next().filter(|u| u.ends_with(".css")))
        .unwrap()
        .to_string();
    assert!(
        css.starts_with("/assets/css/app.") && css.len() > "/assets/css/app.css".len(),
        "{css}"
    );
    let r = c.get(s.url(&css)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(r.headers()["content-type"], "text/css");
    let etag = r.headers()["etag"].clone();
    let r = c
        .get(s.url(&css))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let js = c
        .get(s.url("/assets/js/vendor/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    s.stop().await;
}
