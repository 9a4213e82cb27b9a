//! Search over the API and the pages: tenant isolation (counts included), scopes per role,
//! changes followed (update, note, archive), prefix and typo matching, exact SKU and email
//! hits first, operators, paging, validation, escaping; segment count under steady updates.

use crate::support::send_json as call;
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

async fn search(s: &TestServer, token: &str, q: &str, extra: &str) -> Value {
    let path = format!(
        "/api/v1/search?q={}{extra}",
        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    let (st, v) = s.get_json(token, &path).await;
    assert_eq!(st, StatusCode::OK, "{q}: {v}");
    v
}

/// (kind, id) of every hit, in order.
fn hits(v: &Value) -> Vec<(String, String)> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap().to_string(),
                h["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Wait until searching `q` as `token` gives exactly these ids (in any order).
async fn until_ids(s: &TestServer, token: &str, q: &str, want: &[&str]) -> Value {
    let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    want.sort();
    let end = std::time::Instant::now() + WAIT;
    loop {
        let v = search(s, token, q, "&limit=100").await;
        let mut got: Vec<String> = hits(&v).into_iter().map(|h| h.1).collect();
        got.sort();
        if got == want {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "{q}: wanted {want:?}, last answer {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn partner(s: &TestServer, token: &str, body: Value) -> String {
    let (st, _, v) = call(s, Method::POST, token, "/api/v1/partners", Some(body), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn deal(s: &TestServer, token: &str, name: &str) -> String {
    let close = s
        .now()
        .timestamp()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(20))
        .unwrap()
        .to_string();
    let body = json!({"name": name, "account": "Globex", "amount": "5000", "close_date": close,
        "next_step": "send the pricing sheet"});
    let (st, _, v) = call(
        s,
        Method::POST,
        token,
        "/api/v1/opportunities",
        Some(body),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn events(s: &TestServer, token: &str, body: Value) {
    let (st, _, v) = call(s, Method::POST, token, "/api/v1/events", Some(body), None).await;
    assert!(st.is_success(), "{v}");
    assert_eq!(v["rejected"].as_array().map_or(0, |r| r.len()), 0, "{v}");
}

fn customer(id: &str, name: &str, email: &str) -> Value {
    json!({"type":"customer_created","id":id,"occurred_at":"2026-11-20T10:00:00Z",
           "email":email,"name":name,"region":"EMEA"})
}

#[tokio::test]
async fn search_is_tenant_safe_scoped_and_follows_changes() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let other = s
        .second_org("Other Org", "admin@other.example", "admin")
        .await;

    // The same partner name in two orgs: each sees only its own, counts included.
    let a = partner(
        &s,
        &owner,
        json!({"name": "Northwind Traders", "website": "https://northwind.example",
        "tier": "gold", "contacts": [{"name": "Ana Lima", "email": "ana@northwind.example"}]}),
    )
    .await;
    let b = partner(
        &s,
        &other,
        json!({"name": "Northwind Traders", "website": "https://northwind.other",
        "tier": "gold", "contacts": [{"name": "Bob Stone", "email": "bob@northwind.other"}]}),
    )
    .await;
    let v = until_ids(&s, &owner, "northwind", &[&a]).await;
    assert_eq!(v["counts"]["partner"], 1, "{v}");
    assert_eq!(v["hits"][0]["url"], format!("/partners/{a}"));
    let v = until_ids(&s, &other, "northwind", &[&b]).await;
    assert_eq!(v["counts"]["partner"], 1);
    let v = until_ids(&s, &other, "ana@northwind.example", &[]).await;
    assert!(
        v["counts"].as_object().unwrap().values().all(|n| n == 0),
        "{v}"
    );

    // Prefix while typing, one typo in a long word, none in a short one.
    until_ids(&s, &owner, "northw", &[&a]).await;
    until_ids(&s, &owner, "nortwind", &[&a]).await;
    until_ids(&s, &owner, "trader", &[&a]).await;
    until_ids(&s, &owner, "ana lim", &[&a]).await;
    until_ids(&s, &owner, "nrth", &[]).await;
    // a phrase needs its words in order
    until_ids(&s, &owner, "\"traders northwind\"", &[]).await;
    until_ids(&s, &owner, "\"northwind traders\"", &[&a]).await;
    // the title is marked where it matched
    let v = until_ids(&s, &owner, "northw", &[&a]).await;
    assert_eq!(v["hits"][0]["title"]["marks"], json!([[0, 6]]), "{v}");

    // An update replaces the document: the new words are found, the old ones are not.
    let path = format!("/api/v1/partners/{a}");
    let (st, _, v) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"name": "Northwind Wholesale"})),
        Some("*"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    until_ids(&s, &owner, "wholesale", &[&a]).await;
    until_ids(&s, &owner, "traders", &[]).await;
    // Notes are searched, with the matched words in the context line.
    let (st, _, v) = call(
        &s,
        Method::POST,
        &owner,
        &format!("/api/v1/partners/{a}/notes"),
        Some(json!({"text": "Discussed the quarterly roadmap with Ana."})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let v = until_ids(&s, &owner, "roadmap", &[&a]).await;
    let ctx = &v["hits"][0]["context"];
    let text = ctx["text"].as_str().unwrap();
    let (from, to) = (
        ctx["marks"][0][0].as_u64().unwrap() as usize,
        ctx["marks"][0][1].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[from..to], "roadmap", "{ctx}");
    // tier: operator
    until_ids(&s, &owner, "tier:gold", &[&a]).await;
    until_ids(&s, &owner, "tier:silver northwind", &[]).await;
    // Archiving removes it.
    let (st, _, _) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"archived": true})),
        Some("*"),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    until_ids(&s, &owner, "wholesale", &[]).await;

    // Own scope: a partnership manager finds only their own deals; owner:me and stage:.
    let (_pm_id, pm) = s
        .user(&owner, "pm@example.com", "partnership_manager")
        .await;
    let mine = deal(&s, &pm, "Zephyr renewal").await;
    let theirs = deal(&s, &owner, "Zephyr expansion").await;
    until_ids(&s, &owner, "zephyr", &[&mine, &theirs]).await;
    let v = until_ids(&s, &pm, "zephyr", &[&mine]).await;
    assert_eq!(
        v["counts"]["opportunity"], 1,
        "counts respect the scope too: {v}"
    );
    assert!(
        v["counts"].get("user").is_none(),
        "no user search without users.manage: {v}"
    );
    until_ids(&s, &owner, "zephyr owner:me", &[&theirs]).await;
    until_ids(&s, &owner, "zephyr stage:prospecting", &[&mine, &theirs]).await;
    until_ids(&s, &owner, "zephyr stage:negotiation", &[]).await;
    // words in next steps are found
    until_ids(&s, &pm, "pricing", &[&mine]).await;
    // users: found by email, only by those who manage users
    let v = search(&s, &owner, "pm@example.com", "").await;
    assert_eq!(v["hits"][0]["kind"], "user", "{v}");
    until_ids(&s, &pm, "pm@example.com", &[]).await;
    until_ids(&s, &other, "zephyr", &[]).await;

    // Exact SKU and email hits come first, ahead of names that merely contain the words.
    events(&s, &owner, json!([
        {"type":"sale_completed","id":"o-1","occurred_at":"2026-11-20T14:03:00Z","currency":"USD",
         "channel":"online","region":"EMEA","lines":[
            {"sku":"AB-1000","name":"AB 100 cable bundle","category":"Cables","quantity":1,"unit_price":"90.00"},
            {"sku":"AB-100","name":"Cable adapter","category":"Cables","quantity":1,"unit_price":"9.00"}]},
        customer("c-2", "Ann Acme Io", "team@acme.io"),
        customer("c-1", "Zoe Quinn", "ann@acme.io"),
    ]))
    .await;
    let v = until_ids(&s, &owner, "ab-100", &["AB-100", "AB-1000"]).await;
    assert_eq!(hits(&v)[0], ("product".into(), "AB-100".into()), "{v}");
    let v = until_ids(&s, &owner, "ann@acme.io", &["c-1", "c-2"]).await;
    assert_eq!(hits(&v)[0], ("customer".into(), "c-1".into()), "{v}");
    assert_eq!(v["hits"][0]["url"], "/customers/c-1");
    // kind: narrows; the kind parameter too
    until_ids(&s, &owner, "kind:product cable", &["AB-100", "AB-1000"]).await;
    let v = search(&s, &owner, "acme", "&kind=customer").await;
    assert_eq!(v["total"], 2, "{v}");
}

#[tokio::test]
async fn search_pages_validates_and_renders_without_javascript() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let people: Vec<Value> = (0..25)
        .map(|i| customer(&format!("p-{i:02}"), &format!("Pager Person {i}"), ""))
        .chain([customer("x-1", "<b>Pager</b> Evil", "")])
        .collect();
    events(&s, &owner, Value::Array(people)).await;
    s.search_caught_up().await;

    let v = search(&s, &owner, "pager", "&limit=10").await;
    assert_eq!(v["total"], 26);
    assert_eq!(hits(&v).len(), 10);
    assert_eq!(v["next_cursor"], "10");
    let v2 = search(&s, &owner, "pager", "&limit=10&cursor=20").await;
    assert_eq!(hits(&v2).len(), 6);
    assert!(v2["next_cursor"].is_null());
    let mut all: Vec<(String, String)> = hits(&v);
    all.extend(hits(
        &search(&s, &owner, "pager", "&limit=10&cursor=10").await,
    ));
    all.extend(hits(&v2));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 26, "pages neither repeat nor skip");

    for (query, field) in [
        ("q=", "q"),
        ("q=%20%20", "q"),
        (&*format!("q={}", "x".repeat(201)), "q"),
        ("q=owner:bob", "q"),
        ("q=kind:widget", "q"),
        ("q=a&kind=widget", "kind"),
        ("q=a&cursor=abc", "cursor"),
        ("q=a&limit=0", "limit"),
        ("q=a&limit=101", "limit"),
    ] {
        let (st, v) = s.get_json(&owner, &format!("/api/v1/search?{query}")).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {v}");
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }
    let (st, _) = s.get_json("nope", "/api/v1/search?q=a").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // The pages, as a browser without JavaScript sees them.
    let c = browser_like();
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("email", s.owner_email.as_str()),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = |path: &str| {
        let c = c.clone();
        let url = s.url(path);
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/admin/users").await;
    assert!(
        html.contains("id=\"site-search\""),
        "the header has the box"
    );
    let html = page("/search?q=pager").await;
    assert!(html.contains("Pager</mark> Person"), "{html}");
    assert!(
        html.contains("rel=\"next\" href=\"/search?q=pager&amp;cursor=20\""),
        "{html}"
    );
    assert!(
        html.contains("Customers <span class=\"count\">26</span>"),
        "{html}"
    );
    let html = page("/search?q=evil").await;
    assert!(
        html.contains("&lt;b&gt;Pager&lt;/b&gt; <mark>Evil</mark>"),
        "escaped: {html}"
    );
    assert!(!html.contains("<b>Pager"), "no markup from data");
    let html = page("/search?q=pager&kind=product").await;
    assert!(html.contains("id=\"search-empty\""), "{html}");
    let html = page("/search?q=owner:bob").await;
    assert!(html.contains("only `owner:me` is understood"), "{html}");
    let html = page("/search").await;
    assert!(html.contains("id=\"search-q\""));
    let frag = page("/search/suggest?q=pager").await;
    assert!(frag.contains("search-group"), "{frag}");
    assert!(
        frag.contains("aria-selected=\"true\""),
        "the first is selected: {frag}"
    );
    assert!(frag.contains("All results for"), "{frag}");
    assert!(!frag.contains("<html"), "a fragment");
    assert!(page("/search/suggest?q=").await.is_empty());
}

#[tokio::test]
async fn steady_updates_keep_segments_bounded() {
    let s = TestServer::start_with(|c| c.search.commit_interval = Duration::from_millis(1)).await;
    let owner = s.owner_token().await;
    let id = partner(&s, &owner, json!({"name": "Steady Co", "tier": "gold"})).await;
    let path = format!("/api/v1/partners/{id}");
    let search = s.running.as_ref().unwrap().state.search.clone();
    let mut most = 0;
    for i in 0..150 {
        let (st, _, _) = call(
            &s,
            Method::PATCH,
            &owner,
            &path,
            Some(json!({"region": format!("region{i}")})),
            Some("*"),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        s.search_caught_up().await;
        most = most.max(search.segments());
    }
    assert!(most <= 30, "{most} segments");
    until_ids(&s, &owner, "region149", &[&id]).await;
    let (st, _, _) = call(
        &s,
        Method::PATCH,
        &owner,
        &path,
        Some(json!({"region": "Lapland"})),
        Some("*"),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    until_ids(&s, &owner, "lapland", &[&id]).await;
    until_ids(&s, &owner, "region", &[]).await;
}

/// Create a user in `team` with a known password and sign them in: (id, token).
async fn team_member(
    s: &TestServer,
    admin: &str,
    email: &str,
    role: &str,
    team: Option<&str>,
) -> (String, String) {
    let (st, _, v) = call(
        s,
        Method::POST,
        admin,
        "/api/v1/users",
        Some(json!({"email": email, "role": role, "team": team, "password": PASSWORD})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, t) = s.login(email, PASSWORD).await;
    assert_eq!(st, StatusCode::OK);
    (
        v["user"]["id"].as_str().unwrap().to_string(),
        t["access_token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn team_scope_deep_pages_and_wordless_queries() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let (st, _, team) = call(
        &s,
        Method::POST,
        &owner,
        "/api/v1/teams",
        Some(json!({"name": "East"})),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let (_, manager) = team_member(&s, &owner, "lead@example.com", "manager", Some(&team)).await;
    let (_, member) = team_member(
        &s,
        &owner,
        "east@example.com",
        "partnership_manager",
        Some(&team),
    )
    .await;
    let (_, outsider) =
        team_member(&s, &owner, "west@example.com", "partnership_manager", None).await;
    let a = deal(&s, &member, "Quasar east").await;
    let b = deal(&s, &outsider, "Quasar west").await;
    let c = deal(&s, &manager, "Quasar lead").await;
    // a manager sees their team's deals (theirs and their members'), counts included
    let v = until_ids(&s, &manager, "quasar", &[&a, &c]).await;
    assert_eq!(v["counts"]["opportunity"], 2, "{v}");
    until_ids(&s, &owner, "quasar", &[&a, &b, &c]).await;
    until_ids(&s, &outsider, "quasar", &[&b]).await;
    // operators alone list what the caller may see
    until_ids(&s, &manager, "kind:deal", &[&a, &c]).await;
    until_ids(&s, &member, "owner:me", &[&a]).await;
    // an id pasted from a page's address finds that record first
    let v = search(&s, &owner, &a, "").await;
    assert_eq!(hits(&v)[0].1, a, "{v}");

    // Queries without a word to match find nothing (rather than everything).
    for q in ["-", "@@", "\" \"", &"x".repeat(60)] {
        let v = search(&s, &owner, q, "").await;
        assert_eq!(v["total"], 0, "{q}: {v}");
    }
    // Pages end at a depth; beyond it the cursor is refused, not served.
    let (st, v) = s
        .get_json(&owner, "/api/v1/search?q=quasar&cursor=10001")
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "cursor");
    let (st, _) = s
        .get_json(&owner, "/api/v1/search?q=quasar&cursor=1000000000000000")
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = s
        .get_json(&owner, "/api/v1/search?q=quasar&cursor=10000")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["hits"].as_array().unwrap().len(), 0);
}
