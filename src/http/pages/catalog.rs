//! Customer and product pages (`/customers/{id}`, `/products/{sku}`), linked from the
//! dashboard's rankings.

use super::{Shell, shell};
use crate::analytics;
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::dashboard::View;
use crate::domain::org::Org;
use crate::domain::{Ts, customers};
use crate::error::{AppError, AppResult};
use crate::render::catalog as r;
use crate::store::{orgs, sales};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};

#[derive(Template, WebTemplate)]
#[template(path = "pages/detail.html")]
pub struct DetailPage {
    shell: Shell,
    heading: String,
    back_href: String,
    back_label: &'static str,
    body: String,
}

/// The twelve local months up to this one.
fn last_twelve(org: &Org, now: Ts) -> (i32, i32) {
    let this = analytics::month_of(analytics::day_number(org.today(now)));
    (this - 11, this)
}

/// A page about one record: `render` reads it in one transaction and answers its heading and
/// body, or `None` when the org has no such record (`what` is then named in the 404).
async fn detail(
    state: &AppState,
    a: &Authz<perm::SalesView>,
    what: &'static str,
    render: impl FnOnce(&redb::ReadTransaction, &Org, Ts) -> AppResult<Option<(String, String)>>
    + Send
    + 'static,
) -> AppResult<DetailPage> {
    let org_id = a.user().org;
    let now = state.clock.now();
    let (heading, body) = state
        .db(move |s| {
            s.read(|t| {
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Err(AppError::not_found("Organization")));
                };
                Ok(render(t, &org, now).and_then(|r| r.ok_or_else(|| AppError::not_found(what))))
            })?
        })
        .await?;
    Ok(DetailPage {
        shell: shell(state, &a.principal, &heading, "/dashboard").await?,
        heading,
        back_href: "/dashboard".into(),
        back_label: "Dashboard",
        body,
    })
}

pub async fn customer_page(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Path(id): Path<String>,
) -> AppResult<DetailPage> {
    detail(&state, &a, "Customer", move |t, org, now| {
        let Some(c) = sales::customer(t, org.id, &id)? else {
            return Ok(None);
        };
        let months = analytics::customer_months(t, org, &id, last_twelve(org, now))?;
        let first = c.first.as_ref().map(|f| f.0);
        let value = customers::value(c.orders, c.revenue, c.refunds, first, c.last_purchase, now);
        let body = r::customer(&r::CustomerPage {
            id: &id,
            agg: &c,
            value: &value,
            months: &months,
            currency: &org.currency,
            tz: &org.tz(),
        });
        let heading = c.name.clone().or(c.email.clone()).unwrap_or(id.clone());
        Ok(Some((heading, body.into_string())))
    })
    .await
}

pub async fn product_page(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Path(sku): Path<String>,
) -> AppResult<DetailPage> {
    detail(&state, &a, "Product", move |t, org, now| {
        let Some(p) = sales::product(t, org.id, &sku)? else {
            return Ok(None);
        };
        let months = analytics::product_months(t, org, &sku, last_twelve(org, now))?;
        let category_href = View {
            category: Some(p.category.clone()),
            ..View::default()
        }
        .href();
        let body = r::product(&r::ProductPage {
            sku: &sku,
            agg: &p,
            months: &months,
            currency: &org.currency,
            category_href,
        });
        let heading = if p.name.is_empty() {
            sku.clone()
        } else {
            p.name.clone()
        };
        Ok(Some((heading, body.into_string())))
    })
    .await
}
