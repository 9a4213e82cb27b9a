//! The audit log through the API and the `/admin/audit` page: filters, paging, old → new
//! values, CSV, and who may read it.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap()
}

#[tokio::test]
async fn the_audit_log_filters_pages_exports_and_shows_changes() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (ann, _) = s.user(&owner, "ann@example.com", "analyst").await;
    let (_, viewer) = s.user(&owner, "bob@example.com", "viewer").await;
    let r = client()
        .patch(s.url(&format!("/api/v1/users/{ann}")))
        .bearer_auth(&owner)
        .json(&json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, me) = s.get_json(&owner, "/api/v1/auth/me").await;
    let owner_id = me["user"]["id"].as_str().unwrap().to_string();

    // By action: only that action.
    let (st, v) = s.get_json(&owner, "/api/v1/audit?action=user.create").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let creates = items(&v);
    assert!(creates.len() >= 2, "{v}");
    assert!(creates.iter().all(|i| i["action"] == "user.create"), "{v}");

    // One record's history, with the values before and after.
    let (_, v) = s
        .get_json(
            &owner,
            &format!("/api/v1/audit?entity=user&entity_id={ann}"),
        )
        .await;
    let actions: Vec<&str> = items(&v)
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.role_change", "user.create"], "{v}");
    assert_eq!(items(&v)[0]["old"]["role"], "analyst");
    assert_eq!(items(&v)[0]["new"]["role"], "manager");

    // By who: everything here was done by the owner, except the first run's records.
    let (_, v) = s
        .get_json(&owner, &format!("/api/v1/audit?user={owner_id}"))
        .await;
    assert!(items(&v).len() >= 3, "{v}");
    assert!(
        items(&v)
            .iter()
            .all(|i| i["actor"] == s.owner_email.as_str()),
        "{v}"
    );
    let (_, v) = s.get_json(&owner, "/api/v1/audit?user=system").await;
    assert!(items(&v).iter().all(|i| i["actor"] == "salesboard"), "{v}");

    // By day, in the org's time zone.
    let today = s.now().timestamp().to_zoned(jiff::tz::TimeZone::UTC).date();
    let (_, v) = s
        .get_json(&owner, &format!("/api/v1/audit?from={today}&to={today}"))
        .await;
    assert!(items(&v).len() >= 4, "{v}");
    let tomorrow = today.tomorrow().unwrap();
    let (_, v) = s
        .get_json(&owner, &format!("/api/v1/audit?from={tomorrow}"))
        .await;
    assert!(items(&v).is_empty(), "{v}");
    let yesterday = today.yesterday().unwrap();
    let (_, v) = s
        .get_json(&owner, &format!("/api/v1/audit?to={yesterday}"))
        .await;
    assert!(items(&v).is_empty(), "{v}");

    // Bad filters name their field.
    for (q, field) in [
        ("from=yesterday", "from"),
        ("from=2026-12-05&to=2026-12-01", "to"),
        ("user=nobody", "user"),
        ("limit=0", "limit"),
    ] {
        let (st, v) = s.get_json(&owner, &format!("/api/v1/audit?{q}")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
        assert_eq!(v["error"]["field"], field, "{q}: {v}");
    }
    let (st, _) = s.get_json(&owner, "/api/v1/audit?colour=red").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Pages of one: every record once, newest first, no overlap.
    let (_, all) = s.get_json(&owner, "/api/v1/audit?limit=500").await;
    let mut seen = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/audit?limit=1&before={b}"),
            None => "/api/v1/audit?limit=1".into(),
        };
        let (_, v) = s.get_json(&owner, &path).await;
        seen.extend(items(&v).iter().map(|i| i["seq"].as_u64().unwrap()));
        match v["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let want: Vec<u64> = items(&all)
        .iter()
        .map(|i| i["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, want);

    // CSV of the same filter: a header and one row per record.
    let r = client()
        .get(s.url("/api/v1/audit/export?entity=user"))
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
    let csv = r.text().await.unwrap();
    let (_, v) = s
        .get_json(&owner, "/api/v1/audit?entity=user&limit=500")
        .await;
    assert_eq!(csv.lines().count(), items(&v).len() + 1, "{csv}");
    assert!(csv.starts_with("seq,at,actor,actor_id,action,entity,entity_id,old,new,hash"));
    assert!(csv.contains(&ann));

    // Only those allowed to read the log.
    for path in ["/api/v1/audit", "/api/v1/audit/export"] {
        let r = client()
            .get(s.url(path))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_audit_page_filters_and_shows_old_and_new_values() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (ann, _) = s.user(&owner, "ann@example.com", "analyst").await;
    client()
        .patch(s.url(&format!("/api/v1/users/{ann}")))
        .bearer_auth(&owner)
        .json(&json!({"role": "manager", "name": "Ann <b>Lee</b>"}))
        .send()
        .await
        .unwrap();
    let c = signed_in_browser(&s, &s.owner_email).await;
    let page = c.get(s.url("/admin/audit")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"href="/admin/audit" aria-current="page""#),
        "nav link"
    );
    assert!(
        html.contains("<code>user.role_change</code>") && html.contains("<code>org.create</code>")
    );
    assert!(html.contains("Export CSV"));

    // Filtered to the role change: its fields, changed ones marked, markup escaped.
    let html = c
        .get(s.url("/admin/audit?action=user.role_change"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<code>org.create</code>"), "filtered out");
    assert!(
        html.contains(
            r#"<tr class="changed"><th scope="row">role</th><td>analyst</td><td>manager</td></tr>"#
        ),
        "{html}"
    );
    assert!(html.contains("Ann &lt;b&gt;Lee&lt;/b&gt;"));
    assert!(!html.contains("<b>Lee</b>"));
    assert!(html.contains("/api/v1/audit/export?action=user.role_change"));

    // htmx asks for the list alone and gets the URL to show.
    let r = c
        .get(s.url("/admin/audit?entity=user"))
        .header("hx-request", "true")
        .header("hx-target", "audit-list")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["hx-push-url"], "/admin/audit?entity=user");
    let frag = r.text().await.unwrap();
    assert!(frag.starts_with(r#"<div id="audit-list">"#), "{frag}");

    // A bad date explains itself, in the list htmx swaps in too; nothing matches an empty day.
    let r = c
        .get(s.url("/admin/audit?from=2026-12-05&to=2026-12-01"))
        .header("hx-request", "true")
        .header("hx-target", "audit-list")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let frag = r.text().await.unwrap();
    assert!(
        frag.starts_with(
            r#"<div id="audit-list"><p class="alert alert-error" id="form-error" role="alert">"#
        ) && frag.contains("must not be before"),
        "{frag}"
    );
    let r = c
        .get(s.url("/admin/audit?from=2026-13-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("from: `2026-13-01` is not a date"),
        "{}",
        body.split("form-error").nth(1).unwrap_or(&body)
    );
    let html = c
        .get(s.url("/admin/audit?to=2001-01-01"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No record matches these filters."));

    // Not for a viewer.
    s.user(&owner, "vic@example.com", "viewer").await;
    let v = signed_in_browser(&s, "vic@example.com").await;
    let r = v.get(s.url("/admin/audit")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let home = v
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !home.contains("/admin/audit"),
        "no nav link without audit.view"
    );
}
