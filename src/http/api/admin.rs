//! Organization, users, teams, roles and the audit log.

use super::account::UserView;
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::accounts::{self, ActingAs, NewUserInput, UserPatch};
use crate::auth::{Authz, Principal, perm};
use crate::domain::org::Org;
use crate::domain::user::Team;
use crate::domain::{Permission, Role, Scope, TeamId, UserId};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditRecord};
use crate::store::{orgs, teams, users};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type Admin = Authz<perm::UsersManage>;

#[derive(Serialize, ToSchema)]
pub struct List<T> {
    items: Vec<T>,
}

/// The caller's organization.
#[utoipa::path(get, path = "/org", tag = "admin",
    responses((status = 200, description = "The organization", body = Org)))]
pub async fn org(State(state): State<AppState>, p: Principal) -> AppResult<Json<Org>> {
    let id = p.user().org;
    let org = state.db(move |s| Ok(s.read(|t| orgs::get(t, id))?)).await?;
    org.map(Json)
        .ok_or_else(|| AppError::not_found("Organization"))
}

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    role: Role,
    label: &'static str,
    description: &'static str,
    permissions: Vec<(Permission, Scope)>,
}

/// Every role with its permissions and their scopes.
#[utoipa::path(get, path = "/roles", tag = "admin",
    responses((status = 200, description = "The roles", body = List<RoleView>)))]
pub async fn roles(_p: Principal) -> Json<List<RoleView>> {
    Json(List {
        items: Role::ALL
            .iter()
            .map(|r| RoleView {
                role: *r,
                label: r.label(),
                description: r.description(),
                permissions: r.grants().to_vec(),
            })
            .collect(),
    })
}

/// The org's users (admins only).
#[utoipa::path(get, path = "/users", tag = "admin",
    responses((status = 200, description = "The users", body = List<UserView>)))]
pub async fn list_users(
    State(state): State<AppState>,
    a: Admin,
) -> AppResult<Json<List<UserView>>> {
    let org = a.user().org;
    let list = state
        .db(move |s| Ok(s.read(|t| users::list(t, org))?))
        .await?;
    Ok(Json(List {
        items: list.iter().map(UserView::from).collect(),
    }))
}

fn parse_user_id(id: &str) -> AppResult<UserId> {
    id.parse().map_err(|_| AppError::not_found("User"))
}

/// One user (admins only).
#[utoipa::path(get, path = "/users/{id}", tag = "admin", params(("id" = String, Path, description = "The user id")),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_user(
    State(state): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
) -> AppResult<Json<UserView>> {
    let (org, id) = (a.user().org, parse_user_id(&id)?);
    let u = state
        .db(move |s| Ok(s.read(|t| users::get(t, org, id))?))
        .await?;
    u.map(|u| Json(UserView::from(&u)))
        .ok_or_else(|| AppError::not_found("User"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    email: String,
    #[serde(default)]
    name: String,
    /// A role name, e.g. `analyst` (see `/roles`).
    role: String,
    /// A team id.
    team: Option<String>,
    /// Omit to generate a one-time password (returned once).
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = CreatedUser)]
pub struct Created {
    user: UserView,
    one_time_password: Option<String>,
}

/// Create a user; without a password one is generated and shown once.
#[utoipa::path(post, path = "/users", tag = "admin", request_body = CreateUserBody,
    responses((status = 201, description = "Created", body = Created)))]
pub async fn create_user(
    State(state): State<AppState>,
    a: Admin,
    Json(b): Json<CreateUserBody>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let input = NewUserInput {
        email: b.email,
        name: b.name,
        role: b.role,
        team: b.team,
        password: b.password,
    };
    let (user, pw) = state
        .db(move |s| accounts::create_user(s, &by, org, input, now))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            user: UserView::from(&user),
            one_time_password: pw,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserBody {
    name: Option<String>,
    role: Option<String>,
    /// A team id, or `null` / `""` to remove from the team.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    team: Option<Option<String>>,
    disabled: Option<bool>,
}

/// Distinguish an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// Change a user's name, role, team or disabled flag. Disabling ends their sessions.
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", params(("id" = String, Path, description = "The user id")), request_body = PatchUserBody,
    responses((status = 200, description = "The updated user", body = UserView)))]
pub async fn update_user(
    State(state): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
    Json(b): Json<PatchUserBody>,
) -> AppResult<Json<UserView>> {
    let (by, org, now, id) = (
        ActingAs::user(a.user()),
        a.user().org,
        state.clock.now(),
        parse_user_id(&id)?,
    );
    let patch = UserPatch {
        name: b.name,
        role: b.role,
        team: b.team,
        disabled: b.disabled,
    };
    let u = state
        .db(move |s| accounts::update_user(s, &by, org, id, patch, now))
        .await?;
    Ok(Json(UserView::from(&u)))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Reset {
    one_time_password: Option<String>,
}

/// Body optional: `{}` or none generates a one-time password; `{"password": "..."}` sets one.
#[utoipa::path(post, path = "/users/{id}/reset-password", tag = "admin", params(("id" = String, Path, description = "The user id")),
    request_body(content = Option<ResetBody>, description = "Optional: `{\"password\": \"…\"}` sets one; none generates a one-time password"),
    responses((status = 200, description = "Reset; the one-time password if generated", body = Reset)))]
