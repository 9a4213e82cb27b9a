//! Org API keys: list, create (the secret is in the creation answer only), revoke.

use super::Json;
use crate::app::AppState;
use crate::auth::accounts::ActingAs;
use crate::auth::{Authz, apikeys, perm};
use crate::domain::apikey::ApiKey;
use crate::error::AppResult;
use crate::store;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

type Manager = Authz<perm::IntegrationsManage>;

#[derive(Serialize)]
pub struct KeyList {
    items: Vec<ApiKey>,
}

pub async fn list(State(state): State<AppState>, a: Manager) -> AppResult<Json<KeyList>> {
    let org = a.user().org;
    let items = state
        .db(move |s| Ok(s.read(|t| store::apikeys::list(t, org))?))
        .await?;
    Ok(Json(KeyList { items }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
}

#[derive(Serialize)]
pub struct Created {
    #[serde(flatten)]
    key: ApiKey,
    /// The secret: send it as `Authorization: Bearer …` or `X-Api-Key`. Shown only here.
    secret: String,
}

pub async fn create(
    State(state): State<AppState>,
    a: Manager,
    Json(b): Json<CreateBody>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let (key, secret) = state
        .db(move |s| apikeys::create(s, &by, org, &b.name, now))
        .await?;
    Ok((StatusCode::CREATED, Json(Created { key, secret })))
}

pub async fn revoke(
    State(state): State<AppState>,
    a: Manager,
    Path(id): Path<String>,
) -> AppResult<Json<ApiKey>> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let key = state
        .db(move |s| apikeys::revoke(s, &by, org, &id, now))
        .await?;
    Ok(Json(key))
}
