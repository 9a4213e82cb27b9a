//! User administration and the read-only roles page.

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::accounts::{self, ActingAs, NewUserInput, UserPatch};
use crate::auth::{Authz, Principal, perm};
use crate::domain::user::{Team, User};
use crate::domain::{Permission, Role, Scope, UserId};
use crate::error::{AppError, AppResult};
use crate::http::is_htmx;
use crate::render;
use crate::store::{teams, users};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

type Admin = Authz<perm::UsersManage>;

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_users.html")]
pub struct UsersPage {
    shell: Shell,
    rows: Vec<String>,
    teams: Vec<Team>,
    roles: Vec<(&'static str, &'static str)>,
    notice: Option<render::users::Notice>,
    error: Option<String>,
    form: AddForm,
    team_error: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team: String,
}

struct Listing {
    users: Vec<User>,
    teams: Vec<Team>,
}

async fn listing(state: &AppState, a: &Admin) -> AppResult<Listing> {
    let org = a.user().org;
    state
        .db(move |s| {
            Ok(s.read(|t| {
                let mut users = users::list(t, org)?;
                users.sort_by_key(|u| u.name.to_lowercase());
                Ok(Listing {
                    users,
                    teams: teams::list(t, org)?,
                })
            })?)
        })
        .await
}

async fn page(
    state: &AppState,
    a: &Admin,
    notice: Option<render::users::Notice>,
    error: Option<String>,
    form: AddForm,
    team_error: Option<String>,
) -> AppResult<UsersPage> {
    let l = listing(state, a).await?;
    let me = a.user();
    let csrf = crate::auth::csrf::token(state.keys.secret(), a.principal.0.session);
    let rows = l
        .users
        .iter()
        .map(|u| render::users::row(u, &l.teams, me, &csrf).into_string())
        .collect();
    Ok(UsersPage {
        shell: shell(state, &a.principal, "Users", "/admin/users").await?,
        rows,
        roles: Role::ALL
            .iter()
            .filter(|r| me.role.may_assign(**r, **r))
            .map(|r| (r.as_str(), r.label()))
            .collect(),
        teams: l.teams,
        notice,
        error,
        form,
        team_error,
    })
}

pub async fn users_page(State(state): State<AppState>, a: Admin) -> AppResult<UsersPage> {
    page(
        &state,
        &a,
        None,
        None,
        AddForm {
            role: "viewer".into(),
            ..Default::default()
        },
        None,
    )
    .await
}

pub async fn add_user(
    State(state): State<AppState>,
    a: Admin,
    Form(f): Form<AddForm>,
) -> AppResult<Response> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let input = NewUserInput {
        email: f.email.clone(),
        name: f.name.clone(),
        role: f.role.clone(),
        team: Some(f.team.clone()),
        password: None,
    };
    let res = state
        .db(move |s| accounts::create_user(s, &by, org, input, now))
        .await;
    match res {
        Ok((user, pw)) => {
            let notice = render::users::Notice::created(&user, pw);
            let p = page(
                &state,
                &a,
                Some(notice),
                None,
                AddForm {
                    role: "viewer".into(),
                    ..Default::default()
                },
                None,
            )
            .await?;
            Ok((StatusCode::CREATED, p).into_response())
        }
        Err(e) if matches!(e.code, "validation" | "conflict" | "forbidden") => {
            let p = page(&state, &a, None, Some(e.message.clone()), f, None).await?;
            Ok((e.status, p).into_response())
        }
        Err(e) => Err(e),
    }
}

fn parse_id(id: &str) -> AppResult<UserId> {
    id.parse().map_err(|_| AppError::not_found("User"))
}

/// After a row action: the updated row for htmx, or back to the list without JavaScript.
async fn row_response(
    state: &AppState,
    a: &Admin,
    headers: &HeaderMap,
    user: User,
) -> AppResult<Response> {
    if is_htmx(headers) {
        let l = listing(state, a).await?;
        Ok(render::users::row(
            &user,
            &l.teams,
            a.user(),
            &crate::auth::csrf::token(state.keys.secret(), a.principal.0.session),
        )
        .into_response())
    } else {
        Ok(Redirect::to("/admin/users").into_response())
    }
}

