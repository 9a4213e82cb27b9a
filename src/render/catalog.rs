//! Customer and product pages: figures, a monthly history chart, and the model in words.

use super::chart::{self, Line, LineChart};
use crate::analytics::{day_date, month_start};
use crate::domain::money::Currency;
use crate::store::sales::{CustomerAgg, Figures, ProductAgg};
use maud::{Markup, html};

/// A path segment with everything but unreserved characters percent-encoded (ids and SKUs
/// can hold anything).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn customer_href(id: &str) -> String {
    format!("/customers/{}", segment(id))
}

pub fn product_href(sku: &str) -> String {
    format!("/products/{}", segment(sku))
}

/// Month labels and per-month revenue and orders lines.
fn history(title: &str, months: &[(i32, Figures)], cur: &Currency) -> Markup {
    let money = |m: i64| cur.display_minor(m);
    let minor_per_unit = cur.minor_per_unit();
    let labels: Vec<String> = months
        .iter()
        .map(|(m, _)| day_date(month_start(*m)).strftime("%b %Y").to_string())
        .collect();
    let revenue: Vec<f64> = months
        .iter()
        .map(|(_, f)| (f.revenue - f.refunds) as f64 / minor_per_unit)
        .collect();
    let lines = [Line {
        name: "net revenue",
        values: &revenue,
    }];
    let fmt = |v: f64| money((v * minor_per_unit).round() as i64);
    html! {
        (chart::line_chart(&LineChart {
            title,
            x_labels: &labels,
            lines: &lines,
            format: &fmt,
            axis: &chart::compact,
            empty: "No purchases in the last twelve months.",
            x_links: None,
        }))
        details.month-table {
            summary { "Month by month" }
            div.table-wrap { table.table {
                thead { tr { th scope="col" { "Month" } th.num scope="col" { "Orders" } th.num scope="col" { "Units" }
                    th.num scope="col" { "Revenue" } th.num scope="col" { "Refunds" } } }
                tbody {
                    @for ((_, f), label) in months.iter().zip(&labels).rev() {
                        tr { th scope="row" { (label) } td.num { (super::grouped(f.orders.max(0) as u64)) }
                            td.num { (super::grouped(f.units.max(0) as u64)) }
                            td.num { (money(f.revenue)) } td.num { (money(f.refunds)) } }
                    }
                }
            } }
        }
    }
}

pub struct CustomerPage<'a> {
    pub id: &'a str,
    pub agg: &'a CustomerAgg,
    pub value: &'a crate::domain::customers::Value,
    pub months: &'a [(i32, Figures)],
    pub currency: &'a Currency,
    pub tz: &'a jiff::tz::TimeZone,
}

fn when(t: Option<crate::domain::Ts>, tz: &jiff::tz::TimeZone) -> String {
    t.map(|t| {
        t.timestamp()
            .to_zoned(tz.clone())
            .strftime("%b %-d, %Y")
            .to_string()
    })
    .unwrap_or_else(|| "—".into())
}

pub fn customer(p: &CustomerPage) -> Markup {
    let c = p.agg;
    let v = p.value;
    let money = &|m: i64| p.currency.display_minor(m);
    html! {
        p.muted { "Customer " code { (p.id) }
            @if let Some(e) = &c.email { " · " (e) }
            @if let Some(r) = &c.region { " · " (r) } }
        section.card {
            h2 { "Value" }
            dl.counts {
                div { dt { "Orders" } dd #customer-orders { (super::grouped(c.orders.max(0) as u64)) } }
                div { dt { "Revenue" } dd { (money(c.revenue)) } }
                div { dt { "Refunds" } dd { (money(c.refunds)) } }
                div { dt { "Lifetime value" } dd #customer-ltv { (money(v.ltv)) } }
                div { dt { "Predicted LTV" } dd { (money(v.predicted_ltv)) } }
                div { dt { "Average order" } dd { (money(v.average_order_value)) } }
                div { dt { "Churn risk" } dd #customer-churn { (format!("{:.0}%", v.churn_risk * 100.0)) } }
                div { dt { "First purchase" } dd { (when(c.first.as_ref().map(|f| f.0), p.tz)) } }
                div { dt { "Last purchase" } dd { (when(c.last_purchase, p.tz)) } }
            }
            h3 { "What this means" }
            p #customer-explanation { (v.explanation(money)) }
            p.small.muted {
                "Lifetime value is revenue after discounts minus refunds. Churn risk grows with the days since the last purchase, measured against this customer's own typical gap between orders (90 days is assumed for one-time buyers). Predicted LTV adds the next twelve months at the average order value, weighted by the chance they stay."
            }
        }
        section.card #customer-history {
            h2 { "Last twelve months" }
            (history("Net revenue by month", p.months, p.currency))
        }
    }
}

pub struct ProductPage<'a> {
    pub sku: &'a str,
    pub agg: &'a ProductAgg,
    pub months: &'a [(i32, Figures)],
    pub currency: &'a Currency,
    /// Where the category filter of the dashboard is.
    pub category_href: String,
}

pub fn product(p: &ProductPage) -> Markup {
    let f = &p.agg.figures;
    let money = |m: i64| p.currency.display_minor(m);
    let return_rate = if f.units > 0 {
        f.refunded_units as f64 / f.units as f64 * 100.0
    } else {
        0.0
    };
    html! {
        p.muted { "SKU " code { (p.sku) } " · " a href=(p.category_href) { (p.agg.category) } }
        section.card {
            h2 { "All time" }
            dl.counts {
                div { dt { "Orders" } dd #product-orders { (super::grouped(f.orders.max(0) as u64)) } }
                div { dt { "Units sold" } dd { (super::grouped(f.units.max(0) as u64)) } }
                div { dt { "Revenue" } dd #product-revenue { (money(f.revenue)) } }
                div { dt { "Refunds" } dd { (money(f.refunds)) } }
                div { dt { "Units returned" } dd { (super::grouped(f.refunded_units.max(0) as u64)) } }
                div { dt { "Return rate" } dd { (format!("{return_rate:.1}%")) } }
                div { dt { "Margin" } dd { (money(f.revenue - f.refunds - f.cost)) } }
            }
            p.small.muted { "Revenue is after the order discounts spread over the lines. Margin is revenue minus refunds minus the unit costs sent with the sales (lines without a cost count as cost 0)." }
        }
        section.card #product-history {
            h2 { "Last twelve months" }
            (history("Net revenue by month", p.months, p.currency))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(super::segment("c-42_x.y~z"), "c-42_x.y~z");
        assert_eq!(super::segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
