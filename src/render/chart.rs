//! Charts drawn on the server as SVG: a line chart with axes, gridlines, legend and a `<title>`
//! on every point (hover shows the exact value), a sparkline, and horizontal share bars. No
//! chart library and no JavaScript; colours come from CSS classes (`series-0` …), so light
//! and dark themes restyle them. Every chart carries a text alternative.

use maud::{Markup, html};

/// Distinct series colours (CSS classes `series-0` … `series-7`); more series reuse them.
pub const PALETTE: usize = 8;

/// Round gridline values covering `[lo, hi]`: steps of 1, 2 or 5 × 10^k, about `want` of
/// them, always including 0 when the range does.
pub fn nice_ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let (lo, hi) = (finite(lo), finite(hi));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON {
        // A flat line still gets an axis: from 0 (or the value) up to something round.
        if hi > 0.0 {
            (0.0, hi)
        } else if hi < 0.0 {
            (hi, 0.0)
        } else {
            (0.0, 1.0)
        }
    } else {
        (lo, hi)
    };
    let want = want.max(1) as f64;
    let raw = (hi - lo) / want;
    let mag = 10f64.powf(raw.log10().floor());
    // The finest round step that gives at most one gap more than asked for.
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= want + 1.0)
        .unwrap_or(10.0 * mag);
    // Ticks are whole multiples of the step, rounded to the step's decimals (no float dust
    // such as 0.6000000000000001, no -0).
    let decimals = (-step.log10().floor()).max(0.0) as i32;
    let p = 10f64.powi(decimals);
    let mut out = Vec::new();
    let mut k = (lo / step).floor() as i64;
    loop {
        let r = (k as f64 * step * p).round() / p;
        out.push(if r == 0.0 { 0.0 } else { r });
        if r >= hi || out.len() > 50 {
            break;
        }
        k += 1;
    }
    out
}

/// One line of a chart: a name for the legend and one value per x position (same length
/// for every series of a chart).
pub struct Line<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
}

/// A line chart over labelled x positions (periods).
pub struct LineChart<'a> {
    /// Says what the chart shows, for screen readers and as the SVG title.
    pub title: &'a str,
    /// Label of each x position (e.g. "Nov 3"), shown under the axis when there is room
    /// and in every point's hover text.
    pub x_labels: &'a [String],
    pub lines: &'a [Line<'a>],
    /// Formats a value for the hover text (e.g. "$1,234.50").
    pub format: &'a dyn Fn(f64) -> String,
    /// Formats a gridline value, briefly (e.g. "1.5k").
    pub axis: &'a dyn Fn(f64) -> String,
    /// Shown instead of the chart when there is nothing to draw.
    pub empty: &'a str,
    /// Per x position, where a click on that column leads (drill-down); empty strings for
    /// none.
    pub x_links: Option<&'a [String]>,
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn fmt_coord(v: f64) -> String {
    format!("{:.1}", v)
}

