//! Two organizations: nothing of one is visible or changeable from the other; foreign ids are
//! 404, exactly like ids that do not exist.

use crate::support::*;
use reqwest::{Method, StatusCode};
use salesboard::auth::accounts::{self, ActingAs, NewUserInput};
use salesboard::domain::org::NewOrg;
use serde_json::json;

#[tokio::test]
async fn users_of_one_org_never_reach_another() {
    let s = TestServer::start().await;
    let owner_a = s.owner_token().await;
    let (a_user, _) = s.user(&owner_a, "a-user@example.com", "viewer").await;

    // Org B, set up through the same store API the CLI uses.
    let store = s.running.as_ref().unwrap().state.store.clone();
    let now = s.now();
    let (b_owner_id, b_team) = tokio::task::spawn_blocking(move || {
        let org = accounts::create_org(
            &store,
            &ActingAs::cli(),
            NewOrg::parse("Org B", "Europe/Berlin", "EUR").unwrap(),
            now,
        )
        .unwrap();
        let input = NewUserInput {
            email: "b-owner@example.com".into(),
            name: "B".into(),
            role: "owner".into(),
            team: None,
            password: Some(PASSWORD.into()),
        };
        let (u, _) = accounts::create_user(&store, &ActingAs::cli(), org.id, input, now).unwrap();
        let t =
            accounts::create_team(&store, &ActingAs::cli(), org.id, "B team", None, now).unwrap();
        (u.id.to_string(), t.id.to_string())
    })
    .await
    .unwrap();
    let (_, tb) = s.login("b-owner@example.com", PASSWORD).await;
    let owner_b = tb["access_token"].as_str().unwrap().to_string();

    let c = client();
    // lists only show one's own org
    let (_, list) = s.get_json(&owner_b, "/api/v1/users").await;
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["b-owner@example.com"]);
    let (_, org) = s.get_json(&owner_b, "/api/v1/org").await;
    assert_eq!(org["name"], "Org B");
    assert_eq!(org["currency"], "EUR");

    // every id route, with the other org's ids
    let id_routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/users/{b_owner_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{b_owner_id}"),
            Some(json!({"name": "hijacked"})),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{b_owner_id}/reset-password"),
            None,
        ),
        (Method::GET, format!("/api/v1/teams/{b_team}"), None),
        (
            Method::POST,
            format!("/admin/users/{b_owner_id}/role"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/users/{b_owner_id}/team"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/users/{b_owner_id}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/users/{b_owner_id}/enable"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/users/{b_owner_id}/reset-password"),
            None,
        ),
    ];
    for (m, path, body) in &id_routes {
        let mut req = c.request(m.clone(), s.url(path)).bearer_auth(&owner_a);
        req = match body {
            Some(b) => req.json(b),
            None if path.starts_with("/admin") => req.form(&[("role", "viewer"), ("team", "")]),
            None => req,
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} {path}");
    }
    // and the other way round
    let r = c
        .get(s.url(&format!("/api/v1/users/{a_user}")))
        .bearer_auth(&owner_b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // a foreign team id cannot be assigned
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&owner_a)
        .json(&json!({"email": "x@example.com", "role": "viewer", "team": b_team}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "validation".into())
    );
    // B's owner is untouched
    let (_, me) = s.get_json(&owner_b, "/api/v1/auth/me").await;
    assert_eq!(me["user"]["name"], "B");
    assert_eq!(me["user"]["disabled"], false);
    // audit logs are per org
    let (_, audit) = s.get_json(&owner_b, "/api/v1/audit").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "org, owner and team creation");
    assert!(items.iter().all(|e| e["actor"] == "command line"));
    s.stop().await;
}
