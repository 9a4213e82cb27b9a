use super::{Shell, shell};
use crate::analytics::{self, Filters, Kpi, Range};
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::Permission;
use crate::error::AppResult;
use crate::store::{orgs, sales, users};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

/// One figure of the overview, formatted.
pub struct Tile {
    pub label: &'static str,
    pub value: String,
    pub previous: String,
    /// e.g. "+12.5%", or "" when there is nothing to compare with.
    pub change: String,
    /// "up", "down" or "flat" (for the arrow and colour).
    pub trend: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    shell: Shell,
    can_manage_users: bool,
    can_edit_sales: bool,
    can_manage_keys: bool,
    user_count: usize,
    /// Empty when the org has no sales data yet.
    tiles: Vec<Tile>,
}

fn tile(label: &'static str, k: &Kpi, fmt: &dyn Fn(f64) -> String) -> Tile {
    let (change, trend) = match k.change_pct {
        Some(p) if p > 0.0 => (format!("+{p:.1}%"), "up"),
        Some(p) if p < 0.0 => (format!("{p:.1}%"), "down"),
        Some(_) => ("0%".into(), "flat"),
        None => (String::new(), "flat"),
    };
    Tile {
        label,
        value: fmt(k.value),
        previous: fmt(k.previous),
        change,
        trend,
    }
}

pub async fn home(State(state): State<AppState>, p: Principal) -> AppResult<HomePage> {
    let org_id = p.user().org;
    let today = state.clock.now();
    let (user_count, tiles) = state
        .db(move |s| {
            Ok(s.read(|t| {
                let count = users::list(t, org_id)?.len();
                let org = match orgs::get(t, org_id)? {
                    Some(org) if sales::data_version(t, org_id)? > 0 => org,
                    _ => return Ok((count, Vec::new())),
                };
                let day = analytics::day_number(today.timestamp().to_zoned(org.tz()).date());
                let range = Range::Days {
                    from: day - 29,
                    to: day,
                };
                let f = Filters::default();
                let now = analytics::total(t, &org, range, &f)?;
                let prev = analytics::total(t, &org, range.previous_period(), &f)?;
                let sum = analytics::summary(&org, &now, &prev);
                let cur = org.currency.clone();
                let scale = 10f64.powi(i32::from(cur.minor_digits()));
                let money = |v: f64| cur.display_minor((v * scale).round() as i64);
                let count_fmt = |v: f64| crate::render::grouped(v.round() as u64);
                let pct = |v: f64| format!("{v:.2}%");
                Ok((
                    count,
                    vec![
                        tile("Revenue", &sum.revenue, &money),
                        tile("Net revenue", &sum.net_revenue, &money),
                        tile("Orders", &sum.orders, &count_fmt),
                        tile("Average order", &sum.average_order_value, &money),
                        tile("Conversion", &sum.conversion_rate, &pct),
                        tile("New customers", &sum.new_customers, &count_fmt),
                    ],
                ))
            })?)
        })
        .await?;
    let role = p.user().role;
    Ok(HomePage {
        shell: shell(&state, &p, "Home", "/").await?,
        can_manage_users: role.has(Permission::UsersManage),
        can_edit_sales: role.has(Permission::SalesEdit),
        can_manage_keys: role.has(Permission::IntegrationsManage),
        user_count,
        tiles,
    })
}
