//! KPI queries over the rollups (never over raw events).

use crate::domain::org::Org;
use crate::domain::rollup::Metrics;
use crate::domain::{Invalid, Ts};
use crate::store::sales::split_dim;
use crate::store::{ReadTx, StoreResult, tables::ROLLUP_DAY, tables::ROLLUP_HOUR};
use redb::ReadableTable;
use serde::Serialize;

/// Optional dimension filters; `None` means all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    pub channel: Option<String>,
    pub region: Option<String>,
    pub category: Option<String>,
}

impl Filters {
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

/// Σ of the rollup rows in `range` that pass `filters`. With a category filter, `orders`
/// counts the orders containing that category.
pub fn total(txn: &impl ReadTx, org: &Org, range: Range, f: &Filters) -> StoreResult<Metrics> {
    let mut m = Metrics::default();
    match range {
        Range::Days { from, to } => {
            let t = txn.table(ROLLUP_DAY)?;
            for row in t.range((org.id.0, from, "")..=(org.id.0, to, "\u{10ffff}"))? {
                let (k, v) = row?;
                if f.keeps(k.value().2) {
                    m.add(&crate::store::codec::decode(v.value())?);
                }
            }
        }
        Range::Instants { from, to } => {
            let tz = org.tz();
            let (start, _) = crate::domain::rollup::buckets(from, &tz);
            let t = txn.table(ROLLUP_HOUR)?;
            for row in t.range((org.id.0, start.0, "")..(org.id.0, to.0, ""))? {
                let (k, v) = row?;
                if f.keeps(k.value().2) {
                    m.add(&crate::store::codec::decode(v.value())?);
                }
            }
        }
    }
    if f.category.is_some() {
        m.orders = m.cat_orders;
    }
    Ok(m)
}

/// One KPI with its comparison.
#[derive(Clone, Debug, Serialize, PartialEq)]
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
#[derive(Clone, Debug, Serialize, PartialEq)]
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
    let scale = 10f64.powi(i32::from(org.currency.minor_digits()));
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
