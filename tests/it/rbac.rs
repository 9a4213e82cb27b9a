//! Every role against every protected route: the expected status is written out here by hand,
//! independently of the permission table in `domain::roles`.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const ROLES: [&str; 7] = [
    "owner",
    "admin",
    "vp",
    "manager",
    "partnership_manager",
    "analyst",
    "viewer",
];

#[tokio::test]
async fn every_role_on_every_protected_route() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let mut tokens = vec![owner.clone()];
    for role in &ROLES[1..] {
        let (_, t) = s.user(&owner, &format!("{role}@example.com"), role).await;
        tokens.push(t);
    }
    let (target, _) = s.user(&owner, "target@example.com", "viewer").await;
    let key = s.api_key(&owner, "matrix").await.0;

    // (method, path, body, expected status per role in ROLES order)
    let a = 200;
    let f = 403;
    let table: Vec<(Method, String, Option<serde_json::Value>, [u16; 7])> = vec![
        (
            Method::GET,
            "/api/v1/auth/me".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/org".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/roles".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/teams".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/users".into(),
            None,
            [a, a, f, f, f, f, f],
        ),
        (
            Method::GET,
            format!("/api/v1/users/{target}"),
            None,
            [a, a, f, f, f, f, f],
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{target}"),
            Some(json!({"name": "Renamed"})),
            [a, a, f, f, f, f, f],
        ),
        (
            Method::POST,
            format!("/api/v1/users/{target}/reset-password"),
            None,
            [a, a, f, f, f, f, f],
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({"email": "{role}-made@example.com", "role": "viewer"})),
            [201, 201, f, f, f, f, f],
        ),
        (
            Method::POST,
            "/api/v1/teams".into(),
            Some(json!({"name": "Team of {role}"})),
            [201, 201, f, f, f, f, f],
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            None,
            [a, a, a, f, f, f, f],
        ),
        (
            Method::GET,
            "/api/v1/customers".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/products".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/metrics/summary".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/metrics/timeseries".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/metrics/breakdown?dimension=channel".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/api/v1/api-keys".into(),
            None,
            [a, a, f, a, f, f, f],
        ),
        (
            Method::POST,
            "/api/v1/api-keys".into(),
            Some(json!({"name": "key of {role}"})),
            [201, 201, f, 201, f, f, f],
        ),
        (
            Method::DELETE,
            format!("/api/v1/api-keys/{key}"),
            None,
            [a, a, f, a, f, f, f],
        ),
        (
            Method::POST,
            "/api/v1/events".into(),
            Some(
                json!({"type": "traffic_recorded", "id": "t-{role}", "occurred_at": "2026-11-20T10:00:00Z", "channel": "web", "region": "EU", "visits": 1}),
            ),
            [a, a, a, a, f, f, f],
        ),
        // The events above are data: home is the dashboard now, for every role (all may see
        // sales).
        (Method::GET, "/".into(), None, [303; 7]),
        (
            Method::GET,
            "/dashboard".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/dashboard/top-customers".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (Method::GET, "/import".into(), None, [a, a, a, a, f, f, f]),
        (
            Method::GET,
            "/admin/api-keys".into(),
            None,
            [a, a, f, a, f, f, f],
        ),
        (
            Method::GET,
            "/admin/roles".into(),
            None,
            [a, a, a, a, a, a, a],
        ),
        (
            Method::GET,
            "/admin/users".into(),
            None,
            [a, a, f, f, f, f, f],
        ),
        (Method::GET, "/api/v1/pipelines".into(), None, [a; 7]),
        (
            Method::POST,
            "/api/v1/pipelines".into(),
            Some(json!({"name": "Pipeline of {role}"})),
            [201, 201, 201, f, f, f, f],
        ),
        (Method::GET, "/api/v1/opportunities".into(), None, [a; 7]),
        (
            Method::POST,
            "/api/v1/opportunities".into(),
            Some(
                json!({"name": "Deal of {role}", "account": "A", "amount": "10", "close_date": "2026-12-31"}),
            ),
            [201, 201, 201, 201, 201, f, f],
        ),
        (Method::GET, "/api/v1/forecast".into(), None, [a; 7]),
        (
            Method::PUT,
            "/api/v1/forecast/targets".into(),
            Some(json!({"month": "2026-12", "amount": "1000"})),
            [a, a, a, f, f, f, f],
        ),
        (Method::GET, "/pipeline".into(), None, [a; 7]),
        (Method::GET, "/forecast".into(), None, [a; 7]),
        (
            Method::GET,
            "/opportunities/new".into(),
            None,
            [a, a, a, a, a, f, f],
        ),
        (Method::GET, "/api/v1/partners".into(), None, [a; 7]),
        (
            Method::GET,
            "/api/v1/partners/export".into(),
            None,
            [a, a, a, a, f, a, f],
        ),
        (
            Method::POST,
            "/api/v1/partners".into(),
            Some(json!({"name": "Partner of {role}"})),
            [201, 201, 201, 201, 201, f, f],
        ),
        (Method::GET, "/api/v1/partner-settings".into(), None, [a; 7]),
        (
            Method::PUT,
            "/api/v1/partner-settings".into(),
            Some(json!({"at_risk_below": 35})),
            [a, a, a, f, f, f, f],
        ),
        (Method::GET, "/pipeline/settings".into(), None, [a; 7]),
        (Method::GET, "/partners".into(), None, [a; 7]),
        (Method::GET, "/partners/settings".into(), None, [a; 7]),
        (
            Method::GET,
            "/partners/new".into(),
            None,
            [a, a, a, a, a, f, f],
        ),
    ];
    let c = client();
    for (method, path, body, expected) in &table {
        for (i, role) in ROLES.iter().enumerate() {
            let mut req = c
                .request(method.clone(), s.url(path))
                .bearer_auth(&tokens[i]);
            if let Some(b) = body {
                let text = b.to_string().replace("{role}", role);
                req = req.header("content-type", "application/json").body(text);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status().as_u16(),
                expected[i],
                "{role} {method} {path}: {}",
                r.text().await.unwrap()
            );
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn only_owners_grant_or_touch_privileged_roles() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (admin_id, admin) = s.user(&owner, "admin@example.com", "admin").await;
    let (other_admin, _) = s.user(&owner, "admin2@example.com", "admin").await;
    let (viewer, _) = s.user(&owner, "viewer@example.com", "viewer").await;
    let c = client();
    let patch = |tok: &str, id: &str, body: serde_json::Value| {
        c.patch(s.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(tok.to_string())
            .json(&body)
            .send()
    };
    // admin may promote a viewer to manager but not to admin or owner
    assert_eq!(
        patch(&admin, &viewer, json!({"role": "manager"}))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        patch(&admin, &viewer, json!({"role": "admin"}))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(&admin, &other_admin, json!({"disabled": true}))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // nobody changes their own role or disables themselves
    assert_eq!(
        patch(&admin, &admin_id, json!({"role": "viewer"}))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // the owner can
    assert_eq!(
        patch(&owner, &viewer, json!({"role": "admin"}))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // owners can change each other (a second owner makes the first an admin)
    let (owner2_id, owner2) = s.user(&owner, "owner2@example.com", "owner").await;
    let (_, me) = s.get_json(&owner, "/api/v1/auth/me").await;
    let owner1_id = me["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        patch(&owner2, &owner1_id, json!({"role": "admin"}))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = patch(&owner, &owner2_id, json!({"role": "viewer"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "owner1 is an admin now");
    // owner2 is now the only active owner: nobody, not even the command line, may demote or
    // disable them
    let store = s.running.as_ref().unwrap().state.store.clone();
    let now = s.now();
    let id: salesboard::domain::UserId = owner2_id.parse().unwrap();
    let results = tokio::task::spawn_blocking(move || {
        use salesboard::auth::accounts::{ActingAs, UserPatch, update_user};
        let org = salesboard::domain::OrgId(1);
        let demote = update_user(
            &store,
            &ActingAs::cli(),
            org,
            id,
            UserPatch {
                role: Some("admin".into()),
                ..Default::default()
            },
            now,
        );
        let disable = update_user(
            &store,
            &ActingAs::cli(),
            org,
            id,
            UserPatch {
                disabled: Some(true),
                ..Default::default()
            },
            now,
        );
        [
            demote.map(|_| ()).unwrap_err(),
            disable.map(|_| ()).unwrap_err(),
        ]
    })
    .await
    .unwrap();
    for e in results {
        assert_eq!(
            (e.status, e.code),
            (StatusCode::CONFLICT, "conflict"),
            "{}",
            e.message
        );
    }
    // audit records each role change with old -> new
    let (_, audit) = s.get_json(&owner2, "/api/v1/audit?limit=100").await;
    let changes: Vec<_> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.role_change")
        .collect();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0]["old"]["role"], "owner");
    assert_eq!(changes[0]["new"]["role"], "admin");
    assert_eq!(changes[0]["actor"], "owner2@example.com");
    s.stop().await;
}
