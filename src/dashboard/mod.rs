//! The sales dashboard: what a view shows, computed from the rollups in one read transaction
//! and rendered into named sections. The page renders every section; the live hub re-renders
//! the live ones once per distinct view when the org's data changes.

pub mod view;

use crate::analytics::{self, Dimension, Filters};
use crate::domain::Ts;
use crate::domain::org::Org;
use crate::error::AppResult;
use crate::render::dashboard as r;
use crate::store::sales;
pub use view::View;

/// The sections that update live, by SSE event name (also their element ids, prefixed
/// `live-`).
pub const LIVE_SECTIONS: [&str; 5] = ["kpis", "trend", "breakdowns", "products", "ticker"];

/// How many latest sales the ticker lists.
pub const TICKER_LEN: usize = 10;

/// The live sections of one view, rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Sections {
    pub kpis: String,
    pub trend: String,
    pub breakdowns: String,
    pub products: String,
    pub ticker: String,
}

impl Sections {
    pub fn get(&self, name: &str) -> &str {
        match name {
            "kpis" => &self.kpis,
            "trend" => &self.trend,
            "breakdowns" => &self.breakdowns,
            "products" => &self.products,
            _ => &self.ticker,
        }
    }
}

/// What, besides the data version and the view, decides a rendering: the local date (relative
/// presets move at midnight), the time zone and the currency.
pub fn stamp(org: &Org, now: Ts) -> String {
    format!(
        "{}|{}|{}",
        org.today(now),
        org.timezone,
        org.currency.code()
    )
}

/// The metric products are ranked by: the chart's, where products have it.
pub fn product_metric(v: &View) -> &'static str {
    analytics::RANKING_METRICS
        .iter()
        .copied()
        .find(|m| *m == v.metric)
        .unwrap_or("revenue")
}

/// Render every live section of `v` as of `now`.
pub fn sections(t: &redb::ReadTransaction, org: &Org, v: &View, now: Ts) -> AppResult<Sections> {
    let today = org.today(now);
    let range = v.range(today);
    let f = v.filters();
    let cur = &org.currency;
    let money = |x: f64| cur.display_units(x);

    let totals = analytics::total(t, org, range, &f)?;
    let prev = analytics::total(t, org, v.compare.range(range), &f)?;
    let summary = analytics::summary(org, &totals, &prev);
    // Sparklines at the automatic interval; the chart at the chosen one (one scan when equal).
    let auto = View {
        interval: None,
        ..v.clone()
    }
    .interval(today);
    let chosen = v.interval(today);
    let sparks = analytics::period_metrics(t, org, range, auto, None, &f)?;
    let chart = if chosen == auto && v.split.is_none() {
        sparks
            .as_ref()
            .map(|p| p.series(v.metric))
            .map_err(|e| e.message.clone())
    } else {
        analytics::period_metrics(t, org, range, chosen, v.split, &f)?
            .map(|p| p.series(v.metric))
            .map_err(|e| e.message.clone())
    };
    let trends = |metric: &str| -> Vec<f64> {
        match &sparks {
            Ok(p) => p
                .series(metric)
                .first()
                .map(|s| s.points.iter().map(|x| x.value).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    };
    let kpis = r::kpis(&summary, &trends, &money, v.compare_label());
    let axis_money = |x: f64| cur.display_brief(x, crate::render::chart::compact);
    let trend = r::trend(v, today, &chart, &money, &axis_money);

    let by = |d: Dimension| analytics::breakdown(t, org, range, d, &f, v.metric, 12);
    let breakdowns = r::breakdowns(
        v,
        &by(Dimension::Channel)?,
        &by(Dimension::Region)?,
        &by(Dimension::Category)?,
        &money,
    );

    let pm = product_metric(v);
    let top = analytics::product_breakdown(t, org, range, v.category.as_deref(), pm, 10)?;
    let products = r::ranking(
        &top,
        &*r::formatter(pm, &money),
        crate::render::catalog::product_href,
        "No products sold in this range.",
    );

    let latest = sales::latest_sales(t, org.id, TICKER_LEN, 5_000, |s| keeps(&f, s))?;
    let ticker = r::ticker(&latest, &org.tz(), &|m| cur.display_minor(m));

    Ok(Sections {
        kpis: kpis.into_string(),
        trend: trend.into_string(),
        breakdowns: breakdowns.into_string(),
        products: products.into_string(),
        ticker: ticker.into_string(),
    })
}

/// Whether a sale passes the view's filters (the ticker lists raw sales).
fn keeps(f: &Filters, s: &crate::domain::events::Sale) -> bool {
    f.channel.as_deref().is_none_or(|c| c == s.channel)
        && f.region.as_deref().is_none_or(|r| r == s.region)
        && f.category
            .as_deref()
            .is_none_or(|c| s.lines.iter().any(|l| l.category == c))
}

/// The values each filter can take: the groups with data in the view's range (ignoring the
/// filters themselves, so another channel can be picked).
pub fn filter_options(
    t: &redb::ReadTransaction,
    org: &Org,
    v: &View,
    now: Ts,
) -> AppResult<[Vec<String>; 3]> {
    let range = v.range(org.today(now));
    let all = Filters::default();
    let keys = |d: Dimension| -> AppResult<Vec<String>> {
        let mut k: Vec<String> = analytics::breakdown(t, org, range, d, &all, "orders", 100)?
            .into_iter()
            .map(|s| s.key)
            .collect();
        k.sort();
        Ok(k)
    };
    Ok([
        keys(Dimension::Channel)?,
        keys(Dimension::Region)?,
        keys(Dimension::Category)?,
    ])
}

/// The top customers of the view (channel and region filters apply; customers have no
/// category), loaded after the page: ranking customers reads one row per customer and day.
pub fn top_customers(t: &redb::ReadTransaction, org: &Org, v: &View, now: Ts) -> AppResult<String> {
    let range = v.range(org.today(now));
    let pm = product_metric(v);
    let top = analytics::customer_breakdown(
        t,
        org,
        range,
        v.channel.as_deref(),
        v.region.as_deref(),
        pm,
        10,
    )?;
    let cur = org.currency.clone();
    let money = move |x: f64| cur.display_units(x);
    Ok(r::ranking(
        &top,
        &*r::formatter(pm, &money),
        crate::render::catalog::customer_href,
        "No known customers bought in this range.",
    )
    .into_string())
}
