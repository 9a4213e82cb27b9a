//! HTML pages. Each handler serves the full page, or only a fragment to htmx.

mod account;
mod admin;
mod audit;
mod backups;
pub(crate) use backups::busy as backups_busy;
mod catalog;
mod dashboard;
mod home;
mod import;
mod integrations;
mod partners;
mod pipeline;
mod pipeline_settings;
mod search;

use crate::app::AppState;
use crate::auth::{Principal, csrf};
use crate::domain::{Permission, Role};
use crate::error::{AppError, AppResult};
use crate::http::assets;
use crate::store::orgs;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub fn routes(cfg: &crate::config::Config) -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/dashboard", get(dashboard::dashboard_page))
        .route("/dashboard/top-customers", get(dashboard::top_customers))
        .route("/live", get(crate::live::sse::live))
        .route("/live/pipeline", get(crate::live::sse::live_pipeline))
        .route("/pipeline", get(pipeline::pipeline_page))
        .route(
            "/pipeline/opportunities/{id}/move",
            post(pipeline::move_card),
        )
        .route(
            "/pipeline/opportunities/{id}/edit",
            post(pipeline::edit_row),
        )
        .route("/opportunities/new", get(pipeline::new_opportunity))
        .route("/opportunities", post(pipeline::create_opportunity))
        .route(
            "/opportunities/{id}",
            get(pipeline::opportunity_page).post(pipeline::update_opportunity),
        )
        .route(
            "/pipeline/settings",
            get(pipeline_settings::settings_page).post(pipeline_settings::create),
        )
        .route("/pipeline/settings/{id}", post(pipeline_settings::update))
        .route("/partners", get(partners::list_page).post(partners::create))
        .route("/partners/new", get(partners::new_page))
        .route(
            "/partners/settings",
            get(partners::settings_page).post(partners::save_settings),
        )
        .route(
            "/partners/{id}",
            get(partners::detail_page).post(partners::update),
        )
        .route("/partners/{id}/notes", post(partners::add_note))
        .route("/partners/{id}/archive", post(partners::archive))
        .route("/forecast", get(pipeline::forecast_page))
        .route("/forecast/targets", post(pipeline::save_targets))
        .route("/search", get(search::search_page))
        .route("/search/suggest", get(search::suggest))
        .route("/customers/{id}", get(catalog::customer_page))
        .route("/products/{sku}", get(catalog::product_page))
        .route(
            "/login",
            get(account::login_page).post(account::login_submit),
        )
        .route("/logout", post(account::logout))
        .route(
            "/account/password",
            get(account::password_page).post(account::password_submit),
        )
        .route("/admin/users", get(admin::users_page).post(admin::add_user))
        .route("/admin/users/{id}/role", post(admin::set_role))
        .route("/admin/users/{id}/team", post(admin::set_team))
        .route("/admin/users/{id}/disable", post(admin::disable))
        .route("/admin/users/{id}/enable", post(admin::enable))
        .route(
            "/admin/users/{id}/reset-password",
            post(admin::reset_password),
        )
        .route("/admin/teams", post(admin::add_team))
        .route("/admin/roles", get(admin::roles_page))
        .route("/admin/audit", get(audit::audit_page))
        .route(
            "/admin/backups",
            get(backups::backups_page).post(backups::backup_now),
        )
        .route("/admin/backups/{name}", get(backups::download))
        .route("/admin/backups/{name}/check", post(backups::check))
        .route(
            "/import",
            get(import::import_page).post(import::upload).layer(
                axum::extract::DefaultBodyLimit::max(
                    usize::try_from(cfg.import.max_upload_mb << 20).unwrap_or(usize::MAX),
                ),
            ),
        )
        .route("/import/jobs/{id}", get(import::job_page))
        .route("/import/jobs/{id}/progress", get(import::job_progress))
        .route("/import/jobs/{id}/errors.csv", get(import::job_errors))
        .route("/demo", post(import::load_demo))
        .route(
            "/admin/api-keys",
            get(integrations::keys_page).post(integrations::add_key),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            post(integrations::revoke_key),
        )
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// Everything the signed-in layout needs.
pub struct Shell {
    pub title: String,
    pub org_name: String,
    pub user_name: String,
    pub user_email: String,
    pub role_label: &'static str,
    pub csrf: String,
    pub nav: Vec<NavLink>,
}

