//! Data files: the schema-v1 fixture opens; newer, foreign or damaged files are refused with a
//! message that names the file and says what to do.

use redb::{ReadableTable, ReadableTableMetadata};
use salesboard::store::{Store, StoreError, audit, migrate::SCHEMA_VERSION, orgs, users};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Each schema version's fixture is written once, by that version's code, and then kept as it
/// is, so every later version proves it still opens and upgrades it. When a new schema
/// version is added, run `cargo test --test it generate_fixture -- --ignored` to write
/// `schema-v<new>.redb`; never rewrite an existing one.
#[test]
#[ignore]
fn generate_fixture() {
    use salesboard::auth::accounts::{self, ActingAs, NewUserInput};
    use salesboard::domain::{Ts, org::NewOrg};
    let path = fixture(&format!("schema-v{SCHEMA_VERSION}.redb"));
    assert!(
        !path.exists(),
        "{} exists: fixtures are never rewritten",
        path.display()
    );
    let store = Store::open(&path).unwrap();
    let now = Ts(1_795_000_000_000_000);
    let org = accounts::create_org(
        &store,
        &ActingAs::cli(),
        NewOrg::parse("Fixture Co", "America/New_York", "USD").unwrap(),
        now,
    )
    .unwrap();
    let input = NewUserInput {
        email: "fixture@example.com".into(),
        name: "Fixture Owner".into(),
        role: "owner".into(),
        team: None,
        password: Some("fixture password 1".into()),
    };
    accounts::create_user(&store, &ActingAs::cli(), org.id, input, now).unwrap();
    accounts::create_team(&store, &ActingAs::cli(), org.id, "East", None, now).unwrap();
    // Sales data (from version 4 on), so later versions prove their migrations over events.
    let spec = salesboard::ingest::demo::Spec {
        events: 800,
        days: 30,
        seed: 11,
        last_day: jiff::civil::date(2026, 11, 1),
    };
    salesboard::ingest::demo::generate(&spec, &org.tz(), 500, |b| {
        store
            .write(|t| salesboard::store::sales::apply(t, &org, &b))
            .map(|_| ())
    })
    .unwrap();
    // Pipeline data (from version 6 on): deals with their stage history; from version 7 on
    // with partners linked to them, and the partners' health of the day.
    salesboard::pipeline::load_demo(&store, &org, 30, now).unwrap();
    salesboard::partners::refresh_all(&store, &salesboard::pipeline::Books::default(), now)
        .unwrap();
    drop(store);
    // Kept small in the repository.
    let mut db = redb::Database::open(&path).unwrap();
    while db.compact().unwrap() {}
}

