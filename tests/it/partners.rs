//! ISV partners over the API and the pages: validation, optimistic concurrency, archive,
//! notes, scopes per role, tenant isolation, list filters, sorting, pages and CSV; the health
//! score explained, deals linked to partners, the daily snapshot job and at-risk marking.

use crate::support::send_json as call;
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn create(s: &TestServer, token: &str, body: Value) -> Value {
    let (st, _, v) = call(s, Method::POST, token, "/api/v1/partners", Some(body), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v
}

async fn patch(s: &TestServer, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/partners/{id}");
    let (st, _, v) = call(s, Method::PATCH, token, &path, Some(body), None).await;
    (st, v)
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn partners_validate_refuse_stale_updates_archive_and_keep_notes() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;

    // Validation names the field; nothing is written.
    let base = json!({"name": "Northwind", "website": "northwind.example", "tier": "gold",
        "status": "active", "contract_start": "2026-01-01", "renewal_date": "2027-01-01",
        "contacts": [{"name": "Ana", "role": "CTO", "email": "ana@northwind.example", "phone": "+1 555 0100"}],
        "tags": ["cloud", "Cloud", "eu"], "categories": ["Security"], "revenue_target": "400000"});
    for (change, field) in [
        (json!({"name": null}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"website": "not a site"}), "website"),
        (json!({"tier": "Diamond"}), "tier"),
        (json!({"status": "sleeping"}), "status"),
        (json!({"renewal_date": "2025-12-31"}), "renewal_date"),
        (json!({"contract_start": "soon"}), "contract_start"),
        (
            json!({"contacts": [{"name": "Ana", "email": "nope"}]}),
            "contacts",
        ),
        (json!({"contacts": [{"email": "ana@x.io"}]}), "contacts"),
        (json!({"revenue_target": "-5"}), "revenue_target"),
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
        let (st, _, v) = call(
            &s,
            Method::POST,
            &owner,
            "/api/v1/partners",
            Some(body),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    let (st, _, v) = call(
        &s,
        Method::POST,
        &owner,
        "/api/v1/partners",
        Some(json!({"name": "x", "colour": "red"})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (_, list) = s.get_json(&owner, "/api/v1/partners").await;
    assert_eq!(list["total"], 0);

    // Created as sent (normalised), owned by the caller, with a health score.
    let p = create(&s, &owner, base.clone()).await;
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["website"], "https://northwind.example/");
    assert_eq!(p["tier"], "Gold");
    assert_eq!(p["tags"], json!(["cloud", "eu"]));
    assert_eq!(p["revenue_target"], "400000.00");
    assert_eq!(p["contacts"][0]["email"], "ana@northwind.example");
    assert_eq!(p["version"], 1);
    assert!(p["health"]["score"].as_u64().unwrap() <= 100);
    // Names are unique per org.
    let (st, _, v) = call(
        &s,
        Method::POST,
        &owner,
        "/api/v1/partners",
        Some(json!({"name": "NORTHWIND"})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");

    // ETag and If-Match: a stale change is refused with the current version.
    let path = format!("/api/v1/partners/{id}");
    let (st, etag, _) = call(&s, Method::GET, &owner, &path, None, None).await;
    assert_eq!((st, etag.as_deref()), (StatusCode::OK, Some("\"1\"")));
    let (st, etag, v) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"tier": "Platinum", "renewal_date": ""})),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(v["renewal_date"], Value::Null);
    let (st, _, v) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"tier": "Silver"})),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 2")
    );
    // `If-Match: *` applies to whatever version is current.
    let (st, _, v) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"region": "EMEA"})),
        Some("*"),
    )
    .await;
    assert_eq!(
        (st, v["version"].clone()),
        (StatusCode::OK, json!(3)),
        "{v}"
    );
    // A change that changes nothing keeps the version.
    let (st, v) = patch(&s, &owner, &id, json!({"tier": "platinum"})).await;
    assert_eq!((st, v["version"].clone()), (StatusCode::OK, json!(3)));

    // Notes: author and time, newest first; blank ones refused; no version bump.
    let notes = format!("/api/v1/partners/{id}/notes");
    for text in ["First call.\nWent well.", "Second call."] {
        let (st, _, v) = call(
            &s,
            Method::POST,
            &owner,
            &notes,
            Some(json!({"text": text})),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        s.clock.advance(Duration::from_secs(60));
    }
    let (st, _, v) = call(
        &s,
        Method::POST,
        &owner,
        &notes,
        Some(json!({"text": "  "})),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("text"))
    );
    let (_, list) = s.get_json(&owner, &notes).await;
    let texts: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Second call.", "First call.\nWent well."]);
    assert!(list["items"][0]["by_label"].as_str().unwrap().contains('@'));
    let (_, v) = s.get_json(&owner, &path).await;
    assert_eq!(v["version"], 3);

    // Archive: gone from the list unless asked for; never deleted.
    let (st, v) = patch(&s, &owner, &id, json!({"archived": true})).await;
    assert_eq!((st, v["archived"].clone()), (StatusCode::OK, json!(true)));
    let (_, list) = s.get_json(&owner, "/api/v1/partners").await;
    assert_eq!(list["total"], 0);
    let (_, list) = s.get_json(&owner, "/api/v1/partners?archived=true").await;
    assert_eq!(names(&list), ["Northwind"]);

    // Every change is in the audit log.
    let (_, audit) = s.get_json(&owner, "/api/v1/audit?limit=100").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in ["partner.create", "partner.update", "partner.note"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn partner_scopes_tenancy_list_filters_sorting_pages_and_csv() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (pm_id, pm) = s
        .user(&owner, "pm@example.com", "partnership_manager")
        .await;
    let (_, viewer) = s.user(&owner, "viewer@example.com", "viewer").await;

    let mine = create(&s, &pm, json!({"name": "Pat's partner", "tier": "Silver"})).await;
    assert_eq!(mine["owner"], pm_id);
    let theirs = create(
        &s,
        &owner,
        json!({"name": "=HYPERLINK(\"x\")", "status": "active", "tier": "Gold", "tags": ["eu"]}),
    )
    .await;
    let theirs_id = theirs["id"].as_str().unwrap();
    // Own scope: may change its own partner, not the owner's, and may not give one away.
    let (st, _) = patch(
        &s,
        &pm,
        mine["id"].as_str().unwrap(),
        json!({"region": "EMEA"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = patch(&s, &pm, theirs_id, json!({"region": "EMEA"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let owner_id = theirs["owner"].as_str().unwrap();
    let (st, _) = patch(
        &s,
        &pm,
        mine["id"].as_str().unwrap(),
        json!({"owner": owner_id}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Everyone sees every partner; viewers change none and add no notes.
    let (_, list) = s.get_json(&viewer, "/api/v1/partners").await;
    assert_eq!(list["total"], 2);
    let (st, _) = patch(&s, &viewer, theirs_id, json!({"region": "EMEA"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, _) = call(
        &s,
        Method::POST,
        &viewer,
        &format!("/api/v1/partners/{theirs_id}/notes"),
        Some(json!({"text": "hi"})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Another org sees none of it: every id route is "not found".
    let other = s
        .second_org("Other Org", "other@example.org", "owner")
        .await;
    let (_, list) = s.get_json(&other, "/api/v1/partners").await;
    assert_eq!(list["total"], 0);
    for path in [
        format!("/api/v1/partners/{theirs_id}"),
        format!("/api/v1/partners/{theirs_id}/health"),
        format!("/api/v1/partners/{theirs_id}/notes"),
    ] {
        let (st, _) = s.get_json(&other, &path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
    }
    let (st, _) = patch(&s, &other, theirs_id, json!({"name": "Mine now"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = call(
        &s,
        Method::POST,
        &other,
        &format!("/api/v1/partners/{theirs_id}/notes"),
        Some(json!({"text": "hi"})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The same name in the other org is fine.
    create(&s, &other, json!({"name": "Pat's partner"})).await;

    // Filters, sorting and pages.
    for i in 0..5 {
        create(
            &s,
            &owner,
            json!({"name": format!("Batch {i}"), "tier": "Registered", "tags": ["batch"]}),
        )
        .await;
    }
    let (_, v) = s.get_json(&owner, "/api/v1/partners?tier=gold").await;
    assert_eq!(names(&v), ["=HYPERLINK(\"x\")"]);
    let (_, v) = s.get_json(&owner, "/api/v1/partners?status=active").await;
    assert_eq!(v["total"], 1);
    let (_, v) = s.get_json(&pm, "/api/v1/partners?owner=me").await;
    assert_eq!(names(&v), ["Pat's partner"]);
    let (_, v) = s.get_json(&owner, "/api/v1/partners?q=pat%27s").await;
    assert_eq!(v["total"], 1);
    let (_, v) = s
        .get_json(&owner, "/api/v1/partners?tag=batch&sort=-name&limit=2")
        .await;
    assert_eq!(
        (names(&v), v["total"].clone()),
        (vec!["Batch 4".to_string(), "Batch 3".to_string()], json!(5))
    );
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = s
        .get_json(
            &owner,
            &format!("/api/v1/partners?tag=batch&sort=-name&limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(names(&v), ["Batch 2", "Batch 1"]);
    let (_, all) = s
        .get_json(&owner, "/api/v1/partners?sort=health&limit=500")
        .await;
    let scores: Vec<u64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["health"]["score"].as_u64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    for (q, field) in [
        ("sort=colour", "sort"),
        ("health=great", "health"),
        ("status=x", "status"),
        ("tier=Diamond", "tier"),
        ("limit=0", "limit"),
        ("owner=nobody", "owner"),
    ] {
        let (st, v) = s.get_json(&owner, &format!("/api/v1/partners?{q}")).await;
        assert_eq!(
            (st, v["error"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{q}"
        );
    }

    // CSV: the same filters, every column, formulas defused.
    let r = client()
        .get(s.url("/api/v1/partners/export?tier=gold"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    let head = rows.headers().unwrap().clone();
    assert_eq!(&head[1], "name");
    assert!(head.iter().any(|h| h == "health_band"));
    let recs: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(&recs[0][1], "'=HYPERLINK(\"x\")");
    s.stop().await;
}

#[tokio::test]
async fn health_is_explained_deals_link_to_partners_and_low_scores_mark_partners_at_risk() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let today = s.now().timestamp().to_zoned(jiff::tz::TimeZone::UTC).date();
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .unwrap()
            .to_string()
    };

    // Settings: checked, versioned.
    let (st, etag, v) = call(
        &s,
        Method::GET,
        &owner,
        "/api/v1/partner-settings",
        None,
        None,
    )
    .await;
    assert_eq!((st, etag.as_deref()), (StatusCode::OK, Some("\"1\"")));
    assert_eq!(v["at_risk_below"], 40);
    assert_eq!(
        v["tiers"],
        json!(["Registered", "Silver", "Gold", "Platinum"])
    );
    for (body, field) in [
        (json!({"weights": {"charm": 10}}), "weights"),
        (json!({"weights": {"recency": 101}}), "weights"),
        (
            json!({"weights": {"recency": 0, "sourced_pipeline": 0, "pipeline_trend": 0, "win_rate": 0, "revenue_vs_target": 0, "slipped_deals": 0, "renewal": 0}}),
            "weights",
        ),
        (json!({"at_risk_below": 200}), "at_risk_below"),
        (json!({"tiers": [" "]}), "tiers"),
    ] {
        let (st, _, v) = call(
            &s,
            Method::PUT,
            &owner,
            "/api/v1/partner-settings",
            Some(body),
            None,
        )
        .await;
        assert_eq!(
            (st, v["error"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{v}"
        );
    }
    // Only renewal counts, so a partner whose renewal is overdue scores 0.
    let only_renewal = json!({"weights": {"recency": 0, "sourced_pipeline": 0, "pipeline_trend": 0,
        "win_rate": 0, "revenue_vs_target": 0, "slipped_deals": 0, "renewal": 50}});
    let (st, _, v) = call(
        &s,
        Method::PUT,
        &owner,
        "/api/v1/partner-settings",
        Some(only_renewal.clone()),
        Some("\"1\""),
    )
    .await;
    assert_eq!(
        (st, v["version"].clone()),
        (StatusCode::OK, json!(2)),
        "{v}"
    );
    let (st, _, _) = call(
        &s,
        Method::PUT,
        &owner,
        "/api/v1/partner-settings",
        Some(only_renewal),
        Some("\"1\""),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, pm) = s
        .user(&owner, "pm@example.com", "partnership_manager")
        .await;
    let (st, _, _) = call(
        &s,
        Method::PUT,
        &pm,
        "/api/v1/partner-settings",
        Some(json!({"at_risk_below": 10})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A new partner has no drop yet: a low first score is not a mark.
    let new = create(
        &s,
        &owner,
        json!({"name": "New Ltd", "status": "active", "renewal_date": day(-1)}),
    )
    .await;
    assert_eq!(
        (new["health"]["score"].clone(), new["status"].clone()),
        (json!(0), json!("active"))
    );
    // An active partner whose score drops below the threshold is marked at risk, with the
    // reason.
    let late = create(&s, &owner, json!({"name": "Late Ltd", "status": "active", "contract_start": day(-400), "renewal_date": day(200)})).await;
    assert_eq!(
        (late["health"]["score"].clone(), late["status"].clone()),
        (json!(100), json!("active"))
    );
    let (st, late) = patch(
        &s,
        &owner,
        late["id"].as_str().unwrap(),
        json!({"renewal_date": day(-3)}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(late["health"]["score"], 0);
    assert_eq!(late["status"], "at_risk");
    let reason = late["at_risk_reason"].as_str().unwrap();
    assert!(
        reason.contains("fell below 40") && reason.contains("renewal overdue by 3 days"),
        "{reason}"
    );
    // The mark is salesboard's own act in the audit log.
    let (_, audit) = s.get_json(&owner, "/api/v1/audit?limit=5").await;
    let mark = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "partner.at_risk")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(mark["entity_id"], late["id"]);
    // A person's choice of status replaces the mark, and is not marked over.
    let late_id = late["id"].as_str().unwrap().to_string();
    let (_, v) = patch(&s, &owner, &late_id, json!({"status": "active"})).await;
    assert_eq!(
        (v["status"].clone(), v["at_risk_reason"].clone()),
        (json!("active"), Value::Null)
    );
    let (_, v) = patch(&s, &owner, &late_id, json!({"status": "churned"})).await;
    assert_eq!(
        (v["status"].clone(), v["at_risk_reason"].clone()),
        (json!("churned"), Value::Null)
    );

    // Health explained: each factor with its weight, and the contributions add up.
    let (_, h) = s
        .get_json(&owner, &format!("/api/v1/partners/{late_id}/health"))
        .await;
    let factors = h["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 7);
    let renewal = factors.iter().find(|f| f["factor"] == "renewal").unwrap();
    assert_eq!(
        (renewal["score"].clone(), renewal["weight"].clone()),
        (json!(0), json!(50))
    );
    let recency = factors.iter().find(|f| f["factor"] == "recency").unwrap();
    assert_eq!(
        (recency["weight"].clone(), recency["contribution"].clone()),
        (json!(0), json!(0.0))
    );
    assert_eq!(h["history"].as_array().unwrap().len(), 1);
    assert_eq!(
        h["history"][0],
        json!({"date": today.to_string(), "score": 0})
    );

    // Back to the default weights; link deals to a partner.
    let defaults = json!({"weights": {"recency": 25, "sourced_pipeline": 20, "pipeline_trend": 10,
        "win_rate": 15, "revenue_vs_target": 20, "slipped_deals": 5, "renewal": 5}});
    let (st, _, _) = call(
        &s,
        Method::PUT,
        &owner,
        "/api/v1/partner-settings",
        Some(defaults),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let acme = create(
        &s,
        &owner,
        json!({"name": "Acme Partners", "status": "active"}),
    )
    .await;
    assert_eq!(acme["health"]["score"], 100);
    let acme_id = acme["id"].as_str().unwrap().to_string();
    let deal = |name: &str, stage: &str, amount: &str, extra: Value| {
        let mut b = json!({"name": name, "account": "Globex", "amount": amount, "stage": stage,
            "close_date": today.to_string(), "partner": acme_id});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let (st, _, won) = call(
        &s,
        Method::POST,
        &owner,
        "/api/v1/opportunities",
        Some(deal("Won one", "Closed won", "3000", json!({}))),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{won}");
    assert_eq!(
        (won["partner_name"].clone(), won["partner_role"].clone()),
        (json!("Acme Partners"), json!("sourced"))
    );
    let (st, _, open) = call(
        &s,
        Method::POST,
        &owner,
        "/api/v1/opportunities",
        Some(deal(
            "Open one",
            "Proposal",
            "5000",
            json!({"partner_role": "influenced"}),
        )),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{open}");
    // Bad links are refused with the field named.
    let late_link = deal("Bad", "Proposal", "1", json!({"partner": late_id}));
    let (st, _, _) = call(
        &s,
        Method::PATCH,
        &owner,
        &format!("/api/v1/partners/{late_id}"),
        Some(json!({"archived": true})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    for (body, field) in [
        (late_link, "partner"),
        (
            deal(
                "Bad",
                "Proposal",
                "1",
                json!({"partner": "01KAK7D2Y3N9Q8T0V4W6X8Z0AB"}),
            ),
            "partner",
        ),
        (
            deal("Bad", "Proposal", "1", json!({"partner_role": "sponsor"})),
            "partner_role",
        ),
        (
            json!({"name": "Bad", "account": "A", "amount": "1", "close_date": today.to_string(), "partner_role": "sourced"}),
            "partner_role",
        ),
    ] {
        let (st, _, v) = call(
            &s,
            Method::POST,
            &owner,
            "/api/v1/opportunities",
            Some(body),
            None,
        )
        .await;
        assert_eq!(
            (st, v["error"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{v}"
        );
    }
    let (_, p) = s
        .get_json(&owner, &format!("/api/v1/partners/{acme_id}"))
        .await;
    assert_eq!(p["won_this_year"], "3000.00");
    assert_eq!(p["open_pipeline"], "5000.00");
    assert_eq!(p["open_deals"], 1);
    let (_, list) = s
        .get_json(&owner, &format!("/api/v1/opportunities?partner={acme_id}"))
        .await;
    assert_eq!(list["total"], 2);
    let (_, fc) = s.get_json(&owner, "/api/v1/forecast?period=month").await;
    let row = fc["by_partner"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == json!(acme_id))
        .unwrap_or_else(|| panic!("{fc}"));
    assert_eq!(
        (row["label"].clone(), row["closed_won"].clone()),
        (json!("Acme Partners"), json!("3000.00"))
    );
    // Removing the link.
    let open_id = open["id"].as_str().unwrap();
    let (st, _, v) = call(
        &s,
        Method::PATCH,
        &owner,
        &format!("/api/v1/opportunities/{open_id}"),
        Some(json!({"partner": ""})),
        None,
    )
    .await;
    assert_eq!((st, v["partner"].clone()), (StatusCode::OK, Value::Null));

    // The daily job: a day later every live partner has a second score, and a partner that
    // went quiet falls below the threshold and is marked at risk.
    s.clock.advance(Duration::from_secs(120 * 86_400));
    let owner = s.owner_token().await;
    let (_, before) = s
        .get_json(&owner, &format!("/api/v1/partners/{acme_id}"))
        .await;
    assert_eq!(before["status"], "active");
    let marked = s.refresh_partner_health().await;
    // Acme dropped; New Ltd was low from the start (no drop).
    assert_eq!(marked, 1);
    let (_, h) = s
        .get_json(&owner, &format!("/api/v1/partners/{acme_id}/health"))
        .await;
    assert_eq!(h["history"].as_array().unwrap().len(), 2, "{h}");
    let (_, after) = s
        .get_json(&owner, &format!("/api/v1/partners/{acme_id}"))
        .await;
    assert_eq!(after["status"], "at_risk", "{after}");
    assert!(
        after["at_risk_reason"]
            .as_str()
            .unwrap()
            .contains("since the last activity"),
        "{after}"
    );
    // The archived partner was left alone.
    let (_, h) = s
        .get_json(&owner, &format!("/api/v1/partners/{late_id}/health"))
        .await;
    assert_eq!(h["history"].as_array().unwrap().len(), 1);
    s.stop().await;
}
