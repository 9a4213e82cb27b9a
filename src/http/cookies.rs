//! Session cookies. With TLS (or `server.secure_cookies`) they are `__Host-` prefixed and
//! `Secure`; browsers only accept that prefix on secure origins, so plain-HTTP installs use
//! unprefixed names. Always HttpOnly, SameSite=Lax, Path=/.

use crate::config::Config;
use axum::http::{HeaderMap, HeaderValue, header};
use std::time::Duration;

pub struct CookieNames {
    pub access: &'static str,
    pub refresh: &'static str,
}

pub fn names(cfg: &Config) -> CookieNames {
    if cfg.secure_cookies() {
        CookieNames {
            access: "__Host-sb_access",
            refresh: "__Host-sb_refresh",
        }
    } else {
        CookieNames {
            access: "sb_access",
            refresh: "sb_refresh",
        }
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn set(cfg: &Config, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if cfg.secure_cookies() { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear(cfg: &Config, name: &str) -> HeaderValue {
    set(cfg, name, "", Duration::ZERO)
}

/// Set-Cookie headers for a freshly issued session.
pub fn for_session(cfg: &Config, issued: &crate::auth::sessions::Issued) -> Vec<HeaderValue> {
    let n = names(cfg);
    let mut v = vec![set(cfg, n.access, &issued.access, issued.access_ttl)];
    if let Some(r) = &issued.refresh {
        v.push(set(cfg, n.refresh, r, cfg.auth.refresh_token_ttl));
    }
    v
}

pub fn clear_session(cfg: &Config) -> Vec<HeaderValue> {
    let n = names(cfg);
    vec![clear(cfg, n.access), clear(cfg, n.refresh)]
}
