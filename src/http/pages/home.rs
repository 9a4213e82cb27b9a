use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::Permission;
use crate::error::AppResult;
use crate::store::users;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    shell: Shell,
    can_manage_users: bool,
    user_count: usize,
}

pub async fn home(State(state): State<AppState>, p: Principal) -> AppResult<HomePage> {
    let org = p.user().org;
    let user_count = state
        .db(move |s| Ok(s.read(|t| users::list(t, org))?.len()))
        .await?;
    Ok(HomePage {
        shell: shell(&state, &p, "Home", "/").await?,
        can_manage_users: p.user().role.has(Permission::UsersManage),
        user_count,
    })
}
