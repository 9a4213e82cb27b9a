//! KPI queries over the rollups (never over raw events).

pub mod cache;

use crate::domain::org::Org;
use crate::domain::rollup::Metrics;
use crate::domain::{Invalid, Ts};
use crate::store::sales::{Figures, PART_CATEGORY, PART_CHANNEL, PART_REGION, split_dim};
use crate::store::tables::{PART_DAY, PART_HOUR, ROLLUP_DAY, ROLLUP_HOUR, TOTAL_DAY, TOTAL_HOUR};
use crate::store::{ReadTx, StoreResult};
use redb::ReadableTable;
// Fast non-keyed hashing for per-query groupings (keys come from our own tables).
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

/// Optional dimension filters; `None` means all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    pub channel: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.channel.is_none() && self.region.is_none() && self.category.is_none()
    }

    fn keeps(&self, dim: &str) -> bool {
        let (c, r, cat) = split_dim(dim);
        if self.channel.as_deref().is_some_and(|f| f != c)
            || self.region.as_deref().is_some_and(|f| f != r)
        {
            return false;
        }
        match &self.category {
            // Category rows only (the order-level row has an empty category).
            Some(f) => f == cat,
            None => true,
        }
    }
}

/// A half-open time range, either whole local days (served from day rollups) or instants
/// (served from hour rollups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    /// Local civil day numbers, `from..=to`.
    Days { from: i32, to: i32 },
    /// `[from, to)`; rounded down to whole local hours.
    Instants { from: Ts, to: Ts },
}

pub fn day_number(d: jiff::civil::Date) -> i32 {
    (d - jiff::civil::date(1970, 1, 1)).get_days()
}

pub fn day_date(n: i32) -> jiff::civil::Date {
    jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(n)))
        .unwrap_or(jiff::civil::date(1970, 1, 1))
}

/// Parse `from`/`to` query values: both ISO dates (inclusive days) or both datetimes.
pub fn parse_range(from: &str, to: &str) -> Result<Range, Invalid> {
    let date = |f: &'static str, v: &str| {
        v.trim().parse::<jiff::civil::Date>().map_err(|_| {
            Invalid::new(
                f,
                format!(
                    "`{v}` is not a date (2026-11-20) or a time with offset (2026-11-20T14:00:00Z)"
                ),
            )
        })
    };
    let inst = |v: &str| {
        v.trim()
            .parse::<jiff::Timestamp>()
            .ok()
            .map(Ts::from_timestamp)
    };
    let r = match (inst(from), inst(to)) {
        (Some(f), Some(t)) => Range::Instants { from: f, to: t },
        (None, None) => Range::Days {
            from: day_number(date("from", from)?),
            to: day_number(date("to", to)?),
        },
        _ => {
            return Err(Invalid::new(
                "to",
                "use dates for both `from` and `to`, or times for both",
            ));
        }
    };
    let ok = match r {
        Range::Days { from, to } => from <= to && to - from <= 3700,
        Range::Instants { from, to } => from < to,
    };
    if !ok {
        return Err(Invalid::new(
            "from",
            "must be before `to` (and the range at most ten years)",
        ));
    }
    Ok(r)
}

impl Range {
    /// The range of the same length just before this one.
    pub fn previous_period(self) -> Range {
        match self {
            Range::Days { from, to } => Range::Days {
                from: from - (to - from + 1),
                to: from - 1,
            },
            Range::Instants { from, to } => Range::Instants {
                from: Ts(from.0 - (to.0 - from.0)),
                to: from,
            },
        }
    }

    /// The same dates one year earlier.
    pub fn previous_year(self) -> Range {
        let back = |n: i32| {
            day_number(
                day_date(n)
                    .checked_sub(jiff::Span::new().years(1))
                    .unwrap_or(day_date(n)),
            )
        };
        match self {
            Range::Days { from, to } => Range::Days {
                from: back(from),
                to: back(to),
            },
            Range::Instants { from, to } => {
                let y = |t: Ts| {
                    t.timestamp()
                        .to_zoned(jiff::tz::TimeZone::UTC)
                        .checked_sub(jiff::Span::new().years(1))
                        .map(|z| Ts::from_timestamp(z.timestamp()))
                        .unwrap_or(t)
                };
                Range::Instants {
                    from: y(from),
                    to: y(to),
                }
            }
        }
    }
}

/// What a range's KPIs are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// The range of the same length just before.
    PreviousPeriod,
    /// The same dates a year earlier.
    PreviousYear,
}

impl Compare {
    pub fn as_str(self) -> &'static str {
        match self {
            Compare::PreviousPeriod => "previous_period",
            Compare::PreviousYear => "previous_year",
        }
    }

    pub fn parse(v: &str) -> Result<Compare, Invalid> {
        match v.trim() {
            "previous_period" => Ok(Compare::PreviousPeriod),
            "previous_year" => Ok(Compare::PreviousYear),
            other => Err(Invalid::new(
                "compare",
                format!("`{other}` is not previous_period or previous_year"),
            )),
        }
    }

    /// The range `r` is compared with.
    pub fn range(self, r: Range) -> Range {
        match self {
            Compare::PreviousPeriod => r.previous_period(),
            Compare::PreviousYear => r.previous_year(),
        }
    }
}

/// A rollup row's bucket: a local hour start (UTC micros) or a local civil day number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Hour(i64),
    Day(i32),
}

impl Range {
    /// The same span as whole local days (an instant range covers the days it touches).
    pub fn as_days(self, tz: &jiff::tz::TimeZone) -> (i32, i32) {
        match self {
            Range::Days { from, to } => (from, to),
            Range::Instants { from, to } => {
                let d = |t: Ts| day_number(t.timestamp().to_zoned(tz.clone()).date());
                (d(from), d(Ts(to.0 - 1)))
            }
        }
    }