/// The chart, or the empty state when there are no positions or every value is zero.
pub fn line_chart(c: &LineChart) -> Markup {
    let n = c.x_labels.len();
    let all = || c.lines.iter().flat_map(|l| l.values.iter().copied());
    if n == 0 || c.lines.is_empty() || all().all(|v| v == 0.0) {
        return html! { p.chart-empty role="note" { (c.empty) } };
    }
    let lo = all().fold(0f64, f64::min);
    let hi = all().fold(0f64, f64::max);
    let ticks = nice_ticks(lo, hi, 4);
    let (y0, y1) = (ticks[0], *ticks.last().unwrap_or(&1.0));
    let span = if y1 > y0 { y1 - y0 } else { 1.0 };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| {
        if n == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - y0) / span);
    // About six x labels, evenly spaced, always the first and the last.
    let every = n.div_ceil(6).max(1);
    let shown: Vec<usize> = (0..n)
        .filter(|i| i % every == 0 || *i == n - 1)
        .filter(|i| *i == n - 1 || n - 1 - i >= every / 2 || every == 1)
        .collect();
    let summary = summary_text(c);
    html! {
        figure.chart {
            // With drill-down links the chart is a group (a screen reader must reach the
            // links); without, one image with its text alternative.
            svg viewBox=(format!("0 0 {W} {H}")) role=(if c.x_links.is_some() { "group" } else { "img" })
                aria-label=(summary) {
                title { (c.title) }
                g.grid {
                    @for t in &ticks {
                        line x1=(fmt_coord(LEFT)) x2=(fmt_coord(W - RIGHT))
                            y1=(fmt_coord(y(*t))) y2=(fmt_coord(y(*t))) {}
                        text.axis x=(fmt_coord(LEFT - 6.0)) y=(fmt_coord(y(*t) + 4.0))
                            text-anchor="end" { ((c.axis)(*t)) }
                    }
                }
                g.xaxis {
                    @for i in &shown {
                        text.axis x=(fmt_coord(x(*i))) y=(fmt_coord(H - 8.0))
                            text-anchor=(if n == 1 { "middle" } else if *i == 0 { "start" } else if *i == n - 1 { "end" } else { "middle" }) {
                            (c.x_labels[*i])
                        }
                    }
                }
                @if let Some(links) = c.x_links {
                    // One clickable column per position, under the lines' hover points.
                    g.hits {
                        @for (i, href) in links.iter().enumerate().take(n) {
                            @if !href.is_empty() {
                                @let half = if n == 1 { plot_w / 2.0 } else { plot_w / (n - 1) as f64 / 2.0 };
                                a href=(href) {
                                    title { "Show " (c.x_labels[i]) " only" }
                                    rect x=(fmt_coord((x(i) - half).max(LEFT))) y=(fmt_coord(TOP))
                                        width=(fmt_coord(2.0 * half)) height=(fmt_coord(plot_h)) {}
                                }
                            }
                        }
                    }
                }
                @for (k, l) in c.lines.iter().enumerate() {
                    g class=(format!("line series-{}", k % PALETTE)) {
                        polyline fill="none" points=(
                            l.values.iter().enumerate()
                                .map(|(i, v)| format!("{},{}", fmt_coord(x(i)), fmt_coord(y(*v))))
                                .collect::<Vec<_>>().join(" ")
                        ) {}
                        @for (i, v) in l.values.iter().enumerate() {
                            // A lone point has no line through it: always show it.
                            circle.solo[n == 1] cx=(fmt_coord(x(i))) cy=(fmt_coord(y(*v))) r="3" {
                                title { (c.x_labels[i]) ": " (l.name) " " ((c.format)(*v)) }
                            }
                        }
                    }
                }
            }
            @if c.lines.len() > 1 {
                ul.legend {
                    @for (k, l) in c.lines.iter().enumerate() {
                        li { span class=(format!("swatch series-{}", k % PALETTE)) {} (l.name) }
                    }
                }
            }
        }
    }
}

/// The text alternative: per line, its total, highest point and last value.
fn summary_text(c: &LineChart) -> String {
    let mut parts = vec![format!(
        "{}, {} to {}.",
        c.title,
        c.x_labels.first().map(String::as_str).unwrap_or(""),
        c.x_labels.last().map(String::as_str).unwrap_or("")
    )];
    for l in c.lines {
        let peak = l
            .values
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)));
        if let Some((i, v)) = peak {
            parts.push(format!(
                "{}: highest {} on {}, last {}.",
                l.name,
                (c.format)(*v),
                c.x_labels[i],
                (c.format)(*l.values.last().unwrap_or(&0.0))
            ));
        }
    }
    parts.join(" ")
}

/// A number in a few characters for an axis: 950, 1.5k, 12k, 3.2M, 0.25.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.abs() < 10.0 {
        let two = format!("{x:.2}");
        two.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.0}")
    };
    format!("{s}{unit}")
}

/// A small trend line without axes (for KPI tiles); nothing when there are fewer than two
/// values.
pub fn sparkline(values: &[f64], label: &str) -> Markup {
    if values.len() < 2 {
        return html! {};
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (w, h) = (100.0, 24.0);
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = w * i as f64 / (values.len() - 1) as f64;
            let y = 2.0 + (h - 4.0) * (1.0 - (v - lo) / span);
            format!("{},{}", fmt_coord(x), fmt_coord(y))
        })
        .collect();
    html! {
        svg.sparkline viewBox=(format!("0 0 {w} {h}")) preserveAspectRatio="none"
            role="img" aria-label=(label) {
            polyline fill="none" points=(pts.join(" ")) {}
        }
    }
}