#[test]
fn schema_v1_fixture_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v1.redb"), &p).unwrap();
    // Opening upgrades the version-1 file to the current schema, keeping its data.
    let store = Store::open(&p).unwrap();
    let v = store
        .read(salesboard::store::migrate::schema_version)
        .unwrap();
    assert_eq!(v, Some(SCHEMA_VERSION));
    store
        .read(|t| Ok(t.open_table(salesboard::store::tables::EVENTS)?.len()?))
        .map(|n| assert_eq!(n, 0))
        .unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    assert_eq!(org.timezone, "America/New_York");
    let u = store
        .read(|t| users::by_email(t, "fixture@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(u.name, "Fixture Owner");
    assert!(salesboard::auth::password::verify(
        "fixture password 1",
        &u.password_hash
    ));
    assert_eq!(
        store.read(|t| audit::verify_chain(t, org.id)).unwrap(),
        Ok(3)
    );
}

/// The version-4 file (with sales data) upgrades: its customer day rows are filled from the
/// raw events and add up to each customer's lifetime figures; the rest is kept.
#[test]
fn schema_v4_fixture_upgrades_with_sales_data() {
    use salesboard::analytics::{self, customer_breakdown, product_breakdown};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v4.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    let v = store
        .read(salesboard::store::migrate::schema_version)
        .unwrap();
    assert_eq!(v, Some(SCHEMA_VERSION));
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let all = analytics::parse_range("2026-01-01", "2026-12-31").unwrap();
    let customers = store
        .read(|t| salesboard::store::sales::customers(t, org.id))
        .unwrap();
    let buyers: Vec<_> = customers.iter().filter(|(_, c)| c.orders > 0).collect();
    assert!(buyers.len() > 50, "{}", buyers.len());
    for (metric, of) in [
        (
            "revenue",
            (|c| c.revenue) as fn(&salesboard::store::sales::CustomerAgg) -> i64,
        ),
        ("orders", |c| c.orders * 100),
        ("refunds", |c| c.refunds),
    ] {
        let ranked = store
            .read(|t| customer_breakdown(t, &org, all, None, None, metric, 100_000))
            .unwrap();
        let got: std::collections::BTreeMap<String, i64> = ranked
            .iter()
            .map(|s| (s.key.clone(), (s.value * 100.0).round() as i64))
            .collect();
        let want: std::collections::BTreeMap<String, i64> = customers
            .iter()
            .map(|(id, c)| (id.clone(), of(c)))
            .filter(|(_, v)| *v != 0)
            .collect();
        assert!(!want.is_empty(), "{metric}");
        assert_eq!(got, want, "{metric}");
    }
    let products = store
        .read(|t| product_breakdown(t, &org, all, None, "revenue", 10))
        .unwrap();
    assert_eq!(products.len(), 10);
    // product aggregates written by v4 (flat fields) still decode: names come from them
    assert!(products.iter().all(|p| p.name.is_some()), "{products:?}");
    let total = store
        .read(|t| analytics::total(t, &org, all, &Default::default()))
        .unwrap();
    assert!(total.orders > 500, "{}", total.orders);
    assert_eq!(
        store.read(|t| audit::verify_chain(t, org.id)).unwrap(),
        Ok(3)
    );
}

/// The version-5 file upgrades to pipelines: its org gets the default pipeline, its sales data
/// and audit chain are kept.
#[test]
fn schema_v5_fixture_upgrades_with_a_default_pipeline() {
    use salesboard::store::pipeline;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v5.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let pipes = store.read(|t| pipeline::pipelines(t, org.id)).unwrap();
    assert_eq!(pipes.len(), 1);
    assert_eq!(pipes[0].name, "Sales");
    assert_eq!(pipes[0].active_stages().count(), 6);
    let all = salesboard::analytics::parse_range("2026-01-01", "2026-12-31").unwrap();
    let total = store
        .read(|t| salesboard::analytics::total(t, &org, all, &Default::default()))
        .unwrap();
    assert!(total.orders > 500, "{}", total.orders);
    assert_eq!(
        store.read(|t| audit::verify_chain(t, org.id)).unwrap(),
        Ok(3)
    );
    drop(store);
    // Opening again changes nothing (the migration ran once).
    let store = Store::open(&p).unwrap();
    assert_eq!(
        store
            .read(|t| pipeline::pipelines(t, org.id))
            .unwrap()
            .len(),
        1
    );
}

/// The version-6 file (pipelines with history) opens: every deal equals its history replayed.
#[test]
fn schema_v6_fixture_keeps_deals_and_their_history() {
    use salesboard::domain::pipeline::replay;
    use salesboard::store::pipeline;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v6.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let mut deals = Vec::new();
    store
        .read(|t| pipeline::each_opportunity(t, org.id, |o| deals.push(o)))
        .unwrap();
    assert_eq!(deals.len(), 30);
    for d in &deals {
        let h = store.read(|t| pipeline::history(t, org.id, d.id)).unwrap();
        assert_eq!(
            replay(&h, salesboard::domain::Ts(i64::MAX)).as_ref(),
            Some(&d.state)
        );
    }
    assert_eq!(
        store.read(|t| audit::verify_chain(t, org.id)).unwrap(),
        Ok(3)
    );
    // Upgraded to version 7: no partners yet, the default settings.
    let partners = store
        .read(|t| salesboard::store::partners::list(t, org.id))
        .unwrap();
    assert!(partners.is_empty());
    let settings = store
        .read(|t| salesboard::store::partners::settings(t, org.id))
        .unwrap();
    assert_eq!(settings.at_risk_below, 40);
}

#[test]
fn schema_v7_fixture_keeps_partners_notes_health_and_links() {
    use salesboard::store::{partners, pipeline};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v7.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let list = store.read(|t| partners::list(t, org.id)).unwrap();
    assert_eq!(list.len(), 8);
    assert!(
        list.iter()
            .any(|p| p.name == "Northwind Apps" && p.tier == "Platinum")
    );
    let now = salesboard::domain::Ts(1_795_000_000_000_000);
    let today = salesboard::analytics::day_number(org.today(now));
    for partner in &list {
        let notes = store
            .read(|t| partners::notes(t, org.id, partner.id))
            .unwrap();
        assert_eq!(notes.len(), 1, "{}", partner.name);
        let h = store
            .read(|t| partners::health_history(t, org.id, partner.id, today, today))
            .unwrap();
        assert_eq!(h.len(), 1, "{}", partner.name);
    }
    let mut linked = 0;
    store
        .read(|t| {
            pipeline::each_opportunity(t, org.id, |o| {
                if let Some((pid, _)) = o.partner {
                    assert!(list.iter().any(|p| p.id == pid));
                    linked += 1;
                }
            })
        })
        .unwrap();
    assert!(linked > 0);
}

#[test]
fn schema_v7_upgrade_adds_the_search_log_and_search_rebuilds_from_the_data() {
    use salesboard::store::search as log;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v7.redb"), &p).unwrap();
    let store = std::sync::Arc::new(Store::open(&p).unwrap());
    // the upgrade kept a backup of the file as it was
    let kept = salesboard::store::migrate::upgrade_backup_path(&p, 7);
    let header = salesboard::store::backup::check(&kept).unwrap();
    assert_eq!(header.schema_version, 7);
    assert!(header.tables["partners"] == 8, "{:?}", header.tables);
    let id = store.read(log::file_id).unwrap().expect("a file id");
    assert_eq!(
        store.read(log::last_seq).unwrap(),
        0,
        "nothing logged for old data"
    );
    let search =
        salesboard::search::Search::start(&store, &salesboard::config::SearchConfig::default())
            .unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let owner = store.read(|t| users::list(t, org.id)).unwrap()[0].id;
    let viewer = salesboard::search::query::Viewer {
        org: org.id,
        me: owner,
        reach: salesboard::domain::search::Kind::ALL
            .iter()
            .map(|k| (*k, salesboard::search::query::Reach::All))
            .collect(),
    };
    let q = salesboard::domain::search::parse("northwind").unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = search.query(&viewer, &q, 0, 10, org.created_at).unwrap();
        if r.total == 1 {
            assert_eq!(r.hits[0].title.text, "Northwind Apps");
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the rebuild finds the partner"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    search.stop();
    drop(search);
    drop(store);
    // the id stays with the file
    let store = Store::open(&p).unwrap();
    assert_eq!(store.read(log::file_id).unwrap(), Some(id));
}

#[test]
fn schema_v8_fixture_keeps_its_search_log() {
    use salesboard::store::search as log;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v8.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    assert!(store.read(log::file_id).unwrap().is_some());
    let last = store.read(log::last_seq).unwrap();
    assert!(last > 0);
    let (changes, read) = store.read(|t| log::changes_after(t, 0, 100_000)).unwrap();
    assert_eq!(
        changes.len() as u64,
        last,
        "every logged change is readable"
    );
    assert_eq!(read, last);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v1.redb"), &p).unwrap();
    {
        let db = redb::Database::create(&p).unwrap();
        let w = db.begin_write().unwrap();
        w.open_table(salesboard::store::tables::META)
            .unwrap()
            .insert("schema_version", 99u32.to_le_bytes().as_slice())
            .unwrap();
        w.commit().unwrap();
    }
    match Store::open(&p) {
        Err(e @ StoreError::NewerSchema { found: 99, .. }) => {
            let m = e.to_string();
            assert!(
                m.contains(p.to_str().unwrap()) && m.contains("Upgrade salesboard"),
                "{m}"
            );
        }
        other => panic!("expected NewerSchema, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn garbage_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    let junk = b"this is not a database, it is a shopping list".repeat(200);
    std::fs::write(&p, &junk).unwrap();
    let err = Store::open(&p).err().expect("refused");
    let m = err.to_string();
    assert!(
        m.contains("salesboard.redb") && m.contains("restore"),
        "{m}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), junk, "file untouched");
}

#[test]
fn audit_chain_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v1.redb"), &p).unwrap();
    let store = Store::open(&p).unwrap();
    let org = store
        .read(|t| orgs::by_name(t, "Fixture Co"))
        .unwrap()
        .unwrap();
    store
        .write(|w| {
            let mut t = w.open_table(salesboard::store::tables::AUDIT)?;
            let bytes = t.get((org.id.0, 2u64))?.unwrap().value().to_vec();
            let mut rec: audit::AuditRecord = salesboard::store::codec::decode(&bytes)?;
            rec.actor = audit::Actor::System;
            t.insert(
                (org.id.0, 2u64),
                salesboard::store::codec::encode(&rec)?.as_slice(),
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        store.read(|t| audit::verify_chain(t, org.id)).unwrap(),
        Err(2)
    );
}

/// Every row of the tables derived from the rollups, printed (to compare two files).
fn derived_rows(store: &Store) -> Vec<String> {
    use salesboard::domain::rollup::Metrics;
    use salesboard::store::codec::decode;
    use salesboard::store::tables;
    store
        .read(|t| {
            let mut out = Vec::new();
            for row in t.open_table(tables::TOTAL_DAY)?.iter()? {
                let (k, v) = row?;
                out.push(format!(
                    "D{:?} {:?}",
                    k.value(),
                    decode::<Metrics>(v.value())?
                ));
            }
            for row in t.open_table(tables::TOTAL_HOUR)?.iter()? {
                let (k, v) = row?;
                out.push(format!(
                    "H{:?} {:?}",
                    k.value(),
                    decode::<Metrics>(v.value())?
                ));
            }
            for row in t.open_table(tables::PART_DAY)?.iter()? {
                let (k, v) = row?;
                out.push(format!(
                    "PD{:?} {:?}",
                    k.value(),
                    decode::<Metrics>(v.value())?
                ));
            }
            for row in t.open_table(tables::PART_HOUR)?.iter()? {
                let (k, v) = row?;
                out.push(format!(
                    "PH{:?} {:?}",
                    k.value(),
                    decode::<Metrics>(v.value())?
                ));
            }
            use salesboard::store::sales::Figures;
            for row in t.open_table(tables::PRODUCT_DAY)?.iter()? {
                let (k, v) = row?;
                let f: Figures = decode(v.value())?;
                out.push(format!("RD{:?} {f:?}", k.value()));
            }
            for row in t.open_table(tables::PRODUCT_MONTH)?.iter()? {
                let (k, v) = row?;
                let f: Figures = decode(v.value())?;
                out.push(format!("RM{:?} {f:?}", k.value()));
            }
            for row in t.open_table(tables::CUSTOMER_DAY)?.iter()? {
                let (k, v) = row?;
                let f: Figures = decode(v.value())?;
                out.push(format!("CD{:?} {f:?}", k.value()));
            }
            Ok(out)
        })
        .unwrap()
}

/// Version 3 added per-bucket totals and single-dimension partials, version 4 per-product day
/// and month rows, version 5 per-customer day rows: a version-2 file (made here by removing them and setting the version back)
/// gets them rebuilt from its rollups and raw events on open, equal to what ingest wrote.
#[test]
fn totals_are_backfilled_when_upgrading_from_v2() {
    use salesboard::domain::events::{Event, Sale, SaleLine, Traffic};
    use salesboard::domain::{Ts, org::NewOrg};
    use salesboard::store::{sales, tables};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    let expected = {
        let store = Store::open(&p).unwrap();
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("Up", "UTC", "USD").unwrap(), Ts(0)))
            .unwrap();
        let mut events: Vec<Event> = (0..50)
            .map(|i| {
                Event::Traffic(Traffic {
                    id: format!("t{i}"),
                    at: Ts(i * 3_600_000_000 * 7),
                    channel: "web".into(),
                    region: ["NA", "EU"][i as usize % 2].into(),
                    visits: i + 1,
                })
            })
            .collect();
        events.extend((0..30).map(|i| {
            Event::Sale(Sale {
                id: format!("o{i}"),
                at: Ts(i * 3_600_000_000 * 5),
                customer: Some(format!("c{}", i % 7)),
                channel: ["web", "store"][i as usize % 2].into(),
                region: ["NA", "EU", "APAC"][i as usize % 3].into(),
                lines: vec![
                    SaleLine {
                        sku: "a".into(),
                        name: "A".into(),
                        category: "Tools".into(),
                        quantity: 1 + i % 3,
                        unit_price: 1000 + i,
                        unit_cost: None,
                    },
                    SaleLine {
                        sku: "b".into(),
                        name: "B".into(),
                        category: "Toys".into(),
                        quantity: 2,
                        unit_price: 250,
                        unit_cost: Some(100),
                    },
                ],
                discount: i * 3,
                tax: 10,
                shipping: 0,
            })
        }));
        events.extend((0..5).map(|i| {
            Event::Refund(salesboard::domain::events::Refund {
                id: format!("r{i}"),
                order_id: format!("o{}", i * 3),
                at: Ts((i * 3) * 3_600_000_000 * 5 + 86_400_000_000),
                amount: 300,
                lines: Vec::new(),
            })
        }));
        store.write(|t| sales::apply(t, &org, &events)).unwrap();
        let rows = derived_rows(&store);
        store
            .write(|w| {
                w.delete_table(tables::TOTAL_DAY)?;
                w.delete_table(tables::TOTAL_HOUR)?;
                w.delete_table(tables::PART_DAY)?;
                w.delete_table(tables::PART_HOUR)?;
                w.delete_table(tables::PRODUCT_DAY)?;
                w.delete_table(tables::PRODUCT_MONTH)?;
                w.delete_table(tables::CUSTOMER_DAY)?;
                w.open_table(tables::META)?
                    .insert("schema_version", 2u32.to_le_bytes().as_slice())?;
                Ok(())
            })
            .unwrap();
        rows
    };
    assert!(expected.iter().any(|r| r.starts_with("PD")));
    assert!(expected.iter().any(|r| r.starts_with("RM")));
    assert!(expected.iter().any(|r| r.starts_with("CD")));
    // refunds (order revenue is 1500 - discount; each refund takes 300) reach customer rows
    assert!(
        expected
            .iter()
            .any(|r| r.starts_with("CD") && r.contains("refunds: 300"))
    );
    let store = Store::open(&p).unwrap();
    assert_eq!(
        store
            .read(salesboard::store::migrate::schema_version)
            .unwrap(),
        Some(SCHEMA_VERSION)
    );
    assert_eq!(derived_rows(&store), expected);
}

#[test]
fn scheduled_backups_keep_the_newest_and_each_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("salesboard.redb")).unwrap();
    let out = dir.path().join("backups");
    let start = salesboard::domain::Ts(1_795_000_000_000_000);
    for i in 0..4 {
        let now = salesboard::domain::Ts(start.0 + i * 1_000_000);
        salesboard::backups::run_once(&store, &out, 2, now).unwrap();
    }
    let kept = salesboard::backups::list(&out).unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for k in &kept {
        salesboard::store::backup::check(k).unwrap();
    }
    let names: Vec<String> = kept
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "salesboard-20261118T110642.000Z.sbbackup",
            "salesboard-20261118T110643.000Z.sbbackup"
        ],
        "the newest two of 11:06:40 to :43"
    );
}