    /// The same span as instants `[from, to)` (a day range runs from local midnight to local
    /// midnight).
    pub fn as_instants(self, tz: &jiff::tz::TimeZone) -> (Ts, Ts) {
        match self {
            Range::Instants { from, to } => (from, to),
            Range::Days { from, to } => {
                let midnight = |n: i32| {
                    day_date(n)
                        .to_zoned(tz.clone())
                        .map(|z| Ts::from_timestamp(z.timestamp()))
                        .unwrap_or_default()
                };
                (midnight(from), midnight(to + 1))
            }
        }
    }
}

/// Walk the rollup rows of `range` that pass `filters`: hour rows when `hourly`, else day rows.
///
/// The cheapest source that can answer is read: with no filter and no grouping, the per-bucket
/// totals (one row per hour or day, empty dimension); when the filters and the grouping
/// involve one dimension only, its single-dimension partials (the dimension key carries that
/// value and empty others); otherwise the full channel × region × category rows.
pub fn scan(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    hourly: bool,
    group: Option<Dimension>,
    f: &Filters,
    mut each: impl FnMut(Bucket, &str, &Metrics),
) -> StoreResult<()> {
    use crate::store::codec::decode;
    let tz = org.tz();
    let mut involved: Vec<Dimension> = group.into_iter().collect();
    for (d, on) in [
        (Dimension::Channel, f.channel.is_some()),
        (Dimension::Region, f.region.is_some()),
        (Dimension::Category, f.category.is_some()),
    ] {
        if on && !involved.contains(&d) {
            involved.push(d);
        }
    }
    match involved.as_slice() {
        [] if hourly => {
            let (from, to) = range.as_instants(&tz);
            let (start, _) = crate::domain::rollup::buckets(from, &tz);
            for row in txn
                .table(TOTAL_HOUR)?
                .range((org.id.0, start.0)..(org.id.0, to.0))?
            {
                let (k, v) = row?;
                each(Bucket::Hour(k.value().1), "", &decode(v.value())?);
            }
            Ok(())
        }
        [] => {
            let (from, to) = range.as_days(&tz);
            for row in txn
                .table(TOTAL_DAY)?
                .range((org.id.0, from)..=(org.id.0, to))?
            {
                let (k, v) = row?;
                each(Bucket::Day(k.value().1), "", &decode(v.value())?);
            }
            Ok(())
        }
        [d] => {
            let (code, want) = match d {
                Dimension::Channel => (PART_CHANNEL, f.channel.as_deref()),
                Dimension::Region => (PART_REGION, f.region.as_deref()),
                Dimension::Category => (PART_CATEGORY, f.category.as_deref()),
            };
            // One reused buffer for the synthesized dimension key (this loop is the hot path).
            let mut key = String::new();
            let mut row = |b: Bucket, v: &str, bytes: &[u8]| -> StoreResult<()> {
                if want.is_none_or(|w| w == v) {
                    key.clear();
                    let sep = crate::store::sales::SEP;
                    match d {
                        Dimension::Channel => {
                            key.push_str(v);
                            key.push(sep);
                            key.push(sep);
                        }
                        Dimension::Region => {
                            key.push(sep);
                            key.push_str(v);
                            key.push(sep);
                        }
                        Dimension::Category => {
                            key.push(sep);
                            key.push(sep);
                            key.push_str(v);
                        }
                    }
                    each(b, &key, &decode(bytes)?);
                }
                Ok(())
            };
            if hourly {
                let (from, to) = range.as_instants(&tz);
                let (start, _) = crate::domain::rollup::buckets(from, &tz);
                let t = txn.table(PART_HOUR)?;
                for r in t.range((org.id.0, code, start.0, "")..(org.id.0, code, to.0, ""))? {
                    let (k, v) = r?;
                    let (_, _, h, val) = k.value();
                    row(Bucket::Hour(h), val, v.value())?;
                }
            } else {
                let (from, to) = range.as_days(&tz);
                let t = txn.table(PART_DAY)?;
                for r in t.range((org.id.0, code, from, "")..=(org.id.0, code, to, "\u{10ffff}"))? {
                    let (k, v) = r?;
                    let (_, _, day, val) = k.value();
                    row(Bucket::Day(day), val, v.value())?;
                }
            }
            Ok(())
        }
        _ => scan_rows(txn, org, range, hourly, f, each),
    }
}

/// Walk the full channel × region × category rows of `range` that pass `filters`.
fn scan_rows(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    hourly: bool,
    f: &Filters,
    mut each: impl FnMut(Bucket, &str, &Metrics),
) -> StoreResult<()> {
    let tz = org.tz();
    if hourly {
        let (from, to) = range.as_instants(&tz);
        let (start, _) = crate::domain::rollup::buckets(from, &tz);
        let t = txn.table(ROLLUP_HOUR)?;
        for row in t.range((org.id.0, start.0, "")..(org.id.0, to.0, ""))? {
            let (k, v) = row?;
            let (_, hour, dim) = k.value();
            if f.keeps(dim) {
                each(
                    Bucket::Hour(hour),
                    dim,
                    &crate::store::codec::decode(v.value())?,
                );
            }
        }
    } else {
        let (from, to) = range.as_days(&tz);
        let t = txn.table(ROLLUP_DAY)?;
        for row in t.range((org.id.0, from, "")..=(org.id.0, to, "\u{10ffff}"))? {
            let (k, v) = row?;
            let (_, day, dim) = k.value();
            if f.keeps(dim) {
                each(
                    Bucket::Day(day),
                    dim,
                    &crate::store::codec::decode(v.value())?,
                );
            }
        }
    }
    Ok(())
}

