//! Shared by the benchmarks: a store with an org and a signed-in admin, and percentiles.
// Each benchmark includes this module and uses a different part of it.
#![allow(dead_code)]

use salesboard::auth::accounts::{self, ActingAs, NewUserInput};
use salesboard::auth::jwt::JwtKeys;
use salesboard::clock::{Clock, SystemClock};
use salesboard::config::Config;
use salesboard::domain::org::Org;
use salesboard::store::{Store, orgs};
use std::sync::Arc;
use std::time::Duration;

pub const EMAIL: &str = "bench@example.com";
pub const PASSWORD: &str = "benchmark password";

/// A fresh data dir with the first-run org, an admin `EMAIL` / `PASSWORD`, and an access token.
pub struct Bench {
    pub cfg: Config,
    pub store: Arc<Store>,
    pub keys: Arc<JwtKeys>,
    pub org: Org,
    pub token: String,
    pub _dir: tempfile::TempDir,
}

pub fn setup(edit: impl FnOnce(&mut Config)) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.data.dir = dir.path().to_path_buf();
    edit(&mut cfg);
    let store = Arc::new(Store::open(&cfg.db_path()).unwrap());
    let now = SystemClock.now();
    accounts::bootstrap_if_empty(&store, &cfg.bootstrap, now).unwrap();
    let org = store.read(orgs::list).unwrap().remove(0);
    let input = NewUserInput {
        email: EMAIL.into(),
        name: "Bench".into(),
        role: "admin".into(),
        team: None,
        password: Some(PASSWORD.into()),
    };
    accounts::create_user(&store, &ActingAs::cli(), org.id, input, now).unwrap();
    let keys = Arc::new(JwtKeys::load_or_create(dir.path()).unwrap());
    let token = salesboard::auth::sessions::login(&store, &keys, &cfg.auth, now, EMAIL, PASSWORD)
        .unwrap()
        .access;
    Bench {
        cfg,
        store,
        keys,
        org,
        token,
        _dir: dir,
    }
}

pub fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name}: n={} p50={:.3} ms p95={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}

/// A one-line sale as JSON: id `{prefix}{n}` at `at` (RFC 3339); the customer, channel, region,
/// product, category and quantity cycle with `n` (over `customers` customers and 300 SKUs).
pub fn sale_json(prefix: &str, n: u64, at: &str, customers: u64) -> String {
    format!(
        r#"{{"type":"sale_completed","id":"{prefix}{n}","occurred_at":"{at}","customer_id":"c-{}","channel":"{}","region":"{}","lines":[{{"sku":"SKU-{}","category":"{}","quantity":{},"unit_price":"19.99","unit_cost":"7.50"}}],"tax":"1.20"}}"#,
        n % customers,
        ["online", "retail", "partner"][(n % 3) as usize],
        ["EMEA", "NA", "APAC", "LATAM"][(n % 4) as usize],
        n % 300,
        ["Hardware", "Software", "Services", "Support"][(n % 4) as usize],
        1 + n % 3
    )
}

/// Fill the bench's org with `events` demo events over a year (seed 5, ending today), written
/// through the store's ingest path. Returns how many were generated and the seconds it took.
#[allow(dead_code)] // not every bench loads demo data
pub fn load_demo(b: &Bench, events: u64) -> (u64, f64) {
    let now = SystemClock.now();
    let tz = b.org.tz();
    let spec = salesboard::ingest::demo::Spec {
        events,
        days: 365,
        seed: 5,
        last_day: now.timestamp().to_zoned(tz.clone()).date(),
    };
    let t = std::time::Instant::now();
    let n = salesboard::ingest::demo::generate(&spec, &tz, 20_000, |batch| {
        b.store
            .write(|txn| salesboard::store::sales::apply(txn, &b.org, &batch))
            .map(|_| ())
    })
    .unwrap();
    (n, t.elapsed().as_secs_f64())
}