/// One bar of a share list.
pub struct Bar<'a> {
    pub label: &'a str,
    /// An id for its link (so focus can be given back after a live update).
    pub id: Option<String>,
    /// Where a click narrows the view to this item (drill-down), if anywhere.
    pub href: Option<String>,
    pub value: f64,
    /// Part of the total, 0–1, when the metric adds up.
    pub share: Option<f64>,
}

/// Horizontal bars, longest first as given, each with its value and share; bar lengths are
/// relative to the largest value.
pub fn bars(items: &[Bar], format: &dyn Fn(f64) -> String, empty: &str) -> Markup {
    if items.is_empty() {
        return html! { p.chart-empty role="note" { (empty) } };
    }
    let max = items
        .iter()
        .map(|b| b.value.abs())
        .fold(0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    html! {
        ul.bars {
            @for (k, b) in items.iter().enumerate() {
                li {
                    span.bar-label {
                        @if let Some(h) = &b.href { a id=[b.id.as_deref()] href=(h) { (b.label) } } @else { (b.label) }
                    }
                    // An SVG bar: its width is an attribute, so no inline style is needed
                    // (the CSP allows none).
                    svg.bar-track viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true" {
                        rect class=(format!("bar-fill series-{}", k % PALETTE))
                            width=(format!("{:.1}", b.value.abs() / max * 100.0)) height="1" {}
                    }
                    span.bar-value {
                        (format(b.value))
                        @if let Some(s) = b.share { " · " (format!("{:.1}%", s * 100.0)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 97.0, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.0, 0.0, 4), nice_ticks(0.0, 1.0, 4));
        assert_eq!(
            nice_ticks(0.0, 12_345.0, 4),
            vec![0.0, 5000.0, 10000.0, 15000.0]
        );
        let t = nice_ticks(-30.0, 70.0, 4);
        assert!(
            t.contains(&0.0) && t[0] <= -30.0 && *t.last().unwrap() >= 70.0,
            "{t:?}"
        );
        let t = nice_ticks(0.0, 0.3, 3);
        assert_eq!(t, vec![0.0, 0.1, 0.2, 0.3]);
        // not-a-number never reaches the axis
        assert_eq!(
            nice_ticks(f64::NAN, f64::INFINITY, 4),
            nice_ticks(0.0, 0.0, 4)
        );
        // flat non-zero lines start at zero
        assert_eq!(nice_ticks(50.0, 50.0, 4)[0], 0.0);
    }

    #[test]
    fn axis_numbers_are_brief() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(compact(15000.0), "15k");
        assert_eq!(compact(3_200_000.0), "3.2M");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(-2000.0), "-2k");
        assert_eq!(compact(9999.0), "10k");
        assert_eq!(compact(0.001), "0");
    }

    fn money(v: f64) -> String {
        format!("${v:.0}")
    }

    #[test]
    fn line_chart_draws_points_with_exact_hover_values_and_a_legend() {
        let labels: Vec<String> = ["Nov 1", "Nov 2", "Nov 3"].map(String::from).to_vec();
        let (a, b) = ([10.0, 30.0, 20.0], [5.0, 0.0, 7.0]);
        let lines = [
            Line {
                name: "online",
                values: &a,
            },
            Line {
                name: "<retail>",
                values: &b,
            },
        ];
        let html = line_chart(&LineChart {
            title: "Revenue by day",
            x_labels: &labels,
            lines: &lines,
            format: &money,
            axis: &compact,
            empty: "No sales",
            x_links: None,
        })
        .into_string();
        assert_eq!(html.matches("<circle").count(), 6);
        assert!(html.contains("<title>Nov 2: online $30</title>"), "{html}");
        assert!(html.contains("&lt;retail&gt;") && !html.contains("<retail>"));
        assert!(html.contains("class=\"legend\""));
        assert!(html.contains(
            "aria-label=\"Revenue by day, Nov 1 to Nov 3. online: highest $30 on Nov 2, last $20."
        ));
        // y axis labels, brief
        assert!(html.contains(">30<") || html.contains(">35<"), "{html}");
    }

    #[test]
    fn nothing_to_draw_is_said_plainly() {
        let labels = vec!["Nov 1".to_string()];
        let zero = [0.0];
        let html = line_chart(&LineChart {
            title: "Revenue",
            x_labels: &labels,
            lines: &[Line {
                name: "all",
                values: &zero,
            }],
            format: &money,
            axis: &compact,
            empty: "No sales in this range yet.",
            x_links: None,
        })
        .into_string();
        assert!(html.contains("No sales in this range yet.") && !html.contains("<svg"));
        assert!(
            bars(&[], &money, "Nothing")
                .into_string()
                .contains("Nothing")
        );
        assert_eq!(sparkline(&[1.0], "x").into_string(), "");
    }

    #[test]
    fn bars_scale_to_the_largest_and_show_shares() {
        let items = [
            Bar {
                id: None,
                label: "EMEA",
                href: Some("/dashboard?region=EMEA".into()),
                value: 200.0,
                share: Some(0.8),
            },
            Bar {
                id: None,
                label: "NA",
                href: None,
                value: 50.0,
                share: Some(0.2),
            },
        ];
        let html = bars(&items, &money, "").into_string();
        assert!(html.contains("width=\"100.0\"") && html.contains("width=\"25.0\""));
        assert!(!html.contains("style="), "the CSP allows no inline styles");
        assert!(html.contains("$200 · 80.0%"));
        assert!(html.contains("href=\"/dashboard?region=EMEA\""));
    }

    /// One tag per line, so a snapshot diff shows what changed.
    fn lines_of(m: Markup) -> String {
        m.into_string().replace("><", ">\n<")
    }

    #[test]
    fn snapshot_line_chart_two_series_with_drill_down_links() {
        let labels: Vec<String> = ["Nov 1", "Nov 2", "Nov 3", "Nov 4"]
            .map(String::from)
            .to_vec();
        let links: Vec<String> = (1..=4).map(|d| format!("/dashboard?day={d}")).collect();
        let (a, b) = ([1200.0, 3400.5, 0.0, 980.25], [300.0, 0.0, 150.0, 99.99]);
        let lines = [
            Line {
                name: "online",
                values: &a,
            },
            Line {
                name: "retail",
                values: &b,
            },
        ];
        insta::assert_snapshot!(lines_of(line_chart(&LineChart {
            title: "Revenue by day",
            x_labels: &labels,
            lines: &lines,
            format: &money,
            axis: &compact,
            empty: "No sales",
            x_links: Some(&links),
        })));
    }

    #[test]
    fn snapshot_line_chart_single_point() {
        let labels = vec!["Nov 23".to_string()];
        let v = [42.0];
        insta::assert_snapshot!(lines_of(line_chart(&LineChart {
            title: "Revenue by day",
            x_labels: &labels,
            lines: &[Line {
                name: "all",
                values: &v
            }],
            format: &money,
            axis: &compact,
            empty: "No sales",
            x_links: None,
        })));
    }

    #[test]
    fn snapshot_line_chart_empty_series() {
        insta::assert_snapshot!(lines_of(line_chart(&LineChart {
            title: "Revenue by day",
            x_labels: &[],
            lines: &[],
            format: &money,
            axis: &compact,
            empty: "No sales in this range.",
            x_links: None,
        })));
    }

    #[test]
    fn snapshot_bars_and_sparkline() {
        let items = [
            Bar {
                id: None,
                label: "online",
                href: Some("/dashboard?channel=online".into()),
                value: 750.0,
                share: Some(0.75),
            },
            Bar {
                id: None,
                label: "retail",
                href: None,
                value: 250.0,
                share: Some(0.25),
            },
        ];
        insta::assert_snapshot!(lines_of(bars(&items, &money, "Nothing")));
        insta::assert_snapshot!(lines_of(sparkline(
            &[1.0, 3.0, 2.0, 5.0],
            "Revenue over the range"
        )));
    }
}