/// Σ of the rollup rows in `range` that pass `filters`. With a category filter, `orders`
/// counts the orders containing that category.
pub fn total(txn: &impl ReadTx, org: &Org, range: Range, f: &Filters) -> StoreResult<Metrics> {
    let mut m = Metrics::default();
    let hourly = matches!(range, Range::Instants { .. });
    scan(txn, org, range, hourly, None, f, |_, _, x| m.add(x))?;
    if f.category.is_some() {
        m.orders = m.cat_orders;
    }
    Ok(m)
}

/// One KPI with its comparison.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Kpi {
    pub value: f64,
    pub previous: f64,
    /// Percent change; `None` when the previous value is zero.
    pub change_pct: Option<f64>,
}

fn kpi(value: f64, previous: f64) -> Kpi {
    let change_pct =
        (previous != 0.0).then(|| ((value - previous) / previous.abs() * 1000.0).round() / 10.0);
    Kpi {
        value,
        previous,
        change_pct,
    }
}

/// Money KPIs are in major units of the org's currency (e.g. dollars, as decimals).
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub currency: String,
    pub revenue: Kpi,
    pub net_revenue: Kpi,
    pub orders: Kpi,
    pub average_order_value: Kpi,
    pub conversion_rate: Kpi,
    pub new_customers: Kpi,
    pub returning_customers: Kpi,
    pub refunds: Kpi,
    pub units: Kpi,
    pub margin: Kpi,
    pub discounts: Kpi,
    pub visits: Kpi,
}

