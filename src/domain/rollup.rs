//! What each event adds to the hourly and daily rollups. Pure arithmetic: the store applies
//! these contributions in the same transaction as the events, and the property test checks
//! them against a naive recomputation.
//!
//! Definitions (documented in the README):
//! - gross revenue: Σ quantity × unit price of the lines (before discounts; tax and shipping
//!   excluded). Discounts are spread over the lines in proportion to their value.
//! - net revenue: gross − discounts − refunds. Margin: net revenue − cost of goods (lines
//!   without a unit cost count no cost).
//! - orders: one per sale. A cell of one product category counts the orders containing that
//!   category (`cat_orders`), so category rows never double-count the order total.
//! - new customer: a sale that is its customer's earliest (by time, then id); every later sale
//!   of that customer is returning. A late-arriving earlier sale moves the "new" mark.
//! - refunds land in the bucket of the refund date with the order's channel and region, spread
//!   over the refunded lines (or the whole order) in proportion to their value.

use super::Ts;
use super::events::{Refund, Sale, Traffic};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    pub gross: i64,
    pub discounts: i64,
    pub refunds: i64,
    pub tax: i64,
    pub shipping: i64,
    pub cost: i64,
    pub orders: i64,
    pub cat_orders: i64,
    pub units: i64,
    pub refunded_units: i64,
    pub new_customers: i64,
    pub returning_customers: i64,
    pub visits: i64,
}

impl Metrics {
    pub fn add(&mut self, o: &Metrics) {
        self.gross = self.gross.saturating_add(o.gross);
        self.discounts = self.discounts.saturating_add(o.discounts);
        self.refunds = self.refunds.saturating_add(o.refunds);
        self.tax = self.tax.saturating_add(o.tax);
        self.shipping = self.shipping.saturating_add(o.shipping);
        self.cost = self.cost.saturating_add(o.cost);
        self.orders = self.orders.saturating_add(o.orders);
        self.cat_orders = self.cat_orders.saturating_add(o.cat_orders);
        self.units = self.units.saturating_add(o.units);
        self.refunded_units = self.refunded_units.saturating_add(o.refunded_units);
        self.new_customers = self.new_customers.saturating_add(o.new_customers);
        self.returning_customers = self
            .returning_customers
            .saturating_add(o.returning_customers);
        self.visits = self.visits.saturating_add(o.visits);
    }

    pub fn net(&self) -> i64 {
        self.gross
            .saturating_sub(self.discounts)
            .saturating_sub(self.refunds)
    }

    pub fn is_zero(&self) -> bool {
        *self == Metrics::default()
    }
}

/// Where a contribution goes. `category` is empty for order-level cells (orders, tax,
/// shipping, customers, visits), a product category for line-level cells.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub at: Ts,
    pub channel: String,
    pub region: String,
    pub category: String,
}

pub type Contribution = (Cell, Metrics);

/// Split `total` over `weights` in proportion, exactly (largest remainder; ties to the first).
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w.max(&0))).sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum == 0 {
        // No value to go by: all on the first.
        let mut v = vec![0; weights.len()];
        v[0] = total;
        return v;
    }
    let mut shares: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let p = i128::from(total) * i128::from(*w.max(&0));
        shares.push((p.div_euclid(sum)) as i64);
        rems.push((p.rem_euclid(sum), i));
    }
    let mut left = total - shares.iter().sum::<i64>();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

fn cell(at: Ts, channel: &str, region: &str, category: &str) -> Cell {
    Cell {
        at,
        channel: channel.into(),
        region: region.into(),
        category: category.into(),
    }
}

/// Is the customer's state "new" for this sale? `first` is the customer's earliest sale so far.
pub fn precedes(at: Ts, id: &str, first: (Ts, &str)) -> bool {
    (at, id) < (first.0, first.1)
}

