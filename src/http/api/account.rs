//! Token endpoints for API clients: login, refresh (rotating), logout, me, password change.

use super::Json;
use crate::app::AppState;
use crate::auth::{Session, accounts, sessions, sessions::Issued};
use crate::domain::{OrgId, Permission, Role, Scope, TeamId, Ts, UserId, user::User};
use crate::error::{AppError, AppResult};
use crate::http::ClientIp;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as the API shows it (never the password hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub org: OrgId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team: Option<TeamId>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: Ts,
    pub last_login_at: Option<Ts>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            org: u.org,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            team: u.team,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer …`.
    access_token: String,
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Use once at `/auth/refresh` for a new pair; the old one stops working (rotation).
    refresh_token: Option<String>,
    password_change_required: bool,
    user: UserView,
}

impl From<Issued> for TokenResponse {
    fn from(i: Issued) -> Self {
        TokenResponse {
            access_token: i.access,
            token_type: "Bearer",
            expires_in: i.access_ttl.as_secs(),
            refresh_token: i.refresh,
            password_change_required: i.user.must_change_password,
            user: UserView::from(&i.user),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// Sign in with email and password; answers an access token and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody, security(),
    responses((status = 200, description = "Signed in", body = TokenResponse)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(b): Json<LoginBody>,
) -> AppResult<Json<TokenResponse>> {
    state
        .limits
        .login(ip, &b.email)
        .map_err(AppError::rate_limited)?;
    let (keys, cfg, now) = (state.keys.clone(), state.cfg.clone(), state.clock.now());
    let issued = state
        .db(move |s| sessions::login(s, &keys, &cfg.auth, now, &b.email, &b.password))
        .await?;
    Ok(Json(issued.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// Trade a refresh token for a new pair.
///
/// Each refresh token works once; reusing one ends the
/// whole session family (a stolen token is useless once either side has used it).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshBody, security(),
    responses((status = 200, description = "A new token pair", body = TokenResponse)))]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(b): Json<RefreshBody>,
) -> AppResult<Json<TokenResponse>> {
    state.limits.refresh(ip).map_err(AppError::rate_limited)?;
    let (keys, cfg, now) = (state.keys.clone(), state.cfg.clone(), state.clock.now());
    // API clients get strict rotation: no grace window.
    let issued = state
        .db(move |s| sessions::refresh(s, &keys, &cfg.auth, now, &b.refresh_token, None))
        .await?;
    Ok(Json(issued.into()))
}

/// End this session (its refresh token stops working).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out")))]
pub async fn logout(State(state): State<AppState>, s: Session) -> AppResult<StatusCode> {
    let now = state.clock.now();
    state
        .db(move |st| sessions::logout(st, now, s.session))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Grant {
    permission: Permission,
    scope: Scope,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user: UserView,
    org_name: String,
    permissions: Vec<Grant>,
}

/// Who the token belongs to, and what they may do (permission and scope).
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The signed-in user", body = Me)))]
pub async fn me(State(state): State<AppState>, s: Session) -> AppResult<Json<Me>> {
    let org = s.user.org;
    let org_name = state
        .db(move |st| Ok(st.read(|t| crate::store::orgs::get(t, org))?))
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(Json(Me {
        user: UserView::from(&s.user),
        org_name,
        permissions: s
            .user
            .role
            .grants()
            .iter()
            .map(|(p, sc)| Grant {
                permission: *p,
                scope: *sc,
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Change your own password. Every session ends; the response carries a new one.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordBody,
    responses((status = 200, description = "Changed; a new token pair", body = TokenResponse)))]
pub async fn change_password(
    State(state): State<AppState>,
    s: Session,
    Json(b): Json<PasswordBody>,
) -> AppResult<Json<TokenResponse>> {
    let (keys, cfg, now) = (state.keys.clone(), state.cfg.clone(), state.clock.now());
    let issued = state
        .db(move |st| {
            // Every old session ends; this one gets a new session, in the same transaction.
            accounts::change_own_password(
                st,
                &s.user,
                &b.current_password,
                &b.new_password,
                now,
                |txn, u| sessions::open_family(txn, &keys, &cfg.auth, u, now),
            )
        })
        .await?;
    Ok(Json(issued.into()))
}
