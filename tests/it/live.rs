//! `/live`: each org's viewers get only their org's fragments, with the KPI API's numbers;
//! cross-site requests are refused; a stream ends when its session does.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: String,
    data: String,
}

struct Stream {
    resp: reqwest::Response,
    buf: String,
    seen: Vec<Sse>,
}

impl Stream {
    async fn open(s: &TestServer, token: &str, view: &str) -> Stream {
        Self::open_at(s, token, view, None).await
    }

    /// Open as a page that shows data version `shown` would.
    async fn open_at(s: &TestServer, token: &str, view: &str, shown: Option<&str>) -> Stream {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("view", view);
        if let Some(v) = shown {
            q.append_pair("v", v);
        }
        Self::open_url(token, format!("{}?{}", s.url("/live"), q.finish())).await
    }

    async fn open_url(token: &str, url: String) -> Stream {
        let resp = client().get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            resp,
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// The id of the first event named `name` (after reading until one arrives).
    async fn first_id(&mut self, name: &str) -> String {
        self.until(name, |_| true).await.unwrap();
        self.seen
            .iter()
            .find(|e| e.event == name)
            .unwrap()
            .id
            .clone()
    }

    /// Read until an event named `name` whose data passes `want` arrives; `None` if the stream
    /// ends first. Panics after the deadline.
    async fn until(&mut self, name: &str, want: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let mut e = Sse {
                    event: String::new(),
                    id: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !e.data.is_empty() {
                            e.data.push('\n');
                        }
                        e.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                let hit = e.event == name && want(&e.data);
                let data = e.data.clone();
                self.seen.push(e);
                if hit {
                    return Some(data);
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no `{name}` event in time; saw {:?}",
                self.seen
            );
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => return None,
                Err(_) => panic!("no `{name}` event in time; saw {:?}", self.seen),
            }
        }
    }

    fn everything(&self) -> String {
        self.seen.iter().map(|e| e.data.as_str()).collect()
    }
}

fn sale(id: &str, at: &str, price: &str) -> Value {
    json!({"type": "sale_completed", "id": id, "occurred_at": at, "channel": "online",
        "region": "EMEA", "lines": [{"sku": "S-1", "name": "Widget", "quantity": 1, "unit_price": price}]})
}