/// A sale's contributions; `is_new` says whether it is its customer's first sale (None when the
/// sale has no customer).
pub fn sale(s: &Sale, is_new: Option<bool>) -> Vec<Contribution> {
    let weights: Vec<i64> = s.lines.iter().map(|l| l.value()).collect();
    let discounts = allocate(s.discount, &weights);
    let mut out: Vec<Contribution> = Vec::with_capacity(s.lines.len() + 1);
    let mut seen_categories: Vec<&str> = Vec::new();
    for (l, d) in s.lines.iter().zip(discounts) {
        let m = Metrics {
            gross: l.value(),
            discounts: d,
            cost: l
                .unit_cost
                .map(|c| c.saturating_mul(l.quantity))
                .unwrap_or(0),
            units: l.quantity,
            cat_orders: i64::from(!seen_categories.contains(&l.category.as_str())),
            ..Metrics::default()
        };
        seen_categories.push(&l.category);
        out.push((cell(s.at, &s.channel, &s.region, &l.category), m));
    }
    let order = Metrics {
        orders: 1,
        tax: s.tax,
        shipping: s.shipping,
        new_customers: i64::from(is_new == Some(true)),
        returning_customers: i64::from(is_new == Some(false)),
        ..Metrics::default()
    };
    out.push((cell(s.at, &s.channel, &s.region, ""), order));
    out
}

/// The correction when an earlier sale of the customer turns up: the old first sale becomes a
/// returning one.
pub fn demote_first(old_first: &Sale) -> Contribution {
    (
        cell(old_first.at, &old_first.channel, &old_first.region, ""),
        Metrics {
            new_customers: -1,
            returning_customers: 1,
            ..Metrics::default()
        },
    )
}

/// How a refund splits over the order's lines: (amount, units) per line. Refunded lines (or,
/// when none are named or none match, the whole order) share the amount in proportion to
/// their value.
pub fn refund_lines(r: &Refund, order: &Sale) -> Vec<(i64, i64)> {
    let mut qty: Vec<i64> = vec![0; order.lines.len()];
    for (sku, q) in &r.lines {
        let mut left = *q;
        for (i, l) in order.lines.iter().enumerate() {
            if &l.sku == sku && left > 0 {
                let take = left.min(l.quantity - qty[i]);
                qty[i] += take;
                left -= take;
            }
        }
    }
    let named = qty.iter().any(|q| *q > 0);
    let weights: Vec<i64> = order
        .lines
        .iter()
        .zip(&qty)
        .map(|(l, q)| {
            if named {
                l.unit_price.saturating_mul(*q)
            } else {
                l.value()
            }
        })
        .collect();
    let shares = allocate(r.amount, &weights);
    shares
        .into_iter()
        .zip(qty)
        .map(|(a, q)| (a, if named { q } else { 0 }))
        .collect()
}

/// A refund's contributions, given the order it refunds.
pub fn refund(r: &Refund, order: &Sale) -> Vec<Contribution> {
    order
        .lines
        .iter()
        .zip(refund_lines(r, order))
        .filter(|(_, (amount, units))| *amount != 0 || *units != 0)
        .map(|(l, (amount, units))| {
            (
                cell(r.at, &order.channel, &order.region, &l.category),
                Metrics {
                    refunds: amount,
                    refunded_units: units,
                    ..Metrics::default()
                },
            )
        })
        .collect()
}

pub fn traffic(t: &Traffic) -> Contribution {
    (
        cell(t.at, &t.channel, &t.region, ""),
        Metrics {
            visits: t.visits,
            ..Metrics::default()
        },
    )
}

/// Start of the hour (in `tz`) containing `at`, as a UTC instant; and the civil day number
/// (days since 1970-01-01 in `tz`).
/// The month (`year * 12 + month - 1`) of a civil day number (days since 1970-01-01).
pub fn month_of(day: i32) -> i32 {
    let d = jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(day)))
        .unwrap_or(jiff::civil::date(1970, 1, 1));
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

pub fn buckets(at: Ts, tz: &jiff::tz::TimeZone) -> (Ts, i32) {
    let z = at.timestamp().to_zoned(tz.clone());
    let hour = z
        .with()
        .minute(0)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .map(|h| Ts::from_timestamp(h.timestamp()))
        .unwrap_or(at);
    let day = z.date();
    let epoch = jiff::civil::date(1970, 1, 1);
    let days = (day - epoch).get_days();
    (hour, days)
}

/// [`buckets`] remembered by quarter hour of UTC time, for many events at scattered times (a
/// replay in stored order, an import). Every zone's offset in use is a whole number of quarter
/// hours, so a quarter hour mostly lies in one local hour; whether it does is checked, not
/// assumed: a quarter hour is remembered only when its first and last microsecond fall in the
/// same buckets, and any other quarter hour is computed event by event. (Ends that agree with
/// a different middle would take two offset changes within the quarter hour, or one that
/// leaves and re-enters the same local hour: a review of every change in the tz database from
/// 1800 to 2040 found none.)
#[derive(Default)]
pub struct BucketMemo {
    slots: rustc_hash::FxHashMap<i64, Option<(Ts, i32)>>,
    /// The last time asked and its buckets (the cells of one event share its time).
    last: Option<(Ts, (Ts, i32))>,
}

