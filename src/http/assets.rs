//! Static files embedded in the binary. Pages link to content-hashed names
//! (`/assets/css/app.3f9c1a2b.css`), served with `Cache-Control: immutable`; the plain name also
//! works (short cache, ETag revalidation).

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(RustEmbed)]
#[folder = "assets/"]
#[exclude = "*/LICENSE*"]
#[exclude = "*/VERSION"]
struct Files;

fn short_hash(path: &str) -> Option<String> {
    let f = Files::get(path)?;
    let h = f.metadata.sha256_hash();
    Some(h[..6].iter().map(|b| format!("{b:02x}")).collect())
}

/// `css/app.css` -> `css/app.<hash>.css`
fn hashed_name(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{path}.{hash}"),
    }
}

fn hashed_index() -> &'static HashMap<String, String> {
    static INDEX: OnceLock<HashMap<String, String>> = OnceLock::new();
    INDEX.get_or_init(|| {
        Files::iter()
            .filter_map(|p| {
                let h = short_hash(&p)?;
                Some((hashed_name(&p, &h), p.to_string()))
            })
            .collect()
    })
}

/// The URL to use in pages for an asset.
pub fn url(path: &str) -> String {
    match short_hash(path) {
        Some(h) => format!("/assets/{}", hashed_name(path, &h)),
        None => format!("/assets/{path}"),
    }
}

pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let (real, immutable) = match hashed_index().get(&path) {
        Some(real) => (real.clone(), true),
        None => (path.clone(), false),
    };
    let Some(file) = Files::get(&real) else {
        return crate::error::AppError::not_found("File").into_response();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata.sha256_hash()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300, must-revalidate"
    };
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let mime = file.metadata.mimetype();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    (h, file.data.into_owned()).into_response()
}
