//! `/`: the dashboard once the org has sales data (for those who may see it); before that,
//! the first steps (load demo data, import, API keys, invite the team).

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::Permission;
use crate::error::AppResult;
use crate::store::{sales, users};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    shell: Shell,
    can_manage_users: bool,
    can_edit_sales: bool,
    can_manage_keys: bool,
    can_view_sales: bool,
    has_data: bool,
    user_count: usize,
}

pub async fn home(State(state): State<AppState>, p: Principal) -> AppResult<Response> {
    let org_id = p.user().org;
    let (user_count, version) = state
        .db(move |s| {
            Ok(s.read(|t| {
                Ok((
                    users::list(t, org_id)?.len(),
                    sales::data_version(t, org_id)?,
                ))
            })?)
        })
        .await?;
    let role = p.user().role;
    let can_view_sales = role.has(Permission::SalesView);
    if version > 0 && can_view_sales {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    Ok(HomePage {
        shell: shell(&state, &p, "Home", "/").await?,
        can_manage_users: role.has(Permission::UsersManage),
        can_edit_sales: role.has(Permission::SalesEdit),
        can_manage_keys: role.has(Permission::IntegrationsManage),
        can_view_sales,
        has_data: version > 0,
        user_count,
    }
    .into_response())
}
