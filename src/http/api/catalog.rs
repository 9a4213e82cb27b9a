//! Customers and products: lists with sorting and pagination, and detail views.

use super::{Json, Query};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::Ts;
use crate::domain::customers;
use crate::domain::org::Org;
use crate::error::{AppError, AppResult};
use crate::store::orgs;
use crate::store::sales::{self, CustomerAgg, ProductAgg};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Customers: revenue (default), orders, ltv, predicted_ltv, churn_risk, last_purchase or
    /// id. Products: revenue (default), units, refunds, margin, return_rate or sku.
    sort: Option<String>,
    /// desc (default) or asc.
    order: Option<String>,
    /// Page size, 1–500, default 50.
    limit: Option<usize>,
    /// Rows to skip, default 0.
    offset: Option<usize>,
    /// Case-insensitive text filter on id, name and email (customers) or SKU, name and
    /// category (products).
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    items: Vec<T>,
    /// Rows matching the filter, over all pages.
    total: usize,
    limit: usize,
    offset: usize,
}

struct Paging {
    desc: bool,
    limit: usize,
    offset: usize,
    q: Option<String>,
}

fn paging(q: &ListQuery) -> AppResult<Paging> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 500"));
    }
    let desc = match q.order.as_deref().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        other => {
            return Err(AppError::validation(
                "order",
                format!("`{other}` is not asc or desc"),
            ));
        }
    };
    Ok(Paging {
        desc,
        limit,
        offset: q.offset.unwrap_or(0),
        q: q.q
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty()),
    })
}

fn page<T>(mut rows: Vec<T>, p: &Paging, key: impl Fn(&T, &T) -> std::cmp::Ordering) -> Page<T> {
    rows.sort_by(|a, b| if p.desc { key(b, a) } else { key(a, b) });
    let total = rows.len();
    let items: Vec<T> = rows.into_iter().skip(p.offset).take(p.limit).collect();
    Page {
        items,
        total,
        limit: p.limit,
        offset: p.offset,
    }
}

async fn org(state: &AppState, id: crate::domain::OrgId) -> AppResult<Org> {
    state
        .db(move |s| Ok(s.read(|t| orgs::get(t, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))
}

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    id: String,
    email: Option<String>,
    name: Option<String>,
    region: Option<String>,
    first_purchase: Option<Ts>,
    last_purchase: Option<Ts>,
    orders: i64,
    /// Money in major units of the org's currency.
    revenue: f64,
    refunds: f64,
    ltv: f64,
    predicted_ltv: f64,
    average_order_value: f64,
    /// 0 (buying as usual) to 1 (gone): recency against the customer's own buying rhythm.
    churn_risk: f64,
    /// How LTV and churn risk were worked out, in words (detail view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<String>,
}

fn customer_view(org: &Org, id: String, c: CustomerAgg, now: Ts, explain: bool) -> CustomerView {
    let scale = org.currency.minor_per_unit();
    let first = c.first.as_ref().map(|f| f.0);
    let v = customers::value(c.orders, c.revenue, c.refunds, first, c.last_purchase, now);
    CustomerView {
        id,
        email: c.email,
        name: c.name,
        region: c.region,
        first_purchase: first,
        last_purchase: c.last_purchase,
        orders: c.orders,
        revenue: c.revenue as f64 / scale,
        refunds: c.refunds as f64 / scale,
        ltv: v.ltv as f64 / scale,
        predicted_ltv: v.predicted_ltv as f64 / scale,
        average_order_value: v.average_order_value as f64 / scale,
        churn_risk: v.churn_risk,
        explanation: explain.then(|| v.explanation(&|m| org.currency.display_minor(m))),
    }
}

/// Customers with lifetime figures, sorted and paged.
#[utoipa::path(get, path = "/customers", tag = "catalog", params(ListQuery),
    responses((status = 200, description = "A page of customers", body = Page<CustomerView>)))]
pub async fn list_customers(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Page<CustomerView>>> {
    let p = paging(&q)?;
    let org = org(&state, a.user().org).await?;
    let now = state.clock.now();
    let org_id = org.id;
    let all = state
        .db(move |s| Ok(s.read(|t| sales::customers(t, org_id))?))
        .await?;
    let rows: Vec<CustomerView> = all
        .into_iter()
        .filter(|(id, c)| {
            p.q.as_deref().is_none_or(|needle| {
                id.to_lowercase().contains(needle)
                    || c.email.as_deref().is_some_and(|e| e.contains(needle))
                    || c.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(needle))
            })
        })
        .map(|(id, c)| customer_view(&org, id, c, now, false))
        .collect();
    let sort = q.sort.as_deref().unwrap_or("revenue");
    let by: fn(&CustomerView, &CustomerView) -> std::cmp::Ordering = match sort {
        "revenue" => |a, b| a.revenue.total_cmp(&b.revenue),
        "orders" => |a, b| a.orders.cmp(&b.orders),
        "ltv" => |a, b| a.ltv.total_cmp(&b.ltv),
        "predicted_ltv" => |a, b| a.predicted_ltv.total_cmp(&b.predicted_ltv),
        "churn_risk" => |a, b| a.churn_risk.total_cmp(&b.churn_risk),
        "last_purchase" => |a, b| a.last_purchase.cmp(&b.last_purchase),
        "id" => |a, b| a.id.cmp(&b.id),
        other => {
            return Err(AppError::validation(
                "sort",
                format!(
                    "`{other}` is not revenue, orders, ltv, predicted_ltv, churn_risk, last_purchase or id"
                ),
            ));
        }
    };
    Ok(Json(page(rows, &p, |a, b| {
        by(a, b).then_with(|| b.id.cmp(&a.id))
    })))
}

