//! Org API keys: created with the secret shown once, send events for their own org only,
//! cannot read anything, stop working the moment they are revoked; audited.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn traffic(id: &str) -> Value {
    json!({"type":"traffic_recorded","id":id,"occurred_at":"2026-11-20T10:00:00Z","channel":"web","region":"EU","visits":3})
}

/// POST one traffic event with `credential` as the bearer.
async fn send_with(s: &TestServer, credential: &str, id: &str) -> reqwest::Response {
    client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(credential)
        .json(&traffic(id))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn api_keys_send_events_until_revoked() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (id, secret) = s.api_key(&owner, "Shopify store").await;
    assert!(secret.starts_with("sbk_"));
    let c = client();

    // Bearer and X-Api-Key both work.
    let r = send_with(&s, &secret, "t1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 1);
    let r = c
        .post(s.url("/api/v1/events"))
        .header("x-api-key", &secret)
        .json(&traffic("t2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/summary?from=2026-11-20&to=2026-11-20",
        )
        .await;
    assert_eq!(v["visits"]["value"], 6.0);

    // A key reads nothing and manages nothing.
    for path in [
        "/api/v1/metrics/summary",
        "/api/v1/customers",
        "/api/v1/api-keys",
    ] {
        let r = c
            .get(s.url(path))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // The list shows a hint, never the secret.
    let (_, list) = s.get_json(&owner, "/api/v1/api-keys").await;
    let text = list.to_string();
    assert!(!text.contains(&secret));
    assert_eq!(list["items"][0]["name"], "Shopify store");
    assert_eq!(list["items"][0]["hint"], secret[4..10]);
    assert!(list["items"][0]["revoked_at"].is_null());

    // Bad names are refused with the field named; a wrong key is a plain 401.
    let r = c
        .post(s.url("/api/v1/api-keys"))
        .bearer_auth(&owner)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "name");
    let r = send_with(&s, "sbk_not-a-real-key", "t3").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Revoked: refused at once.
    let r = c
        .delete(s.url(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.json::<Value>().await.unwrap()["revoked_at"].is_null());
    let r = send_with(&s, &secret, "t4").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Audited.
    let (_, audit) = s.get_json(&owner, "/api/v1/audit?limit=100").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"api_key.create") && actions.contains(&"api_key.revoke"));
    s.stop().await;
}

#[tokio::test]
async fn a_key_only_reaches_its_own_org() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let other = s.second_org("B", "b@example.com", "owner").await;
    let (b_id, b_secret) = s.api_key(&other, "B feed").await;
    let c = client();
    let r = send_with(&s, &b_secret, "t1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/summary?from=2026-11-20&to=2026-11-20",
        )
        .await;
    assert_eq!(v["visits"]["value"], 0.0, "org A saw org B's event");
    let (_, v) = s
        .get_json(
            &other,
            "/api/v1/metrics/summary?from=2026-11-20&to=2026-11-20",
        )
        .await;
    assert_eq!(v["visits"]["value"], 3.0);
    // Org A cannot see or revoke org B's key.
    let (_, list) = s.get_json(&owner, "/api/v1/api-keys").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let r = c
        .delete(s.url(&format!("/api/v1/api-keys/{b_id}")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}
