//! `POST /api/v1/events`: validation per item, idempotency, group commit under concurrency,
//! and durability before the answer.

use crate::support::*;
use reqwest::StatusCode;
use salesboard::domain::rollup::Metrics;
use salesboard::store::sales;
use serde_json::{Value, json};

fn sale(id: &str, customer: &str, price: &str) -> Value {
    json!({"type":"sale_completed","id":id,"occurred_at":"2026-11-20T14:03:00Z","customer_id":customer,
           "channel":"online","region":"EMEA",
           "lines":[{"sku":"SKU-1","name":"Widget","category":"Hardware","quantity":2,"unit_price":price,"unit_cost":"7.50"}],
           "discount":"1.00","tax":"3.20","shipping":"5.00"})
}

async fn post(s: &TestServer, token: &str, body: &Value) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn totals(s: &TestServer) -> Metrics {
    let store = s.running.as_ref().unwrap().state.store.clone();
    let mut m = Metrics::default();
    for (_, _, x) in store
        .read(|t| sales::day_rollups(t, salesboard::domain::OrgId(1)))
        .unwrap()
    {
        m.add(&x);
    }
    m
}

#[tokio::test]
async fn events_are_validated_stored_once_and_summed() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;

    let (st, v) = post(&s, &owner, &sale("ord-1", "c-1", "19.99")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"accepted": 1, "duplicates": [], "rejected": []}));
    // Durable and visible as soon as the answer arrives.
    let m = totals(&s);
    assert_eq!(
        (m.gross, m.discounts, m.orders, m.units, m.new_customers),
        (3998, 100, 1, 2, 1)
    );

    // The same id again is a duplicate, not counted twice.
    let (st, v) = post(
        &s,
        &owner,
        &json!([sale("ord-1", "c-1", "19.99"), sale("ord-2", "c-1", "10.00")]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["duplicates"], json!([0]));
    let m = totals(&s);
    assert_eq!(
        (m.orders, m.new_customers, m.returning_customers),
        (2, 1, 1)
    );

    // One bad item among good ones: the good ones are stored, the bad one is reported.
    let mut bad = sale("ord-3", "c-2", "1.999");
    bad["lines"][0]["unit_price"] = json!("1.999");
    let batch = json!([sale("ord-4", "c-2", "5.00"), bad, {"type": "refund_processed", "id": "rf-1", "order_id": "ord-1", "occurred_at": "2026-11-21T09:00:00Z", "amount": "19.99", "lines": [{"sku": "SKU-1", "quantity": 1}]}]);
    let (st, v) = post(&s, &owner, &batch).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["index"], 1);
    assert_eq!(v["rejected"][0]["field"], "lines[0].unit_price");
    assert_eq!(v["rejected"][0]["code"], "validation");
    let m = totals(&s);
    assert_eq!((m.orders, m.refunds, m.refunded_units), (3, 1999, 1));

    // Everything rejected: 422. Wrong currency has its own code.
    let mut eur = sale("ord-9", "c-1", "1.00");
    eur["currency"] = json!("EUR");
    let (st, v) = post(&s, &owner, &json!([eur])).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["rejected"][0]["code"], "currency_mismatch");
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_and_permissions() {
    let s = TestServer::start_with(|c| c.ingest.max_events_per_request = 3).await;
    let owner = s.owner_token().await;
    let (_, viewer) = s.user(&owner, "viewer@example.com", "viewer").await;
    let (_, manager) = s.user(&owner, "manager@example.com", "manager").await;
    assert_eq!(
        post(&s, &viewer, &sale("o", "c", "1")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&s, &manager, &sale("o", "c", "1")).await.0,
        StatusCode::OK,
        "sales.edit"
    );
    let four = json!([
        sale("a", "c", "1"),
        sale("b", "c", "1"),
        sale("c", "c", "1"),
        sale("d", "c", "1")
    ]);
    let (st, v) = post(&s, &owner, &four).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation"))
    );
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body("[{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(&owner)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        post(&s, &owner, &json!(42)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&s, &owner, &json!([])).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_merged_and_none_is_lost() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let mut tasks = Vec::new();
    for r in 0..16 {
        let (url, token) = (s.url("/api/v1/events"), owner.clone());
        tasks.push(tokio::spawn(async move {
            let batch: Vec<Value> = (0..50)
                .map(|i| sale(&format!("o-{r}-{i}"), &format!("c-{i}"), "2.50"))
                .collect();
            let r = client()
                .post(url)
                .bearer_auth(token)
                .json(&batch)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            v["accepted"].as_u64().unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    assert_eq!(accepted, 800);
    let m = totals(&s);
    assert_eq!(m.orders, 800);
    assert_eq!(m.gross, 800 * 500);
    assert_eq!(m.new_customers, 50);
    assert_eq!(m.returning_customers, 750);
    s.stop().await;
}

#[tokio::test]
async fn summary_kpis_with_comparison_and_filters() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    seed_kpi_data(&s, &owner).await;
    let get = |q: &str| {
        let (url, t) = (
            s.url(&format!("/api/v1/metrics/summary?{q}")),
            owner.clone(),
        );
        async move {
            let r = client().get(url).bearer_auth(t).send().await.unwrap();
            let st = r.status();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = get("from=2026-11-01&to=2026-11-07").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["revenue"]["value"], 600.0);
    assert_eq!(v["refunds"]["value"], 30.0);
    assert_eq!(v["net_revenue"]["value"], 570.0);
    assert_eq!(v["orders"]["value"], 3.0);
    assert_eq!(v["average_order_value"]["value"], 200.0);
    assert_eq!(v["conversion_rate"]["value"], 6.0, "3 orders / 50 visits");
    assert_eq!(
        v["new_customers"]["value"], 1.0,
        "c2 is new; c1 bought before"
    );
    assert_eq!(v["returning_customers"]["value"], 2.0);
    assert_eq!(v["margin"]["value"], 567.0);
    // previous period: 2026-10-25..31 holds p1
    assert_eq!(v["revenue"]["previous"], 50.0);
    assert_eq!(v["revenue"]["change_pct"], 1100.0);
    // filters
    let (_, v) = get("from=2026-11-01&to=2026-11-07&channel=online").await;
    assert_eq!(v["revenue"]["value"], 300.0);
    assert_eq!(v["conversion_rate"]["value"], 5.0, "2 orders / 40 visits");
    let (_, v) = get("from=2026-11-01&to=2026-11-07&category=Software").await;
    assert_eq!(
        (
            v["revenue"]["value"].as_f64(),
            v["orders"]["value"].as_f64(),
            v["refunds"]["value"].as_f64()
        ),
        (Some(500.0), Some(2.0), Some(30.0))
    );
    // datetimes use hour rollups
    let (_, v) = get("from=2026-11-03T00:00:00Z&to=2026-11-03T13:00:00Z").await;
    assert_eq!(v["revenue"]["value"], 300.0);
    // bad input names the field
    let (st, v) = get("from=2026-11-07&to=2026-11-01").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    let (st, v) = get("from=2026-11-01&to=2026-11-07&compare=last_week").await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("compare"))
    );
    let (st, _) = get("from=2026-11-01&to=2026-11-07&colour=red").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "unknown parameter");

    // Answers are cached, and a new event shows on the very next read of the same query.
    let q = "from=2026-11-01&to=2026-11-07&channel=retail";
    let (_, first) = get(q).await;
    let (_, again) = get(q).await;
    assert_eq!(first, again);
    assert_eq!(first["revenue"]["value"], 300.0);
    let sale = json!({"type":"sale_completed","id":"late-1","occurred_at":"2026-11-06T10:00:00Z",
        "channel":"retail","region":"EMEA","lines":[{"sku":"x","category":"Hardware","quantity":1,"unit_price":"25.00"}]});
    assert_eq!(post(&s, &owner, &sale).await.1["accepted"], 1);
    let (_, after) = get(q).await;
    assert_eq!(after["revenue"]["value"], 325.0);
    assert_eq!(after["orders"]["value"], 2.0);

    // another org sees none of it
    let other = s.second_org("B", "b@example.com", "viewer").await;
    let (_, v) = s
        .get_json(
            &other,
            "/api/v1/metrics/summary?from=2026-11-01&to=2026-11-07",
        )
        .await;
    assert_eq!(
        (
            v["revenue"]["value"].as_f64(),
            v["orders"]["value"].as_f64()
        ),
        (Some(0.0), Some(0.0))
    );
    s.stop().await;
}

/// Sales on four days of November (one in October), a refund and traffic.
async fn seed_kpi_data(s: &TestServer, owner: &str) {
    let ev = |id: &str, day: &str, ch: &str, cat: &str, price: &str, customer: &str| {
        json!({"type":"sale_completed","id":id,"occurred_at":format!("{day}T12:00:00Z"),"customer_id":customer,
               "channel":ch,"region":"EMEA","lines":[{"sku":format!("sku-{cat}"),"category":cat,"quantity":1,"unit_price":price,"unit_cost":"1.00"}]})
    };
    let batch = json!([
        ev("p1", "2026-10-25", "online", "Hardware", "50.00", "c1"),
        ev("a1", "2026-11-02", "online", "Hardware", "100.00", "c1"),
        ev("a2", "2026-11-03", "retail", "Software", "300.00", "c2"),
        ev("a3", "2026-11-04", "online", "Software", "200.00", "c2"),
        {"type":"refund_processed","id":"r1","order_id":"a2","occurred_at":"2026-11-05T08:00:00Z","amount":"30.00"},
        {"type":"traffic_recorded","id":"t1","occurred_at":"2026-11-02T09:00:00Z","channel":"online","region":"EMEA","visits":40},
        {"type":"traffic_recorded","id":"t2","occurred_at":"2026-11-03T09:00:00Z","channel":"retail","region":"EMEA","visits":10}
    ]);
    assert_eq!(post(s, owner, &batch).await.1["accepted"], 7);
}

#[tokio::test]
async fn timeseries_and_breakdown() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    seed_kpi_data(&s, &owner).await;

    let (st, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/timeseries?metric=revenue&interval=day&from=2026-11-01&to=2026-11-05",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let pts = &v["series"][0]["points"];
    assert_eq!(v["series"][0]["key"], "all");
    let got: Vec<(String, f64)> = pts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["t"].as_str().unwrap().to_string(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-11-01".into(), 0.0),
            ("2026-11-02".into(), 100.0),
            ("2026-11-03".into(), 300.0),
            ("2026-11-04".into(), 200.0),
            ("2026-11-05".into(), 0.0)
        ]
    );

    // refunds land on the refund's day
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/timeseries?metric=refunds&from=2026-11-01&to=2026-11-05",
        )
        .await;
    assert_eq!(v["series"][0]["points"][4]["value"], 30.0);

    // split by channel; weekly and monthly periods
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/timeseries?metric=orders&interval=week&group_by=channel&from=2026-10-20&to=2026-11-08").await;
    let keys: Vec<&str> = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["online", "retail"]);
    let weeks: Vec<&str> = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["t"].as_str().unwrap())
        .collect();
    assert_eq!(
        weeks,
        vec!["2026-10-19", "2026-10-26", "2026-11-02"],
        "weeks start on Monday"
    );
    let online: Vec<f64> = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(
        online,
        vec![1.0, 0.0, 2.0],
        "p1 on Sun 25 Oct; a1, a3 in the week of 2 Nov"
    );
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/timeseries?metric=revenue&interval=month&from=2026-10-01&to=2026-11-30").await;
    let months: Vec<(&str, f64)> = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["t"].as_str().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(months, vec![("2026-10", 50.0), ("2026-11", 600.0)]);

    // hourly, in the org's time zone
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/timeseries?metric=revenue&interval=hour&from=2026-11-03&to=2026-11-03",
        )
        .await;
    let pts = v["series"][0]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 24);
    assert_eq!(pts[12]["t"], "2026-11-03T12:00:00+00:00");
    assert_eq!(pts[12]["value"], 300.0);

    // category split counts orders containing the category
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/breakdown?dimension=category&metric=orders&from=2026-11-01&to=2026-11-07").await;
    let items: Vec<(&str, f64)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap(), i["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(items, vec![("Software", 2.0), ("Hardware", 1.0)]);
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/breakdown?dimension=channel&metric=revenue&from=2026-11-01&to=2026-11-07").await;
    assert_eq!(v["items"][0]["key"], "online");
    assert_eq!(v["items"][0]["share"], 0.5);
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/breakdown?dimension=channel&metric=average_order_value&from=2026-11-01&to=2026-11-07").await;
    assert!(v["items"][0]["share"].is_null(), "ratios have no share");
    let (_, v) = s.get_json(&owner, "/api/v1/metrics/breakdown?dimension=region&metric=revenue&limit=1&from=2026-11-01&to=2026-11-07").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);

    // bad input names the field
    for (q, field) in [
        ("metric=profit", "metric"),
        ("interval=fortnight", "interval"),
        ("group_by=planet", "group_by"),
        ("interval=hour&from=2026-01-01&to=2026-12-31", "interval"),
    ] {
        let (st, v) = s
            .get_json(&owner, &format!("/api/v1/metrics/timeseries?{q}"))
            .await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{q}"
        );
    }
    let (st, v) = s
        .get_json(&owner, "/api/v1/metrics/breakdown?metric=revenue")
        .await;
    assert_eq!(
        (st, v["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("dimension"))
    );
    let (st, _) = s
        .get_json(
            &owner,
            "/api/v1/metrics/breakdown?dimension=channel&limit=0",
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Products ranked over a range, from per-product day and month rows.
    let (st, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/breakdown?dimension=product&metric=revenue&from=2026-11-01&to=2026-11-07",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let items: Vec<(String, f64)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("sku-Software".to_string(), 500.0),
            ("sku-Hardware".to_string(), 100.0)
        ]
    );
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/breakdown?dimension=product&metric=refunds&from=2026-11-01&to=2026-11-30&category=Software",
        )
        .await;
    assert_eq!(v["items"][0]["key"], "sku-Software");
    assert_eq!(v["items"][0]["value"], 30.0);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    // Customers over the range, by channel, with the name they signed up with.
    let sign_up = json!({"type":"customer_created","id":"c2","occurred_at":"2026-10-01T00:00:00Z",
                         "name":"Cleo Park","email":"cleo@example.com","region":"EMEA"});
    assert_eq!(post(&s, &owner, &sign_up).await.1["accepted"], 1);
    let ranked = |v: &Value| -> Vec<(String, Option<String>, f64)> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().unwrap().to_string(),
                    i["name"].as_str().map(str::to_string),
                    i["value"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (st, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/breakdown?dimension=customer&metric=net_revenue&from=2026-11-01&to=2026-11-07",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        ranked(&v),
        vec![
            ("c2".into(), Some("Cleo Park".into()), 470.0),
            ("c1".into(), None, 100.0)
        ]
    );
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/metrics/breakdown?dimension=customer&metric=revenue&from=2026-10-20&to=2026-11-30&channel=online&limit=1",
        )
        .await;
    assert_eq!(
        ranked(&v),
        vec![("c2".into(), Some("Cleo Park".into()), 200.0)]
    );
    for (q, field) in [
        ("dimension=product&metric=visits", "metric"),
        ("dimension=product&channel=online", "channel"),
        ("dimension=customer&category=Software", "category"),
        ("dimension=customer&metric=aov", "metric"),
        ("dimension=planet", "dimension"),
    ] {
        let (st, v) = s
            .get_json(&owner, &format!("/api/v1/metrics/breakdown?{q}"))
            .await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{q}: {v}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn customers_and_products() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    seed_kpi_data(&s, &owner).await;
    let (st, v) = s.get_json(&owner, "/api/v1/customers?sort=revenue").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 2);
    let c2 = &v["items"][0];
    assert_eq!(
        (
            c2["id"].as_str(),
            c2["orders"].as_i64(),
            c2["revenue"].as_f64(),
            c2["refunds"].as_f64(),
            c2["ltv"].as_f64()
        ),
        (Some("c2"), Some(2), Some(500.0), Some(30.0), Some(470.0))
    );
    assert!(c2["predicted_ltv"].as_f64().unwrap() >= 470.0);
    let churn = c2["churn_risk"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&churn));
    assert!(c2.get("explanation").is_none(), "lists stay small");
    let (_, v) = s
        .get_json(
            &owner,
            "/api/v1/customers?sort=revenue&order=asc&limit=1&offset=0",
        )
        .await;
    assert_eq!(
        (
            v["items"][0]["id"].as_str(),
            v["items"].as_array().unwrap().len(),
            v["total"].as_i64()
        ),
        (Some("c1"), 1, Some(2))
    );
    let (_, v) = s
        .get_json(&owner, "/api/v1/customers?limit=1&offset=1")
        .await;
    assert_eq!(v["items"][0]["id"], "c1");
    let (_, v) = s.get_json(&owner, "/api/v1/customers?q=C2").await;
    assert_eq!(v["total"], 1);
    let (st, v) = s.get_json(&owner, "/api/v1/customers/c1").await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        v["explanation"].as_str().unwrap().contains("2 orders"),
        "{v}"
    );
    assert_eq!(
        s.get_json(&owner, "/api/v1/customers/nobody").await.0,
        StatusCode::NOT_FOUND
    );

    let (_, v) = s.get_json(&owner, "/api/v1/products?sort=revenue").await;
    let skus: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec!["sku-Software", "sku-Hardware"]);
    assert_eq!(v["items"][0]["revenue"], 500.0);
    assert_eq!(v["items"][0]["refunds"], 30.0);
    assert_eq!(
        v["items"][0]["margin"], 468.0,
        "500 - 30 refunds - 2 x 1.00 cost"
    );
    let (st, v) = s.get_json(&owner, "/api/v1/products/sku-Hardware").await;
    assert_eq!((st, v["units"].as_i64()), (StatusCode::OK, Some(2)));
    for (q, field) in [
        ("sort=height", "sort"),
        ("order=up", "order"),
        ("limit=0", "limit"),
    ] {
        let (st, v) = s.get_json(&owner, &format!("/api/v1/products?{q}")).await;
        assert_eq!(
            (st, v["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{q}"
        );
    }
    // another org cannot see these customers or products
    let other = s.second_org("B", "b@example.com", "viewer").await;
    assert_eq!(
        s.get_json(&other, "/api/v1/customers/c1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get_json(&other, "/api/v1/products/sku-Hardware").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get_json(&other, "/api/v1/customers").await.1["total"], 0);
    s.stop().await;
}

#[tokio::test]
async fn events_in_another_currency_convert_at_a_configured_rate() {
    let s = TestServer::start_with(|c| {
        c.exchange_rates = salesboard::domain::money::Rates::try_from(
            std::collections::BTreeMap::from([("EUR/USD".to_string(), "1.10".to_string())]),
        )
        .unwrap();
    })
    .await;
    let owner = s.owner_token().await;
    let mut eur = sale("e1", "c1", "10.00");
    eur["currency"] = json!("EUR");
    let mut gbp = sale("g1", "c1", "10.00");
    gbp["currency"] = json!("GBP");
    let (st, v) = post(&s, &owner, &json!([eur, gbp])).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["index"], 1);
    assert_eq!(v["rejected"][0]["code"], "currency_mismatch");
    // 2 x 10.00 EUR = 22.00 USD
    assert_eq!(totals(&s).gross, 2200);
    s.stop().await;
}

#[tokio::test]
async fn raw_event_retention_refuses_old_events_and_expiry_keeps_the_figures() {
    let s = TestServer::start_with(|c| c.data.keep_raw_events_days = 30).await;
    let owner = s.owner_token().await;
    let days_ago = |d: i64| {
        salesboard::domain::Ts(s.now().0 - d * 86_400_000_000)
            .timestamp()
            .to_string()
    };
    let traffic = |id: &str, at: String| json!({"type":"traffic_recorded","id":id,"occurred_at":at,"channel":"web","region":"EU","visits":7});
    let (st, v) = post(
        &s,
        &owner,
        &json!([
            traffic("old", days_ago(40)),
            traffic("recent", days_ago(10))
        ]),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["code"], "too_old");
    assert_eq!(v["rejected"][0]["field"], "occurred_at");
    // 25 days later the accepted event is past the window: expiry deletes the raw record and
    // keeps the figures.
    let before = totals(&s);
    assert_eq!(before.visits, 7);
    s.clock.advance(std::time::Duration::from_secs(25 * 86_400));
    let store = s.running.as_ref().unwrap().state.store.clone();
    let horizon = s
        .running
        .as_ref()
        .unwrap()
        .state
        .cfg
        .oldest_event(s.now())
        .unwrap();
    let n = tokio::task::spawn_blocking(move || salesboard::app::expire_raw(&store, horizon))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(totals(&s), before);
    let store = s.running.as_ref().unwrap().state.store.clone();
    let gone = store
        .read(|t| {
            sales::get_event(
                t,
                salesboard::domain::OrgId(1),
                salesboard::domain::events::Kind::Traffic,
                "recent",
            )
        })
        .unwrap();
    assert!(gone.is_none());
    s.stop().await;
}
