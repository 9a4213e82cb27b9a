//! Test harness: start the real server in-process on port 0 with a temp data dir, and helpers
//! to sign in and create users through the real API.

#![allow(dead_code)]

pub mod browser;

use reqwest::{Client, StatusCode};
use salesboard::clock::{Clock, ManualClock};
use salesboard::config::Config;
use salesboard::domain::Ts;
use salesboard::server::Running;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub base: String,
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    /// Owner email and the one-time password printed at first run.
    pub owner_email: String,
    pub owner_otp: String,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.data.dir = dir.to_path_buf();
    cfg.server.shutdown_grace = Duration::from_secs(2);
    // no free-space reserve: the tests' temp disk may be small (tests/it/disk_full.rs checks it)
    cfg.data.min_free_mb = 0;
    cfg
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(dir.path());
        edit(&mut cfg);
        let clock = Arc::new(ManualClock::new(Ts::from_timestamp(jiff::Timestamp::now())));
        let running = salesboard::server::start(cfg, clock.clone()).await.unwrap();
        let b = running
            .bootstrap
            .as_ref()
            .expect("fresh data dir bootstraps");
        TestServer {
            base: running.base_url(),
            owner_email: b.owner.email.clone(),
            owner_otp: b.one_time_password.clone(),
            running: Some(running),
            dir,
            clock,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn now(&self) -> Ts {
        self.clock.now()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.unwrap();
        }
    }

    /// Log in through the API; returns the token response JSON.
    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let r = client()
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// The owner's access token, after replacing the one-time password with [`PASSWORD`].
    pub async fn owner_token(&self) -> String {
        let (s, v) = self.login(&self.owner_email, PASSWORD).await;
        if s == StatusCode::OK {
            return v["access_token"].as_str().unwrap().to_string();
        }
        let (s, v) = self.login(&self.owner_email, &self.owner_otp).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let t = v["access_token"].as_str().unwrap();
        let r = client()
            .post(self.url("/api/v1/auth/password"))
            .bearer_auth(t)
            .json(&json!({"current_password": self.owner_otp, "new_password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Create a user with a known password (via the API as `admin`) and sign them in.
    pub async fn user(&self, admin: &str, email: &str, role: &str) -> (String, String) {
        let r = client()
            .post(self.url("/api/v1/users"))
            .bearer_auth(admin)
            .json(&json!({"email": email, "role": role, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let v: Value = r.json().await.unwrap();
        let id = v["user"]["id"].as_str().unwrap().to_string();
        let (s, t) = self.login(email, PASSWORD).await;
        assert_eq!(s, StatusCode::OK);
        (id, t["access_token"].as_str().unwrap().to_string())
    }

    /// Create an org API key as `admin`: (key id, secret).
    pub async fn api_key(&self, admin: &str, name: &str) -> (String, String) {
        let r = client()
            .post(self.url("/api/v1/api-keys"))
            .bearer_auth(admin)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["secret"].as_str().unwrap().to_string(),
        )
    }
}

/// A JSON request as `token` (body and `If-Match` optional): status, `ETag`, JSON answer
/// (`null` when the answer is not JSON).
pub async fn send_json(
    s: &TestServer,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut r = client().request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(v) = if_match {
        r = r.header("if-match", v);
    }
    let r = r.send().await.unwrap();
    let st = r.status();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (st, etag, r.json().await.unwrap_or(Value::Null))
}

/// A client that does not follow redirects (tests look at them).
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client with a cookie jar, like a browser (no redirects followed).
pub fn browser_like() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub async fn error_code(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

/// A browser-like client signed in through the sign-in form as `email` (password [`PASSWORD`]).
pub async fn signed_in_browser(s: &TestServer, email: &str) -> Client {
    let c = browser_like();
    let r = c
        .post(s.url("/login"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection(),
        "signing in as {email}: {}",
        r.status()
    );
    c
}

/// Poll `f` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = std::time::Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "condition not met within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestServer {
    /// GET a JSON API path with a bearer token.
    pub async fn get_json(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let st = r.status();
        (st, r.json().await.unwrap_or(Value::Null))
    }

    /// Run the partner health job (the hourly upkeep's) now; returns how many partners it
    /// marked at risk.
    pub async fn refresh_partner_health(&self) -> usize {
        let state = self.running.as_ref().unwrap().state.clone();
        let now = self.now();
        tokio::task::spawn_blocking(move || {
            salesboard::partners::refresh_all(&state.store, &state.books, now).unwrap()
        })
        .await
        .unwrap()
    }

    /// A second organization with one user (known password), made through the same store API
    /// the CLI uses; returns that user's access token.
    pub async fn second_org(&self, name: &str, email: &str, role: &str) -> String {
        use salesboard::auth::accounts::{self, ActingAs, NewUserInput};
        let store = self.running.as_ref().unwrap().state.store.clone();
        let now = self.now();
        let (name, email2, role) = (name.to_string(), email.to_string(), role.to_string());
        tokio::task::spawn_blocking(move || {
            let org = accounts::create_org(
                &store,
                &ActingAs::cli(),
                salesboard::domain::org::NewOrg::parse(&name, "Europe/Berlin", "EUR").unwrap(),
                now,
            )
            .unwrap();
            let input = NewUserInput {
                email: email2,
                name: "Second".into(),
                role,
                team: None,
                password: Some(PASSWORD.into()),
            };
            accounts::create_user(&store, &ActingAs::cli(), org.id, input, now).unwrap();
        })
        .await
        .unwrap();
        let (st, t) = self.login(email, PASSWORD).await;
        assert_eq!(st, StatusCode::OK);
        t["access_token"].as_str().unwrap().to_string()
    }
}

impl TestServer {
    /// Wait until the search index has applied every change committed so far.
    pub async fn search_caught_up(&self) {
        let state = self.running.as_ref().unwrap().state.clone();
        let last = state
            .store
            .read(salesboard::store::search::last_seq)
            .unwrap();
        eventually(Duration::from_secs(10), || {
            let done = state.search.applied() >= last;
            async move { done.then_some(()) }
        })
        .await
    }
}