pub fn summary(org: &Org, now: &Metrics, prev: &Metrics) -> Summary {
    let scale = org.currency.minor_per_unit();
    let money = |v: i64| v as f64 / scale;
    let aov = |m: &Metrics| {
        if m.orders > 0 {
            ((m.gross - m.discounts) as f64 / m.orders as f64 / scale * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    let conv = |m: &Metrics| {
        if m.visits > 0 {
            (m.orders as f64 / m.visits as f64 * 10000.0).round() / 100.0
        } else {
            0.0
        }
    };
    Summary {
        currency: org.currency.code().to_string(),
        revenue: kpi(money(now.gross), money(prev.gross)),
        net_revenue: kpi(money(now.net()), money(prev.net())),
        orders: kpi(now.orders as f64, prev.orders as f64),
        average_order_value: kpi(aov(now), aov(prev)),
        conversion_rate: kpi(conv(now), conv(prev)),
        new_customers: kpi(now.new_customers as f64, prev.new_customers as f64),
        returning_customers: kpi(
            now.returning_customers as f64,
            prev.returning_customers as f64,
        ),
        refunds: kpi(money(now.refunds), money(prev.refunds)),
        units: kpi(now.units as f64, prev.units as f64),
        margin: kpi(money(now.net() - now.cost), money(prev.net() - prev.cost)),
        discounts: kpi(money(now.discounts), money(prev.discounts)),
        visits: kpi(now.visits as f64, prev.visits as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, sales};

    /// A store in a temp dir with one org (`tz`, `currency`) holding demo data.
    pub(super) fn demo_store(
        tz: &str,
        currency: &str,
        spec: crate::ingest::demo::Spec,
        batch: usize,
    ) -> (tempfile::TempDir, Store, Org) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let org = store
            .write(|t| {
                crate::store::orgs::create(
                    t,
                    crate::domain::org::NewOrg::parse("P", tz, currency).unwrap(),
                    Ts(0),
                )
            })
            .unwrap();
        crate::ingest::demo::generate(&spec, &org.tz(), batch, |b| {
            store.write(|t| sales::apply(t, &org, &b)).map(|_| ())
        })
        .unwrap();
        (dir, store, org)
    }

    /// Totals and single-dimension partials answer exactly what the full rows answer, for
    /// every combination of filters and grouping, by day and by hour.
    #[test]
    fn every_read_path_agrees_with_the_full_rows() {
        use std::collections::BTreeMap;
        let spec = crate::ingest::demo::Spec {
            events: 4000,
            days: 40,
            seed: 7,
            last_day: jiff::civil::date(2026, 3, 31),
        };
        let (_dir, store, org) = demo_store("Europe/Berlin", "EUR", spec, 1000);
        let rows = store.read(|t| sales::day_rollups(t, org.id)).unwrap();
        let pick = |i: usize| -> Vec<Option<String>> {
            let mut v: Vec<Option<String>> = rows
                .iter()
                .map(|(_, k, _)| {
                    let d = split_dim(k);
                    [d.0, d.1, d.2][i].to_string()
                })
                .filter(|x| !x.is_empty())
                .take(1)
                .map(Some)
                .collect();
            v.push(None);
            v
        };
        let ranges = [
            parse_range("2026-02-20", "2026-03-31").unwrap(),
            parse_range("2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z").unwrap(),
        ];
        let mut checked = 0;
        for channel in pick(0) {
            for region in pick(1) {
                for category in pick(2) {
                    let f = Filters {
                        channel: channel.clone(),
                        region: region.clone(),
                        category: category.clone(),
                    };
                    for group in [
                        None,
                        Some(Dimension::Channel),
                        Some(Dimension::Region),
                        Some(Dimension::Category),
                    ] {
                        for (range, hourly) in [(ranges[0], false), (ranges[1], true)] {
                            let mut fast: BTreeMap<(String, String), Metrics> = BTreeMap::new();
                            let key = |b: Bucket, dim: &str| {
                                let g = match group {
                                    None => Some("all"),
                                    Some(d) => d.of(dim),
                                };
                                g.map(|g| (format!("{b:?}"), g.to_string()))
                            };
                            store
                                .read(|t| {
                                    scan(t, &org, range, hourly, group, &f, |b, dim, m| {
                                        if let Some(k) = key(b, dim) {
                                            fast.entry(k).or_default().add(m);
                                        }
                                    })
                                })
                                .unwrap();
                            let mut full: BTreeMap<(String, String), Metrics> = BTreeMap::new();
                            store
                                .read(|t| {
                                    scan_rows(t, &org, range, hourly, &f, |b, dim, m| {
                                        if let Some(k) = key(b, dim) {
                                            full.entry(k).or_default().add(m);
                                        }
                                    })
                                })
                                .unwrap();
                            fast.retain(|_, m| !m.is_zero());
                            full.retain(|_, m| !m.is_zero());
                            assert_eq!(fast, full, "{f:?} {group:?} hourly={hourly}");
                            checked += usize::from(!full.is_empty());
                        }
                    }
                }
            }
        }
        // Most combinations have data (a test over empty maps would prove nothing).
        assert!(checked >= 48, "only {checked} non-empty combinations");
    }

    #[test]
    fn ranges_parse_and_compare() {
        let r = parse_range("2026-11-01", "2026-11-30").unwrap();
        let Range::Days { from, to } = r else {
            panic!()
        };
        assert_eq!(to - from, 29);
        assert_eq!(
            r.previous_period(),
            Range::Days {
                from: from - 30,
                to: from - 1
            }
        );
        let Range::Days { from: py, .. } = r.previous_year() else {
            panic!()
        };
        assert_eq!(day_date(py).to_string(), "2025-11-01");
        assert_eq!(
            parse_range("2026-11-30", "2026-11-01").unwrap_err().field,
            "from"
        );
        assert_eq!(
            parse_range("2026-11-01", "yesterday").unwrap_err().field,
            "to"
        );
        assert!(parse_range("2026-11-01", "2026-11-02T00:00:00Z").is_err());
        assert!(matches!(
            parse_range("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z").unwrap(),
            Range::Instants { .. }
        ));
    }

    #[test]
    fn percent_change() {
        assert_eq!(kpi(150.0, 100.0).change_pct, Some(50.0));
        assert_eq!(kpi(50.0, 100.0).change_pct, Some(-50.0));
        assert_eq!(kpi(5.0, 0.0).change_pct, None);
    }
}

/// KPI names accepted by `metric=`.
pub const METRICS: &[&str] = &[
    "revenue",
    "net_revenue",
    "orders",
    "average_order_value",
    "conversion_rate",
    "new_customers",
    "returning_customers",
    "refunds",
    "units",
    "margin",
    "discounts",
    "visits",
];

/// Whether summing a metric across groups is meaningful (ratios are not).
pub fn additive(metric: &str) -> bool {
    !matches!(metric, "average_order_value" | "conversion_rate")
}

pub fn parse_metric(v: Option<&str>) -> Result<&'static str, Invalid> {
    let v = v.unwrap_or("revenue").trim();
    METRICS.iter().copied().find(|m| *m == v).ok_or_else(|| {
        Invalid::new(
            "metric",
            format!("`{v}` is not one of: {}", METRICS.join(", ")),
        )
    })
}

/// The value of one KPI for summed metrics; money in major units.
pub fn metric_value(metric: &str, m: &Metrics, minor_digits: u8) -> f64 {
    let scale = 10f64.powi(i32::from(minor_digits));
    let money = |v: i64| v as f64 / scale;
    match metric {
        "revenue" => money(m.gross),
        "net_revenue" => money(m.net()),
        "orders" => m.orders as f64,
        "average_order_value" if m.orders > 0 => {
            ((m.gross - m.discounts) as f64 / m.orders as f64 / scale * 100.0).round() / 100.0
        }
        "conversion_rate" if m.visits > 0 => {
            (m.orders as f64 / m.visits as f64 * 10000.0).round() / 100.0
        }
        "new_customers" => m.new_customers as f64,
        "returning_customers" => m.returning_customers as f64,
        "refunds" => money(m.refunds),
        "units" => m.units as f64,
        "margin" => money(m.net().saturating_sub(m.cost)),
        "discounts" => money(m.discounts),
        "visits" => m.visits as f64,
        _ => 0.0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    Hour,
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    pub fn parse(v: Option<&str>) -> Result<Interval, Invalid> {
        match v.unwrap_or("day").trim() {
            "hour" => Ok(Interval::Hour),
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            other => Err(Invalid::new(
                "interval",
                format!("`{other}` is not hour, day, week or month"),
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    Channel,
    Region,
    Category,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Channel => "channel",
            Dimension::Region => "region",
            Dimension::Category => "category",
        }
    }

    pub fn parse(field: &'static str, v: &str) -> Result<Dimension, Invalid> {
        match v.trim() {
            "channel" => Ok(Dimension::Channel),
            "region" => Ok(Dimension::Region),
            "category" => Ok(Dimension::Category),
            other => Err(Invalid::new(
                field,
                format!("`{other}` is not channel, region or category"),
            )),
        }
    }

    /// The group a rollup row belongs to; `None` for order-level rows under `Category`.
    fn of(self, dim: &str) -> Option<&str> {
        let (c, r, cat) = split_dim(dim);
        match self {
            Dimension::Channel => Some(c),
            Dimension::Region => Some(r),
            Dimension::Category => (!cat.is_empty()).then_some(cat),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Point {
    /// Period start: `2026-11-03T14:00:00+01:00` (hour), `2026-11-03` (day, week: its Monday),
    /// `2026-11` (month).
    pub t: String,
    pub value: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Series {
    /// The group (channel, region or category), or `all`.
    pub key: String,
    pub points: Vec<Point>,
}

const MAX_POINTS: usize = 2500;

fn period_of(b: Bucket, interval: Interval, tz: &jiff::tz::TimeZone) -> String {
    match b {
        Bucket::Hour(h) => Ts(h)
            .timestamp()
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Bucket::Day(d) => {
            let date = day_date(d);
            match interval {
                Interval::Week => {
                    let back = i64::from(date.weekday().to_monday_zero_offset());
                    date.checked_sub(jiff::Span::new().days(back))
                        .unwrap_or(date)
                        .to_string()
                }
                Interval::Month => date.strftime("%Y-%m").to_string(),
                _ => date.to_string(),
            }
        }
    }
}

/// Every period label of the range, in order (for zero-filled series).
fn periods(
    range: Range,
    interval: Interval,
    tz: &jiff::tz::TimeZone,
) -> Result<Vec<String>, Invalid> {
    let too_many = || {
        Invalid::new(
            "interval",
            format!(
                "the range has more than {MAX_POINTS} points at this interval; choose a longer interval"
            ),
        )
    };
    let mut out: Vec<String> = Vec::new();
    if interval == Interval::Hour {
        let (from, to) = range.as_instants(tz);
        let (mut h, _) = crate::domain::rollup::buckets(from, tz);
        while h < to {
            out.push(period_of(Bucket::Hour(h.0), interval, tz));
            if out.len() > MAX_POINTS {
                return Err(too_many());
            }
            h = Ts(h.0 + 3_600_000_000);
        }
    } else {
        let (from, to) = range.as_days(tz);
        for d in from..=to {
            let p = period_of(Bucket::Day(d), interval, tz);
            if out.last() != Some(&p) {
                out.push(p);
            }
            if out.len() > MAX_POINTS {
                return Err(too_many());
            }
        }
    }
    Ok(out)
}

pub struct SeriesQuery<'a> {
    pub range: Range,
    pub interval: Interval,
    pub split: Option<Dimension>,
    pub filters: &'a Filters,
    pub metric: &'a str,
}

/// Summed rollup rows per group and period, from one scan: every metric's series can be read
/// from it (the dashboard draws a sparkline per KPI without scanning once per KPI).
pub struct PeriodMetrics {
    /// Every period label of the range, in order.
    pub labels: Vec<String>,
    /// Group (`all`, or a channel, region or category) -> period label -> figures.
    groups: std::collections::BTreeMap<String, std::collections::HashMap<String, Metrics>>,
    /// Orders count the orders containing the category (category filter or split).
    per_category: bool,
    minor_digits: u8,
}

impl PeriodMetrics {
    /// Zero-filled series of one metric, one per group.
    pub fn series(&self, metric: &str) -> Vec<Series> {
        self.groups
            .iter()
            .map(|(key, by_period)| Series {
                key: key.clone(),
                points: self
                    .labels
                    .iter()
                    .map(|t| {
                        let mut m = by_period.get(t).copied().unwrap_or_default();
                        if self.per_category {
                            m.orders = m.cat_orders;
                        }
                        Point {
                            t: t.clone(),
                            value: metric_value(metric, &m, self.minor_digits),
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Rollup rows in the range summed per period (and per group when split).
pub fn period_metrics(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    interval: Interval,
    split: Option<Dimension>,
    filters: &Filters,
) -> StoreResult<Result<PeriodMetrics, Invalid>> {
    let tz = org.tz();
    let labels = match periods(range, interval, &tz) {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    let mut groups: std::collections::BTreeMap<String, std::collections::HashMap<String, Metrics>> =
        Default::default();
    let mut last: Option<(Bucket, String)> = None;
    scan(
        txn,
        org,
        range,
        interval == Interval::Hour,
        split,
        filters,
        |b, dim, m| {
            let key = match split {
                None => Some("all"),
                Some(d) => d.of(dim),
            };
            if let Some(k) = key {
                // Rows come bucket by bucket: format each bucket's period label once.
                if last.as_ref().is_none_or(|(lb, _)| *lb != b) {
                    last = Some((b, period_of(b, interval, &tz)));
                }
                let label = last.as_ref().map(|(_, l)| l.as_str()).unwrap_or_default();
                if !groups.contains_key(k) {
                    groups.insert(k.to_string(), Default::default());
                }
                if let Some(g) = groups.get_mut(k) {
                    match g.get_mut(label) {
                        Some(x) => x.add(m),
                        None => {
                            g.insert(label.to_string(), *m);
                        }
                    }
                }
            }
        },
    )?;
    if groups.is_empty() && split.is_none() {
        groups.insert("all".into(), Default::default());
    }
    Ok(Ok(PeriodMetrics {
        labels,
        groups,
        per_category: filters.category.is_some() || split == Some(Dimension::Category),
        minor_digits: org.currency.minor_digits(),
    }))
}

/// Zero-filled series of one metric per period, one series (`all`) or one per group.
pub fn timeseries(
    txn: &impl ReadTx,
    org: &Org,
    q: &SeriesQuery,
) -> StoreResult<Result<Vec<Series>, Invalid>> {
    Ok(
        period_metrics(txn, org, q.range, q.interval, q.split, q.filters)?
            .map(|p| p.series(q.metric)),
    )
}

#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Share {
    pub key: String,
    /// What people call it (product name, customer name or email), where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub value: f64,
    /// Part of the total (0–1) for additive metrics; `None` for ratios.
    pub share: Option<f64>,
}

/// The metric per group, largest first, at most `limit` groups.
pub fn breakdown(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    dimension: Dimension,
    f: &Filters,
    metric: &str,
    limit: usize,
) -> StoreResult<Vec<Share>> {
    let mut groups: std::collections::HashMap<String, Metrics> = Default::default();
    let hourly = matches!(range, Range::Instants { .. });
    scan(txn, org, range, hourly, Some(dimension), f, |_, dim, m| {
        if let Some(k) = dimension.of(dim) {
            match groups.get_mut(k) {
                Some(g) => g.add(m),
                None => {
                    groups.insert(k.to_string(), *m);
                }
            }
        }
    })?;
    let per_category = f.category.is_some() || dimension == Dimension::Category;
    let digits = org.currency.minor_digits();
    let rows: Vec<Share> = groups
        .into_iter()
        .map(|(key, mut m)| {
            if per_category {
                m.orders = m.cat_orders;
            }
            Share {
                key,
                name: None,
                value: metric_value(metric, &m, digits),
                share: None,
            }
        })
        .collect();
    Ok(rank(rows, additive(metric), limit))
}

/// Fill in each row's share of the total (when `shares`), sort largest first, keep `limit`.
fn rank(mut rows: Vec<Share>, shares: bool, limit: usize) -> Vec<Share> {
    if shares {
        let total: f64 = rows.iter().map(|r| r.value).sum();
        for r in &mut rows {
            r.share = Some(if total != 0.0 {
                (r.value / total * 10000.0).round() / 10000.0
            } else {
                0.0
            });
        }
    }
    let order = |a: &Share, b: &Share| b.value.total_cmp(&a.value).then_with(|| a.key.cmp(&b.key));
    // Only the first `limit` need sorting (rankings over many customers keep 10 of 100,000s).
    if limit < rows.len() {
        rows.select_nth_unstable_by(limit, order);
        rows.truncate(limit);
    }
    rows.sort_by(order);
    rows
}

/// Metrics products and customers can be ranked by.
pub const RANKING_METRICS: [&str; 6] = [
    "revenue",
    "net_revenue",
    "orders",
    "units",
    "refunds",
    "margin",
];

/// Products ranked by `metric` over the whole local days of `range` (from month rows where a
/// month lies wholly inside, day rows at the edges), optionally of one category, largest first.
pub fn product_breakdown(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    category: Option<&str>,
    metric: &str,
    limit: usize,
) -> StoreResult<Vec<Share>> {
    use crate::store::tables::{PRODUCT_DAY, PRODUCT_MONTH};
    let tz = org.tz();
    let (from, to) = range.as_days(&tz);
    let mut sums: HashMap<String, Figures> = HashMap::default();
    let mut add = |sku: &str, bytes: &[u8]| -> StoreResult<()> {
        let f: Figures = crate::store::codec::decode(bytes)?;
        match sums.get_mut(sku) {
            Some(s) => s.add(&f),
            None => {
                sums.insert(sku.to_string(), f);
            }
        }
        Ok(())
    };
    let days = txn.table(PRODUCT_DAY)?;
    let months = txn.table(PRODUCT_MONTH)?;
    let mut d = from;
    while d <= to {
        let date = day_date(d);
        let next_month = date
            .first_of_month()
            .checked_add(jiff::Span::new().months(1))
            .map(day_number)
            .unwrap_or(to + 1);
        if date.day() == 1 && next_month - 1 <= to {
            let m = crate::domain::rollup::month_of(d);
            for row in months.range((org.id.0, m, "")..=(org.id.0, m, "\u{10ffff}"))? {
                let (k, v) = row?;
                add(k.value().2, v.value())?;
            }
            d = next_month;
        } else {
            for row in days.range((org.id.0, d, "")..=(org.id.0, d, "\u{10ffff}"))? {
                let (k, v) = row?;
                add(k.value().2, v.value())?;
            }
            d += 1;
        }
    }
    if let Some(cat) = category {
        let mut keep = HashMap::default();
        for (sku, f) in sums {
            let p = crate::store::sales::product(txn, org.id, &sku)?;
            if p.is_some_and(|p| p.category == cat) {
                keep.insert(sku, f);
            }
        }
        sums = keep;
    }
    let mut top = rank_figures(sums, metric, org.currency.minor_digits(), limit);
    for s in &mut top {
        s.name = crate::store::sales::product(txn, org.id, &s.key)?
            .map(|p| p.name)
            .filter(|n| !n.is_empty());
    }
    Ok(top)
}

/// A ranking metric of some figures (one of [`RANKING_METRICS`]), in currency units for money.
fn figure_value(metric: &str, f: &Figures, minor_digits: u8) -> f64 {
    let scale = 10f64.powi(i32::from(minor_digits));
    match metric {
        "orders" => f.orders as f64,
        "units" => f.units as f64,
        "refunds" => f.refunds as f64 / scale,
        "net_revenue" => (f.revenue - f.refunds) as f64 / scale,
        "margin" => (f.revenue - f.refunds - f.cost) as f64 / scale,
        _ => f.revenue as f64 / scale,
    }
}

/// Rank summed figures by `metric`, leaving out zeros, largest first, with shares.
fn rank_figures(
    sums: HashMap<String, Figures>,
    metric: &str,
    minor_digits: u8,
    limit: usize,
) -> Vec<Share> {
    let rows: Vec<Share> = sums
        .into_iter()
        .map(|(key, f)| Share {
            key,
            name: None,
            value: figure_value(metric, &f, minor_digits),
            share: None,
        })
        .filter(|s| s.value != 0.0)
        .collect();
    rank(rows, true, limit)
}

/// Customers ranked by `metric` (one of [`RANKING_METRICS`]) over the whole local days of
/// `range`, from the per-customer day rows, optionally through one channel and/or region.
/// Revenue is after discounts; refunds count on the refund's day, against the order's channel
/// and region.
pub fn customer_breakdown(
    txn: &impl ReadTx,
    org: &Org,
    range: Range,
    channel: Option<&str>,
    region: Option<&str>,
    metric: &str,
    limit: usize,
) -> StoreResult<Vec<Share>> {
    use crate::store::tables::CUSTOMER_DAY;
    let (from, to) = range.as_days(&org.tz());
    let mut sums: HashMap<String, Figures> = HashMap::default();
    let table = txn.table(CUSTOMER_DAY)?;
    // Open-ended on the right and stopped by hand: the end of the range is then one integer
    // comparison per row rather than a tuple comparison in the B-tree cursor.
    for row in table.range((org.id.0, from, "", "")..)? {
        let (k, v) = row?;
        let (o, day, customer, cr) = k.value();
        if o != org.id.0 || day > to {
            break;
        }
        if channel.is_some() || region.is_some() {
            let (c, r) = cr.split_once(crate::store::sales::SEP).unwrap_or((cr, ""));
            if channel.is_some_and(|x| x != c) || region.is_some_and(|x| x != r) {
                continue;
            }
        }
        let f: Figures = crate::store::codec::decode(v.value())?;
        match sums.get_mut(customer) {
            Some(s) => s.add(&f),
            None => {
                sums.insert(customer.to_string(), f);
            }
        }
    }
    let mut top = rank_figures(sums, metric, org.currency.minor_digits(), limit);
    for s in &mut top {
        s.name =
            crate::store::sales::customer(txn, org.id, &s.key)?.and_then(|c| c.name.or(c.email));
    }
    Ok(top)
}

/// One customer's figures per local month over `months` (inclusive month numbers,
/// year × 12 + month − 1), from their day rows: one short range read per day.
pub fn customer_months(
    txn: &impl ReadTx,
    org: &Org,
    customer: &str,
    months: (i32, i32),
) -> StoreResult<Vec<(i32, Figures)>> {
    use crate::store::tables::CUSTOMER_DAY;
    let table = txn.table(CUSTOMER_DAY)?;
    let first = month_start(months.0);
    let last = month_start(months.1 + 1) - 1;
    let mut out: Vec<(i32, Figures)> = (months.0..=months.1)
        .map(|m| (m, Figures::default()))
        .collect();
    for day in first..=last {
        let m = month_of(day) - months.0;
        for row in
            table.range((org.id.0, day, customer, "")..=(org.id.0, day, customer, "\u{10ffff}"))?
        {
            let (_, v) = row?;
            let f: Figures = crate::store::codec::decode(v.value())?;
            if let Some(slot) = usize::try_from(m).ok().and_then(|i| out.get_mut(i)) {
                slot.1.add(&f);
            }
        }
    }
    Ok(out)
}

/// One product's figures per local month over `months` (inclusive), from its month rows.
pub fn product_months(
    txn: &impl ReadTx,
    org: &Org,
    sku: &str,
    months: (i32, i32),
) -> StoreResult<Vec<(i32, Figures)>> {
    use crate::store::tables::PRODUCT_MONTH;
    let table = txn.table(PRODUCT_MONTH)?;
    let mut out = Vec::new();
    for m in months.0..=months.1 {
        let f = match table.get((org.id.0, m, sku))? {
            Some(v) => crate::store::codec::decode(v.value())?,
            None => Figures::default(),
        };
        out.push((m, f));
    }
    Ok(out)
}

/// year × 12 + month − 1 of a local day number (the month rows' key).
pub fn month_of(day: i32) -> i32 {
    let d = day_date(day);
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

/// The first local day number of a month number.
pub fn month_start(month: i32) -> i32 {
    let (y, m) = (month.div_euclid(12), month.rem_euclid(12) + 1);
    day_number(
        jiff::civil::Date::new(y as i16, m as i8, 1).unwrap_or(jiff::civil::date(1970, 1, 1)),
    )
}

#[cfg(test)]
mod product_tests {
    use super::*;
    use crate::domain::events::{Event, Kind};
    use crate::store::sales::{Figures, refund_products, sale_products};
    use crate::store::{codec, sales, tables::EVENTS};
    use std::collections::BTreeMap;

    /// 5,000 demo events over 80 days to 2026-04-10 in New York (across the March DST change).
    fn spring_store(seed: u64) -> (tempfile::TempDir, crate::store::Store, Org) {
        let spec = crate::ingest::demo::Spec {
            events: 5000,
            days: 80,
            seed,
            last_day: jiff::civil::date(2026, 4, 10),
        };
        super::tests::demo_store("America/New_York", "USD", spec, 700)
    }

    /// Product rankings from day and month rows equal sums straight from the raw events, for
    /// ranges that start and end inside months and ranges that cover whole months.
    #[test]
    fn product_rankings_match_the_raw_events() {
        let (_dir, store, org) = spring_store(3);
        let tz = org.tz();
        // (day, sku) -> figures, from the raw events
        let mut naive: Vec<(i32, String, Figures)> = Vec::new();
        store
            .read(|t| {
                for row in t.open_table(EVENTS)?.iter()? {
                    let (_, v) = row?;
                    match codec::decode::<Event>(v.value())? {
                        Event::Sale(s) => {
                            let day = crate::domain::rollup::buckets(s.at, &tz).1;
                            for (k, f) in sale_products(&s) {
                                naive.push((day, k.to_string(), f));
                            }
                        }
                        Event::Refund(r) => {
                            let order = sales::get_event(t, org.id, Kind::Sale, &r.order_id)?;
                            if let Some(Event::Sale(o)) = order {
                                let day = crate::domain::rollup::buckets(r.at, &tz).1;
                                for (k, f) in refund_products(&r, &o) {
                                    naive.push((day, k.to_string(), f));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Ok(())
            })
            .unwrap();
        assert!(naive.iter().any(|(_, _, f)| f.refunds > 0));
        for (from, to) in [
            ("2026-01-25", "2026-04-10"),
            ("2026-02-01", "2026-03-31"),
            ("2026-02-14", "2026-02-20"),
            ("2026-03-31", "2026-04-01"),
        ] {
            let range = parse_range(from, to).unwrap();
            let (a, b) = range.as_days(&tz);
            for metric in ["revenue", "refunds", "units", "margin"] {
                let got = store
                    .read(|t| product_breakdown(t, &org, range, None, metric, 10_000))
                    .unwrap();
                let mut want: BTreeMap<String, Figures> = BTreeMap::new();
                for (d, k, f) in &naive {
                    if (a..=b).contains(d) {
                        want.entry(k.clone()).or_default().add(f);
                    }
                }
                let value = |f: &Figures| match metric {
                    "refunds" => f.refunds as f64 / 100.0,
                    "units" => f.units as f64,
                    "margin" => (f.revenue - f.refunds - f.cost) as f64 / 100.0,
                    _ => f.revenue as f64 / 100.0,
                };
                let want: BTreeMap<String, f64> = want
                    .iter()
                    .map(|(k, f)| (k.clone(), value(f)))
                    .filter(|(_, v)| *v != 0.0)
                    .collect();
                let got_map: BTreeMap<String, f64> =
                    got.iter().map(|s| (s.key.clone(), s.value)).collect();
                assert!(!want.is_empty(), "{from}..{to} {metric}");
                assert_eq!(got_map, want, "{from}..{to} {metric}");
                assert!(got.windows(2).all(|w| w[0].value >= w[1].value));
            }
        }
    }

    /// Customer rankings from the day rows equal sums straight from the raw events, with and
    /// without channel and region filters, over ranges that cross a DST change.
    #[test]
    fn customer_rankings_match_the_raw_events() {
        use crate::store::sales::{refund_customer, sale_customer};
        let (_dir, store, org) = spring_store(5);
        let tz = org.tz();
        // (day, customer, channel, region, figures) from the raw events
        let mut naive: Vec<(i32, String, String, String, Figures)> = Vec::new();
        store
            .read(|t| {
                for row in t.open_table(EVENTS)?.iter()? {
                    let (_, v) = row?;
                    let (at, item, order) = match codec::decode::<Event>(v.value())? {
                        Event::Sale(s) => (
                            s.at,
                            sale_customer(&s, &sale_products(&s))
                                .map(|(c, _, f)| (c.to_string(), f)),
                            s,
                        ),
                        Event::Refund(r) => {
                            match sales::get_event(t, org.id, Kind::Sale, &r.order_id)? {
                                Some(Event::Sale(o)) => (
                                    r.at,
                                    refund_customer(&r, &o, &refund_products(&r, &o))
                                        .map(|(c, _, f)| (c.to_string(), f)),
                                    o,
                                ),
                                _ => continue,
                            }
                        }
                        _ => continue,
                    };
                    if let Some((c, f)) = item {
                        let day = crate::domain::rollup::buckets(at, &tz).1;
                        naive.push((day, c, order.channel.clone(), order.region.clone(), f));
                    }
                }
                Ok(())
            })
            .unwrap();
        assert!(naive.iter().any(|n| n.4.refunds > 0));
        // The busiest channel and region, so every range has some of them.
        let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for n in &naive {
            *pairs.entry((n.2.as_str(), n.3.as_str())).or_default() += 1;
        }
        let ((channel, region), _) = pairs.iter().max_by_key(|(_, n)| **n).unwrap();
        let (channel, region) = (channel.to_string(), region.to_string());
        for (from, to) in [
            ("2026-01-25", "2026-04-10"),
            ("2026-03-07", "2026-03-09"),
            ("2026-02-14", "2026-02-20"),
        ] {
            let range = parse_range(from, to).unwrap();
            let (a, b) = range.as_days(&tz);
            for (ch, rg) in [
                (None, None),
                (Some(&channel), None),
                (Some(&channel), Some(&region)),
            ] {
                for metric in ["revenue", "net_revenue", "orders"] {
                    let got = store
                        .read(|t| {
                            customer_breakdown(
                                t,
                                &org,
                                range,
                                ch.map(|s| s.as_str()),
                                rg.map(|s| s.as_str()),
                                metric,
                                100_000,
                            )
                        })
                        .unwrap();
                    let mut want: BTreeMap<String, Figures> = BTreeMap::new();
                    for (d, c, nch, nrg, f) in &naive {
                        if (a..=b).contains(d)
                            && ch.is_none_or(|x| x == nch)
                            && rg.is_none_or(|x| x == nrg)
                        {
                            want.entry(c.clone()).or_default().add(f);
                        }
                    }
                    let want: BTreeMap<String, f64> = want
                        .iter()
                        .map(|(k, f)| (k.clone(), figure_value(metric, f, 2)))
                        .filter(|(_, v)| *v != 0.0)
                        .collect();
                    let got_map: BTreeMap<String, f64> =
                        got.iter().map(|s| (s.key.clone(), s.value)).collect();
                    assert!(!want.is_empty(), "{from}..{to} {metric} {ch:?} {rg:?}");
                    assert_eq!(got_map, want, "{from}..{to} {metric} {ch:?} {rg:?}");
                    assert!(got.windows(2).all(|w| w[0].value >= w[1].value));
                }
            }
        }
        // The top rows carry the customer's name where one is known.
        let top = store
            .read(|t| {
                customer_breakdown(
                    t,
                    &org,
                    parse_range("2026-01-25", "2026-04-10").unwrap(),
                    None,
                    None,
                    "revenue",
                    5,
                )
            })
            .unwrap();
        assert_eq!(top.len(), 5);
        assert!(top.iter().any(|s| s.name.is_some()), "{top:?}");
    }
}