impl Shell {
    pub fn asset(&self, path: &str) -> String {
        assets::url(path)
    }
}

/// Areas in the navigation, each shown only to roles holding its permission.
const NAV: &[(&str, &str, Option<Permission>)] = &[
    ("/", "Home", None),
    ("/dashboard", "Dashboard", Some(Permission::SalesView)),
    ("/pipeline", "Pipeline", Some(Permission::PipelineView)),
    ("/forecast", "Forecast", Some(Permission::PipelineView)),
    ("/partners", "Partners", Some(Permission::PartnersView)),
    ("/admin/users", "Users", Some(Permission::UsersManage)),
    ("/import", "Import", Some(Permission::SalesEdit)),
    ("/admin/roles", "Roles", None),
    (
        "/admin/api-keys",
        "API keys",
        Some(Permission::IntegrationsManage),
    ),
    ("/admin/audit", "Audit log", Some(Permission::AuditView)),
];

pub async fn shell(state: &AppState, p: &Principal, title: &str, active: &str) -> AppResult<Shell> {
    let user = p.user().clone();
    let u = user.clone();
    let (org_name, operator) = state
        .db(move |s| {
            Ok(s.read(|t| {
                let name = orgs::get(t, u.org)?.map(|o| o.name).unwrap_or_default();
                Ok((name, crate::backups::is_operator(t, &u)?))
            })?)
        })
        .await?;
    let mut nav = nav_for(user.role, active);
    if operator {
        nav.push(NavLink {
            href: "/admin/backups",
            label: "Backups",
            active: active == "/admin/backups",
        });
    }
    Ok(Shell {
        title: title.to_string(),
        org_name,
        nav,
        user_name: user.name,
        user_email: user.email,
        role_label: user.role.label(),
        csrf: csrf::token(state.keys.secret(), p.0.session),
    })
}

/// A page of the generic section layout (`pages/section.html`): a heading, optional back link
/// and action buttons, an optional error, and a body rendered by the area's components.
#[derive(Template, WebTemplate)]
#[template(path = "pages/section.html")]
pub struct SectionPage {
    pub(crate) shell: Shell,
    pub(crate) heading: String,
    pub(crate) back: Option<(&'static str, &'static str)>,
    /// (href, label, element id, primary)
    pub(crate) actions: Vec<(String, &'static str, &'static str, bool)>,
    pub(crate) error: Option<String>,
    pub(crate) body: String,
}

/// The first value of `key` in a form sent as pairs (empty when absent).
pub(super) fn form_first(f: &[(String, String)], key: &str) -> String {
    f.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Every value of a repeated `key` in a form sent as pairs, in order.
pub(super) fn form_all(f: &[(String, String)], key: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

pub fn nav_for(role: Role, active: &str) -> Vec<NavLink> {
    NAV.iter()
        .filter(|(_, _, perm)| perm.is_none_or(|p| role.has(p)))
        .map(|(href, label, _)| NavLink {
            href,
            label,
            active: *href == active,
        })
        .collect()
}

/// Layout for pages seen without signing in (sign-in, errors).
pub struct PublicShell {
    pub title: String,
}

impl PublicShell {
    pub fn asset(&self, path: &str) -> String {
        assets::url(path)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    shell: PublicShell,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

pub fn error_page(err: &AppError) -> Response {
    let heading = match err.status.as_u16() {
        403 => "You do not have access to this page",
        404 => "We could not find that page",
        429 => "Slow down a little",
        s if s >= 500 => "Something went wrong",
        _ => "That did not work",
    };
    let page = ErrorPage {
        shell: PublicShell {
            title: heading.to_string(),
        },
        status: err.status.as_u16(),
        heading,
        message: &err.message,
    };
    (err.status, page).into_response()
}
