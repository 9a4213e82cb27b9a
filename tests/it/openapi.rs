//! The OpenAPI document: well formed, every documented operation is a real route, and real
//! answers carry only documented fields.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

async fn spec(s: &TestServer) -> Value {
    let r = client()
        .get(s.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Every `$ref` anywhere in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The property names a schema documents, following `$ref` and `allOf` (flattened fields).
fn properties(spec: &Value, schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return properties(spec, &spec["components"]["schemas"][name]);
    }
    if let Some(m) = schema["properties"].as_object() {
        out.extend(m.keys().cloned());
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(properties(spec, part));
    }
    out
}

#[tokio::test]
async fn the_spec_is_well_formed_and_every_operation_is_routed() {
    let s = TestServer::start().await;
    let doc = spec(&s).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "only {} paths", paths.len());
    let c = client();
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} documents no success answer"
            );
            assert!(responses.contains_key("500"), "{method} {path}");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()));
            // Unauthenticated and without a body: a real route answers 400/401/415/422,
            // never the API's "no such route" 404 or a 405.
            let url = s.url(&path.replace('{', "x").replace('}', ""));
            let req = match method.as_str() {
                "get" => c.get(url),
                "post" => c.post(url),
                "patch" => c.patch(url),
                "put" => c.put(url),
                "delete" => c.delete(url),
                other => panic!("unexpected method {other} on {path}"),
            };
            let r = req.send().await.unwrap();
            let status = r.status();
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but answers {status}"
            );
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn answers_carry_only_documented_fields() {
    let s = TestServer::start().await;
    let doc = spec(&s).await;
    let owner = s.owner_token().await;
    let (_, key) = s.api_key(&owner, "docs").await;
    let at = s.now().timestamp().to_string();
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(&key)
        .json(&serde_json::json!([
            {"type": "customer_created", "id": "c-1", "occurred_at": at, "email": "a@example.com"},
            {"type": "sale_completed", "id": "o-1", "occurred_at": at, "customer_id": "c-1",
             "lines": [{"sku": "S-1", "quantity": 1, "unit_price": "10.00"}]},
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let ingest = &doc["paths"]["/api/v1/events"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    check(&doc, ingest, &body, "POST /events");

    let r = client()
        .post(s.url("/api/v1/opportunities"))
        .bearer_auth(&owner)
        .json(&serde_json::json!({"name": "D", "account": "A", "amount": "10", "close_date": "2026-12-31"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let deal = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deal_path = format!("/api/v1/opportunities/{deal}");
    let history_path = format!("/api/v1/opportunities/{deal}/history");
    for path in [
        "/api/v1/pipelines",
        "/api/v1/opportunities",
        deal_path.as_str(),
        history_path.as_str(),
        "/api/v1/forecast",
        "/api/v1/forecast/targets",
        "/api/v1/auth/me",
        "/api/v1/org",
        "/api/v1/roles",
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/audit",
        "/api/v1/api-keys",
        "/api/v1/customers",
        "/api/v1/customers/c-1",
        "/api/v1/products",
        "/api/v1/products/S-1",
        "/api/v1/metrics/summary",
        "/api/v1/metrics/timeseries?group_by=channel",
        "/api/v1/metrics/breakdown?dimension=channel",
        "/api/v1/metrics/breakdown?dimension=customer",
    ] {
        let (status, body) = s.get_json(&owner, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let route = path.split('?').next().unwrap();
        let documented = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(p, _)| same_route(p, route))
            .unwrap_or_else(|| panic!("{route} is not documented"));
        let schema =
            &documented.1["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        check(&doc, schema, &body, path);
    }
    s.stop().await;
}

fn same_route(pattern: &str, path: &str) -> bool {
    let (a, b): (Vec<_>, Vec<_>) = (pattern.split('/').collect(), path.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(p, x)| p.starts_with('{') || p == x)
}

/// Every field of `body` (and of the objects in its arrays, one level down) is documented.
fn check(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let props = properties(doc, schema);
    assert!(!props.is_empty(), "{what}: no documented fields");
    for (k, v) in body.as_object().unwrap() {
        assert!(props.contains(k), "{what}: field `{k}` is not documented");
        if let (Some(items), Some(first)) = (
            item_schema(doc, schema, k),
            v.as_array().and_then(|a| a.first()),
        ) && first.is_object()
        {
            check(doc, &items, first, &format!("{what}.{k}[]"));
        }
    }
}

/// The schema of the items of array property `k`, if it documents one.
fn item_schema(doc: &Value, schema: &Value, k: &str) -> Option<Value> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return item_schema(doc, &doc["components"]["schemas"][name], k);
    }
    if let Some(p) = schema["properties"].get(k) {
        return p.get("items").cloned();
    }
    schema["allOf"]
        .as_array()?
        .iter()
        .find_map(|part| item_schema(doc, part, k))
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let s = TestServer::start().await;
    let c = client();
    let r = c.get(s.url("/api/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let js = c
        .get(s.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.text().await.unwrap().contains("/api/openapi.json"));
    s.stop().await;
}
