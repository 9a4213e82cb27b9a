//! The dashboard's sections, one function each. The page and the live stream render the same
//! functions, so a live update is exactly what a reload would show.

use super::chart::{self, Bar, Line, LineChart};
use crate::analytics::{Kpi, Series, Share, Summary};
use crate::dashboard::view::{self, CHART_METRICS, Preset, View};
use crate::domain::events::Sale;
use maud::{Markup, html};

/// Formats an amount in the org's currency, given in currency units.
pub type Money<'a> = &'a dyn Fn(f64) -> String;

fn count(v: f64) -> String {
    super::grouped(v.round().max(0.0) as u64)
}

fn percent(v: f64) -> String {
    format!("{v:.2}%")
}

/// How a metric's values read: money, a count or a percentage.
pub fn formatter<'a>(metric: &str, money: Money<'a>) -> Box<dyn Fn(f64) -> String + 'a> {
    match unit(metric) {
        Unit::Count => Box::new(count),
        Unit::Percent => Box::new(percent),
        Unit::Money => Box::new(money),
    }
}

enum Unit {
    Count,
    Percent,
    Money,
}

fn unit(metric: &str) -> Unit {
    match metric {
        "orders" | "units" | "new_customers" | "returning_customers" | "visits" => Unit::Count,
        "conversion_rate" => Unit::Percent,
        _ => Unit::Money,
    }
}

/// "2026-11-03" -> "Nov 3"; "2026-11" -> "Nov 2026"; an hour -> "14:00"; else as it is.
pub fn period_label(t: &str) -> String {
    if let Some((_, time)) = t.split_once('T') {
        return time.get(..5).unwrap_or(time).to_string();
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        return d.strftime("%b %-d").to_string();
    }
    if let Ok(d) = format!("{t}-01").parse::<jiff::civil::Date>() {
        return d.strftime("%b %Y").to_string();
    }
    t.to_string()
}

/// One KPI tile with its sparkline.
pub struct Tile<'a> {
    pub label: &'a str,
    pub kpi: &'a Kpi,
    pub format: &'a dyn Fn(f64) -> String,
    /// Whether a rise is good news (refunds: no).
    pub good_when_up: bool,
    pub trend: &'a [f64],
}

fn tile(t: &Tile) -> Markup {
    let k = t.kpi;
    let (change, trend) = match k.change_pct {
        Some(p) if p > 0.0 => (format!("+{p:.1}%"), "up"),
        Some(p) if p < 0.0 => (format!("{p:.1}%"), "down"),
        Some(_) => ("0%".to_string(), "flat"),
        None => (String::new(), "flat"),
    };
    let mood = match (trend, t.good_when_up) {
        ("flat", _) => "flat",
        ("up", true) | ("down", false) => "good",
        _ => "bad",
    };
    html! {
        li.tile {
            span.tile-label { (t.label) }
            span.tile-value { ((t.format)(k.value)) }
            span class=(format!("tile-change trend-{trend} mood-{mood}")) {
                @if trend == "up" { "▲ " } @else if trend == "down" { "▼ " }
                (change) " " span.muted { "from " ((t.format)(k.previous)) }
            }
            (chart::sparkline(t.trend, &format!("{} over the range", t.label)))
        }
    }
}

/// The KPI tiles. `trends` holds each tile's series by metric name.
pub fn kpis(s: &Summary, trends: &dyn Fn(&str) -> Vec<f64>, money: Money, compare: &str) -> Markup {
    let tiles: [(&str, &Kpi, &str, bool); 8] = [
        ("Revenue", &s.revenue, "revenue", true),
        ("Net revenue", &s.net_revenue, "net_revenue", true),
        ("Orders", &s.orders, "orders", true),
        (
            "Average order",
            &s.average_order_value,
            "average_order_value",
            true,
        ),
        ("Conversion", &s.conversion_rate, "conversion_rate", true),
        ("New customers", &s.new_customers, "new_customers", true),
        ("Refunds", &s.refunds, "refunds", false),
        ("Margin", &s.margin, "margin", true),
    ];
    html! {
        p.small.muted { "Compared with " (compare) ". Returning customers: "
            (count(s.returning_customers.value)) "." }
        ul.tiles {
            @for (label, kpi, metric, good) in tiles {
                @let f = formatter(metric, money);
                @let trend = trends(metric);
                (tile(&Tile { label, kpi, format: &f, good_when_up: good, trend: &trend }))
            }
        }
    }
}

