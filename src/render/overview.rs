//! The home page overview of the last 30 days: KPI tiles with their comparison, revenue by
//! day, revenue by channel, and the top products and customers.

use super::chart::{self, Bar, Line, LineChart};
use crate::analytics::{Kpi, Series, Share, Summary};
use maud::{Markup, html};

/// Everything the overview shows, already computed.
pub struct Overview<'a> {
    pub summary: &'a Summary,
    /// Revenue per day (one series).
    pub revenue_by_day: &'a [Series],
    pub channels: &'a [Share],
    pub products: &'a [Share],
    /// Formats an amount in the org's currency, given in currency units.
    pub money: &'a dyn Fn(f64) -> String,
}

fn count(v: f64) -> String {
    super::grouped(v.round().max(0.0) as u64)
}

fn percent(v: f64) -> String {
    format!("{v:.2}%")
}

fn tile(label: &str, k: &Kpi, fmt: &dyn Fn(f64) -> String, good_when_up: bool) -> Markup {
    let (change, trend) = match k.change_pct {
        Some(p) if p > 0.0 => (format!("+{p:.1}%"), "up"),
        Some(p) if p < 0.0 => (format!("{p:.1}%"), "down"),
        Some(_) => ("0%".to_string(), "flat"),
        None => (String::new(), "flat"),
    };
    let mood = match (trend, good_when_up) {
        ("flat", _) => "flat",
        ("up", true) | ("down", false) => "good",
        _ => "bad",
    };
    html! {
        li.tile {
            span.tile-label { (label) }
            span.tile-value { (fmt(k.value)) }
            span class=(format!("tile-change trend-{trend} mood-{mood}")) {
                @if trend == "up" { "▲ " } @else if trend == "down" { "▼ " }
                (change) " " span.muted { "from " (fmt(k.previous)) }
            }
        }
    }
}

/// "2026-11-03" -> "Nov 3"; anything else is shown as it is.
pub fn day_label(t: &str) -> String {
    t.parse::<jiff::civil::Date>()
        .map(|d| d.strftime("%b %-d").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Where the top customers panel loads from: ranking customers reads one row per customer
/// and day, so it comes after the page instead of holding it up.
pub const TOP_CUSTOMERS_PATH: &str = "/overview/top-customers";

/// The top customers of the last 30 days (the panel's content).
pub fn top_customers(items: &[Share], money: &dyn Fn(f64) -> String) -> Markup {
    ranking(
        items,
        money,
        "No known customers bought in the last 30 days.",
    )
}

fn ranking(items: &[Share], money: &dyn Fn(f64) -> String, empty: &str) -> Markup {
    if items.is_empty() {
        return html! { p.muted { (empty) } };
    }
    html! {
        ol.ranking {
            @for s in items {
                li {
                    span.rank-name {
                        (s.name.as_deref().unwrap_or(&s.key))
                        @if s.name.is_some() { " " span.muted.small { (s.key) } }
                    }
                    span.rank-value { (money(s.value)) }
                }
            }
        }
    }
}

pub fn overview(o: &Overview) -> Markup {
    let s = o.summary;
    let money = o.money;
    let labels: Vec<String> = o
        .revenue_by_day
        .first()
        .map(|s| s.points.iter().map(|p| day_label(&p.t)).collect())
        .unwrap_or_default();
    let values: Vec<Vec<f64>> = o
        .revenue_by_day
        .iter()
        .map(|s| s.points.iter().map(|p| p.value).collect())
        .collect();
    let lines: Vec<Line> = o
        .revenue_by_day
        .iter()
        .zip(&values)
        .map(|(s, v)| Line {
            name: &s.key,
            values: v,
        })
        .collect();
    let bars: Vec<Bar> = o
        .channels
        .iter()
        .map(|c| Bar {
            label: &c.key,
            href: None,
            value: c.value,
            share: c.share,
        })
        .collect();
    html! {
        section.card {
            h2 { "The last 30 days" }
            p.small.muted { "Compared with the 30 days before." }
            ul.tiles #kpis {
                (tile("Revenue", &s.revenue, money, true))
                (tile("Net revenue", &s.net_revenue, money, true))
                (tile("Orders", &s.orders, &count, true))
                (tile("Average order", &s.average_order_value, money, true))
                (tile("Conversion", &s.conversion_rate, &percent, true))
                (tile("New customers", &s.new_customers, &count, true))
                (tile("Refunds", &s.refunds, money, false))
                (tile("Margin", &s.margin, money, true))
            }
        }
        section.card #revenue-chart {
            h2 { "Revenue by day" }
            (chart::line_chart(&LineChart {
                title: "Revenue by day, last 30 days",
                x_labels: &labels,
                lines: &lines,
                format: money,
                axis: &chart::compact,
                empty: "No revenue in the last 30 days.",
            }))
        }
        div.overview-grid {
            section.card #by-channel {
                h2 { "Revenue by channel" }
                (chart::bars(&bars, money, "No sales in the last 30 days."))
            }
            section.card #top-products {
                h2 { "Top products" }
                p.small.muted { "By revenue after discounts." }
                (ranking(o.products, money, "No products sold in the last 30 days."))
            }
            section.card #top-customers {
                h2 { "Top customers" }
                p.small.muted { "By revenue after discounts." }
                div hx-get=(TOP_CUSTOMERS_PATH) hx-trigger="load" hx-swap="outerHTML" {
                    p.muted { "Loading…" }
                    noscript { p.muted { "Turn on JavaScript to see the top customers here." } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn day_labels_are_short() {
        assert_eq!(super::day_label("2026-11-03"), "Nov 3");
        assert_eq!(super::day_label("2026-11"), "2026-11");
    }
}
