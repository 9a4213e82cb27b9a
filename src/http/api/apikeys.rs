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
use utoipa::ToSchema;

type Manager = Authz<perm::IntegrationsManage>;

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    items: Vec<ApiKey>,
}

/// The org's API keys (never their secrets).
#[utoipa::path(get, path = "/api-keys", tag = "api keys",
    responses((status = 200, description = "The keys, revoked ones included", body = KeyList)))]
pub async fn list(State(state): State<AppState>, a: Manager) -> AppResult<Json<KeyList>> {
    let org = a.user().org;
    let items = state
        .db(move |s| Ok(s.read(|t| store::apikeys::list(t, org))?))
        .await?;
    Ok(Json(KeyList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// What the key is for, e.g. "Shopify webhook".
    name: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
pub struct Created {
    #[serde(flatten)]
    key: ApiKey,
    /// The secret: send it as `Authorization: Bearer …` or `X-Api-Key`. Shown only here.
    secret: String,
}

/// Create a key for a machine client. The secret is in this answer only.
#[utoipa::path(post, path = "/api-keys", tag = "api keys", request_body = CreateBody,
    responses((status = 201, description = "The key and its secret", body = Created)))]
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

/// Revoke a key: requests with it are refused from now on.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api keys",
    params(("id" = String, Path, description = "The key id")),
    responses((status = 200, description = "The revoked key", body = ApiKey)))]
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
