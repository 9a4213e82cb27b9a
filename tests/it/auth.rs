//! Login, refresh rotation with reuse detection, logout and revocation, rate limits.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn login_success_and_failure_say_nothing_about_accounts() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (_, _) = s.user(&owner, "ann@example.com", "analyst").await;

    let (st, v) = s.login("ann@example.com", PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert!(v["refresh_token"].as_str().unwrap().len() >= 40);
    assert_eq!(v["user"]["role"], "analyst");
    assert!(v["user"].get("password_hash").is_none());

    let (st1, wrong_pw) = s.login("ann@example.com", "wrong password!").await;
    let (st2, no_user) = s.login("nobody@example.com", "wrong password!").await;
    assert_eq!(st1, StatusCode::UNAUTHORIZED);
    assert_eq!(st2, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_pw, no_user,
        "same answer for unknown account and wrong password"
    );
    assert_eq!(wrong_pw["error"]["code"], "invalid_credentials");

    // me
    let (_, t) = s.login("ann@example.com", PASSWORD).await;
    let me: Value = client()
        .get(s.url("/api/v1/auth/me"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["org_name"], "My Organization");
    let perms: Vec<&str> = me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["permission"].as_str().unwrap())
        .collect();
    assert!(perms.contains(&"analytics.advanced") && !perms.contains(&"users.manage"));
    s.stop().await;
}

async fn refresh(s: &TestServer, token: &str) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn me_status(s: &TestServer, access: &str) -> StatusCode {
    client()
        .get(s.url("/api/v1/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    s.owner_token().await;
    let (_, t0) = s.login(&s.owner_email, PASSWORD).await;
    let r0 = t0["refresh_token"].as_str().unwrap().to_string();

    let (st, t1) = refresh(&s, &r0).await;
    assert_eq!(st, StatusCode::OK);
    let r1 = t1["refresh_token"].as_str().unwrap().to_string();
    let a1 = t1["access_token"].as_str().unwrap().to_string();
    assert_ne!(r0, r1, "refresh token rotates");
    assert_eq!(me_status(&s, &a1).await, StatusCode::OK);

    // Reusing the rotated-away token: refused, and the whole family dies.
    let (st, v) = refresh(&s, &r0).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        refresh(&s, &r1).await.0,
        StatusCode::UNAUTHORIZED,
        "current token revoked too"
    );
    assert_eq!(
        me_status(&s, &a1).await,
        StatusCode::UNAUTHORIZED,
        "access tokens of the family die at once"
    );

    // Other sessions of the same user are unaffected.
    let (_, other) = s.login(&s.owner_email, PASSWORD).await;
    assert_eq!(
        me_status(&s, other["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(refresh(&s, "garbage").await.0, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_and_refresh_tokens_too() {
    let s = TestServer::start().await;
    s.owner_token().await;
    let (_, t) = s.login(&s.owner_email, PASSWORD).await;
    let a = t["access_token"].as_str().unwrap();
    let r = t["refresh_token"].as_str().unwrap();
    s.clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(me_status(&s, a).await, StatusCode::UNAUTHORIZED);
    let (st, t2) = refresh(&s, r).await;
    assert_eq!(st, StatusCode::OK);
    s.clock.advance(Duration::from_secs(31 * 24 * 3600));
    assert_eq!(
        refresh(&s, t2["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

#[tokio::test]
async fn logout_password_change_and_disable_revoke_at_once() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (id, ann) = s.user(&owner, "ann@example.com", "viewer").await;

    // logout
    let r = client()
        .post(s.url("/api/v1/auth/logout"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&s, &ann).await, StatusCode::UNAUTHORIZED);

    // password change ends every other session, hands out a new one
    let (_, t1) = s.login("ann@example.com", PASSWORD).await;
    let (_, t2) = s.login("ann@example.com", PASSWORD).await;
    let a1 = t1["access_token"].as_str().unwrap();
    let a2 = t2["access_token"].as_str().unwrap();
    let r = client()
        .post(s.url("/api/v1/auth/password"))
        .bearer_auth(a1)
        .json(&json!({"current_password": PASSWORD, "new_password": "another good password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(me_status(&s, a1).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&s, a2).await, StatusCode::UNAUTHORIZED);
    let a3 = fresh["access_token"].as_str().unwrap();
    assert_eq!(me_status(&s, a3).await, StatusCode::OK);
    assert_eq!(
        refresh(&s, t2["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.login("ann@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );

    // disabling by an admin ends the session at once and blocks login
    let r = client()
        .patch(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&owner)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me_status(&s, a3).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.login("ann@example.com", "another good password").await.0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

#[tokio::test]
async fn one_time_password_must_be_replaced_first() {
    let s = TestServer::start().await;
    let (st, v) = s.login(&s.owner_email, &s.owner_otp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["password_change_required"], true);
    let t = v["access_token"].as_str().unwrap();
    let r = client()
        .get(s.url("/api/v1/users"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "password_change_required".into())
    );
    // a weak new password is refused with the field named
    let r = client()
        .post(s.url("/api/v1/auth/password"))
        .bearer_auth(t)
        .json(&json!({"current_password": s.owner_otp, "new_password": "short"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "validation");
    assert_eq!(v["error"]["field"], "new_password");
    s.owner_token().await;
    s.stop().await;
}

#[tokio::test]
async fn login_is_rate_limited_per_account_with_retry_after() {
    let s = TestServer::start_with(|c| {
        c.rate_limit.login_per_account_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            s.login("victim@example.com", "guess guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = client()
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"email": "victim@example.com", "password": "guess guess guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    assert!(!v["error"]["message"].as_str().unwrap().contains("victim"));
    // another account from the same address is still fine
    assert_eq!(
        s.login("other@example.com", "guess guess guess").await.0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

#[tokio::test]
async fn login_is_rate_limited_per_address() {
    let s = TestServer::start_with(|c| {
        c.rate_limit.login_per_ip_per_minute = 4;
    })
    .await;
    for i in 0..4 {
        assert_eq!(
            s.login(&format!("u{i}@example.com"), "guess guess guess")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        s.login("u9@example.com", "guess guess guess").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    s.stop().await;
}
