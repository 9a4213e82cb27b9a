//! Pipelines and opportunities over the API: validation, history on every kind of change,
//! optimistic concurrency, "as of" views, scopes per role, tenant isolation, stage edits and
//! the forecast against hand-computed numbers.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn send(
    s: &TestServer,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Value,
    if_match: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    send_json(s, method, token, path, Some(body), if_match).await
}

async fn post(s: &TestServer, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let (st, _, v) = send(s, reqwest::Method::POST, token, path, body, None).await;
    (st, v)
}

async fn patch(s: &TestServer, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/opportunities/{id}");
    let (st, _, v) = send(s, reqwest::Method::PATCH, token, &path, body, None).await;
    (st, v)
}

fn this_month(s: &TestServer, day: i8) -> String {
    let d = s.now().timestamp().to_zoned(jiff::tz::TimeZone::UTC).date();
    d.first_of_month()
        .checked_add(jiff::Span::new().days(i64::from(day) - 1))
        .unwrap()
        .to_string()
}

async fn create_deal(s: &TestServer, token: &str, body: Value) -> Value {
    let (st, v) = post(s, token, "/api/v1/opportunities", body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v
}

#[tokio::test]
async fn opportunities_validate_record_history_and_refuse_stale_updates() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;

    let (st, pipes) = s.get_json(&owner, "/api/v1/pipelines").await;
    assert_eq!(st, StatusCode::OK);
    let stages: Vec<&str> = pipes["items"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "Prospecting",
            "Qualification",
            "Proposal",
            "Negotiation",
            "Closed won",
            "Closed lost"
        ]
    );

    // Validation names the field; nothing is written.
    let close = this_month(&s, 20);
    let base = json!({"name": "Acme rollout", "account": "Acme", "amount": "12500.00", "close_date": close});
    for (change, field) in [
        (json!({"name": null}), "name"),
        (json!({"amount": "-5"}), "amount"),
        (json!({"amount": "12.345"}), "amount"),
        (json!({"close_date": "next week"}), "close_date"),
        (json!({"stage": "Dreaming"}), "stage"),
        (json!({"probability": 140}), "probability"),
        (json!({"currency": "JPY"}), "currency"),
        (json!({"pipeline": "Nope"}), "pipeline"),
        (json!({"owner": "01KAK7D2Y3N9Q8T0V4W6X8Z0AB"}), "owner"),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let (st, v) = post(&s, &owner, "/api/v1/opportunities", body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (st, v) = post(
        &s,
        &owner,
        "/api/v1/opportunities",
        json!({"name": "x", "colour": "red"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (_, list) = s.get_json(&owner, "/api/v1/opportunities").await;
    assert_eq!(list["total"], 0);

    // Create: defaults from the pipeline's first stage.
    let (st, etag, deal) = send(
        &s,
        reqwest::Method::POST,
        &owner,
        "/api/v1/opportunities",
        base.clone(),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{deal}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(deal["stage_name"], "Prospecting");
    assert_eq!(deal["probability"], 10);
    assert_eq!(deal["amount"], "12500.00");
    assert_eq!(deal["weighted_amount"], "1250.00");
    assert_eq!(deal["status"], "open");
    let id = deal["id"].as_str().unwrap().to_string();
    let created_at = s.now();
    s.clock.advance(Duration::from_secs(60));

    // Move with If-Match: probability follows the stage.
    let path = format!("/api/v1/opportunities/{id}");
    let (st, etag, moved) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"stage": "Proposal"}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(
        (moved["stage_name"].as_str(), moved["probability"].as_i64()),
        (Some("Proposal"), Some(50))
    );
    // A stale version is refused and changes nothing.
    let (st, _, v) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"amount": "1"}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 2"),
        "{v}"
    );
    let (st, _, v) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"amount": "1"}),
        Some("seven"),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let after_move = s.now();
    s.clock.advance(Duration::from_secs(60));

    // Amount, probability and close date in one change; then an untracked field.
    let (st, v) = patch(
        &s,
        &owner,
        &id,
        json!({"amount": 20000, "probability": 60, "close_date": this_month(&s, 25)}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = patch(&s, &owner, &id, json!({"next_step": "Send the contract"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 4);
    // A change that changes nothing is not a new version.
    let (_, v) = patch(&s, &owner, &id, json!({"next_step": "Send the contract"})).await;
    assert_eq!(v["version"], 4);

    // Lost needs a reason from the pipeline's list.
    let (st, v) = patch(
        &s,
        &owner,
        &id,
        json!({"stage": "Closed lost", "lost_reason": "Bad luck"}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("lost_reason")),
        "{v}"
    );
    let (st, lost) = patch(
        &s,
        &owner,
        &id,
        json!({"stage": "Closed lost", "lost_reason": "price"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{lost}");
    assert_eq!(
        (
            lost["status"].as_str(),
            lost["lost_reason"].as_str(),
            lost["probability"].as_i64()
        ),
        (Some("lost"), Some("Price"), Some(0))
    );
    assert!(lost["closed_at"].is_string());
    // Reopening clears the close.
    let (_, reopened) = patch(&s, &owner, &id, json!({"stage": "Negotiation"})).await;
    assert_eq!(
        (
            reopened["closed_at"].is_null(),
            reopened["lost_reason"].is_null()
        ),
        (true, true)
    );

    // The history: every tracked change with before and after, who and when.
    let (st, h) = s
        .get_json(&owner, &format!("/api/v1/opportunities/{id}/history"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{h}");
    assert!(
        items[0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["before"].is_null())
    );
    let fields = |i: usize| -> Vec<&str> {
        items[i]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect()
    };
    assert_eq!(fields(1), ["stage", "probability"]);
    assert_eq!(items[1]["changes"][0]["before"]["name"], "Prospecting");
    assert_eq!(items[1]["changes"][0]["after"]["name"], "Proposal");
    assert_eq!(items[1]["by_label"], s.owner_email.as_str());
    assert_eq!(fields(2), ["amount", "probability", "close_date"]);
    assert_eq!(items[2]["changes"][0]["before"], "12500.00");
    assert_eq!(items[2]["changes"][0]["after"], "20000.00");
    assert_eq!(fields(3), ["stage", "probability", "close_date"]);

    // "As of": the deal as it stood after creation, and after the first move.
    let as_of =
        |t: salesboard::domain::Ts| format!("/api/v1/opportunities?as_of={}", t.timestamp());
    let (_, then) = s.get_json(&owner, &as_of(created_at)).await;
    assert_eq!(then["items"][0]["stage_name"], "Prospecting", "{then}");
    assert_eq!(then["items"][0]["amount"], "12500.00");
    let (_, then) = s.get_json(&owner, &as_of(after_move)).await;
    assert_eq!(
        (
            then["items"][0]["stage_name"].as_str(),
            then["items"][0]["probability"].as_i64()
        ),
        (Some("Proposal"), Some(50))
    );
    let before = salesboard::domain::Ts(created_at.0 - 1_000_000);
    let (_, then) = s.get_json(&owner, &as_of(before)).await;
    assert_eq!(then["total"], 0, "{then}");

    // Every change is in the audit log.
    let (_, audit) = s.get_json(&owner, "/api/v1/audit?limit=20").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "opportunity.update")
            .count(),
        5,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "opportunity.create")
            .count(),
        1
    );
}

#[tokio::test]
async fn scopes_follow_roles_and_other_orgs_see_nothing() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (st, team) = post(
        &s,
        &owner,
        "/api/v1/teams",
        json!({"name": "Partners East"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let team = team["id"].as_str().unwrap().to_string();
    let (mgr_id, mgr) = s.user(&owner, "mgr@example.com", "manager").await;
    let (pm_a_id, pm_a) = s
        .user(&owner, "pm-a@example.com", "partnership_manager")
        .await;
    let (pm_b_id, pm_b) = s
        .user(&owner, "pm-b@example.com", "partnership_manager")
        .await;
    let (_, viewer) = s.user(&owner, "viewer@example.com", "viewer").await;
    let (_, vp) = s.user(&owner, "vp@example.com", "vp").await;
    for u in [&mgr_id, &pm_a_id] {
        let (st, _, v) = send(
            &s,
            reqwest::Method::PATCH,
            &owner,
            &format!("/api/v1/users/{u}"),
            json!({"team": team}),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let close = this_month(&s, 15);
    let deal =
        |name: &str| json!({"name": name, "account": "Acme", "amount": "100", "close_date": close});
    let a = create_deal(&s, &pm_a, deal("A's deal")).await;
    let b = create_deal(&s, &pm_b, deal("B's deal")).await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    assert_eq!(a["owner"], pm_a_id.as_str());

    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    // Own scope: each partnership manager sees only their deals.
    let (_, l) = s.get_json(&pm_a, "/api/v1/opportunities").await;
    assert_eq!(names(&l), ["A's deal"]);
    let (st, _) = s
        .get_json(&pm_a, &format!("/api/v1/opportunities/{b_id}"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = patch(&s, &pm_a, b_id, json!({"stage": "Proposal"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, _) = s
        .get_json(&pm_a, &format!("/api/v1/opportunities/{b_id}/history"))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // ...and cannot hand a deal to someone else.
    let (st, v) = patch(&s, &pm_a, a_id, json!({"owner": pm_b_id})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    // Team scope: the manager sees and moves team members' deals, not others'.
    let (_, l) = s.get_json(&mgr, "/api/v1/opportunities").await;
    assert_eq!(names(&l), ["A's deal"]);
    let (st, _) = patch(&s, &mgr, a_id, json!({"stage": "Proposal"})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = patch(&s, &mgr, b_id, json!({"stage": "Proposal"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = patch(&s, &mgr, a_id, json!({"owner": pm_b_id})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Org scope: the VP and the viewer see everything; only the VP edits.
    for t in [&vp, &viewer, &owner] {
        let (_, l) = s.get_json(t, "/api/v1/opportunities").await;
        assert_eq!(names(&l), ["A's deal", "B's deal"]);
    }
    let (st, _) = patch(&s, &viewer, a_id, json!({"stage": "Negotiation"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = post(&s, &viewer, "/api/v1/opportunities", deal("Viewer's")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let before_handover = s.now();
    s.clock.advance(Duration::from_secs(2));
    let (st, v) = patch(&s, &vp, b_id, json!({"owner": pm_a_id})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // B owned it back then, but may not see it now: not even "as of" then.
    let then = format!(
        "/api/v1/opportunities?as_of={}",
        before_handover.timestamp()
    );
    let (_, l) = s.get_json(&pm_b, &then).await;
    assert_eq!(l["total"], 0, "{l}");
    let (_, l) = s.get_json(&pm_a, &then).await;
    assert_eq!(names(&l), ["A's deal"], "A did not own it then");
    // Pipelines are changed only with org-wide pipeline.edit.
    let (st, _) = post(&s, &mgr, "/api/v1/pipelines", json!({"name": "Renewals"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Another org: every id route is 404 and lists are empty.
    let other = s.second_org("Other Co", "other@example.com", "owner").await;
    let (_, l) = s.get_json(&other, "/api/v1/opportunities").await;
    assert_eq!(l["total"], 0);
    let (_, p) = s.get_json(&other, "/api/v1/pipelines").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    let mine = s.get_json(&owner, "/api/v1/pipelines").await.1["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(p["items"][0]["id"].as_str().unwrap(), mine);
    for path in [
        format!("/api/v1/opportunities/{a_id}"),
        format!("/api/v1/opportunities/{a_id}/history"),
        format!("/api/v1/pipelines/{mine}"),
    ] {
        let (st, _) = s.get_json(&other, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
    }
    let (st, _) = patch(&s, &other, a_id, json!({"stage": "Proposal"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // ...and so are the pages of the deal and its board actions.
    let (st, _) = s.get_json(&other, &format!("/opportunities/{a_id}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    for action in ["move", "edit"] {
        let r = client()
            .post(s.url(&format!("/pipeline/opportunities/{a_id}/{action}")))
            .bearer_auth(&other)
            .form(&[("stage", "Proposal"), ("version", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        &other,
        &format!("/api/v1/pipelines/{mine}"),
        json!({"name": "Mine now"}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = post(
        &s,
        &other,
        "/api/v1/opportunities",
        json!({"name": "x", "account": "y", "amount": "1", "close_date": close, "pipeline": mine}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("pipeline"))
    );
}

#[tokio::test]
async fn removing_a_stage_asks_where_its_deals_go_and_keeps_history() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (_, pipes) = s.get_json(&owner, "/api/v1/pipelines").await;
    let pipe = pipes["items"][0].clone();
    let pid = pipe["id"].as_str().unwrap();
    let deal = create_deal(&s, &owner, json!({"name": "Q", "account": "Acme", "amount": "10", "close_date": this_month(&s, 3), "stage": "Qualification"})).await;
    let id = deal["id"].as_str().unwrap();
    let without_qual: Vec<Value> = pipe["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] != "Qualification")
        .map(|s| json!({"id": s["id"], "name": if s["name"] == "Prospecting" { json!("Lead") } else { s["name"].clone() }, "kind": s["kind"], "probability": s["probability"]}))
        .collect();
    let path = format!("/api/v1/pipelines/{pid}");
    let (st, _, v) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"stages": without_qual}),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("move_to")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Qualification")
    );
    let (_, d) = s
        .get_json(&owner, &format!("/api/v1/opportunities/{id}"))
        .await;
    assert_eq!(d["stage_name"], "Qualification", "nothing changed");

    let (st, etag, v) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"stages": without_qual, "move_to": {"Qualification": "Proposal"}}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(v["stages"].as_array().unwrap().len(), 5);
    assert_eq!(v["stages"][0]["name"], "Lead");
    let (_, d) = s
        .get_json(&owner, &format!("/api/v1/opportunities/{id}"))
        .await;
    assert_eq!(
        (d["stage_name"].as_str(), d["probability"].as_i64()),
        (Some("Proposal"), Some(50))
    );
    let (_, h) = s
        .get_json(&owner, &format!("/api/v1/opportunities/{id}/history"))
        .await;
    let last = &h["items"][1]["changes"][0];
    assert_eq!(
        (
            last["before"]["name"].as_str(),
            last["after"]["name"].as_str()
        ),
        (Some("Qualification"), Some("Proposal"))
    );
    // Stale pipeline version.
    let (st, _, _) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"name": "X"}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // Archiving with open deals is refused.
    let (st, _, v) = send(
        &s,
        reqwest::Method::PATCH,
        &owner,
        &path,
        json!({"archived": true}),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("archived"))
    );
    // A second pipeline: names are unique, bad stage lists refused.
    let (st, v) = post(&s, &owner, "/api/v1/pipelines", json!({"name": "sales"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = post(
        &s,
        &owner,
        "/api/v1/pipelines",
        json!({"name": "Renewals", "stages": [{"name": "Up"}, {"name": "Done", "kind": "won"}]}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("stages"))
    );
    let (st, v) = post(&s, &owner, "/api/v1/pipelines", json!({"name": "Renewals", "stages": [{"name": "Up", "probability": 30}, {"name": "Renewed", "kind": "won"}, {"name": "Churned", "kind": "lost"}]})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let moved = patch(&s, &owner, id, json!({"pipeline": "Renewals"}))
        .await
        .1;
    assert_eq!(
        (
            moved["pipeline_name"].as_str(),
            moved["stage_name"].as_str(),
            moved["probability"].as_i64()
        ),
        (Some("Renewals"), Some("Up"), Some(30))
    );
}

#[tokio::test]
async fn forecast_matches_hand_computed_numbers() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (rep_id, rep) = s.user(&owner, "rep@example.com", "vp").await;
    let d = |day| this_month(&s, day);
    // (owner token, stage, amount, close day)
    let deals = [
        (&owner, "Closed won", "1000", d(2)),
        (&owner, "Negotiation", "2000", d(10)),
        (&rep, "Proposal", "3000", d(11)),
        (&rep, "Prospecting", "4000", d(12)),
        (&owner, "Closed lost", "5000", d(3)),
    ];
    for (i, (t, stage, amount, close)) in deals.iter().enumerate() {
        create_deal(&s, t, json!({"name": format!("D{i}"), "account": "A", "stage": stage, "amount": amount, "close_date": close})).await;
    }
    // Outside the month: not counted.
    let next_month = s
        .now()
        .timestamp()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .last_of_month()
        .tomorrow()
        .unwrap()
        .to_string();
    create_deal(&s, &owner, json!({"name": "Later", "account": "A", "stage": "Negotiation", "amount": "9999", "close_date": next_month})).await;

    let (st, f) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast?period=month&from={}", d(1)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    let t = &f["total"];
    assert_eq!(t["closed_won"], "1000.00");
    assert_eq!(t["commit"], "3000.00"); // won + negotiation
    assert_eq!(t["best_case"], "6000.00"); // + proposal
    assert_eq!(t["pipeline"], "9000.00"); // open: 2000 + 3000 + 4000
    assert_eq!(t["weighted"], "3500.00"); // 2000*.8 + 3000*.5 + 4000*.1
    assert_eq!(
        (t["open_deals"].as_u64(), t["won_deals"].as_u64()),
        (Some(3), Some(1))
    );
    let rep_row = f["by_owner"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == rep_id.as_str())
        .unwrap();
    assert_eq!(
        (rep_row["pipeline"].as_str(), rep_row["closed_won"].as_str()),
        (Some("7000.00"), Some("0.00"))
    );
    // Every deal was created in the last week: the waterfall's new deals are the open pipeline.
    assert_eq!(f["waterfall"]["start"], "0.00");
    assert_eq!(f["waterfall"]["new"], "9000.00");
    assert_eq!(f["waterfall"]["end"], "9000.00");
    // Flow: one win, one loss.
    assert_eq!(
        (f["flow"]["won"].as_u64(), f["flow"]["lost"].as_u64()),
        (Some(1), Some(1))
    );
    // The quarter includes the month; next month's deal too if it falls in the same quarter.
    let (st, q) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast?period=quarter&from={}", d(1)),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let pipeline_q = q["total"]["pipeline"].as_str().unwrap();
    assert!(
        pipeline_q == "9000.00" || pipeline_q == "18999.00",
        "{pipeline_q}"
    );
    // A target for the month: the gap and coverage follow.
    let month = &d(1)[..7];
    let (st, _, v) = send(
        &s,
        reqwest::Method::PUT,
        &owner,
        "/api/v1/forecast/targets",
        json!({"month": month, "amount": "5000"}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["amount"], "5000.00");
    let (_, f) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast?period=month&from={}", d(1)),
        )
        .await;
    assert_eq!(
        (f["target"].as_str(), f["gap"].as_str()),
        (Some("5000.00"), Some("4000.00"))
    );
    assert_eq!(f["coverage"], 2.25); // 9000 open / 4000 to go
    // A personal target (a VP manages goals org-wide) is what a view of that owner compares with.
    let (st, _, _) = send(
        &s,
        reqwest::Method::PUT,
        &rep,
        "/api/v1/forecast/targets",
        json!({"month": month, "owner": rep_id, "amount": 8000}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, f) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast?period=month&from={}&owner={rep_id}", d(1)),
        )
        .await;
    assert_eq!(
        (f["target"].as_str(), f["total"]["pipeline"].as_str()),
        (Some("8000.00"), Some("7000.00"))
    );
    let (_, viewer) = s.user(&owner, "viewer@example.com", "viewer").await;
    let (st, _, _) = send(
        &s,
        reqwest::Method::PUT,
        &viewer,
        "/api/v1/forecast/targets",
        json!({"month": month, "amount": 1}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, v) = send(
        &s,
        reqwest::Method::PUT,
        &owner,
        "/api/v1/forecast/targets",
        json!({"month": "2026-13", "amount": 1}),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("month"))
    );
    let (_, t) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast/targets?from={month}&to={month}"),
        )
        .await;
    assert_eq!(t["items"].as_array().unwrap().len(), 2);
    // As of before any deal existed: nothing, and the waterfall cannot start after it.
    let before = salesboard::domain::Ts(s.now().0 - 3_600_000_000)
        .timestamp()
        .to_string();
    s.clock.advance(Duration::from_secs(5));
    let (st, f) = s
        .get_json(
            &owner,
            &format!(
                "/api/v1/forecast?period=month&from={}&as_of={before}&since={before}",
                d(1)
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(
        (
            f["total"]["pipeline"].as_str(),
            f["total"]["closed_won"].as_str()
        ),
        (Some("0.00"), Some("0.00"))
    );
    let later = s.now().timestamp().to_string();
    let (st, f) = s
        .get_json(
            &owner,
            &format!("/api/v1/forecast?as_of={before}&since={later}"),
        )
        .await;
    assert_eq!(
        (st, f["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("since"))
    );
    // Bad periods are named.
    for (query, field) in [
        ("period=year", "period"),
        ("period=custom&from=2026-01-01", "to"),
        ("period=custom&from=2026-02-01&to=2026-01-01", "to"),
        ("as_of=yesterday", "as_of"),
    ] {
        let (st, v) = s
            .get_json(&owner, &format!("/api/v1/forecast?{query}"))
            .await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}"
        );
    }
}
