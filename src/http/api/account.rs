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

/// A user as the API shows it (never the password hash).
#[derive(Serialize)]
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

#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

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

pub async fn logout(State(state): State<AppState>, s: Session) -> AppResult<StatusCode> {
    let now = state.clock.now();
    state
        .db(move |st| sessions::logout(st, now, s.session))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct Grant {
    permission: Permission,
    scope: Scope,
}

#[derive(Serialize)]
pub struct Me {
    user: UserView,
    org_name: String,
    permissions: Vec<Grant>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Change your own password. Every session ends; the response carries a new one.
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