async fn post(s: &TestServer, token: &str, body: Value) {
    let r = client()
        .post(s.url("/api/v1/events"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn sign_out(s: &TestServer, token: &str) {
    let r = client()
        .post(s.url("/api/v1/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn each_org_sees_only_its_own_updates_with_the_apis_numbers() {
    let s = TestServer::start_with(|c| c.live.tick = Duration::from_millis(50)).await;
    let a = s.owner_token().await;
    let b = s.second_org("Other", "b@example.com", "owner").await;
    let at = s.now().timestamp().to_string();
    let mut sa = Stream::open(&s, &a, "range=7d").await;
    let mut sb = Stream::open(&s, &b, "range=7d").await;

    post(
        &s,
        &a,
        json!([sale("a-1", &at, "100.00"), sale("a-2", &at, "23.45")]),
    )
    .await;
    let kpis = sa.until("kpis", |d| d.contains("$123.45")).await.unwrap();
    // The tile shows what the KPI API answers for the same view.
    let today = s.now().timestamp().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today.checked_sub(jiff::Span::new().days(6)).unwrap();
    let (status, v) = s
        .get_json(
            &a,
            &format!("/api/v1/metrics/summary?from={from}&to={today}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["revenue"]["value"], 123.45);
    assert_eq!(v["orders"]["value"], 2.0);
    assert!(kpis.contains(">$123.45<") && kpis.contains(">2<"), "{kpis}");
    let ticker = sa.until("ticker", |d| d.contains("$100.00")).await.unwrap();
    assert!(ticker.contains("$23.45"), "{ticker}");

    // B's first update is its own; nothing of A's reached it before.
    post(&s, &b, json!(sale("b-1", &at, "7.00"))).await;
    // (The second org keeps its accounts in euros.)
    let kpis_b = sb.until("kpis", |d| d.contains(">€7.00<")).await.unwrap();
    assert!(!kpis_b.contains("123.45"));
    let all_b = sb.everything();
    assert!(
        !all_b.contains("123.45") && !all_b.contains("$100.00"),
        "{all_b}"
    );
    s.stop().await;
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_a_stream_ends_with_its_session() {
    let s = TestServer::start().await;
    let owner = s.owner_token().await;
    let r = client()
        .get(s.url("/live"))
        .bearer_auth(&owner)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Signed out: like every page, it sends the browser to sign in.
    let r = client().get(s.url("/live")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    let r = client()
        .get(s.url("/live?view=range%3Dforever"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Signing out ends the open stream (checked every few seconds).
    let mut st = Stream::open(&s, &owner, "").await;
    sign_out(&s, &owner).await;
    // The page is told to reload (which leads to the sign-in page), then the stream ends.
    assert!(st.until("refresh", |_| true).await.is_some());
    assert_eq!(st.until("never", |_| true).await, None);
    s.stop().await;
}

/// What the gzip bytes received so far decode to (an unfinished stream decodes up to its end).
fn decoded(wire: &[u8]) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = flate2::read::GzDecoder::new(wire).read_to_end(&mut out);
    String::from_utf8(out).unwrap()
}

/// Read `resp` into `wire` until the text it decodes to passes `done` (by `deadline`).
async fn gunzip_until(
    resp: &mut reqwest::Response,
    wire: &mut Vec<u8>,
    deadline: Instant,
    done: impl Fn(&str) -> bool,
) -> String {
    loop {
        let text = decoded(wire);
        if done(&text) {
            return text;
        }
        let chunk = tokio::time::timeout_at(deadline.into(), resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("not in time; so far: {text}"))
            .unwrap()
            .expect("the stream goes on");
        wire.extend_from_slice(&chunk);
    }
}

/// Read `resp` to its end after `wire` (what was read of it before) and decode the whole as
/// one gzip stream (its trailer and CRC checked).
async fn gunzip_to_end(
    resp: &mut reqwest::Response,
    wire: &mut Vec<u8>,
    deadline: Instant,
) -> String {
    use std::io::Read;
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), resp.chunk())
        .await
        .expect("the stream ends in time")
        .unwrap()
    {
        wire.extend_from_slice(&chunk);
    }
    let mut whole = String::new();
    flate2::read::GzDecoder::new(wire.as_slice())
        .read_to_string(&mut whole)
        .expect("one whole gzip stream");
    whole
}

/// A browser that takes gzip gets the stream gzip-encoded: each update decodes as it
/// arrives, and when the stream ends the whole body is one valid gzip stream (trailer and
/// CRC included). The same on a connection of its own and on one served by hyper.
#[tokio::test]
async fn a_gzip_stream_decodes_update_by_update_and_ends_whole() {
    let s = TestServer::start_with(|c| c.live.tick = Duration::from_millis(20)).await;
    let a = s.owner_token().await;
    let open = |c: reqwest::Client, url: String| {
        let a = a.clone();
        async move {
            let resp = c
                .get(url)
                .bearer_auth(&a)
                .header("accept-encoding", "gzip, deflate, br")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()["content-encoding"], "gzip");
            assert_eq!(resp.headers()["vary"], "accept-encoding");
            resp
        }
    };
    // Opened without the version a page shows: each gets the whole view first.
    let own = open(client(), s.url("/live?view=")).await;
    assert_eq!(own.headers()["connection"], "close");
    // A kept-alive connection, its redirects used up: hyper serves the stream, chunked.
    let hyper = open(kept_alive(&s).await, s.url("/live?view=&hop=6")).await;
    assert_eq!(hyper.headers()["transfer-encoding"], "chunked");
    let mut streams = [(own, Vec::new()), (hyper, Vec::new())];
    let deadline = Instant::now() + Duration::from_secs(10);
    let last = format!("event: {}\n", salesboard::dashboard::LIVE_SECTIONS[4]);
    for (resp, wire) in &mut streams {
        gunzip_until(resp, wire, deadline, |t| {
            t.contains(&last) && t.ends_with("\n\n")
        })
        .await;
    }
    // Each update goes as the continuation of what the stream carried last (deflate
    // referring back into it: the catch-up, then the update before), and decodes as it comes.
    // The first sale turns the empty states into charts, so it has little in common with the
    // catch-up; the next ones mostly repeat the update before.
    let at = s.now().timestamp().to_string();
    for (i, amount) in ["4.25", "5.50", "6.75"].into_iter().enumerate() {
        post(&s, &a, json!(sale(&format!("c-{i}"), &at, amount))).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        for (resp, wire) in &mut streams {
            let (sent, shown) = (wire.len(), decoded(wire).len());
            let text = gunzip_until(resp, wire, deadline, |t| {
                t.contains(&format!(">${amount}<"))
            })
            .await;
            let update = &text[shown..];
            let alone = {
                use std::io::Write;
                let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
                z.write_all(update.as_bytes()).unwrap();
                z.finish().unwrap().len()
            };
            let most = if i == 0 { alone } else { alone / 2 };
            assert!(
                wire.len() - sent < most,
                "{} bytes sent for an update of {} ({alone} compressed on its own)",
                wire.len() - sent,
                update.len()
            );
        }
    }
    // Signing out ends the streams, with a refresh and then the gzip trailer.
    sign_out(&s, &a).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    for (resp, wire) in &mut streams {
        let whole = gunzip_to_end(resp, wire, deadline).await;
        assert!(whole.contains("event: kpis"), "{whole}");
        assert!(
            whole.ends_with("event: refresh\ndata: behind\n\n"),
            "{whole}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_stream_catches_up_from_the_version_its_page_shows() {
    let s = TestServer::start_with(|c| c.live.tick = Duration::from_millis(20)).await;
    let a = s.owner_token().await;
    let at = s.now().timestamp().to_string();
    post(&s, &a, json!(sale("c-1", &at, "1.00"))).await;
    // The page names the version it shows in its stream address.
    let (_, page) = {
        let r = client()
            .get(s.url("/dashboard"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert!(
        page.contains("sse-connect=\"/live?view=&amp;v=1\""),
        "{page}"
    );
    // A page older than the data gets the current state at once...
    let mut stale = Stream::open_at(&s, &a, "", Some("0")).await;
    assert_eq!(stale.first_id("kpis").await, "1");
    // ...a current one only what comes next.
    let mut current = Stream::open_at(&s, &a, "", Some("1")).await;
    post(&s, &a, json!(sale("c-2", &at, "2.00"))).await;
    assert_eq!(current.first_id("kpis").await, "2");
    assert!(current.everything().contains(">$3.00<"));
    s.stop().await;
}

async fn new_deal(s: &TestServer, token: &str, name: &str) -> String {
    let r = client()
        .post(s.url("/api/v1/opportunities"))
        .bearer_auth(token)
        .json(
            &json!({"name": name, "account": "Acme", "amount": "100", "close_date": "2026-12-31"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `/live/pipeline`: a `changed` event for every committed change of the viewer's org (a
/// page that is behind hears at once), and nothing from another org.
#[tokio::test]
async fn pipeline_streams_tell_only_their_org_about_changes() {
    let s = TestServer::start().await;
    let a = s.owner_token().await;
    let b = s.second_org("Other", "b@example.com", "owner").await;
    // A page showing an old version is told the current one straight away.
    let mut sa = Stream::open_url(&a, s.url("/live/pipeline?v=0")).await;
    let first = sa.until("changed", |_| true).await.unwrap();
    let mut sb = Stream::open_url(&b, s.url("/live/pipeline?v=0")).await;
    let b_first = sb.until("changed", |_| true).await.unwrap();
    let id = new_deal(&s, &a, "A1").await;
    let v1: u64 = sa
        .until("changed", |v| v != first)
        .await
        .unwrap()
        .parse()
        .unwrap();
    let r = client()
        .patch(s.url(&format!("/api/v1/opportunities/{id}")))
        .bearer_auth(&a)
        .json(&json!({"stage": "Proposal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v2: u64 = sa
        .until("changed", |v| v != v1.to_string())
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(v2 > v1);
    // B's stream stays quiet about A; B's own change is the first thing it hears.
    new_deal(&s, &b, "B1").await;
    sb.until("changed", |v| v != b_first).await.unwrap();
    assert_eq!(
        sb.seen.iter().filter(|e| e.event == "changed").count(),
        2,
        "{:?}",
        sb.seen
    );
    // Cross-site pages may not open one.
    let r = client()
        .get(s.url("/live/pipeline"))
        .bearer_auth(&a)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// A stream opened on a connection of its own is served without hyper (it ends with the
/// connection: `connection: close`, no chunking). One asked for on a kept-alive connection
/// is redirected, closing that connection, so that it comes again on a connection of its
/// own; after a few hops hyper serves it where it is. All carry the same updates.
#[tokio::test]
async fn streams_come_on_connections_of_their_own_and_carry_the_same_updates() {
    let s = TestServer::start_with(|c| c.live.tick = Duration::from_millis(20)).await;
    let a = s.owner_token().await;
    let get = |c: &reqwest::Client, path: &str| c.get(s.url(path)).bearer_auth(&a).send();
    let own = get(&client(), "/live?view=&v=0").await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.headers()["connection"], "close");
    assert!(own.headers().get("transfer-encoding").is_none());
    assert!(own.headers().contains_key("content-security-policy"));
    let shared = kept_alive(&s).await;
    let r = get(&shared, "/live?view=&v=0").await.unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers()["connection"], "close");
    let next = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(next, "/live?view=&v=0&hop=1");
    // That connection is closed: asked again, the stream comes on a new one.
    let again = get(&shared, &next).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["connection"], "close");
    assert!(again.headers().get("transfer-encoding").is_none());
    // Its hops used up, a stream is served by hyper on the kept-alive connection.
    let kept = get(&kept_alive(&s).await, "/live?view=&v=0&hop=6")
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert!(kept.headers().get("connection").is_none());
    assert_eq!(kept.headers()["transfer-encoding"], "chunked");
    let at = s.now().timestamp().to_string();
    post(&s, &a, json!(sale("c-1", &at, "7.50"))).await;
    for resp in [own, again, kept] {
        let mut st = Stream {
            resp,
            buf: String::new(),
            seen: Vec::new(),
        };
        assert!(st.until("kpis", |d| d.contains(">$7.50<")).await.is_some());
    }
    s.stop().await;
}

/// A client whose next request goes over the connection its first one (here) left open.
async fn kept_alive(s: &TestServer) -> reqwest::Client {
    let c = client();
    let r = c.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("connection").is_none());
    r.bytes().await.unwrap();
    c
}

/// A request head that cannot be parsed is answered 400 and the connection closed.
#[tokio::test]
async fn a_malformed_live_request_is_answered_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let mut tcp = tokio::net::TcpStream::connect(s.running.as_ref().unwrap().addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    s.stop().await;
}

/// A stream on a connection of its own ends (and unsubscribes) when the browser goes away,
/// while nothing is being sent to it.
#[tokio::test]
async fn a_stream_on_its_own_connection_ends_when_the_client_goes_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let a = s.owner_token().await;
    let state = s.running.as_ref().unwrap().state.clone();
    let org = salesboard::domain::OrgId(1);
    let mut tcp = tokio::net::TcpStream::connect(s.running.as_ref().unwrap().addr)
        .await
        .unwrap();
    tcp.write_all(
        format!("GET /live?view= HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 64];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.live.watchers(org) != 1 {
        assert!(Instant::now() < deadline, "the stream is not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tcp);
    while state.live.watchers(org) != 0 {
        assert!(Instant::now() < deadline, "the stream outlived its client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop().await;
}

/// Stopping the server ends a stream on a connection of its own with a whole gzip stream
/// (its trailer written before the server task returns), and the connection closed.
#[tokio::test]
async fn stopping_the_server_ends_own_connection_streams_whole() {
    let s = TestServer::start().await;
    let a = s.owner_token().await;
    let mut resp = client()
        .get(s.url("/live?view="))
        .bearer_auth(&a)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["connection"], "close");
    let mut wire = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .expect("the catch-up in time")
        .unwrap()
        .expect("the stream goes on");
    wire.extend_from_slice(&first);
    s.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let whole = gunzip_to_end(&mut resp, &mut wire, deadline).await;
    assert!(whole.starts_with("event: "), "{whole}");
}