impl BucketMemo {
    const SLOT: i64 = 15 * 60 * 1_000_000;

    pub fn get(&mut self, at: Ts, tz: &jiff::tz::TimeZone) -> (Ts, i32) {
        if let Some((t, b)) = self.last
            && t == at
        {
            return b;
        }
        let slot = at.0.div_euclid(Self::SLOT);
        let whole = *self.slots.entry(slot).or_insert_with(|| {
            let start = slot.saturating_mul(Self::SLOT);
            let first = buckets(Ts(start), tz);
            (first == buckets(Ts(start.saturating_add(Self::SLOT - 1)), tz)).then_some(first)
        });
        let b = whole.unwrap_or_else(|| buckets(at, tz));
        self.last = Some((at, b));
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn allocation_is_exact_and_proportional(total in -1_000_000i64..1_000_000, weights in proptest::collection::vec(0i64..10_000, 1..8)) {
            let shares = allocate(total, &weights);
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            let sum: i64 = weights.iter().sum();
            if sum > 0 {
                for (s, w) in shares.iter().zip(&weights) {
                    let exact = total as f64 * *w as f64 / sum as f64;
                    prop_assert!((*s as f64 - exact).abs() < 1.0 + 1e-9, "{} vs {}", s, exact);
                }
            }
        }
    }

    #[test]
    fn the_bucket_memo_agrees_with_buckets_in_every_kind_of_zone() {
        let zones = [
            "America/New_York",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "America/Havana",
            "Europe/London",
            "UTC",
        ];
        for name in zones {
            let tz = jiff::tz::TimeZone::get(name).unwrap();
            let mut memo = BucketMemo::default();
            // Scattered times over two years (both DST changes of each), in no order, and
            // every minute around each change.
            let start: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z
            let mut x: u64 = 7;
            let mut times = Vec::new();
            for _ in 0..20_000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                times.push(start + ((x >> 11) % (2 * 365 * 86_400_000_000)) as i64);
            }
            let mut t = jiff::Timestamp::from_microsecond(start).unwrap();
            let end = jiff::Timestamp::from_microsecond(start + 2 * 365 * 86_400_000_000).unwrap();
            while let Some(change) = tz.following(t).next().filter(|c| c.timestamp() < end) {
                let at = change.timestamp().as_microsecond();
                for m in -150..150 {
                    times.push(at + m * 60_000_000);
                    times.push(at + m * 60_000_000 - 1);
                }
                t = change.timestamp();
            }
            for at in times {
                assert_eq!(
                    memo.get(Ts(at), &tz),
                    buckets(Ts(at), &tz),
                    "{name} at {at}"
                );
            }
        }
    }

    #[test]
    fn buckets_follow_the_org_time_zone_across_dst() {
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        // 2026-03-08: clocks jump from 02:00 to 03:00 local time.
        let at = Ts::from_timestamp("2026-03-08T07:30:00Z".parse().unwrap()); // 03:30 EDT
        let (hour, day) = buckets(at, &ny);
        assert_eq!(hour.timestamp().to_string(), "2026-03-08T07:00:00Z");
        let before = Ts::from_timestamp("2026-03-08T06:59:00Z".parse().unwrap()); // 01:59 EST
        assert_eq!(
            buckets(before, &ny).0.timestamp().to_string(),
            "2026-03-08T06:00:00Z"
        );
        assert_eq!(buckets(before, &ny).1, day, "same local day");
        let late = Ts::from_timestamp("2026-03-09T03:59:00Z".parse().unwrap()); // 23:59 EDT on the 8th
        assert_eq!(buckets(late, &ny).1, day);
        let india = jiff::tz::TimeZone::get("Asia/Kolkata").unwrap();
        let (h, _) = buckets(
            Ts::from_timestamp("2026-01-01T00:10:00Z".parse().unwrap()),
            &india,
        );
        assert_eq!(
            h.timestamp().to_string(),
            "2025-12-31T23:30:00Z",
            "half-hour offset zones"
        );
    }
}
