//! Import throughput: writes an orders CSV (SB_BENCH_ROWS rows, default 1,000,000; one to
//! three line items per order over two years) and imports it into a fresh store with the same
//! code path as `salesboard import`, its chunk size too. Reports rows/s and events/s, and the
//! same for a dry run (parsing and validation only). `SB_BENCH_CHUNK` sets the events per write
//! transaction.
//!
//! `cargo bench --bench import`

use salesboard::domain::Ts;
use salesboard::domain::org::NewOrg;
use salesboard::import::run::{Options, import_file};
use salesboard::store::{Store, orgs};
use std::io::Write;
use std::time::Instant;

fn main() {
    let rows: u64 = std::env::var("SB_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Events per write transaction: the command line's unless SB_BENCH_CHUNK says otherwise.
    let chunk: usize = std::env::var("SB_BENCH_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(salesboard::import::run::CHUNK_EVENTS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(
        out,
        "order_id,occurred_at,customer_id,channel,region,sku,name,category,quantity,unit_price,unit_cost,discount,tax,shipping"
    )
    .unwrap();
    let channels = ["online", "retail", "partner", "marketplace"];
    let regions = ["NA", "EMEA", "APAC", "LATAM"];
    let categories = [
        "Hardware",
        "Software",
        "Services",
        "Accessories",
        "Training",
    ];
    let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
    let (mut written, mut order) = (0u64, 0u64);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    while written < rows {
        order += 1;
        let at = start
            .checked_add(jiff::SignedDuration::from_secs((order * 63) as i64))
            .unwrap();
        let lines = 1 + rnd(3);
        let (ch, rg, cust) = (
            channels[rnd(4) as usize],
            regions[rnd(4) as usize],
            rnd(80_000),
        );
        for l in 0..lines {
            let sku = rnd(300);
            let first = l == 0;
            writeln!(
                out,
                "O{order},{at},c{cust},{ch},{rg},SKU-{sku},Item {sku},{},{},{}.{:02},{}.00,{},{},{}",
                categories[(sku % 5) as usize],
                1 + rnd(3),
                5 + sku,
                rnd(100),
                2 + sku / 3,
                if first { "1.00" } else { "" },
                if first { "2.50" } else { "" },
                if first { "4.99" } else { "" },
            )
            .unwrap();
            written += 1;
        }
    }
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "orders.csv: {written} rows, {order} orders, {:.0} MB",
        size as f64 / 1e6
    );

    let store = Store::open(&dir.path().join("salesboard.redb")).unwrap();
    let org = store
        .write(|t| orgs::create(t, NewOrg::parse("Bench", "UTC", "USD").unwrap(), Ts(0)))
        .unwrap();
    for dry_run in [true, false] {
        let opts = Options {
            format: None,
            dry_run,
            errors_path: dir.path().join("errors.csv"),
            chunk_events: chunk,
            rates: Default::default(),
            oldest: None,
        };
        let t = Instant::now();
        let r = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(r.total.errors, 0);
        println!(
            "import{}: {} rows, {} events in {secs:.1} s = {:.0} rows/s, {:.0} events/s",
            if dry_run { " --dry-run" } else { "" },
            r.total.rows,
            r.total.accepted,
            r.total.rows as f64 / secs,
            r.total.accepted as f64 / secs
        );
    }
}
