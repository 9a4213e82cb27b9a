//! `/dashboard`: the sales dashboard. The whole view lives in the URL query; htmx swaps the
//! dashboard in place on filter changes (and pushes the URL), and the same URLs render the
//! full page without JavaScript. Live sections update over `/live` (see `live`).

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::dashboard::{self, View};
use crate::domain::Ts;
use crate::domain::org::Org;
use crate::error::{AppError, AppResult};
use crate::render::dashboard as r;
use crate::store::{orgs, sales};
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{PreEscaped, html};

#[derive(Template, WebTemplate)]
#[template(path = "pages/dashboard.html")]
pub struct DashboardPage {
    shell: Shell,
    dash: String,
}

fn view_of(query: Option<&str>) -> AppResult<View> {
    Ok(View::from_query(query.unwrap_or(""))?)
}

/// A dashboard fragment of `v`, cached per org, data version, [`dashboard::stamp`], `kind` and
/// view like the KPI API's answers; `render` gets the read transaction, the org, `now` and the
/// data version.
async fn cached(
    state: &AppState,
    org_id: crate::domain::OrgId,
    kind: &'static str,
    v: View,
    render: impl FnOnce(&redb::ReadTransaction, &Org, &View, Ts, u64) -> AppResult<String>
    + Send
    + 'static,
) -> AppResult<String> {
    let now = state.clock.now();
    let cache = state.kpi_cache.clone();
    let bytes = state
        .db(move |s| {
            s.read(|t| {
                let Some(org) = orgs::get(t, org_id)? else {
                    return Ok(Err(AppError::not_found("Organization")));
                };
                let version = sales::data_version(t, org_id)?;
                let key = format!("{kind}|{}|{}", dashboard::stamp(&org, now), v.query());
                Ok(cache.get_or_try(org_id, version, key, || {
                    render(t, &org, &v, now, version).map(|h| Bytes::from(h.into_bytes()))
                }))
            })?
        })
        .await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The `#dash` element: filters, live sections and the stream that keeps them current.
async fn dash_html(state: &AppState, org_id: crate::domain::OrgId, v: View) -> AppResult<String> {
    cached(state, org_id, "dashboard", v, |t, org, v, now, version| {
        let sections = dashboard::sections(t, org, v, now)?;
        let [channels, regions, categories] = dashboard::filter_options(t, org, v, now)?;
        let filters = r::filters(v, org.today(now), &channels, &regions, &categories);
        Ok(dash(v, version, filters, &sections).into_string())
    })
    .await
}

fn dash(v: &View, version: u64, filters: maud::Markup, s: &dashboard::Sections) -> maud::Markup {
    let live_url = format!(
        "/live?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("view", &v.query())
            .append_pair("v", &version.to_string())
            .finish()
    );
    let section = |name: &str| PreEscaped(s.get(name).to_string());
    // Products and customers are ranked by the chart's metric where they have it.
    let ranked_by = dashboard::product_metric(v);
    let ranked_label = dashboard::view::metric_label(ranked_by).to_lowercase();
    let scope_note = (v.channel.is_some() || v.region.is_some())
        .then_some("Products are not split by channel or region: this list covers all of them.");
    html! {
        div #dash hx-ext="sse" sse-connect=(live_url) data-view=(v.query()) {
            div.dash-head {
                (filters)
                span #live-status .live-status data-state="connecting" role="status" title="Live updates" {
                    span.live-dot aria-hidden="true" {} span.live-text { "Connecting…" }
                }
            }
            // Reload the view when the stream says this browser fell behind.
            div #dash-refresh hx-get=(v.href()) hx-trigger="sse:refresh" hx-target="#dash" hx-swap="outerHTML" {}
            section.card #kpis aria-labelledby="kpis-h" {
                h2 #kpis-h { "Key figures" }
                div #live-kpis sse-swap="kpis" { (section("kpis")) }
            }
            section.card #trend aria-labelledby="trend-h" {
                h2 #trend-h { (dashboard::view::metric_label(v.metric)) " over time" }
                div #live-trend sse-swap="trend" { (section("trend")) }
            }
            div.dash-grid #live-breakdowns sse-swap="breakdowns" { (section("breakdowns")) }
            div.dash-grid {
                section.card #top-products {
                    h2 { "Top products" }
                    p.small.muted { "By " (ranked_label)
                        @if ranked_by == "revenue" { " after discounts" } "."
                        @if let Some(n) = scope_note { " " (n) } }
                    div #live-products sse-swap="products" { (section("products")) }
                }
                section.card #top-customers {
                    h2 { "Top customers" }
                    p.small.muted { "By " (ranked_label) "; refreshed every minute." }
                    div hx-get=(v.href().replacen("/dashboard", "/dashboard/top-customers", 1))
                        hx-trigger="load, every 60s" {
                        p.muted { "Loading…" }
                        noscript { p.muted { "Turn on JavaScript to see the top customers here." } }
                    }
                }
                section.card #latest-sales {
                    h2 { "Latest sales" }
                    div #live-ticker sse-swap="ticker" { (section("ticker")) }
                }
            }
        }
    }
}

pub async fn dashboard_page(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let v = view_of(query.as_deref())?;
    let href = v.href();
    // htmx swaps only the dashboard (its requests say they target it), except when restoring
    // history (it wants the page).
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let fragment =
        header("hx-target") == Some("dash") && !headers.contains_key("hx-history-restore-request");
    // A submitted form carries every field: the address bar shows the short canonical form.
    if !fragment && query.as_deref().unwrap_or("") != v.query() {
        return Ok(Redirect::to(&href).into_response());
    }
    let dash = dash_html(&state, a.user().org, v).await?;
    if fragment {
        // A reload after falling behind is the same address: no new history entry.
        if header("hx-trigger") == Some("dash-refresh") {
            return Ok(Html(dash).into_response());
        }
        return Ok(([("hx-push-url", href)], Html(dash)).into_response());
    }
    Ok(DashboardPage {
        shell: shell(&state, &a.principal, "Dashboard", "/dashboard").await?,
        dash,
    }
    .into_response())
}

/// The top customers panel of a view (loaded after the page, refreshed every minute).
pub async fn top_customers(
    State(state): State<AppState>,
    a: Authz<perm::SalesView>,
    RawQuery(query): RawQuery,
) -> AppResult<Html<String>> {
    let v = view_of(query.as_deref())?;
    let html = cached(
        &state,
        a.user().org,
        "dashboard-customers",
        v,
        |t, org, v, now, _| dashboard::top_customers(t, org, v, now),
    )
    .await?;
    Ok(Html(html))
}