pub async fn reset_password(
    State(state): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<Reset>> {
    let (by, org, now, id) = (
        ActingAs::user(a.user()),
        a.user().org,
        state.clock.now(),
        parse_user_id(&id)?,
    );
    let pw = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<ResetBody>(&body)
            .map_err(|e| AppError::bad_request(format!("Invalid JSON body: {e}")))?
            .password
    };
    let generated = state
        .db(move |s| accounts::reset_password(s, &by, org, id, pw, now))
        .await?;
    Ok(Json(Reset {
        one_time_password: generated,
    }))
}

/// The org's teams.
#[utoipa::path(get, path = "/teams", tag = "admin",
    responses((status = 200, description = "The teams", body = List<Team>)))]
pub async fn list_teams(
    State(state): State<AppState>,
    p: Principal,
) -> AppResult<Json<List<Team>>> {
    let org = p.user().org;
    let items = state
        .db(move |s| Ok(s.read(|t| teams::list(t, org))?))
        .await?;
    Ok(Json(List { items }))
}

/// One team.
#[utoipa::path(get, path = "/teams/{id}", tag = "admin",
    params(("id" = String, Path, description = "The team id")),
    responses((status = 200, description = "The team", body = Team)))]
pub async fn get_team(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Team>> {
    let org = p.user().org;
    let id: TeamId = id.parse().map_err(|_| AppError::not_found("Team"))?;
    let t = state
        .db(move |s| Ok(s.read(|t| teams::get(t, org, id))?))
        .await?;
    t.map(Json).ok_or_else(|| AppError::not_found("Team"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamBody {
    name: String,
    manager: Option<String>,
}

/// Create a team, optionally with a manager (a user id).
#[utoipa::path(post, path = "/teams", tag = "admin", request_body = CreateTeamBody,
    responses((status = 201, description = "Created", body = Team)))]
pub async fn create_team(
    State(state): State<AppState>,
    a: Admin,
    Json(b): Json<CreateTeamBody>,
) -> AppResult<(StatusCode, Json<Team>)> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let team = state
        .db(move |s| accounts::create_team(s, &by, org, &b.name, b.manager.as_deref(), now))
        .await?;
    Ok((StatusCode::CREATED, Json(team)))
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    next_before: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    seq: u64,
    at: crate::domain::Ts,
    actor: String,
    action: String,
    entity: String,
    entity_id: String,
    old: Option<serde_json::Value>,
    new: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditView {
            seq: r.seq,
            at: r.at,
            actor: r.actor.label(),
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            old: parse(r.old),
            new: parse(r.new),
        }
    }
}

/// The audit log, newest first, paged by sequence number, optionally filtered by who, what
/// and when.
#[utoipa::path(get, path = "/audit", tag = "admin", params(crate::audit::Params),
    responses((status = 200, description = "A page of audit records", body = AuditPage)))]
pub async fn audit(
    State(state): State<AppState>,
    a: Authz<perm::AuditView>,
    Query(q): Query<crate::audit::Params>,
) -> AppResult<Json<AuditPage>> {
    let limit = q.limit()?;
    let found = find(&state, a.user().org, q, limit).await?;
    Ok(Json(AuditPage {
        items: found.records.into_iter().map(AuditView::from).collect(),
        next_before: found.next_before,
    }))
}

/// Look up a page of the org's audit log.
async fn find(
    state: &AppState,
    org: crate::domain::OrgId,
    q: crate::audit::Params,
    limit: usize,
) -> AppResult<audit::Found> {
    state
        .db(move |s| {
            s.read(|t| {
                let o =
                    orgs::get(t, org)?.ok_or(crate::store::StoreError::NotFound("Organization"))?;
                let f = match q.filter(&o) {
                    Ok(f) => f,
                    Err(e) => return Ok(Err(e)),
                };
                Ok(Ok(audit::find(t, org, &f, q.before, limit)?))
            })?
        })
        .await
}

/// Most records in one CSV export.
pub const EXPORT_MAX: usize = 100_000;

/// The matching records as CSV, newest first (up to 100,000; `limit` is ignored).
#[utoipa::path(get, path = "/audit/export", tag = "admin", params(crate::audit::Params),
    responses((status = 200, description = "CSV, one record per row", content_type = "text/csv", body = String)))]
pub async fn export_audit(
    State(state): State<AppState>,
    a: Authz<perm::AuditView>,
    Query(q): Query<crate::audit::Params>,
) -> AppResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let found = find(&state, a.user().org, q, EXPORT_MAX).await?;
    let body = crate::audit::csv(&found.records)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