async fn patch(state: &AppState, a: &Admin, id: &str, patch: UserPatch) -> AppResult<User> {
    let id = parse_id(id)?;
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    state
        .db(move |s| accounts::update_user(s, &by, org, id, patch, now))
        .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    a: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> AppResult<Response> {
    let u = patch(
        &state,
        &a,
        &id,
        UserPatch {
            role: Some(f.role),
            ..Default::default()
        },
    )
    .await?;
    row_response(&state, &a, &headers, u).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    team: String,
}

pub async fn set_team(
    State(state): State<AppState>,
    a: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TeamForm>,
) -> AppResult<Response> {
    let u = patch(
        &state,
        &a,
        &id,
        UserPatch {
            team: Some(Some(f.team)),
            ..Default::default()
        },
    )
    .await?;
    row_response(&state, &a, &headers, u).await
}

pub async fn disable(
    State(state): State<AppState>,
    a: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let u = patch(
        &state,
        &a,
        &id,
        UserPatch {
            disabled: Some(true),
            ..Default::default()
        },
    )
    .await?;
    row_response(&state, &a, &headers, u).await
}

pub async fn enable(
    State(state): State<AppState>,
    a: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let u = patch(
        &state,
        &a,
        &id,
        UserPatch {
            disabled: Some(false),
            ..Default::default()
        },
    )
    .await?;
    row_response(&state, &a, &headers, u).await
}

pub async fn reset_password(
    State(state): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let pw = state
        .db(move |s| accounts::reset_password(s, &by, org, id, None, now))
        .await?;
    let user = state
        .db(move |s| Ok(s.read(|t| users::get(t, org, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("User"))?;
    let notice = render::users::Notice::reset(&user, pw);
    Ok(page(
        &state,
        &a,
        Some(notice),
        None,
        AddForm {
            role: "viewer".into(),
            ..Default::default()
        },
        None,
    )
    .await?
    .into_response())
}

#[derive(Deserialize)]
pub struct NewTeamForm {
    name: String,
    #[serde(default)]
    manager: String,
}

pub async fn add_team(
    State(state): State<AppState>,
    a: Admin,
    Form(f): Form<NewTeamForm>,
) -> AppResult<Response> {
    let (by, org, now) = (ActingAs::user(a.user()), a.user().org, state.clock.now());
    let res = state
        .db(move |s| accounts::create_team(s, &by, org, &f.name, Some(&f.manager), now))
        .await;
    let blank = AddForm {
        role: "viewer".into(),
        ..Default::default()
    };
    match res {
        Ok(_) => Ok(page(&state, &a, None, None, blank, None)
            .await?
            .into_response()),
        Err(e) if matches!(e.code, "validation" | "conflict") => {
            let p = page(&state, &a, None, None, blank, Some(e.message.clone())).await?;
            Ok((e.status, p).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_roles.html")]
pub struct RolesPage {
    shell: Shell,
    roles: Vec<(&'static str, &'static str)>,
    /// One row per permission: name, description, and per role the scope label or "".
    matrix: Vec<(&'static str, &'static str, Vec<&'static str>)>,
}

pub async fn roles_page(State(state): State<AppState>, p: Principal) -> AppResult<RolesPage> {
    let matrix = Permission::ALL
        .iter()
        .map(|perm| {
            let cells = Role::ALL
                .iter()
                .map(|r| r.scope_of(*perm).map(Scope::as_str).unwrap_or(""))
                .collect();
            (perm.as_str(), perm.description(), cells)
        })
        .collect();
    Ok(RolesPage {
        shell: shell(&state, &p, "Roles and permissions", "/admin/roles").await?,
        roles: Role::ALL
            .iter()
            .map(|r| (r.label(), r.description()))
            .collect(),
        matrix,
    })
}
