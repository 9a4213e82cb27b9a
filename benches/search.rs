//! Search at scale: SB_BENCH_DOCS records (default 1,000,000) in one org — customers (names,
//! emails, regions) and products (SKUs, names, categories) written through the store's own
//! ingest path, plus partners with notes — then:
//! - a full rebuild (`search::reindex`, what `salesboard reindex` runs): records per second and
//!   the index size on disk;
//! - queries as the API runs them (`Search::query`: org and reach filters, ranking, the top 20
//!   with highlights and context): one word, two words, and typo (fuzzy) queries, p50/p95/p99,
//!   plus criterion's estimate for one of each;
//! - a changed record: commit -> searchable (polled by querying), with the default commit
//!   interval.
//!
//! `cargo bench --bench search` (`SB_BENCH_DOCS=100000` for a quicker run).

use criterion::Criterion;
use salesboard::clock::{Clock, SystemClock};
use salesboard::domain::events::{CustomerCreated, Event, Sale, SaleLine};
use salesboard::domain::search::{Kind, parse};
use salesboard::domain::{PartnerId, Ts};
use salesboard::search::Search;
use salesboard::search::query::{Reach, Viewer};
use salesboard::store::{partners, sales};
use std::time::{Duration, Instant};

mod support;
use support::percentiles;

const FIRST: [&str; 40] = [
    "maria", "james", "sofia", "liam", "emma", "noah", "olivia", "lucas", "mia", "ethan", "ava",
    "mateo", "chloe", "oliver", "isla", "leo", "amelia", "hugo", "freya", "arthur", "nora",
    "felix", "ines", "oscar", "clara", "elias", "lena", "jonas", "alma", "victor", "hanna",
    "milan", "zoe", "aaron", "eva", "david", "julia", "samuel", "lara", "adam",
];
const LAST: [&str; 40] = [
    "lopez",
    "smith",
    "martin",
    "garcia",
    "muller",
    "rossi",
    "dubois",
    "silva",
    "novak",
    "jensen",
    "kowalski",
    "nakamura",
    "okafor",
    "patel",
    "schmidt",
    "moreau",
    "fischer",
    "romano",
    "costa",
    "larsen",
    "nielsen",
    "horvat",
    "kovacs",
    "popescu",
    "ivanova",
    "berg",
    "lindqvist",
    "murphy",
    "walsh",
    "oconnor",
    "fernandez",
    "santos",
    "weber",
    "wagner",
    "becker",
    "hoffmann",
    "richter",
    "klein",
    "wolf",
    "neumann",
];
const COMPANY: [&str; 20] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "gringotts",
    "oscorp",
    "massive",
    "aperture",
    "blackmesa",
    "monarch",
    "dunder",
    "prestige",
];
const ADJ: [&str; 20] = [
    "compact", "wireless", "heavy", "portable", "smart", "classic", "premium", "rugged", "silent",
    "modular", "solar", "digital", "steel", "carbon", "mini", "ultra", "eco", "dual", "pro",
    "basic",
];
const NOUN: [&str; 20] = [
    "widget", "adapter", "router", "bracket", "sensor", "charger", "cable", "monitor", "keyboard",
    "speaker", "lamp", "camera", "drive", "switch", "battery", "printer", "tablet", "headset",
    "dock", "hub",
];
const CATEGORY: [&str; 6] = [
    "Hardware",
    "Software",
    "Services",
    "Support",
    "Accessories",
    "Cables",
];