/// The version-8 file's time index (a row per event) becomes blocks listing the same events,
/// the old table goes, and the ticker reads the newest sales from the blocks.
#[test]
fn schema_v8_fixture_moves_the_time_index_into_blocks() {
    use salesboard::store::{event_times, sales, tables};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("salesboard.redb");
    std::fs::copy(fixture("schema-v8.redb"), &p).unwrap();
    let old: Vec<(u64, i64, u8, String)> = {
        let db = redb::Database::open(&p).unwrap();
        let t = redb::ReadableDatabase::begin_read(&db).unwrap();
        let rows = t.open_table(tables::EVENT_TIME).unwrap();
        rows.iter()
            .unwrap()
            .map(|r| {
                let (k, _) = r.unwrap();
                let (org, at, kind, id) = k.value();
                (org, at, kind, id.to_string())
            })
            .collect()
    };
    assert!(old.len() > 700, "{}", old.len());
    // Every entry of the blocks, as the old rows were keyed.
    let indexed = |store: &Store| {
        let mut all = Vec::new();
        store
            .read(|t| {
                event_times::each(&t.open_table(tables::EVENT_BLOCKS)?, |org, e| {
                    all.push((org, e.at, e.kind, e.id.clone()))
                })
            })
            .unwrap();
        all.sort();
        all
    };
    let store = Store::open(&p).unwrap();
    assert_eq!(indexed(&store), old);
    let names: Vec<String> = store
        .read(|t| {
            use redb::TableHandle;
            Ok(t.list_tables()?.map(|h| h.name().to_string()).collect())
        })
        .unwrap();
    assert!(!names.iter().any(|n| n == "event_time"), "{names:?}");
    let org = store
        .read(|t| orgs::by_name(t, "fixture co"))
        .unwrap()
        .unwrap();
    let latest = store
        .read(|t| sales::latest_sales(t, org.id, 5, 1000, |_| true))
        .unwrap();
    assert_eq!(latest.len(), 5);
    let newest_sale = old
        .iter()
        .filter(|(_, _, kind, _)| *kind == 1)
        .max()
        .unwrap();
    assert_eq!(latest[0].id, newest_sale.3);
    assert!(latest.windows(2).all(|w| w[0].at >= w[1].at));
    drop(store);

    // The backup taken before the upgrade has the old index; restored, it is upgraded the same.
    let kept = salesboard::store::migrate::upgrade_backup_path(&p, 8);
    let header = salesboard::store::backup::check(&kept).unwrap();
    assert_eq!(header.tables["event_time"], old.len() as u64);
    assert!(!header.tables.contains_key("event_time_blocks"));
    let restored = dir.path().join("restored.redb");
    salesboard::store::backup::restore_file(&kept, &restored).unwrap();
    let store = Store::open(&restored).unwrap();
    assert_eq!(indexed(&store), old);
    // A backup of the upgraded file lists the new table, not the retired one.
    let now = salesboard::domain::Ts(1_795_000_000_000_000);
    let fresh = dir.path().join("fresh.sbbackup");
    salesboard::store::backup::write(&store, &fresh, false, now).unwrap();
    let header = salesboard::store::backup::check(&fresh).unwrap();
    assert!(!header.tables.contains_key("event_time"));
    assert!(header.tables["event_time_blocks"] > 0);
}
