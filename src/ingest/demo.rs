//! A deterministic generator of realistic sales data: growth, weekly and yearly seasonality,
//! a few hundred products in several categories, repeat customers (each signed up with a name
//! and email just before their first order), refunds, daily traffic
//! per channel and region, and two anomalies (a promotion spike and an outage dip). The same
//! seed gives the same events on every machine; event ids carry the seed, so loading the same
//! data twice adds nothing.

use crate::domain::Ts;
use crate::domain::events::{CustomerCreated, Event, Refund, Sale, SaleLine, Traffic};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const CHANNELS: [(&str, f64); 4] = [
    ("online", 0.45),
    ("retail", 0.30),
    ("partner", 0.15),
    ("marketplace", 0.10),
];
pub const REGIONS: [(&str, f64); 4] = [
    ("NA", 0.40),
    ("EMEA", 0.35),
    ("APAC", 0.18),
    ("LATAM", 0.07),
];
pub const CATEGORIES: [&str; 8] = [
    "Hardware",
    "Software",
    "Services",
    "Accessories",
    "Training",
    "Support",
    "Cloud",
    "Licenses",
];
const PRODUCTS: usize = 300;
const FIRST_NAMES: [&str; 24] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
    "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Viktor", "Wen",
    "Yusuf",
];
const LAST_NAMES: [&str; 20] = [
    "Adams", "Berg", "Costa", "Diallo", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kim", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber",
];

