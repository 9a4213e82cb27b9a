//! `/admin/api-keys`: create (the secret is shown once), list and revoke org API keys.

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::accounts::ActingAs;
use crate::auth::{Authz, apikeys, perm};
use crate::domain::apikey::{ApiKey, KEY_PREFIX};
use crate::error::AppResult;
use crate::store::{self, orgs};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

type Manager = Authz<perm::IntegrationsManage>;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub hint: String,
    pub created: String,
    pub created_by: String,
    pub revoked: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_api_keys.html")]
pub struct KeysPage {
    shell: Shell,
    rows: Vec<KeyRow>,
    /// (name, secret) of the key just created: shown this once.
    created: Option<(String, String)>,
    error: Option<String>,
    name: String,
    events_url: String,
}

/// This server as the browser reached it, for the copy-paste example.
fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.cfg.tls_enabled() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    a: &Manager,
    created: Option<(String, String)>,
    error: Option<String>,
    name: String,
) -> AppResult<KeysPage> {
    let org = a.user().org;
    let (keys, tz): (Vec<ApiKey>, _) = state
        .db(move |s| {
            Ok(s.read(|t| {
                Ok((
                    store::apikeys::list(t, org)?,
                    orgs::get(t, org)?.map(|o| o.tz()),
                ))
            })?)
        })
        .await?;
    let tz = tz.unwrap_or(jiff::tz::TimeZone::UTC);
    let rows = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id.to_string(),
            hint: format!("{KEY_PREFIX}{}…", k.hint),
            created: k.created_at.display_in(&tz),
            revoked: k.revoked_at.map(|t| t.display_in(&tz)),
            name: k.name,
            created_by: k.created_by,
        })
        .collect();
    Ok(KeysPage {
        shell: shell(state, &a.principal, "API keys", "/admin/api-keys").await?,
        rows,
        created,
        error,
        name,
        events_url: format!("{}/api/v1/events", origin(state, headers)),
    })
}

pub async fn keys_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    a: Manager,
) -> AppResult<KeysPage> {
    page(&state, &headers, &a, None, None, String::new()).await
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    name: String,
}

pub async fn add_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    a: Manager,
    Form(f): Form<NewKeyForm>,
) -> AppResult<Response> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let name = f.name.clone();
    let res = state
        .db(move |s| apikeys::create(s, &by, org, &name, now))
        .await;
    match res {
        Ok((key, secret)) => Ok((
            axum::http::StatusCode::CREATED,
            page(
                &state,
                &headers,
                &a,
                Some((key.name, secret)),
                None,
                String::new(),
            )
            .await?,
        )
            .into_response()),
        Err(e) if matches!(e.code, "validation" | "conflict") => {
            let p = page(&state, &headers, &a, None, Some(e.message.clone()), f.name).await?;
            Ok((e.status, p).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    a: Manager,
    Path(id): Path<String>,
) -> AppResult<KeysPage> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    state
        .db(move |s| apikeys::revoke(s, &by, org, &id, now))
        .await?;
    page(&state, &headers, &a, None, None, String::new()).await
}
