//! HTTPS with rustls: a self-signed certificate (made with the `openssl` tool), requests with
//! `curl` over HTTP/2, HSTS, `__Host-` secure cookies, and the origin check without a Host header.

use crate::support::*;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        || Command::new(tool)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

// Multi-threaded: curl runs as a blocking child process while this runtime serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_secure_cookies_and_hsts() {
    if !have("openssl") || !have("curl") {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "CI needs openssl and curl"
        );
        eprintln!("SKIPPED tls test: openssl or curl not installed");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "openssl made a certificate");
    let s = TestServer::start_with(|c| {
        c.server.tls_cert = Some(cert.clone());
        c.server.tls_key = Some(key.clone());
    })
    .await;
    assert!(s.base.starts_with("https://"));
    let headers = curl(&["-D", "-", "-o", "/dev/null", &s.url("/login")]);
    assert!(headers.starts_with("HTTP/2 200"), "{headers}");
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );

    // sign in through the form: secure, __Host- prefixed cookies
    set_owner_password_with_curl(&s);
    let origin = s.base.clone();
    let headers = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-X",
        "POST",
        "-H",
        &format!("origin: {origin}"),
        "--data-urlencode",
        &format!("email={}", s.owner_email),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        &s.url("/login"),
    ]);
    assert!(headers.starts_with("HTTP/2 303"), "{headers}");
    assert!(
        headers.contains("set-cookie: __Host-sb_access=") && headers.contains("; Secure"),
        "{headers}"
    );
    // cross-site form posts are refused over HTTP/2 too (no Host header there)
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        "-H",
        "origin: https://evil.example",
        "--data-urlencode",
        "email=x@y.co",
        "--data-urlencode",
        "password=x",
        &s.url("/login"),
    ]);
    assert_eq!(code, "403");
    s.stop().await;
}

/// Replace the owner's one-time password through the API, over TLS (the test HTTP client has
/// no TLS support; curl does).
fn set_owner_password_with_curl(s: &TestServer) {
    let body = serde_json::json!({"email": s.owner_email, "password": s.owner_otp}).to_string();
    let login = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        &body,
        &s.url("/api/v1/auth/login"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&login).unwrap();
    let token = v["access_token"].as_str().unwrap();
    let body =
        serde_json::json!({"current_password": s.owner_otp, "new_password": PASSWORD}).to_string();
    let auth = format!("authorization: Bearer {token}");
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        &body,
        &s.url("/api/v1/auth/password"),
    ]);
    assert_eq!(code, "200");
}