/// A sign-up for a customer number: a made-up name and an example.com address.
fn sign_up(seed: u64, n: u64, at: Ts, region: &str) -> CustomerCreated {
    let first = FIRST_NAMES[(n % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((n / FIRST_NAMES.len() as u64) % LAST_NAMES.len() as u64) as usize];
    CustomerCreated {
        id: format!("demo-{seed}-c{n}"),
        at,
        email: Some(format!(
            "{}.{}{n}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        )),
        name: Some(format!("{first} {last}")),
        region: region.to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct Spec {
    /// About this many sales, refunds and customer sign-ups (traffic comes on top: one record
    /// per channel, region and day).
    pub events: u64,
    pub days: u32,
    pub seed: u64,
    /// The last day of data, in the org's time zone.
    pub last_day: jiff::civil::Date,
}

struct Product {
    sku: String,
    name: String,
    category: &'static str,
    price: i64,
    cost: i64,
}

fn pick<'a>(rng: &mut ChaCha8Rng, weighted: &'a [(&'a str, f64)]) -> &'a str {
    let mut x: f64 = rng.random();
    for (v, w) in weighted {
        if x < *w {
            return v;
        }
        x -= w;
    }
    weighted[weighted.len() - 1].0
}

/// Relative volume of a day: growth, weekly shape, yearly wave, anomalies.
fn day_weight(i: u32, days: u32, date: jiff::civil::Date) -> f64 {
    let growth = 1.0 + 0.6 * f64::from(i) / f64::from(days.max(1));
    let weekly = match date.weekday() {
        jiff::civil::Weekday::Saturday => 0.75,
        jiff::civil::Weekday::Sunday => 0.65,
        jiff::civil::Weekday::Monday => 1.05,
        _ => 1.1,
    };
    let doy = f64::from(date.day_of_year());
    let yearly = 1.0 + 0.25 * (std::f64::consts::TAU * (doy - 300.0) / 365.0).cos();
    let from_end = days - 1 - i;
    let anomaly = match from_end {
        10 => 3.0, // promotion
        40 => 0.3, // outage
        _ => 1.0,
    };
    growth * weekly * yearly * anomaly
}

/// Generate the events, day by day, handing them to `sink` in batches of about `batch`.
pub fn generate<E>(
    spec: &Spec,
    tz: &jiff::tz::TimeZone,
    batch: usize,
    mut sink: impl FnMut(Vec<Event>) -> Result<(), E>,
) -> Result<u64, E> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let products: Vec<Product> = (0..PRODUCTS)
        .map(|i| {
            let price = (500.0 * (100.0f64).powf(rng.random::<f64>())).round() as i64; // 5.00 .. 500.00
            Product {
                sku: format!("SKU-{:04}", i + 1),
                name: format!("{} item {}", CATEGORIES[i % CATEGORIES.len()], i + 1),
                category: CATEGORIES[(i * 7 + i / 13) % CATEGORIES.len()],
                price,
                cost: price * rng.random_range(30..60) / 100,
            }
        })
        .collect();
    let customers = (spec.events / 6).max(100);
    let mut signed_up: rustc_hash::FxHashSet<u64> = Default::default();
    let first_day = spec
        .last_day
        .checked_sub(jiff::Span::new().days(i64::from(spec.days.max(1) - 1)))
        .unwrap_or(spec.last_day);
    let weights: Vec<f64> = (0..spec.days)
        .map(|i| {
            day_weight(
                i,
                spec.days,
                first_day
                    .checked_add(jiff::Span::new().days(i64::from(i)))
                    .unwrap_or(first_day),
            )
        })
        .collect();
    let total_w: f64 = weights.iter().sum();
    let mut out: Vec<Event> = Vec::with_capacity(batch);
    let mut written = 0u64;
    let mut order_no = 0u64;
    let mut refund_no = 0u64;
    let mut pending_refunds: Vec<(u32, Refund)> = Vec::new();
    let seed = spec.seed;
    for (i, w) in weights.iter().enumerate() {
        let i = i as u32;
        let date = first_day
            .checked_add(jiff::Span::new().days(i64::from(i)))
            .unwrap_or(first_day);
        let midnight = date
            .to_zoned(tz.clone())
            .map(|z| z.timestamp().as_microsecond())
            .unwrap_or(0);
        // Sales take about 86% of the events, sign-ups about 10%, refunds the rest.
        let n = (spec.events as f64 * 0.86 * w / total_w).round() as u64;
        let mut cell_orders = [[0u64; 4]; 4];
        for _ in 0..n {
            order_no += 1;
            // Busier in the afternoon: two uniform draws, averaged, centred on ~14:00.
            let minute = ((rng.random::<f64>() + rng.random::<f64>()) / 2.0 * 1440.0 * 0.85 + 200.0)
                .min(1439.0) as i64;
            let at = Ts(midnight + minute * 60_000_000 + rng.random_range(0..60_000_000));
            let channel = pick(&mut rng, &CHANNELS);
            let region = pick(&mut rng, &REGIONS);
            let ci = CHANNELS.iter().position(|c| c.0 == channel).unwrap_or(0);
            let ri = REGIONS.iter().position(|r| r.0 == region).unwrap_or(0);
            cell_orders[ci][ri] += 1;
            let customer = (rng.random::<f64>() > 0.12).then(|| {
                let u: f64 = rng.random();
                let n = (u * u * customers as f64) as u64 + 1;
                if signed_up.insert(n) {
                    out.push(Event::Customer(sign_up(
                        seed,
                        n,
                        Ts(at.0 - 60_000_000),
                        region,
                    )));
                }
                format!("demo-{seed}-c{n}")
            });
            let nlines = 1 + (rng.random::<f64>().powi(2) * 4.0) as usize;
            let lines: Vec<SaleLine> = (0..nlines)
                .map(|_| {
                    let p = &products
                        [(rng.random::<f64>().powf(1.6) * PRODUCTS as f64) as usize % PRODUCTS];
                    SaleLine {
                        sku: p.sku.clone(),
                        name: p.name.clone(),
                        category: p.category.to_string(),
                        quantity: rng.random_range(1..4),
                        unit_price: p.price,
                        unit_cost: Some(p.cost),
                    }
                })
                .collect();
            let gross: i64 = lines.iter().map(SaleLine::value).sum();
            let discount = if rng.random::<f64>() < 0.2 {
                gross * rng.random_range(5..21) / 100
            } else {
                0
            };
            let sale = Sale {
                id: format!("demo-{seed}-o{order_no}"),
                at,
                customer,
                channel: channel.to_string(),
                region: region.to_string(),
                discount,
                tax: (gross - discount) * 8 / 100,
                shipping: if channel == "online" { 599 } else { 0 },
                lines,
            };
            if rng.random::<f64>() < 0.04 {
                refund_no += 1;
                let later = rng.random_range(1..15u32);
                let line = &sale.lines[0];
                pending_refunds.push((
                    i + later,
                    Refund {
                        id: format!("demo-{seed}-r{refund_no}"),
                        order_id: sale.id.clone(),
                        at: Ts(at.0 + i64::from(later) * 86_400_000_000),
                        amount: line.unit_price,
                        lines: vec![(line.sku.clone(), 1)],
                    },
                ));
            }
            out.push(Event::Sale(sale));
            if out.len() >= batch {
                written += out.len() as u64;
                sink(std::mem::take(&mut out))?;
            }
        }
        // Refunds due today.
        let (due, later): (Vec<_>, Vec<_>) =
            pending_refunds.into_iter().partition(|(d, _)| *d == i);
        pending_refunds = later;
        out.extend(due.into_iter().map(|(_, r)| Event::Refund(r)));
        // Traffic: one record per channel and region, about a 3% conversion.
        for (ci, (ch, _)) in CHANNELS.iter().enumerate() {
            for (ri, (rg, _)) in REGIONS.iter().enumerate() {
                let orders = cell_orders[ci][ri];
                let conv = 0.02 + 0.02 * rng.random::<f64>();
                out.push(Event::Traffic(Traffic {
                    id: format!("demo-{seed}-t{i}-{ch}-{rg}"),
                    at: Ts(midnight + 12 * 3_600_000_000),
                    channel: ch.to_string(),
                    region: rg.to_string(),
                    visits: ((orders as f64 / conv).round() as i64).max(1),
                }));
            }
        }
        if out.len() >= batch {
            written += out.len() as u64;
            sink(std::mem::take(&mut out))?;
        }
    }
    if !out.is_empty() {
        written += out.len() as u64;
        sink(out)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64) -> Vec<Event> {
        let spec = Spec {
            events: 3000,
            days: 60,
            seed,
            last_day: jiff::civil::date(2026, 11, 20),
        };
        let mut all = Vec::new();
        generate(&spec, &jiff::tz::TimeZone::UTC, 500, |b| {
            all.extend(b);
            Ok::<_, ()>(())
        })
        .unwrap();
        all
    }

    #[test]
    fn deterministic_realistic_and_unique() {
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same data");
        assert_ne!(a, run(8));
        let count = |f: fn(&Event) -> bool| a.iter().filter(|e| f(e)).count();
        let sales = count(|e| matches!(e, Event::Sale(_)));
        let sign_ups = count(|e| matches!(e, Event::Customer(_)));
        let refunds = count(|e| matches!(e, Event::Refund(_)));
        assert!((2400..=2700).contains(&sales), "{sales}");
        assert!(
            (2800..=3200).contains(&(sales + sign_ups + refunds)),
            "{sales} {sign_ups} {refunds}"
        );
        // every customer with an order signed up first, once
        let mut seen = std::collections::HashSet::new();
        for e in &a {
            match e {
                Event::Customer(c) => assert!(seen.insert(c.id.clone()), "{} twice", c.id),
                Event::Sale(s) => {
                    if let Some(c) = &s.customer {
                        assert!(seen.contains(c), "{c} ordered before signing up");
                    }
                }
                _ => {}
            }
        }
        assert!(a.iter().any(|e| matches!(e, Event::Refund(_))));
        let ids: std::collections::HashSet<(crate::domain::events::Kind, &str)> =
            a.iter().map(|e| (e.kind(), e.id())).collect();
        assert_eq!(ids.len(), a.len(), "ids are unique");
        // every event is valid by the same rules as the API
        for e in &a {
            if let Event::Sale(s) = e {
                assert!(s.discount <= s.gross() && !s.lines.is_empty());
                assert!(s.at >= Ts::from_timestamp("2026-09-22T00:00:00Z".parse().unwrap()));
                assert!(s.at < Ts::from_timestamp("2026-11-21T00:00:00Z".parse().unwrap()));
            }
        }
        // the promotion day (10 days before the end) is busier than its neighbours
        let per_day = |d: &str| {
            a.iter()
                .filter(|e| matches!(e, Event::Sale(s) if s.at.to_string().starts_with(d)))
                .count()
        };
        assert!(
            per_day("2026-11-10") > 2 * per_day("2026-11-09"),
            "{} vs {}",
            per_day("2026-11-10"),
            per_day("2026-11-09")
        );
    }
}