/// The chart section: metric, interval and split switches, then the chart. `series` is
/// `Err(message)` when the view cannot be charted (e.g. too many points).
pub fn trend(
    v: &View,
    today: jiff::civil::Date,
    series: &Result<Vec<Series>, String>,
    money: Money,
    axis_money: Money,
) -> Markup {
    let metric = v.metric;
    let label = view::metric_label(metric);
    let interval = v.interval(today);
    let f = formatter(metric, money);
    html! {
        div.chart-controls hx-boost="true" hx-target="#dash" hx-select="#dash" hx-swap="outerHTML" {
            nav.switch aria-label="Interval" {
                @for i in [crate::analytics::Interval::Hour, crate::analytics::Interval::Day,
                           crate::analytics::Interval::Week, crate::analytics::Interval::Month] {
                    @let name = i.as_str();
                    // Ids let htmx give focus back to the link after the swap.
                    a id=(format!("interval-{name}")) href=(v.with(|x| x.interval = Some(i)).href())
                        aria-current=[(i == interval).then_some("true")] { (name) }
                }
            }
            nav.switch aria-label="Split" {
                @for (d, name) in [(None, "total"),
                                   (Some(crate::analytics::Dimension::Channel), "by channel"),
                                   (Some(crate::analytics::Dimension::Region), "by region"),
                                   (Some(crate::analytics::Dimension::Category), "by category")] {
                    a id=(format!("split-{}", d.map_or("total", |d| d.as_str())))
                        href=(v.with(|x| x.split = d).href())
                        aria-current=[(d == v.split).then_some("true")] { (name) }
                }
            }
        }
        @match series {
            Err(msg) => p.chart-empty role="note" { (msg) },
            Ok(series) => {
                @let labels: Vec<String> = series.first()
                    .map(|s| s.points.iter().map(|p| period_label(&p.t)).collect())
                    .unwrap_or_default();
                @let values: Vec<Vec<f64>> = series.iter()
                    .map(|s| s.points.iter().map(|p| p.value).collect()).collect();
                @let lines: Vec<Line> = series.iter().zip(&values)
                    .map(|(s, vals)| Line { name: &s.key, values: vals }).collect();
                // A click on a day (or a week or month: its first day) narrows the view to it.
                @let links: Vec<String> = series.first().map(|s| s.points.iter()
                    .map(|p| match day_of(&p.t) {
                        Some(d) => v.on_day(d).href(),
                        None => String::new(),
                    }).collect()).unwrap_or_default();
                @let title = format!("{label} by {}", interval.as_str());
                (chart::line_chart(&LineChart {
                    title: &title,
                    x_labels: &labels,
                    lines: &lines,
                    format: &f,
                    axis: match unit(metric) {
                        Unit::Percent => &percent,
                        Unit::Count => &chart::compact,
                        Unit::Money => axis_money,
                    },
                    empty: "Nothing to chart for this range and these filters.",
                    x_links: (interval == crate::analytics::Interval::Day).then_some(&links[..]),
                }))
            }
        }
    }
}

fn day_of(t: &str) -> Option<jiff::civil::Date> {
    t.parse().ok()
}

/// Bars by channel, region and category; each bar narrows the view to its group.
pub fn breakdowns(
    v: &View,
    channels: &[Share],
    regions: &[Share],
    categories: &[Share],
    money: Money,
) -> Markup {
    let f = formatter(v.metric, money);
    let label = view::metric_label(v.metric);
    let panel = |title: &str, id: &str, items: &[Share], set: fn(&mut View, String)| {
        let bars: Vec<Bar> = items
            .iter()
            .enumerate()
            .map(|(k, s)| Bar {
                label: &s.key,
                id: Some(format!("{id}-{k}")),
                href: Some(v.with(|x| set(x, s.key.clone())).href()),
                value: s.value,
                share: s.share,
            })
            .collect();
        html! {
            section.card id=(id) {
                h2 { (label) " by " (title) }
                // Drill-down swaps the dashboard in place. (On a wrapper inside the live
                // section: the section itself must keep its own swap rules.)
                div hx-boost="true" hx-target="#dash" hx-select="#dash" hx-swap="outerHTML" {
                    (chart::bars(&bars, &f, "Nothing in this range."))
                }
            }
        }
    };
    html! {
        (panel("channel", "by-channel", channels, |x, k| x.channel = Some(k)))
        (panel("region", "by-region", regions, |x, k| x.region = Some(k)))
        (panel("category", "by-category", categories, |x, k| x.category = Some(k)))
    }
}