/// One customer, with LTV and churn risk explained.
#[utoipa::path(get, path = "/customers/{id}", tag = "catalog",
    params(("id" = String, Path, description = "The customer id as sent in events")),
    responses((status = 200, description = "The customer", body = CustomerView)))]
pub async fn get_customer(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Path(id): Path<String>,
) -> AppResult<Json<CustomerView>> {
    let org = org(&state, a.user().org).await?;
    let (org_id, key) = (org.id, id.clone());
    let c = state
        .db(move |s| Ok(s.read(|t| sales::customer(t, org_id, &key))?))
        .await?;
    let c = c.ok_or_else(|| AppError::not_found("Customer"))?;
    Ok(Json(customer_view(&org, id, c, state.clock.now(), true)))
}

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    sku: String,
    name: String,
    category: String,
    orders: i64,
    units: i64,
    refunded_units: i64,
    /// Money in major units of the org's currency.
    revenue: f64,
    refunds: f64,
    margin: f64,
    /// Refunded units / units sold (0–1).
    return_rate: f64,
}

fn product_view(org: &Org, sku: String, agg: ProductAgg) -> ProductView {
    let p = agg.figures;
    let scale = org.currency.minor_per_unit();
    ProductView {
        sku,
        name: agg.name,
        category: agg.category,
        orders: p.orders,
        units: p.units,
        refunded_units: p.refunded_units,
        revenue: p.revenue as f64 / scale,
        refunds: p.refunds as f64 / scale,
        margin: (p.revenue - p.refunds - p.cost) as f64 / scale,
        return_rate: if p.units > 0 {
            (p.refunded_units as f64 / p.units as f64 * 10000.0).round() / 10000.0
        } else {
            0.0
        },
    }
}

/// Products with lifetime figures, sorted and paged.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ListQuery),
    responses((status = 200, description = "A page of products", body = Page<ProductView>)))]
pub async fn list_products(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Page<ProductView>>> {
    let p = paging(&q)?;
    let org = org(&state, a.user().org).await?;
    let org_id = org.id;
    let all = state
        .db(move |s| Ok(s.read(|t| sales::products(t, org_id))?))
        .await?;
    let rows: Vec<ProductView> = all
        .into_iter()
        .filter(|(sku, x)| {
            p.q.as_deref().is_none_or(|needle| {
                sku.to_lowercase().contains(needle)
                    || x.name.to_lowercase().contains(needle)
                    || x.category.to_lowercase().contains(needle)
            })
        })
        .map(|(sku, x)| product_view(&org, sku, x))
        .collect();
    let by: fn(&ProductView, &ProductView) -> std::cmp::Ordering =
        match q.sort.as_deref().unwrap_or("revenue") {
            "revenue" => |a, b| a.revenue.total_cmp(&b.revenue),
            "units" => |a, b| a.units.cmp(&b.units),
            "refunds" => |a, b| a.refunds.total_cmp(&b.refunds),
            "margin" => |a, b| a.margin.total_cmp(&b.margin),
            "return_rate" => |a, b| a.return_rate.total_cmp(&b.return_rate),
            "sku" => |a, b| a.sku.cmp(&b.sku),
            other => {
                return Err(AppError::validation(
                    "sort",
                    format!("`{other}` is not revenue, units, refunds, margin, return_rate or sku"),
                ));
            }
        };
    Ok(Json(page(rows, &p, |a, b| {
        by(a, b).then_with(|| b.sku.cmp(&a.sku))
    })))
}

/// One product.
#[utoipa::path(get, path = "/products/{sku}", tag = "catalog",
    params(("sku" = String, Path, description = "The product SKU")),
    responses((status = 200, description = "The product", body = ProductView)))]
pub async fn get_product(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    Path(sku): Path<String>,
) -> AppResult<Json<ProductView>> {
    let org = org(&state, a.user().org).await?;
    let (org_id, key) = (org.id, sku.clone());
    let p = state
        .db(move |s| Ok(s.read(|t| sales::product(t, org_id, &key))?))
        .await?;
    let p = p.ok_or_else(|| AppError::not_found("Product"))?;
    Ok(Json(product_view(&org, sku, p)))
}
