//! Thin HTTP handlers: extract, call a service or repo, render.

pub mod api;
pub mod assets;
pub mod cookies;
pub mod errors;
pub mod headers;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod session;

/// Whether the request came from htmx (a fragment is wanted, not a page).
pub fn is_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` hop when
/// `server.trust_proxy_headers` is on.
pub struct ClientIp(pub std::net::IpAddr);

impl axum::extract::FromRequestParts<crate::app::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.cfg.server.trust_proxy_headers {
            // The proxy appends the address it saw; anything to the left came from the client
            // and can be forged, so only the last entry is trusted.
            let fwd = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok());
            if let Some(ip) = fwd {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        Ok(ClientIp(peer))
    }
}

/// A redirect target from user input: only a local path, never another site. Browsers drop
/// tabs and newlines from URLs and treat `\\` like `/`, so `/\t/evil` or `/\\evil` would become
/// `//evil`: any whitespace, control character or backslash is refused outright.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_redirect_targets() {
        use super::safe_next;
        assert_eq!(safe_next(Some("/admin/users?x=1")), "/admin/users?x=1");
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            " /x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
