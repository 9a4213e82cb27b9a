//! CSRF defence for cookie-authenticated writes: the request must come from our own origin
//! (Origin, or Sec-Fetch-Site when Origin is absent), and carry a token tied to the session
//! (`X-CSRF-Token` header from htmx, or a `_csrf` form field without JavaScript).

use crate::domain::FamilyId;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "_csrf";

/// The token for a session: HMAC(secret, session id). Nothing to store.
pub fn token(secret: &[u8], session: FamilyId) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(b"csrf:");
    mac.update(&session.0.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn token_matches(secret: &[u8], session: FamilyId, presented: &str) -> bool {
    token(secret, session)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Whether a browser request comes from a page of this site. `authority` is the request URI's
/// authority, which HTTP/2 uses instead of a `Host` header.
pub fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority);
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
        return host.is_some_and(|h| h.eq_ignore_ascii_case(authority));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        // Neither header: not a modern browser's cross-site request (curl, scripts).
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        assert!(same_origin(
            &headers(&[("host", "a.test:8000"), ("origin", "http://a.test:8000")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "a.test:8000"), ("origin", "http://evil.test")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "a.test"), ("origin", "null")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[("host", "a.test"), ("sec-fetch-site", "cross-site")]),
            None
        ));
        assert!(same_origin(
            &headers(&[("host", "a.test"), ("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(same_origin(&headers(&[("host", "a.test")]), None));
        // HTTP/2: no Host header, the authority comes from the URI
        assert!(same_origin(
            &headers(&[("origin", "https://a.test:8443")]),
            Some("a.test:8443")
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.test")]),
            Some("a.test:8443")
        ));
    }

    #[test]
    fn tokens_are_per_session() {
        let a = FamilyId::generate();
        let b = FamilyId::generate();
        let t = token(b"k", a);
        assert!(token_matches(b"k", a, &t));
        assert!(!token_matches(b"k", b, &t));
        assert!(!token_matches(b"other", a, &t));
    }
}