/// A ranked list of products or customers, each linked to its page by `href`.
pub fn ranking(
    items: &[Share],
    format: &dyn Fn(f64) -> String,
    href: fn(&str) -> String,
    empty: &str,
) -> Markup {
    if items.is_empty() {
        return html! { p.muted { (empty) } };
    }
    html! {
        ol.ranking {
            @for s in items {
                li {
                    span.rank-name {
                        a href=(href(&s.key)) { (s.name.as_deref().unwrap_or(&s.key)) }
                        @if s.name.is_some() { " " span.muted.small { (s.key) } }
                    }
                    span.rank-value { (format(s.value)) }
                }
            }
        }
    }
}

/// The latest sales, newest first.
pub fn ticker(sales: &[Sale], tz: &jiff::tz::TimeZone, money: &dyn Fn(i64) -> String) -> Markup {
    if sales.is_empty() {
        return html! { p.muted { "No sales match these filters yet." } };
    }
    html! {
        ol.ticker {
            @for s in sales {
                @let when = s.at.timestamp().to_zoned(tz.clone());
                li {
                    time datetime=(s.at.timestamp().to_string()) { (when.strftime("%b %-d %H:%M")) }
                    span.ticker-amount { (money(s.gross() - s.discount)) }
                    span.muted.small { (s.channel) " · " (s.region) }
                }
            }
        }
    }
}

/// The filter form: a plain GET form (works without JavaScript); with htmx every change
/// swaps the dashboard and pushes the URL.
pub fn filters(
    v: &View,
    today: jiff::civil::Date,
    channels: &[String],
    regions: &[String],
    categories: &[String],
) -> Markup {
    let (from, to) = v.days(today);
    let select = |name: &str,
                  label: &str,
                  all: &str,
                  options: &[String],
                  current: &Option<String>| {
        html! {
            label.field {
                span { (label) }
                select name=(name) id=(format!("f-{name}")) {
                    option value="" { (all) }
                    // A filter value with no data in the range stays selectable.
                    @if let Some(c) = current { @if !options.contains(c) {
                        option value=(c) selected { (c) }
                    } }
                    @for o in options {
                        option value=(o) selected[current.as_deref() == Some(o.as_str())] { (o) }
                    }
                }
            }
        }
    };
    html! {
        form.filters #dash-filters method="get" action="/dashboard"
            hx-get="/dashboard" hx-target="#dash" hx-swap="outerHTML" hx-push-url="true"
            hx-trigger="change, submit" {
            label.field {
                span { "Dates" }
                select name="range" #range {
                    @for p in Preset::ALL {
                        option value=(p.as_str()) selected[p == v.preset] { (p.label()) }
                    }
                }
            }
            label.field { span { "From" } input #f-from type="date" name="from" value=(from.to_string()); }
            label.field { span { "To" } input #f-to type="date" name="to" value=(to.to_string()); }
            label.field {
                span { "Compare with" }
                select #f-compare name="compare" {
                    option value="previous_period" selected[v.compare == view::Compare::PreviousPeriod] { "Period before" }
                    option value="previous_year" selected[v.compare == view::Compare::PreviousYear] { "Year before" }
                }
            }
            (select("channel", "Channel", "All channels", channels, &v.channel))
            (select("region", "Region", "All regions", regions, &v.region))
            (select("category", "Category", "All categories", categories, &v.category))
            label.field {
                span { "Chart" }
                select #f-metric name="metric" {
                    @for (m, l) in CHART_METRICS {
                        option value=(m) selected[m == v.metric] { (l) }
                    }
                }
            }
            @if let Some(i) = v.interval { input type="hidden" name="interval" value=(i.as_str()); }
            @if let Some(d) = v.split { input type="hidden" name="split" value=(d.as_str()); }
            div.filter-actions {
                button.btn type="submit" { "Apply" }
                @if *v != View::default() { a.btn.btn-ghost href="/dashboard" { "Reset" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_labels_are_short() {
        assert_eq!(period_label("2026-11-03"), "Nov 3");
        assert_eq!(period_label("2026-11"), "Nov 2026");
        assert_eq!(period_label("2026-11-03T14:00:00+01:00"), "14:00");
        assert_eq!(period_label("whatever"), "whatever");
    }
}
