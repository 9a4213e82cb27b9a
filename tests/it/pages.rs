//! Browser-style requests with a cookie jar: sign-in, redirects, CSRF, silent refresh.

use crate::support::*;
use reqwest::StatusCode;
use std::time::Duration;

/// The body of a GET with the browser-like client.
pub(crate) async fn text_of(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

pub(crate) async fn sign_in(s: &TestServer, c: &reqwest::Client) -> String {
    s.owner_token().await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("email", s.owner_email.as_str()),
            ("password", PASSWORD),
            ("next", "/admin/users"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/users");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("sb_access=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
    assert!(cookies.iter().any(|c| c.starts_with("sb_refresh=")));
    // the CSRF token the page carries for htmx
    let page = text_of(c, &s.url("/admin/users")).await;
    page.split("name=\"_csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sign_in_flow_redirects_and_errors() {
    let s = TestServer::start().await;
    let c = browser_like();
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let r = c.get(s.url("/admin/users?x=1")).send().await.unwrap();
    assert_eq!(location(&r), "/login?next=%2Fadmin%2Fusers%3Fx%3D1");
    // wrong password: the page again, with an error, and the email kept
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("email", "owner@salesboard.local"),
            ("password", "nope nope nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"login-error\"") && body.contains("value=\"owner@salesboard.local\"")
    );
    // one-time password: sent to choose a new password first
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("email", s.owner_email.as_str()),
            ("password", s.owner_otp.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account/password");
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(
        location(&r),
        "/account/password",
        "nothing else until the password is set"
    );
    s.stop().await;
}

#[tokio::test]
async fn sign_in_never_redirects_to_another_site() {
    let s = TestServer::start_with(|c| c.rate_limit.login_per_account_per_minute = 100).await;
    s.owner_token().await;
    for next in [
        "//evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let c = browser_like();
        let r = c
            .post(s.url("/login"))
            .form(&[
                ("email", s.owner_email.as_str()),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&r), "/", "{next:?}");
    }
    let c = browser_like();
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("email", s.owner_email.as_str()),
            ("password", PASSWORD),
            ("next", "/admin/roles"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin/roles");
    s.stop().await;
}

#[tokio::test]
async fn a_revoked_session_cookie_does_not_block_signing_in_again() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (ann_id, _) = s.user(&owner, "ann@example.com", "viewer").await;
    let c = browser_like();
    let r = c
        .post(s.url("/login"))
        .form(&[("email", "ann@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/");
    // An admin resets Ann's password: her session ends while her access cookie is still signed.
    let r = client()
        .post(s.url(&format!("/api/v1/users/{ann_id}/reset-password")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    let otp = r.json::<serde_json::Value>().await.unwrap()["one_time_password"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
    let cleared: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("sb_access=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    // Signing in with the new one-time password works at once.
    let r = c
        .post(s.url("/login"))
        .form(&[("email", "ann@example.com"), ("password", otp.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account/password");
    s.stop().await;
}

#[tokio::test]
async fn forced_password_change_through_the_page() {
    let s = TestServer::start().await;
    let c = browser_like();
    c.post(s.url("/login"))
        .form(&[
            ("email", s.owner_email.as_str()),
            ("password", s.owner_otp.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let page = text_of(&c, &s.url("/account/password")).await;
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = c
        .post(s.url("/account/password"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("current_password", s.owner_otp.as_str()),
            ("new_password", PASSWORD),
            ("confirm_password", "something else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("does not match"));
    let r = c
        .post(s.url("/account/password"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("current_password", s.owner_otp.as_str()),
            ("new_password", PASSWORD),
            ("confirm_password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // the new session works and the home page shows the org with an honest empty state
    let home = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let body = home.text().await.unwrap();
    assert!(body.contains("My Organization") && body.contains("No sales data yet"));
    s.stop().await;
}

#[tokio::test]
async fn cookie_writes_need_same_origin_and_the_csrf_token() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let form = [
        ("email", "new@example.com"),
        ("role", "viewer"),
        ("name", ""),
        ("team", ""),
    ];

    let r = c
        .post(s.url("/admin/users"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, StatusCode::FORBIDDEN, "no token");
    let r = c
        .post(s.url("/admin/users"))
        .header("x-csrf-token", "forged")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(s.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({"email": "new@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (StatusCode::FORBIDDEN, "csrf".into()));
    let r = c
        .post(s.url("/api/v1/users"))
        .json(&serde_json::json!({"email": "new@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "csrf".into()),
        "cookie-authenticated API write without token"
    );

    // with the header (htmx) it works
    let r = c
        .post(s.url("/admin/users"))
        .header("x-csrf-token", &csrf)
        .header("origin", &s.base)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"one-time-password\""),
        "the generated password is shown once"
    );
    // and with the form field (no JavaScript)
    let form2 = [
        ("_csrf", csrf.as_str()),
        ("email", "new2@example.com"),
        ("role", "analyst"),
        ("name", "New Two"),
        ("team", ""),
    ];
    let r = c
        .post(s.url("/admin/users"))
        .form(&form2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // a validation error re-renders the form with the message
    let bad = [
        ("_csrf", csrf.as_str()),
        ("email", "broken"),
        ("role", "viewer"),
        ("name", ""),
        ("team", ""),
    ];
    let r = c
        .post(s.url("/admin/users"))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"add-error\""));
    // htmx errors come back as a toast aimed at #toasts
    let r = c
        .post(s.url("/admin/users/01ARZ3NDEKTSV4RRFFQ69G5FAV/disable"))
        .header("x-csrf-token", &csrf)
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["hx-retarget"], "#toasts");
    // ...whatever part of the answer the request meant to select (boosted dashboard links
    // select `#dash`).
    assert_eq!(r.headers()["hx-reselect"], ".toast");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("class=\"toast toast-error\"")
    );
    s.stop().await;
}

#[tokio::test]
async fn expired_access_cookie_is_refreshed_silently_and_logout_ends_it() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    s.clock.advance(Duration::from_secs(20 * 60));
    let r = c.get(s.url("/admin/users")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "refreshed from the refresh cookie"
    );
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("sb_access=ey"))
    );
    // same session, so the CSRF token still matches
    let r = c
        .post(s.url("/logout"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let r = c.get(s.url("/admin/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed out");
    s.stop().await;
}

#[tokio::test]
async fn htmx_row_actions_return_the_updated_row() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let owner = s.owner_token().await;
    let (id, _) = s.user(&owner, "row@example.com", "viewer").await;
    let r = c
        .post(s.url(&format!("/admin/users/{id}/role")))
        .header("x-csrf-token", &csrf)
        .header("hx-request", "true")
        .form(&[("role", "manager")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let row = r.text().await.unwrap();
    assert!(row.starts_with(&format!("<tr id=\"user-{id}\"")), "{row}");
    assert!(row.contains("<option value=\"manager\" selected>"), "{row}");
    let r = c
        .post(s.url(&format!("/admin/users/{id}/disable")))
        .header("x-csrf-token", &csrf)
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Disabled"));
    s.stop().await;
}

#[tokio::test]
async fn api_keys_page_creates_shows_once_and_revokes() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let page = text_of(&c, &s.url("/admin/api-keys")).await;
    assert!(page.contains("id=\"no-keys\""), "empty state");
    let r = c
        .post(s.url("/admin/api-keys"))
        .form(&[("_csrf", csrf.as_str()), ("name", "Shop <feed>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let page = r.text().await.unwrap();
    assert!(page.contains("Shop &#60;feed&#62;") || page.contains("Shop &lt;feed&gt;"));
    let secret = page
        .split("id=\"new-key-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("sbk_"));
    // The next view of the page does not show it again.
    let page = text_of(&c, &s.url("/admin/api-keys")).await;
    assert!(!page.contains(&secret));
    // A blank name comes back with the error, and nothing is created.
    let r = c
        .post(s.url("/admin/api-keys"))
        .form(&[("_csrf", csrf.as_str()), ("name", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"key-error\""));
    let id = page
        .split("id=\"apikey-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = c
        .post(s.url(&format!("/admin/api-keys/{id}/revoke")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Revoked"));
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"type":"traffic_recorded","id":"t","occurred_at":"2026-11-20T10:00:00Z","channel":"web","region":"EU","visits":1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

/// The job id a redirect to `/import/jobs/{id}` names.
fn job_id(r: &reqwest::Response) -> String {
    let loc = location(r);
    assert!(loc.starts_with("/import/jobs/"), "{loc}");
    loc.trim_start_matches("/import/jobs/").to_string()
}

async fn finished_panel(s: &TestServer, c: &reqwest::Client, job: &str) -> String {
    eventually(Duration::from_secs(30), || async {
        let panel = text_of(c, &s.url(&format!("/import/jobs/{job}/progress"))).await;
        (!panel.contains("hx-trigger")).then_some(panel)
    })
    .await
}

#[tokio::test]
async fn import_page_uploads_a_file_shows_progress_and_the_refused_rows() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let page = c.get(s.url("/import")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("id=\"no-imports\""));
    let csv = "order_id,occurred_at,sku,category,quantity,unit_price\n\
               W1,2026-11-02T10:00:00Z,S1,Tools,2,10.00\n\
               W2,2026-11-02T11:00:00Z,S1,Tools,1,ten\n\
               W3,2026-11-03T11:00:00Z,S2,Toys,1,5.50\n";
    let upload = |token: &str| {
        let form = reqwest::multipart::Form::new().text("format", "auto").part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("orders.csv"),
        );
        c.post(s.url(&format!("/import?_csrf={token}")))
            .multipart(form)
            .send()
    };
    // Without the token the upload is refused.
    let r = upload("forged").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = upload(&csrf).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job = job_id(&r);
    let page = text_of(&c, &s.url(&format!("/import/jobs/{job}"))).await;
    assert!(page.contains("orders.csv (orders-csv)"), "{page}");
    let panel = finished_panel(&s, &c, &job).await;
    assert!(panel.contains("Finished"), "{panel}");
    assert!(panel.contains("<dd id=\"job-accepted\">2</dd>"), "{panel}");
    assert!(panel.contains("<dd id=\"job-errors\">1</dd>"), "{panel}");
    assert!(panel.contains("<code>unit_price</code>"), "{panel}");
    let report = text_of(&c, &s.url(&format!("/import/jobs/{job}/errors.csv"))).await;
    assert!(
        report.starts_with("line,column,code,message\n3,unit_price,"),
        "{report}"
    );
    let owner = s.owner_token().await;
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/summary?from=2026-11-01&to=2026-11-30",
        )
        .await;
    assert_eq!(v["orders"]["value"], 2.0);
    // Another org's user cannot see the job.
    let other = s.second_org("Other", "o@example.com", "owner").await;
    let r = client()
        .get(s.url(&format!("/import/jobs/{job}/progress")))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn load_demo_data_from_the_home_page_fills_the_dashboard() {
    let s = TestServer::start_with(|c| c.import.demo_events = 2_000).await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let home = text_of(&c, &s.url("/")).await;
    assert!(home.contains("id=\"load-demo\""), "{home}");
    let r = c
        .post(s.url("/demo"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let panel = finished_panel(&s, &c, &job_id(&r)).await;
    assert!(panel.contains("Finished"), "{panel}");
    // With data, home is the dashboard.
    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(location(&r), "/dashboard");
    let dash = text_of(&c, &s.url("/dashboard")).await;
    assert!(
        dash.contains("id=\"kpis\"") && dash.contains("Revenue"),
        "{dash}"
    );
    assert!(!dash.contains("id=\"load-demo\""));
    // revenue by day as an SVG chart with one point per day, each day a drill-down link, and
    // a text alternative
    let chart = &dash[dash.find("id=\"trend\"").expect("chart")..];
    let chart = &chart[..chart.find("</section>").unwrap()];
    assert_eq!(chart.matches("<circle").count(), 30, "{chart}");
    assert_eq!(
        chart
            .matches("href=\"/dashboard?range=custom&amp;from=")
            .count(),
        30
    );
    assert!(chart.contains("aria-label=\"Revenue by day, "), "{chart}");
    // channels as bars, each narrowing the view to its channel
    for ch in ["online", "retail", "partner", "marketplace"] {
        assert!(
            dash.contains(&format!("href=\"/dashboard?channel={ch}\">{ch}</a>")),
            "{ch}"
        );
    }
    // a bad view value is refused by name
    let r = c
        .get(s.url("/dashboard?range=fortnight"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("range: `fortnight` is not a known date range"),
        "{body}"
    );
    // a submitted form (every field) lands on the short canonical address
    let r = c
        .get(s.url("/dashboard?range=7d&from=&to=&channel=&region=&category=&metric=revenue"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/dashboard?range=7d");
    // top customers load after the page (htmx), from their own fragment
    let panel = &dash[dash.find("id=\"top-customers\"").expect("customers")..];
    assert!(
        panel.contains("hx-get=\"/dashboard/top-customers\""),
        "{panel}"
    );
    let r = c
        .get(s.url("/dashboard/top-customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let top = r.text().await.unwrap();
    assert_eq!(top.matches("<li>").count(), 10, "{top}");
    // a name, with the customer id beside it
    assert!(top.contains("<span class=\"muted small\">demo-"), "{top}");
    // and only for signed-in members
    let anon = browser_like()
        .get(s.url("/dashboard/top-customers"))
        .send()
        .await
        .unwrap();
    assert!(!anon.status().is_success(), "{}", anon.status());
    assert!(!anon.text().await.unwrap().contains("demo-"));
    let products = &dash[dash.find("id=\"top-products\"").expect("products")..];
    assert!(products.contains("item "), "product names shown");
    // A pipeline came with it: deals with history, on the board; a second load adds none.
    let owner = s.owner_token().await;
    let (_, deals) = s
        .get_json(&owner, "/api/v1/opportunities?archived=true")
        .await;
    assert_eq!(deals["total"], 120, "{deals}");
    let id = deals["items"][0]["id"].as_str().unwrap();
    let (_, h) = s
        .get_json(&owner, &format!("/api/v1/opportunities/{id}/history"))
        .await;
    assert!(!h["items"].as_array().unwrap().is_empty());
    let board = text_of(&c, &s.url("/pipeline")).await;
    assert!(board.contains("class=\"deal\""), "{board}");
    let r = c
        .post(s.url("/demo"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    finished_panel(&s, &c, &job_id(&r)).await;
    let (_, again) = s
        .get_json(&owner, "/api/v1/opportunities?archived=true&limit=1")
        .await;
    assert_eq!(again["total"], 120);
    s.stop().await;
}

#[tokio::test]
async fn customer_and_product_pages_show_the_apis_figures_in_words() {
    let s = TestServer::start().await;
    let c = browser_like();
    sign_in(&s, &c).await;
    let owner = s.owner_token().await;
    let at = s.now().timestamp().to_string();
    let events = serde_json::json!([
        {"type": "customer_created", "id": "c 1/x", "occurred_at": at, "name": "Ada <Lovelace>", "email": "ada@example.com"},
        {"type": "sale_completed", "id": "o-1", "occurred_at": at, "customer_id": "c 1/x", "channel": "web", "region": "EU",
         "lines": [{"sku": "SKU/1", "name": "Widget", "category": "Tools", "quantity": 2, "unit_price": "10.00", "unit_cost": "4.00"}]},
        {"type": "refund_processed", "id": "r-1", "order_id": "o-1", "occurred_at": at, "amount": "10.00", "lines": [{"sku": "SKU/1", "quantity": 1}]}
    ]);
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(&owner)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (_, api) = s.get_json(&owner, "/api/v1/customers/c%201%2Fx").await;
    assert_eq!(api["ltv"], 10.0);
    let page = text_of(&c, &s.url("/customers/c%201%2Fx")).await;
    // The name is escaped, the figures are the API's, the model is explained in words.
    assert!(page.contains("<h1>Ada &#60;Lovelace&#62;</h1>"), "{page}");
    assert!(page.contains("id=\"customer-ltv\">$10.00<"), "{page}");
    assert!(page.contains("id=\"customer-orders\">1<"), "{page}");
    let explanation = api["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("$"),
        "money in the currency: {explanation}"
    );
    assert!(page.contains(&explanation.replace('\'', "&#39;")), "{page}");
    assert!(page.contains("id=\"customer-history\""));

    let (_, api) = s.get_json(&owner, "/api/v1/products/SKU%2F1").await;
    assert_eq!(api["revenue"], 20.0);
    let page = text_of(&c, &s.url("/products/SKU%2F1")).await;
    assert!(page.contains("<h1>Widget</h1>"), "{page}");
    assert!(page.contains("id=\"product-revenue\">$20.00<"), "{page}");
    assert!(
        page.contains("href=\"/dashboard?category=Tools\""),
        "{page}"
    );
    // The dashboard links its rankings to these pages.
    let dash = text_of(&c, &s.url("/dashboard")).await;
    assert!(dash.contains("href=\"/products/SKU%2F1\""), "{dash}");
    let top = text_of(&c, &s.url("/dashboard/top-customers")).await;
    assert!(top.contains("href=\"/customers/c%201%2Fx\""), "{top}");

    let r = c.get(s.url("/customers/nobody")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(s.url("/products/nothing")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

/// The pipeline without JavaScript: create through the form (an error keeps what was typed),
/// move a card with its "Move to" form, see the column totals and the history change; a
/// stale move is refused; htmx gets the board fragment; a viewer gets no edit controls.
#[tokio::test]
async fn pipeline_pages_work_without_javascript() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let owner = s.owner_token().await;
    let (_, pipes) = s.get_json(&owner, "/api/v1/pipelines").await;
    let stage = |name: &str| {
        pipes["items"][0]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let board = text_of(&c, &s.url("/pipeline")).await;
    for col in [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Closed won",
        "Closed lost",
    ] {
        assert!(board.contains(&format!(">{col} <")), "{col}");
    }
    assert!(board.contains("No deals here.") && board.contains("sse-connect=\"/live/pipeline?v="));

    // A bad amount: the form again with the message and the typed values.
    let form = |amount: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", "Acme rollout".to_string()),
            ("account", "Acme".to_string()),
            ("stage", stage("Prospecting")),
            ("amount", amount.to_string()),
            ("close_date", "2026-12-20".to_string()),
        ]
    };
    let r = c
        .post(s.url("/opportunities"))
        .form(&form("lots"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"form-error\"")
            && body.contains("amount")
            && body.contains("value=\"Acme rollout\""),
        "{body}"
    );
    let r = c
        .post(s.url("/opportunities"))
        .form(&form("12500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let deal = location(&r);
    let id = deal.trim_start_matches("/opportunities/").to_string();
    let page = text_of(&c, &s.url(&deal)).await;
    assert!(page.contains("<h1>Acme rollout</h1>") && page.contains("$12,500.00"));

    // Move it with the card's form: back to the board, totals follow.
    let mv = |version: &str, to: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("stage", stage(to)),
            ("version", version.to_string()),
            ("back", "view=board".to_string()),
        ]
    };
    let url = s.url(&format!("/pipeline/opportunities/{id}/move"));
    let r = c
        .post(&url)
        .form(&mv("1", "Proposal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/pipeline");
    let board = text_of(&c, &s.url("/pipeline")).await;
    let proposal = board
        .split(">Proposal <")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        proposal.contains("Acme rollout")
            && proposal.contains("$12,500.00")
            && proposal.contains("$6,250.00 weighted"),
        "{proposal}"
    );
    // The same move from an old page is refused.
    let r = c
        .post(&url)
        .form(&mv("1", "Negotiation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // htmx gets the board itself.
    let r = c
        .post(&url)
        .header("hx-request", "true")
        .header("x-csrf-token", &csrf)
        .form(&mv("2", "Negotiation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let frag = r.text().await.unwrap();
    assert!(
        frag.starts_with("<div id=\"board\"") && !frag.contains("<html"),
        "{frag}"
    );
    let timeline = text_of(&c, &s.url(&deal)).await;
    let timeline = timeline.split("id=\"timeline\"").nth(1).unwrap();
    assert!(
        timeline.contains("Proposal</span> → <strong class=\"after\">Negotiation"),
        "{timeline}"
    );

    // The table edits a row; a bad filter is named.
    let r = c
        .post(s.url(&format!("/pipeline/opportunities/{id}/edit")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("version", "3"),
            ("amount", "20000.00"),
            ("probability", "80"),
            ("stage", &stage("Negotiation")),
            ("close_date", "2026-12-20"),
            ("back", "view=table"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/pipeline?view=table".to_string())
    );
    let table = text_of(&c, &s.url("/pipeline?view=table")).await;
    assert!(table.contains("value=\"20000.00\""), "{table}");
    let r = c
        .get(s.url("/pipeline?close=someday"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Forecast and targets.
    let r = c
        .post(s.url("/forecast/targets"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("back", "period=month&from=2026-12-01&to=2026-12-31"),
            ("m2026-12", "40000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let f = text_of(&c, &s.url(&location(&r))).await;
    assert!(
        f.contains("id=\"forecast-totals\"")
            && f.contains("$40,000.00")
            && f.contains("gap $40,000.00"),
        "{f}"
    );

    // A viewer reads but gets no edit controls.
    let (_, _) = s.user(&owner, "viewer@example.com", "viewer").await;
    let v = browser_like();
    let r = v
        .post(s.url("/login"))
        .form(&[("email", "viewer@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let board = text_of(&v, &s.url("/pipeline")).await;
    assert!(
        board.contains("Acme rollout")
            && !board.contains("Move to")
            && !board.contains("New opportunity")
    );
    let r = v.get(s.url(&deal)).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(!page.contains("id=\"deal-form\""));
}

#[tokio::test]
async fn partner_pages_work_without_javascript() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;

    // The empty list says what to do.
    let list = text_of(&c, &s.url("/partners")).await;
    assert!(list.contains("No partners yet.") && list.contains("href=\"/partners/new\""));

    // A bad website: the form again, with the message and the typed values.
    let form = |website: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", "Northwind <Apps>".to_string()),
            ("website", website.to_string()),
            ("tier", "Gold".to_string()),
            ("status", "active".to_string()),
            ("tags", "cloud, eu".to_string()),
            ("revenue_target", "120000".to_string()),
            ("contact_name", "Ana".to_string()),
            ("contact_role", "CTO".to_string()),
            ("contact_email", "ana@northwind.example".to_string()),
            ("contact_phone", "".to_string()),
            ("contact_name", "".to_string()),
            ("contact_role", "".to_string()),
            ("contact_email", "".to_string()),
            ("contact_phone", "".to_string()),
        ]
    };
    let r = c
        .post(s.url("/partners"))
        .form(&form("not a site"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"form-error\"")
            && body.contains("website")
            && body.contains("value=\"Northwind &lt;Apps&gt;\""),
        "{body}"
    );
    let r = c
        .post(s.url("/partners"))
        .form(&form("northwind.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page_url = location(&r);
    let id = page_url.trim_start_matches("/partners/").to_string();
    let page = text_of(&c, &s.url(&page_url)).await;
    // Escaped, with health explained, contacts and the empty states.
    assert!(page.contains("<h1>Northwind &#60;Apps&#62;</h1>"), "{page}");
    assert!(page.contains("id=\"health-factors\"") && page.contains("Recent activity"));
    assert!(page.contains("mailto:ana@northwind.example"));
    assert!(page.contains("No notes yet.") && page.contains("No deal is linked"));

    // A note, then a change with the version; a stale version is refused.
    let r = c
        .post(s.url(&format!("/partners/{id}/notes")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("text", "Kickoff <done>.\nNext: webinar."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = text_of(&c, &s.url(&page_url)).await;
    assert!(
        page.contains("Kickoff &lt;done&gt;.\nNext: webinar."),
        "{page}"
    );
    let mut change = form("northwind.example");
    change.retain(|(k, _)| *k != "tier");
    change.push(("tier", "Platinum".into()));
    change.push(("version", "1".into()));
    let r = c.post(s.url(&page_url)).form(&change).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c.post(s.url(&page_url)).form(&change).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("version 2"));

    // A name another partner has: refused, and what was typed stays in the form.
    let r = c
        .post(s.url("/partners"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "Globex"),
            ("tier", "Silver"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut rename = form("northwind.example");
    rename.retain(|(k, _)| !matches!(*k, "name" | "region"));
    rename.push(("name", "Globex".into()));
    rename.push(("region", "Typed region".into()));
    rename.push(("version", "2".into()));
    let r = c.post(s.url(&page_url)).form(&rename).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("already exists") && body.contains("value=\"Typed region\""),
        "{body}"
    );

    // The list: filters in the URL, the row, and a CSV link with the same filters.
    let list = text_of(&c, &s.url("/partners?tier=Platinum&sort=-health")).await;
    assert!(list.contains(&format!("href=\"/partners/{id}\"")), "{list}");
    assert!(list.contains("/api/v1/partners/export?tier=Platinum&amp;sort=-health"));
    assert!(list.contains("aria-sort=\"descending\""));
    let list = text_of(&c, &s.url("/partners?tier=Gold")).await;
    assert!(list.contains("No partner matches these filters."));
    // The htmx request gets only the list.
    let frag = c
        .get(s.url("/partners?status=active"))
        .header("hx-request", "true")
        .header("hx-target", "partner-list")
        .send()
        .await
        .unwrap();
    assert_eq!(frag.headers()["hx-push-url"], "/partners?status=active");
    let frag = frag.text().await.unwrap();
    assert!(frag.starts_with("<div id=\"partner-list\">") && !frag.contains("<html"));

    // Archive and restore from the page.
    let r = c
        .post(s.url(&format!("/partners/{id}/archive")))
        .form(&[("_csrf", csrf.as_str()), ("archived", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = text_of(&c, &s.url("/partners")).await;
    assert!(!list.contains(&format!("href=\"/partners/{id}\"")) && list.contains("Globex"));
    let list = text_of(&c, &s.url("/partners?tier=Platinum")).await;
    assert!(list.contains("No partner matches") && list.contains("Archived too"));
    assert!(
        text_of(&c, &s.url(&page_url))
            .await
            .contains("Restore partner")
    );

    // Settings: saved, and a bad value answers with the message.
    let mut settings = vec![
        ("_csrf", csrf.clone()),
        ("version", "1".to_string()),
        ("tiers", "Bronze\nSilver\nGold\nPlatinum".to_string()),
        ("at_risk_below", "35".to_string()),
    ];
    for f in [
        "recency",
        "sourced_pipeline",
        "pipeline_trend",
        "win_rate",
        "revenue_vs_target",
        "slipped_deals",
        "renewal",
    ] {
        settings.push((
            Box::leak(format!("w_{f}").into_boxed_str()),
            "10".to_string(),
        ));
    }
    let r = c
        .post(s.url("/partners/settings"))
        .form(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = text_of(&c, &s.url("/partners/settings?saved=1")).await;
    assert!(page.contains("Settings saved.") && page.contains("Bronze\nSilver"));
    // A blank number: the form again with the message, not a bare error page.
    let mut blank = settings.clone();
    blank.retain(|(k, _)| *k != "w_recency");
    blank.push(("w_recency", "".into()));
    let r = c
        .post(s.url("/partners/settings"))
        .form(&blank)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"form-error\"") && body.contains("recency"),
        "{body}"
    );
    settings.retain(|(k, _)| *k != "at_risk_below" && *k != "version");
    settings.push(("version", "2".into()));
    settings.push(("at_risk_below", "300".into()));
    let r = c
        .post(s.url("/partners/settings"))
        .form(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("at_risk_below"));
    s.stop().await;
}

#[tokio::test]
async fn pipeline_settings_page_edits_stages_and_moves_deals() {
    let s = TestServer::start().await;
    let c = browser_like();
    let csrf = sign_in(&s, &c).await;
    let owner = s.owner_token().await;
    let (_, pipes) = s.get_json(&owner, "/api/v1/pipelines").await;
    let pipe = pipes["items"][0].clone();
    let pid = pipe["id"].as_str().unwrap().to_string();
    let stage = |name: &str| {
        pipe["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = client()
        .post(s.url("/api/v1/opportunities"))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"name": "Acme", "account": "A", "amount": "10", "close_date": "2026-12-31", "stage": "Qualification"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let deal: serde_json::Value = r.json().await.unwrap();

    let page = text_of(&c, &s.url("/pipeline/settings")).await;
    assert!(page.contains("move its 1 deals to") && page.contains("value=\"Qualification\""));

    // The form: rename Prospecting, remove Qualification (its deal goes to Proposal), add
    // Discovery, and a bad probability first (refused; the typed rows stay).
    let form = |prob: &str| {
        let mut f: Vec<(String, String)> = vec![
            ("_csrf".into(), csrf.clone()),
            ("version".into(), "1".into()),
            ("name".into(), "Sales".into()),
        ];
        // Discovery is typed last but numbered to come second.
        let rows = [
            (
                stage("Prospecting"),
                "First touch",
                prob,
                "open",
                "pipeline",
            ),
            (
                stage("Qualification"),
                "Qualification",
                "20",
                "open",
                "pipeline",
            ),
            (stage("Proposal"), "Proposal", "50", "open", "best_case"),
            (stage("Negotiation"), "Negotiation", "80", "open", "commit"),
            (stage("Closed won"), "Closed won", "100", "won", "commit"),
            (stage("Closed lost"), "Closed lost", "0", "lost", "omitted"),
            (String::new(), "Discovery", "30", "open", "best_case"),
        ];
        for (i, (id, name, p, kind, cat)) in rows.into_iter().enumerate() {
            let order = if name == "Discovery" {
                "2".to_string()
            } else {
                (i + 1).to_string()
            };
            f.push(("stage_order".into(), order));
            f.push(("stage_id".into(), id));
            f.push(("stage_name".into(), name.into()));
            f.push(("stage_probability".into(), p.into()));
            f.push(("stage_kind".into(), kind.into()));
            f.push(("stage_forecast".into(), cat.into()));
        }
        f.push(("remove".into(), stage("Qualification")));
        f.push((
            format!("move_{}", stage("Qualification")),
            stage("Proposal"),
        ));
        f.push(("lost_reasons".into(), "Price\nTiming".into()));
        f
    };
    let url = s.url(&format!("/pipeline/settings/{pid}"));
    // Removing a stage with deals without saying where they go is refused.
    let mut unsaid = form("10");
    unsaid.retain(|(k, _)| !k.starts_with("move_"));
    let r = c.post(&url).form(&unsaid).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("say where they should go"));
    let r = c.post(&url).form(&form("150")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"form-error\"")
            && body.contains("value=\"First touch\"")
            && body.contains("value=\"Discovery\""),
        "{body}"
    );
    let r = c.post(&url).form(&form("10")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let (_, p) = s
        .get_json(&owner, &format!("/api/v1/pipelines/{pid}"))
        .await;
    let names: Vec<&str> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "First touch",
            "Discovery",
            "Proposal",
            "Negotiation",
            "Closed won",
            "Closed lost"
        ]
    );
    assert_eq!(p["lost_reasons"], serde_json::json!(["Price", "Timing"]));
    let (_, d) = s
        .get_json(
            &owner,
            &format!("/api/v1/opportunities/{}", deal["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(d["stage_name"], "Proposal");
    // The same version again is stale.
    let r = c.post(&url).form(&form("10")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // A new pipeline from the page.
    let r = c
        .post(s.url("/pipeline/settings"))
        .form(&[("_csrf", csrf.as_str()), ("name", "Renewals")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, pipes) = s.get_json(&owner, "/api/v1/pipelines").await;
    assert_eq!(pipes["items"].as_array().unwrap().len(), 2);
    s.stop().await;
}
