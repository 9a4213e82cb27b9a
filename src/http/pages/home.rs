use super::{Shell, shell};
use crate::analytics::{self, Dimension, Filters, Interval, Range, SeriesQuery};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::Permission;
use crate::error::AppResult;
use crate::store::{orgs, sales, users};
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::State;

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    shell: Shell,
    can_manage_users: bool,
    can_edit_sales: bool,
    can_manage_keys: bool,
    user_count: usize,
    /// The overview of the last 30 days (HTML); `None` when the org has no sales data yet.
    overview: Option<String>,
}

pub async fn home(State(state): State<AppState>, p: Principal) -> AppResult<HomePage> {
    let org_id = p.user().org;
    let today = state.clock.now();
    let cache = state.kpi_cache.clone();
    let (user_count, overview) = state
        .db(move |s| {
            s.read(|t| {
                let count = users::list(t, org_id)?.len();
                let version = sales::data_version(t, org_id)?;
                let org = match orgs::get(t, org_id)? {
                    Some(org) if version > 0 => org,
                    _ => return Ok(Ok((count, None))),
                };
                let day = analytics::day_number(today.timestamp().to_zoned(org.tz()).date());
                // Rendered once per org, day and data version, like the KPI API's answers.
                let key = format!(
                    "home-overview|{day}|{}|{}",
                    org.timezone,
                    org.currency.code()
                );
                let html = cache.get_or_try(org_id, version, key, || {
                    overview_html(t, &org, day).map(|h| Bytes::from(h.into_bytes()))
                });
                Ok(html.map(|h| (count, Some(String::from_utf8_lossy(&h).into_owned()))))
            })?
        })
        .await?;
    let role = p.user().role;
    Ok(HomePage {
        shell: shell(&state, &p, "Home", "/").await?,
        can_manage_users: role.has(Permission::UsersManage),
        can_edit_sales: role.has(Permission::SalesEdit),
        can_manage_keys: role.has(Permission::IntegrationsManage),
        user_count,
        overview,
    })
}

fn overview_html(
    t: &redb::ReadTransaction,
    org: &crate::domain::org::Org,
    day: i32,
) -> AppResult<String> {
    let range = Range::Days {
        from: day - 29,
        to: day,
    };
    let f = Filters::default();
    let now = analytics::total(t, org, range, &f)?;
    let prev = analytics::total(t, org, range.previous_period(), &f)?;
    let summary = analytics::summary(org, &now, &prev);
    let revenue_by_day = analytics::timeseries(
        t,
        org,
        &SeriesQuery {
            range,
            interval: Interval::Day,
            split: None,
            filters: &f,
            metric: "revenue",
        },
    )??;
    let channels = analytics::breakdown(t, org, range, Dimension::Channel, &f, "revenue", 8)?;
    let products = analytics::product_breakdown(t, org, range, None, "revenue", 5)?;
    let money = money_of(org);
    Ok(
        crate::render::overview::overview(&crate::render::overview::Overview {
            summary: &summary,
            revenue_by_day: &revenue_by_day,
            channels: &channels,
            products: &products,
            money: &money,
        })
        .into_string(),
    )
}

/// Formats currency units (e.g. 1234.5) in the org's currency ("$1,234.50").
fn money_of(org: &crate::domain::org::Org) -> impl Fn(f64) -> String + use<> {
    let cur = org.currency.clone();
    move |v: f64| cur.display_units(v)
}

/// The overview's top customers panel (loaded by htmx after the page).
pub async fn top_customers(
    State(state): State<AppState>,
    p: Principal,
) -> AppResult<axum::response::Html<String>> {
    let org_id = p.user().org;
    let today = state.clock.now();
    let cache = state.kpi_cache.clone();
    let html = state
        .db(move |s| {
            s.read(|t| {
                let version = sales::data_version(t, org_id)?;
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Err(crate::error::AppError::not_found("Organization")));
                };
                let day = analytics::day_number(today.timestamp().to_zoned(org.tz()).date());
                let key = format!(
                    "home-top-customers|{day}|{}|{}",
                    org.timezone,
                    org.currency.code()
                );
                Ok(cache.get_or_try(org_id, version, key, || {
                    let range = Range::Days {
                        from: day - 29,
                        to: day,
                    };
                    let top =
                        analytics::customer_breakdown(t, &org, range, None, None, "revenue", 5)?;
                    let html = crate::render::overview::top_customers(&top, &money_of(&org));
                    Ok::<_, crate::error::AppError>(Bytes::from(html.into_string().into_bytes()))
                }))
            })?
        })
        .await?;
    Ok(axum::response::Html(
        String::from_utf8_lossy(&html).into_owned(),
    ))
}
