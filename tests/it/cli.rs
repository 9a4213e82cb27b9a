//! The real binary: first-run bootstrap, CLI account commands, config errors, exclusive file.

use crate::support::*;
use reqwest::StatusCode;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Run `cmd`, which must succeed (its stderr is shown when it does not).
fn succeeds(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_salesboard"));
    // The test's own environment must not leak config into the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("SALESBOARD_") {
            c.env_remove(k);
        }
    }
    c.env("SALESBOARD_LOG__LEVEL", "warn");
    c
}

pub(crate) struct Served {
    pub child: Child,
    pub base: String,
    pub lines: Vec<String>,
}

/// Start `salesboard serve` on port 0 and read its banner.
pub(crate) fn serve(dir: &std::path::Path) -> Served {
    serve_with(dir, &[])
}

/// [`serve`] with extra environment variables (config overrides).
pub(crate) fn serve_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut base = String::new();
    loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "server exited early: {lines:?}"
        );
        let l = l.trim_end().to_string();
        if let Some(rest) = l.split("listening on ").nth(1) {
            base = rest.to_string();
        }
        let last = l == "Press Ctrl-C to stop.";
        lines.push(l);
        if last {
            break;
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    Served { child, base, lines }
}

pub(crate) fn stop(mut s: Served) -> std::process::ExitStatus {
    let pid = s.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            std::time::Instant::now() < end,
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn value_of(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in {lines:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

pub(crate) async fn login(base: &str, email: &str, pw: &str) -> (StatusCode, serde_json::Value) {
    let r = client()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": pw}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap())
}

/// Sign in with the one-time password, set [`PASSWORD`]; returns an access token.
pub(crate) async fn first_sign_in(base: &str, email: &str, otp: &str) -> String {
    let (_, v) = login(base, email, otp).await;
    let t = v["access_token"].as_str().unwrap().to_string();
    let r = client()
        .post(format!("{base}/api/v1/auth/password"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"current_password": otp, "new_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn first_run_prints_a_one_time_login_once_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path());
    assert!(
        s.lines.iter().any(|l| l.contains("First run")),
        "{:?}",
        s.lines
    );
    let url = value_of(&s.lines, "Sign in at");
    assert_eq!(url, format!("{}/login", s.base));
    let email = value_of(&s.lines, "email");
    let pw = value_of(&s.lines, "password");
    assert_eq!(email, "owner@salesboard.local");
    assert_eq!(pw.len(), 23, "generated, never a fixed default");
    let (st, v) = login(&s.base, &email, &pw).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["password_change_required"], true);
    let status = stop(s);
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    // Second start: no new owner, no password printed.
    let s = serve(dir.path());
    assert!(
        !s.lines.iter().any(|l| l.contains("First run")),
        "{:?}",
        s.lines
    );
    assert!(stop(s).success());
    assert!(dir.path().join("salesboard.redb").exists());
    assert!(dir.path().join("jwt.secret").exists());
}

#[tokio::test]
async fn cli_user_add_then_login() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    succeeds(bin().args([
        "org",
        "add",
        "Acme",
        "--timezone",
        "Europe/Berlin",
        "--currency",
        "eur",
        "--data-dir",
        d,
    ]));
    let mut child = bin()
        .args([
            "user",
            "add",
            "--org",
            "acme",
            "--email",
            "Cli@Example.com",
            "--role",
            "manager",
            "--name",
            "Cli User",
            "--password-stdin",
            "--data-dir",
            d,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli@example.com"));
    // generated password variant
    let out = bin()
        .args([
            "user",
            "add",
            "--org",
            "Acme",
            "--email",
            "gen@example.com",
            "--role",
            "viewer",
            "--data-dir",
            d,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let otp = text
        .split("one-time password: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // bad role: non-zero, clear message
    let out = bin()
        .args([
            "user",
            "add",
            "--org",
            "Acme",
            "--email",
            "x@example.com",
            "--role",
            "boss",
            "--data-dir",
            d,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`boss` is not one of"));
    // set-role and list
    assert!(
        bin()
            .args([
                "user",
                "set-role",
                "gen@example.com",
                "analyst",
                "--data-dir",
                d
            ])
            .status()
            .unwrap()
            .success()
    );
    let out = bin()
        .args(["user", "list", "--org", "Acme", "--data-dir", d])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        list.contains("gen@example.com") && list.contains("analyst"),
        "{list}"
    );

    let s = serve(dir.path());
    // A pre-existing account means no bootstrap owner is created.
    assert!(!s.lines.iter().any(|l| l.contains("First run")));
    let (st, v) = login(&s.base, "cli@example.com", PASSWORD).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "manager");
    assert_eq!(v["password_change_required"], false);
    let (st, v) = login(&s.base, "gen@example.com", &otp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["password_change_required"], true);

    // While the server holds the file, the CLI refuses at once with a clear message.
    let started = std::time::Instant::now();
    let out = bin()
        .args(["user", "list", "--data-dir", d])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another salesboard process"),
        "{err}"
    );
    assert!(stop(s).success());

    // Disable from the CLI: login refused afterwards.
    assert!(
        bin()
            .args(["user", "disable", "cli@example.com", "--data-dir", d])
            .status()
            .unwrap()
            .success()
    );
    let s = serve(dir.path());
    assert_eq!(
        login(&s.base, "cli@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(stop(s).success());
}

#[test]
fn bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("salesboard.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\nmax_body = 5\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_body"), "{err}");

    let out = bin()
        .env("SALESBOARD_AUTH__ACCESS_TOKEN_TTL", "forever")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_ttl"));
    assert!(
        !dir.path().join("salesboard.redb").exists(),
        "nothing created on a config error"
    );
}

#[test]
fn help_and_version() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["org", "--help"],
        vec!["org", "add", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "reset-password", "--help"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    let out = bin().arg("--version").output().unwrap();
    let want = format!(
        "schema version {}",
        salesboard::store::migrate::SCHEMA_VERSION
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&want));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn demo_data_loads_once_and_shows_in_the_kpis() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // First start creates the org; stop, then load demo data into the file.
    let s = serve(dir.path());
    let email = value_of(&s.lines, "email");
    let otp = value_of(&s.lines, "password");
    assert!(stop(s).success());
    // The same seed twice: the second run adds nothing.
    let demo = || {
        bin()
            .args([
                "demo",
                "--events",
                "3000",
                "--days",
                "30",
                "--seed",
                "9",
                "--data-dir",
                d,
            ])
            .output()
            .unwrap()
    };
    let out = demo();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("new events, 0 already there"), "{text}");
    let again = demo();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(": 0 new events"),
        "same seed adds nothing"
    );
    let bad = bin()
        .args(["demo", "--events", "0", "--data-dir", d])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let s = serve(dir.path());
    let t = first_sign_in(&s.base, &email, &otp).await;
    let v: serde_json::Value = client()
        .get(format!("{}/api/v1/metrics/summary", s.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["revenue"]["value"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["orders"]["value"].as_f64().unwrap() > 1000.0, "{v}");
    assert!(v["conversion_rate"]["value"].as_f64().unwrap() > 0.5, "{v}");
    assert!(stop(s).success());
}

#[test]
fn import_reports_bad_rows_stores_the_rest_once_and_dry_run_stores_nothing() {
    use salesboard::store::{Store, orgs, sales};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    succeeds(bin().args(["org", "add", "Shop", "--currency", "EUR", "--data-dir", d]));
    let file = dir.path().join("orders.csv");
    std::fs::write(
        &file,
        "order_id,occurred_at,customer_id,sku,category,quantity,unit_price\n\
         A1,2026-11-02T10:00:00Z,c1,S1,Tools,2,10.00\n\
         A2,2026-11-02T11:00:00Z,c1,S1,Tools,1,ten\n\
         A3,2026-11-03T11:00:00Z,c2,S2,Toys,1,5.50\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["import", f, "--org", "Shop", "--data-dir", d];
        args.extend_from_slice(extra);
        bin().args(&args).output().unwrap()
    };
    let orders = || {
        let store = Store::open(&dir.path().join("salesboard.redb")).unwrap();
        let org = store.read(|t| orgs::by_name(t, "Shop")).unwrap().unwrap();
        let rows = store.read(|t| sales::day_rollups(t, org.id)).unwrap();
        rows.iter().map(|(_, _, m)| m.orders).sum::<i64>()
    };

    let dry = run(&["--dry-run"]);
    assert_eq!(
        dry.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("2 valid events (nothing stored: dry run)")
    );
    assert_eq!(orders(), 0);

    let first = run(&[]);
    assert_eq!(first.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("as orders-csv") && stdout.contains("2 new events"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("orders.csv.errors.csv"));
    let report = std::fs::read_to_string(dir.path().join("orders.csv.errors.csv")).unwrap();
    assert_eq!(
        report.lines().collect::<Vec<_>>(),
        vec![
            "line,column,code,message",
            "3,unit_price,validation,\"`ten` is not a decimal amount like \"\"19.99\"\"\""
        ],
        "{report}"
    );
    assert_eq!(orders(), 2);

    let again = run(&[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    assert_eq!(orders(), 2);

    let bad = run(&["--format", "xml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--format `xml`"));
}

/// Each query's hits as sorted (kind, id) pairs, and its counts.
async fn answers(base: &str, token: &str, queries: &[String]) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for q in queries {
        let v: serde_json::Value = client()
            .get(format!(
                "{base}/api/v1/search?limit=100&q={}",
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut ids: Vec<String> = v["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("{q}: {v}"))
            .iter()
            .map(|h| format!("{} {}", h["kind"], h["id"]))
            .collect();
        ids.sort();
        out.push((ids, v["counts"].to_string()));
    }
    out
}

#[tokio::test]
async fn search_rebuilt_from_scratch_answers_like_the_incremental_index() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let s = serve(dir.path());
    let email = value_of(&s.lines, "email");
    let t = first_sign_in(&s.base, &email, &value_of(&s.lines, "password")).await;
    let send = |method: reqwest::Method, path: String, body: serde_json::Value| {
        let (base, t) = (s.base.clone(), t.clone());
        async move {
            let r = client()
                .request(method, format!("{base}{path}"))
                .bearer_auth(&t)
                .header("if-match", "*")
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(st.is_success(), "{path}: {v}");
            v
        }
    };
    // A random mix of creates, renames, notes, archives and sales.
    let words = [
        "amber", "birch", "cobalt", "delta", "ember", "fjord", "granite", "harbor",
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut partners: Vec<String> = Vec::new();
    for i in 0..80 {
        let (w1, w2) = (
            words[rng.random_range(0..words.len())],
            words[rng.random_range(0..words.len())],
        );
        let pick = rng.random_range(0..partners.len().max(1));
        match (rng.random_range(0..6), partners.get(pick).cloned()) {
            (0 | 1, _) | (_, None) => {
                let body = serde_json::json!({"name": format!("{w1} {w2} {i}"), "tier": "gold"});
                let v = send(reqwest::Method::POST, "/api/v1/partners".into(), body).await;
                partners.push(v["id"].as_str().unwrap().to_string());
            }
            (2, Some(id)) => {
                let body = serde_json::json!({"name": format!("{w1} {w2} r{i}")});
                send(
                    reqwest::Method::PATCH,
                    format!("/api/v1/partners/{id}"),
                    body,
                )
                .await;
            }
            (3, Some(id)) => {
                let body = serde_json::json!({"text": format!("met about {w1} and {w2}")});
                send(
                    reqwest::Method::POST,
                    format!("/api/v1/partners/{id}/notes"),
                    body,
                )
                .await;
            }
            (4, Some(id)) => {
                let body = serde_json::json!({"archived": rng.random_bool(0.7)});
                send(
                    reqwest::Method::PATCH,
                    format!("/api/v1/partners/{id}"),
                    body,
                )
                .await;
            }
            _ => {
                let body = serde_json::json!([
                    {"type":"customer_created","id":format!("c{i}"),"occurred_at":"2026-11-20T10:00:00Z",
                     "name":format!("{w1} {w2}"),"region":"EMEA"},
                    {"type":"sale_completed","id":format!("o{i}"),"occurred_at":"2026-11-20T11:00:00Z",
                     "customer_id":format!("c{i}"),"channel":"online","region":"EMEA",
                     "lines":[{"sku":format!("S-{i}"),"name":w2,"category":w1,"quantity":1,"unit_price":"10"}]}]);
                send(reqwest::Method::POST, "/api/v1/events".into(), body).await;
            }
        }
    }
    let body = serde_json::json!({"name": "Zzyzx Marker", "tier": "gold"});
    send(reqwest::Method::POST, "/api/v1/partners".into(), body).await;
    let mut queries: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    queries.extend(["kind:partner", "kind:customer", "zzyzx", "s-1", "amb"].map(String::from));
    // Changes are applied in order: once the last is found, every earlier one is in.
    eventually(Duration::from_secs(10), || {
        let (base, t) = (s.base.clone(), t.clone());
        async move {
            let a = answers(&base, &t, &["zzyzx".to_string()]).await;
            (!a[0].0.is_empty()).then_some(())
        }
    })
    .await;
    let incremental = answers(&s.base, &t, &queries).await;
    assert!(incremental.iter().filter(|a| !a.0.is_empty()).count() >= 10);
    assert!(stop(s).success());

    // Offline rebuild: the same answers.
    let out = succeeds(bin().args(["reindex", "--data-dir", &d]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("search index rebuilt"), "{text}");
    let s = serve(dir.path());
    let (_, v) = login(&s.base, &email, PASSWORD).await;
    let t = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(answers(&s.base, &t, &queries).await, incremental);
    assert!(stop(s).success());

    // A deleted index, then a damaged one: rebuilt at start, the same answers.
    std::fs::remove_dir_all(dir.path().join("search")).unwrap();
    for round in 0..2 {
        if round == 1 {
            std::fs::write(dir.path().join("search/meta.json"), b"{ not json").unwrap();
        }
        let s = serve(dir.path());
        let (_, v) = login(&s.base, &email, PASSWORD).await;
        let t = v["access_token"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(20), || {
            let (base, t, queries) = (s.base.clone(), t.clone(), queries.clone());
            let want = incremental.clone();
            async move { (answers(&base, &t, &queries).await == want).then_some(()) }
        })
        .await;
        assert!(stop(s).success());
    }
}

/// `salesboard ARGS --data-dir DIR`: (success, stdout + stderr).
pub(crate) fn run_in(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = bin()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub(crate) async fn summary(base: &str, token: &str) -> serde_json::Value {
    client()
        .get(format!(
            "{base}/api/v1/metrics/summary?from=2026-01-01&to=2026-12-31"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn backups_while_running_and_stopped_restore_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = serve(&data);
    let email = value_of(&s.lines, "email");
    let t = first_sign_in(&s.base, &email, &value_of(&s.lines, "password")).await;
    let events: Vec<serde_json::Value> = (0..300)
        .map(|i| serde_json::json!({"type":"sale_completed","id":format!("o{i}"),
            "occurred_at":"2026-11-20T11:00:00Z","customer_id":format!("c{}", i % 40),
            "channel":"online","region":"EMEA",
            "lines":[{"sku":format!("S-{}", i % 7),"name":"Widget","category":"Hardware","quantity":1,"unit_price":"10.50"}]}))
        .collect();
    let r = client()
        .post(format!("{}/api/v1/events", s.base))
        .bearer_auth(&t)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = client()
        .post(format!("{}/api/v1/partners", s.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"name": "Backup Partner", "tier": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let before = summary(&s.base, &t).await;
    assert!(
        before["orders"]["value"].as_f64().unwrap() >= 300.0,
        "{before}"
    );

    // While the server runs: the server writes it (through the control socket).
    let online = dir.path().join("online.sbbackup");
    let (ok, out) = run_in(&data, &["backup", online.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("backup written"), "{out}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&online).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "backups are private: {mode:o}");
    }
    // the data files themselves are never a target
    for target in [
        data.join("salesboard.redb"),
        data.join("jwt.secret"),
        data.clone(),
    ] {
        let (ok, out) = run_in(&data, &["backup", target.to_str().unwrap()]);
        assert!(!ok, "{out}");
    }
    // the server still serves
    assert_eq!(summary(&s.base, &t).await, before);
    // and restoring into its data directory is refused while it runs
    let (ok, out) = run_in(&data, &["restore", online.to_str().unwrap(), "--force"]);
    assert!(!ok && out.contains("in use"), "{out}");
    assert!(stop(s).success());

    // Stopped: the command reads the file itself (uncompressed this time).
    let offline = dir.path().join("offline.sbbackup");
    let (ok, out) = run_in(
        &data,
        &["backup", offline.to_str().unwrap(), "--no-compress"],
    );
    assert!(ok, "{out}");
    assert!(
        std::fs::metadata(&offline).unwrap().len() > std::fs::metadata(&online).unwrap().len(),
        "compressed backups are smaller"
    );

    // Damaged, cut short or foreign files are refused and nothing is created.
    let bytes = std::fs::read(&online).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2 + 10;
    flipped[mid] ^= 0x55;
    let cases = [
        ("flipped", flipped, "damaged"),
        ("short", bytes[..bytes.len() * 2 / 3].to_vec(), "damaged"),
        (
            "foreign",
            b"PK\x03\x04 not a backup at all".to_vec(),
            "not a salesboard backup",
        ),
    ];
    for (name, content, why) in cases {
        let f = dir.path().join(format!("{name}.sbbackup"));
        std::fs::write(&f, content).unwrap();
        let target = dir.path().join(format!("restored-{name}"));
        let (ok, out) = run_in(&target, &["restore", f.to_str().unwrap()]);
        assert!(!ok, "{name}: {out}");
        assert!(out.contains(why), "{name}: {out}");
        assert!(!target.exists(), "{name}: nothing half-restored");
    }

    // Both backups restore to the same data.
    for (name, file) in [("online", &online), ("offline", &offline)] {
        let target = dir.path().join(format!("restored-{name}"));
        let (ok, out) = run_in(&target, &["restore", file.to_str().unwrap()]);
        assert!(ok, "{out}");
        assert!(out.contains("restored"), "{out}");
        let s = serve(&target);
        let (st, v) = login(&s.base, &email, PASSWORD).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let t = v["access_token"].as_str().unwrap().to_string();
        assert_eq!(summary(&s.base, &t).await, before, "{name}");
        // the search index is rebuilt from the restored data
        eventually(Duration::from_secs(10), || {
            let (base, t) = (s.base.clone(), t.clone());
            async move {
                let a = answers(&base, &t, &["backup partner".to_string()]).await;
                (a[0].0.len() == 1).then_some(())
            }
        })
        .await;
        assert!(stop(s).success());
    }

    // A directory with data is replaced only with --force; its file is kept.
    let (ok, out) = run_in(&data, &["restore", offline.to_str().unwrap()]);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = run_in(&data, &["restore", offline.to_str().unwrap(), "--force"]);
    assert!(ok, "{out}");
    let kept: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("salesboard.redb.before-restore-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{out}");
}

pub(crate) fn numbered_sale(n: u64) -> serde_json::Value {
    serde_json::json!({"type":"sale_completed","id":format!("k{n}"),
        "occurred_at":"2026-11-20T11:00:00Z","customer_id":format!("c{}", n % 50),
        "channel":"online","region":"EMEA",
        "lines":[{"sku":"S-1","name":"Widget","category":"Hardware","quantity":1,"unit_price":"1.00"}]})
}

/// On a first-run server: the owner's email and access token (after choosing [`PASSWORD`]),
/// and an API key for posting events.
pub(crate) async fn owner_and_key(s: &Served) -> (String, String, String) {
    let email = value_of(&s.lines, "email");
    let token = first_sign_in(&s.base, &email, &value_of(&s.lines, "password")).await;
    let key = writer_key(&s.base, &token).await;
    (email, token, key)
}

/// Create an API key for posting events.
pub(crate) async fn writer_key(base: &str, token: &str) -> String {
    let r = client()
        .post(format!("{base}/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "writer"}))
        .send()
        .await
        .unwrap();
    r.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Which of the numbered sales `0..sent` are stored: every one is sent again, and the stored
/// ones come back as duplicates (the rest are stored now, so call this once, at the end).
pub(crate) async fn stored_ids(base: &str, key: &str, sent: u64) -> std::collections::HashSet<u64> {
    let mut present = std::collections::HashSet::new();
    let all: Vec<u64> = (0..sent).collect();
    for chunk in all.chunks(1000) {
        let batch: Vec<_> = chunk.iter().copied().map(numbered_sale).collect();
        let r = client()
            .post(format!("{base}/api/v1/events"))
            .header("x-api-key", key)
            .json(&batch)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(st.is_success(), "sending the ids again: {st} {v}");
        for i in v["duplicates"].as_array().unwrap() {
            present.insert(chunk[i.as_u64().unwrap() as usize]);
        }
    }
    present
}

/// Post batches of numbered sales as fast as possible from `writers` tasks until the server
/// goes away; returns every id the server acknowledged.
async fn post_until_gone(
    base: &str,
    key: &str,
    next: &std::sync::Arc<std::sync::atomic::AtomicU64>,
    writers: usize,
) -> Vec<u64> {
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (base, key, next) = (base.to_string(), key.to_string(), next.clone());
            async move {
                let mut acked = Vec::new();
                let c = client();
                loop {
                    let first = next.fetch_add(20, std::sync::atomic::Ordering::SeqCst);
                    let batch: Vec<_> = (first..first + 20).map(numbered_sale).collect();
                    let r = c
                        .post(format!("{base}/api/v1/events"))
                        .header("x-api-key", &key)
                        .json(&batch)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => acked.extend(first..first + 20),
                        Ok(_) => {}
                        Err(_) => return acked,
                    }
                }
            }
        })
        .collect();
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test]
async fn acknowledged_events_survive_sigkill_then_verify_passes() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = serve(&data);
    let (email, _, key) = owner_and_key(&s).await;
    let mut s = Some(s);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut acked: Vec<u64> = Vec::new();
    let mut rounds_with_acks = 0;
    let rounds = 20;
    for _ in 0..rounds {
        let served = match s.take() {
            Some(x) => x,
            None => serve(&data),
        };
        let base = served.base.clone();
        let pid = served.child.id().to_string();
        let kill_after = Duration::from_millis(rng.random_range(50..400));
        let killer = async {
            tokio::time::sleep(kill_after).await;
            Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        };
        let (ids, _) = tokio::join!(post_until_gone(&base, &key, &next, 4), killer);
        rounds_with_acks += usize::from(!ids.is_empty());
        acked.extend(ids);
        let mut child = served.child;
        child.wait().unwrap();
    }
    assert!(
        rounds_with_acks >= rounds * 3 / 4,
        "most rounds got answers before the kill: {rounds_with_acks} of {rounds}"
    );
    let sent = next.load(std::sync::atomic::Ordering::SeqCst);

    // The file as the last kill left it passes verify (after redb's own crash recovery).
    let (ok, out) = run_in(&data, &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("rollups and aggregates recomputed"), "{out}");

    let s = serve(&data);
    let (_, v) = login(&s.base, &email, PASSWORD).await;
    let t = v["access_token"].as_str().unwrap().to_string();
    let orders = summary(&s.base, &t).await["orders"]["value"]
        .as_f64()
        .unwrap() as u64;
    let present = stored_ids(&s.base, &key, sent).await;
    // Every acknowledged event is there ...
    let lost: Vec<_> = acked.iter().filter(|id| !present.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    // ... and every stored event counts exactly once.
    assert_eq!(
        orders,
        present.len() as u64,
        "orders counted vs events stored (acknowledged {}, sent {sent})",
        acked.len()
    );
    assert!(stop(s).success());
}

/// Whether opening the data file would run redb's crash recovery (checked without changing it).
fn needs_recovery(file: &std::path::Path) -> bool {
    match redb::Builder::new()
        .set_repair_callback(|s: &mut redb::RepairSession| s.abort())
        .open(file)
    {
        Ok(_) => false,
        Err(redb::DatabaseError::RepairAborted) => true,
        Err(e) => panic!("opening {}: {e}", file.display()),
    }
}

#[tokio::test]
async fn stopping_closes_the_data_file_so_the_next_start_needs_no_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = serve(&data);
    let (_, _, key) = owner_and_key(&s).await;
    let mut s = Some(s);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for round in 0..3 {
        let served = s.take().unwrap_or_else(|| serve(&data));
        // writes in flight when the stop comes
        let base = served.base.clone();
        let writers = tokio::spawn({
            let (key, next) = (key.clone(), next.clone());
            async move { post_until_gone(&base, &key, &next, 2).await }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(stop(served).success());
        writers.await.unwrap();
        assert!(
            !needs_recovery(&data.join("salesboard.redb")),
            "round {round}: the data file was not closed cleanly"
        );
    }
}

#[tokio::test]
async fn verify_checks_a_data_file_and_names_what_is_wrong() {
    use salesboard::store::{Store, codec, tables};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = serve(&data);
    let email = value_of(&s.lines, "email");
    let t = first_sign_in(&s.base, &email, &value_of(&s.lines, "password")).await;
    let events = serde_json::json!([
        numbered_sale(1), numbered_sale(2), numbered_sale(3),
        {"type":"refund_processed","id":"r1","order_id":"k2","occurred_at":"2026-11-21T10:00:00Z","amount":"1.00"},
        {"type":"refund_processed","id":"r2","order_id":"k-later","occurred_at":"2026-11-21T10:00:00Z","amount":"1.00"},
        {"type":"customer_created","id":"c7","occurred_at":"2026-11-19T10:00:00Z","name":"Ann","region":"EMEA"},
        {"type":"traffic_recorded","id":"t1","occurred_at":"2026-11-20T00:00:00Z","channel":"online","region":"EMEA","visits":90}
    ]);
    let r = client()
        .post(format!("{}/api/v1/events", s.base))
        .bearer_auth(&t)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // a partner with a note, and a deal linked to it
    let p: serde_json::Value = client()
        .post(format!("{}/api/v1/partners", s.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"name": "Checked Partner", "tier": "gold"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = p["id"].as_str().unwrap();
    let r = client()
        .post(format!("{}/api/v1/partners/{pid}/notes", s.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"text": "kick-off"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client()
        .post(format!("{}/api/v1/opportunities", s.base))
        .bearer_auth(&t)
        .json(
            &serde_json::json!({"name": "Checked deal", "account": "Acme", "amount": "100",
            "close_date": "2026-12-20", "partner": pid}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    // while it runs, the data file cannot be checked
    let (ok, out) = run_in(&data, &["verify"]);
    assert!(!ok && out.contains("in use"), "{out}");
    // but a backup of it can
    let b = dir.path().join("b.sbbackup");
    assert!(run_in(&data, &["backup", b.to_str().unwrap()]).0);
    assert!(stop(s).success());
    let (ok, out) = run_in(&data, &["verify", b.to_str().unwrap()]);
    assert!(ok && out.contains("checksum matches"), "{out}");

    let (ok, out) = run_in(&data, &["verify"]);
    assert!(ok, "{out}");
    for want in [
        "records decode",
        "cross-references resolve",
        "chain intact",
        "rollups and aggregates recomputed from 7 raw events",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }

    // Tampering is found and named; the exit code says so.
    let path = data.join("salesboard.redb");
    {
        let store = Store::open(&path).unwrap();
        store
            .write(|txn| {
                let mut t = txn.open_table(tables::ROLLUP_DAY)?;
                let (k, mut m) = {
                    let first = redb::ReadableTable::first(&t)?.unwrap();
                    let k = first.0.value();
                    let m: salesboard::domain::rollup::Metrics = codec::decode(first.1.value())?;
                    ((k.0, k.1, k.2.to_string()), m)
                };
                m.orders += 1;
                t.insert((k.0, k.1, k.2.as_str()), codec::encode(&m)?.as_slice())?;
                let mut a = txn.open_table(tables::AUDIT)?;
                let (ak, mut rec) = {
                    let first = redb::ReadableTable::first(&a)?.unwrap();
                    let rec: salesboard::store::audit::AuditRecord =
                        codec::decode(first.1.value())?;
                    (first.0.value(), rec)
                };
                rec.action = "user.nothing_to_see".into();
                a.insert(ak, codec::encode(&rec)?.as_slice())?;
                Ok(())
            })
            .unwrap();
    }
    let (ok, out) = run_in(&data, &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("rollups differ") && out.contains("rollup_day: 1 of"),
        "{out}"
    );
    assert!(out.contains("the chain is broken at record 1"), "{out}");
    assert!(out.contains("verify found 2 problem"), "{out}");
}

#[tokio::test]
async fn the_server_writes_scheduled_backups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("SALESBOARD_BACKUP__EVERY", "1s")
        .env("SALESBOARD_BACKUP__KEEP", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let backups = data.join("backups");
    let found = eventually(Duration::from_secs(20), || {
        let backups = backups.clone();
        async move {
            let l = salesboard::backups::list(&backups).unwrap_or_default();
            (l.len() >= 2).then_some(l)
        }
    })
    .await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    for f in &found {
        salesboard::store::backup::check(f).unwrap();
    }
    assert!(salesboard::backups::list(&backups).unwrap().len() <= 2);
}

#[tokio::test]
async fn scheduled_backups_show_in_the_metrics() {
    let s = TestServer::start_with(|c| {
        c.backup.every = Duration::from_secs(1);
        c.backup.keep = 1;
    })
    .await;
    let dir = s.dir.path().join("backups");
    // (the metrics are process-wide: other tests' servers write backups too, so this one's
    // file must be there as well)
    let text = eventually(Duration::from_secs(15), || {
        let (url, dir) = (s.url("/metrics"), dir.clone());
        async move {
            let t = client().get(url).send().await.ok()?.text().await.ok()?;
            let mine = salesboard::backups::list(&dir).is_ok_and(|l| !l.is_empty());
            (mine
                && t.lines()
                    .any(|l| l.starts_with("backup_last_bytes") && !l.ends_with(" 0")))
            .then_some(t)
        }
    })
    .await;
    assert!(
        text.contains("backup_last_success_timestamp_seconds"),
        "{text}"
    );
    // (a moment after a new backup's rename, before the oldest is removed, there are two)
    let n = salesboard::backups::list(&dir).unwrap().len();
    assert!((1..=2).contains(&n), "{n}");
    s.stop().await;
}