fn main() {
    let docs: usize = std::env::var("SB_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench = support::setup(|_| {});
    let (cfg, store, org) = (bench.cfg.clone(), bench.store.clone(), bench.org.clone());
    let now = SystemClock.now();

    // Data: 78 % customers, 20 % products, 2 % partners (with a note each).
    let started = Instant::now();
    let customers = docs * 78 / 100;
    let products = docs * 20 / 100;
    let partner_count = docs - customers - products;
    let at = Ts(now.0 - 86_400_000_000);
    let mut batch = Vec::with_capacity(20_000);
    let flush = |batch: &mut Vec<Event>| {
        store
            .write(|t| sales::apply(t, &org, batch).map(|_| ()))
            .unwrap();
        batch.clear();
    };
    for i in 0..customers {
        let (f, l, c) = (FIRST[i % 40], LAST[(i / 40) % 40], COMPANY[(i / 1600) % 20]);
        batch.push(Event::Customer(CustomerCreated {
            id: format!("c-{i}"),
            at,
            email: Some(format!("{f}.{l}{i}@{c}.example")),
            name: Some(format!("{} {}", cap(f), cap(l))),
            region: ["EMEA", "NA", "APAC", "LATAM"][i % 4].into(),
        }));
        if batch.len() == 20_000 {
            flush(&mut batch);
        }
    }
    for i in 0..products {
        batch.push(Event::Sale(Sale {
            id: format!("o-{i}"),
            at,
            customer: None,
            channel: "online".into(),
            region: "EMEA".into(),
            lines: vec![SaleLine {
                sku: format!("SKU-{i:07}"),
                name: format!(
                    "{} {} {}",
                    cap(ADJ[i % 20]),
                    NOUN[(i / 20) % 20],
                    COMPANY[(i / 400) % 20]
                ),
                category: CATEGORY[i % 6].into(),
                quantity: 1,
                unit_price: 1000 + (i as i64 % 50_000),
                unit_cost: None,
            }],
            discount: 0,
            tax: 0,
            shipping: 0,
        }));
        if batch.len() == 20_000 {
            flush(&mut batch);
        }
    }
    flush(&mut batch);
    let owner = store
        .read(|t| salesboard::store::users::list(t, org.id))
        .unwrap()[0]
        .id;
    store
        .write(|t| {
            let mut all = Vec::with_capacity(partner_count);
            let mut notes = Vec::with_capacity(partner_count);
            for i in 0..partner_count {
                let p = salesboard::domain::partner::Partner {
                    id: PartnerId::generate(),
                    org: org.id,
                    name: format!(
                        "{} {} partners {i}",
                        cap(COMPANY[i % 20]),
                        cap(NOUN[(i / 20) % 20])
                    ),
                    website: format!("https://{}{i}.example", COMPANY[i % 20]),
                    tier: "Gold".into(),
                    status: salesboard::domain::partner::PartnerStatus::Active,
                    owner,
                    region: "EMEA".into(),
                    categories: vec![CATEGORY[i % 6].into()],
                    contract_start: None,
                    renewal_date: None,
                    contacts: Vec::new(),
                    tags: vec!["reseller".into()],
                    revenue_target: None,
                    at_risk_reason: None,
                    archived: false,
                    last_activity: now,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                let note = salesboard::domain::partner::Note {
                    id: salesboard::domain::NoteId::generate(),
                    at: now,
                    by: Some(owner),
                    by_label: "Bench".into(),
                    text: format!(
                        "Quarterly review with {} about the {} {} rollout",
                        cap(FIRST[i % 40]),
                        ADJ[i % 20],
                        NOUN[(i / 7) % 20]
                    ),
                };
                notes.push((p.id, note));
                all.push(p);
            }
            partners::put_all(t, org.id, &all)?;
            for (id, n) in &notes {
                partners::add_note(t, org.id, *id, n)?;
            }
            Ok(())
        })
        .unwrap();
    println!(
        "data: {customers} customers, {products} products, {partner_count} partners written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Full rebuild.
    let started = Instant::now();
    let n = salesboard::search::reindex(&store, &cfg.search, |_, _| {}).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let dir = salesboard::search::dir_for(&store);
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "rebuild: {n} records in {secs:.1} s = {:.0} records/s; index {:.0} MiB ({:.0} MiB per million documents)",
        n as f64 / secs,
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / (n as f64 / 1e6)
    );

    let search = Search::start(&store, &cfg.search).unwrap();
    let viewer = Viewer {
        org: org.id,
        me: owner,
        reach: Kind::ALL.iter().map(|k| (*k, Reach::All)).collect(),
    };
    let run = |q: &str| {
        let parsed = parse(q).unwrap();
        let t = Instant::now();
        let r = search.query(&viewer, &parsed, 0, 20, now).unwrap();
        (t.elapsed(), r.total)
    };
    let sets: [(&str, Vec<String>); 3] = [
        (
            "one word (prefix while typing)",
            (0..40)
                .map(|i| match i % 4 {
                    0 => LAST[i % 40].to_string(),
                    1 => NOUN[i % 20].to_string(),
                    2 => COMPANY[i % 20].to_string(),
                    _ => FIRST[i % 40].to_string(),
                })
                .collect(),
        ),
        (
            "two words",
            (0..40)
                .map(|i| match i % 3 {
                    0 => format!("{} {}", FIRST[i % 40], LAST[(i * 7) % 40]),
                    1 => format!("{} {}", ADJ[i % 20], NOUN[(i * 3) % 20]),
                    _ => format!("quarterly {}", NOUN[i % 20]),
                })
                .collect(),
        ),
        (
            "fuzzy (one typo)",
            (0..40)
                .map(|i| {
                    let w = [LAST[i % 40], NOUN[i % 20], COMPANY[i % 20]][i % 3];
                    typo(w)
                })
                .collect(),
        ),
    ];
    for (name, queries) in &sets {
        let mut samples = Vec::new();
        let mut found = 0u64;
        for _ in 0..5 {
            for q in queries {
                let (d, total) = run(q);
                samples.push(d);
                found += total;
            }
        }
        percentiles(&format!("query, {name}"), samples);
        println!(
            "  (mean matches per query: {})",
            found / (5 * queries.len() as u64)
        );
    }
    let mut c = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    c.bench_function("search one word", |b| b.iter(|| run("lopez")));
    c.bench_function("search two words", |b| b.iter(|| run("maria lopez")));
    c.bench_function("search fuzzy", |b| b.iter(|| run("lpoez")));

    // Change -> searchable.
    let mut samples = Vec::new();
    let target = store.read(|t| partners::list(t, org.id)).unwrap().remove(0);
    for _ in 0..30 {
        // a fresh random word each time (ids differ in many letters, so no earlier one is
        // within a typo of it)
        let word = format!("w{}", PartnerId::generate().to_string().to_lowercase());
        let mut p = target.clone();
        p.name = format!("Renamed {word}");
        store.write(|txn| partners::put(txn, &p)).unwrap();
        let t = Instant::now();
        let q = parse(&format!("{word} ")).unwrap();
        loop {
            if search.query(&viewer, &q, 0, 1, now).unwrap().total == 1 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "not searchable");
            std::thread::sleep(Duration::from_millis(2));
        }
        samples.push(t.elapsed());
    }
    percentiles(
        &format!(
            "change searchable after commit (commit interval {:?})",
            cfg.search.commit_interval
        ),
        samples,
    );
    println!("segments: {}", search.segments());
}

fn cap(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The word with two neighbouring letters swapped (one typo).
fn typo(w: &str) -> String {
    let mut c: Vec<char> = w.chars().collect();
    c.swap(1, 2);
    c.into_iter().collect()
}
