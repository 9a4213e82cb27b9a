//! Extractors that yield the authenticated principal. Authorization is data: a handler names
//! the permission it needs as a type (`Authz<perm::UsersManage>`) and receives the scope at
//! which the user's role grants it; nothing compares roles by hand.

use super::sessions;
use crate::app::AppState;
use crate::domain::{FamilyId, Permission, Scope, user::User};
use crate::error::AppError;
use axum::extract::FromRequestParts;
use http::request::Parts;
use std::marker::PhantomData;

/// The access token the browser middleware found (or freshly issued) for this request.
#[derive(Clone)]
pub struct CookieAccess(pub String);

/// Any signed-in user, including one who must still replace a one-time password.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub session: FamilyId,
    /// Authenticated by browser cookie (as opposed to a Bearer token).
    pub via_cookie: bool,
}

fn bearer(parts: &Parts) -> Option<String> {
    let h = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(s.clone());
        }
        let (token, via_cookie) = match bearer(parts) {
            Some(t) => (t, false),
            None => match parts.extensions.get::<CookieAccess>() {
                Some(c) => (c.0.clone(), true),
                None => return Err(AppError::unauthenticated()),
            },
        };
        let now = state.clock.now();
        let keys = state.keys.clone();
        let (user, session) = state
            .db(move |store| sessions::authenticate(store, &keys, now, &token))
            .await?;
        let span = tracing::Span::current();
        span.record("org_id", user.org.0);
        span.record("user_id", tracing::field::display(user.id));
        let s = Session {
            user,
            session,
            via_cookie,
        };
        parts.extensions.insert(s.clone());
        Ok(s)
    }
}

/// A signed-in user whose password is settled: what every feature route requires.
#[derive(Clone, Debug)]
pub struct Principal(pub Session);

impl Principal {
    pub fn user(&self) -> &User {
        &self.0.user
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let s = Session::from_request_parts(parts, state).await?;
        if s.user.must_change_password {
            return Err(AppError::password_change_required());
        }
        Ok(Principal(s))
    }
}

/// A permission named as a type, for [`Authz`].
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// The principal, proven to hold permission `P`, with the scope it holds it at.
pub struct Authz<P: RequiredPermission> {
    pub principal: Principal,
    pub scope: Scope,
    _p: PhantomData<P>,
}

impl<P: RequiredPermission> Authz<P> {
    pub fn user(&self) -> &User {
        self.principal.user()
    }
}

impl<P: RequiredPermission> FromRequestParts<AppState> for Authz<P> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        match principal.user().role.scope_of(P::PERMISSION) {
            Some(scope) => Ok(Authz {
                principal,
                scope,
                _p: PhantomData,
            }),
            None => Err(AppError::forbidden(format!(
                "Your role ({}) does not include the `{}` permission.",
                principal.user().role.label(),
                P::PERMISSION
            ))),
        }
    }
}

/// One marker type per permission.
pub mod perm {
    use super::RequiredPermission;
    use crate::domain::Permission;

    macro_rules! markers {
        ($($name:ident),+ $(,)?) => {$(
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }

    markers!(
        SalesView,
        SalesEdit,
        AnalyticsAdvanced,
        ReportsExport,
        UsersManage,
        IntegrationsManage,
        PartnersView,
        PartnersEdit,
        PipelineView,
        PipelineEdit,
        StatusSubmit,
        StatusViewTeam,
        GoalsManage,
        CommissionsView,
        CommissionsManage,
        AlertsManage,
        DashboardsManage,
        AuditView,
    );
}

/// Who sends sales events: a user holding `sales.edit`, or an org API key (in
/// `Authorization: Bearer sbk_…` or `X-Api-Key`). Keys may only send events.
#[derive(Clone, Debug)]
pub struct Ingester {
    pub org: crate::domain::OrgId,
    pub api_key: Option<crate::domain::ApiKeyId>,
}

fn api_key_credential(parts: &Parts) -> Option<String> {
    if let Some(k) = parts.headers.get("x-api-key") {
        return Some(k.to_str().unwrap_or_default().trim().to_string());
    }
    bearer(parts).filter(|t| super::apikeys::is_api_key(t))
}

impl FromRequestParts<AppState> for Ingester {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(secret) = api_key_credential(parts) {
            let key = state
                .db(move |s| super::apikeys::authenticate(s, &secret))
                .await?;
            tracing::Span::current().record("org_id", key.org.0);
            return Ok(Ingester {
                org: key.org,
                api_key: Some(key.id),
            });
        }
        let a = Authz::<perm::SalesEdit>::from_request_parts(parts, state).await?;
        Ok(Ingester {
            org: a.user().org,
            api_key: None,
        })
    }
}

/// The signed-in user, when they operate the installation (see
/// [`crate::backups::is_operator`]); 403 otherwise. Not a permission of a role: it spans
/// organizations.
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let p = Principal::from_request_parts(parts, state).await?;
        let user = p.user().clone();
        let ok = state
            .db(move |s| Ok(s.read(|t| crate::backups::is_operator(t, &user))?))
            .await?;
        if !ok {
            return Err(AppError::forbidden(
                "Backups hold every organization's data: only the owners of the first \
                 organization (the installation's operators) manage them.",
            ));
        }
        Ok(Operator(p))
    }
}
