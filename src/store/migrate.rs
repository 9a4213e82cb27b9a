//! Schema versions. A fresh file gets every table and the current version; an older file is
//! upgraded step by step in one write transaction; a newer file is refused.

use super::{ReadTx, Store, StoreError, StoreResult, tables::*};
use redb::{ReadableTable, TableHandle, WriteTransaction};

pub const SCHEMA_VERSION: u32 = 9;
pub const SCHEMA_KEY: &str = "schema_version";

/// Upgrade steps: `STEPS[i]` takes a file from version `i + 1` to `i + 2`.
type Step = fn(&WriteTransaction) -> StoreResult<()>;
const STEPS: &[Step] = &[
    v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5, v5_to_v6, v6_to_v7, v7_to_v8, v8_to_v9,
];

/// Version 9 keeps the time index of the events in blocks (the events one batch stored for a
/// ten-minute slot) instead of a row per event.
fn v8_to_v9(txn: &WriteTransaction) -> StoreResult<()> {
    super::event_times::upgrade_from_rows(txn, EVENT_TIME)
}

/// Version 8 adds the search change log and the file id (the index is rebuilt from the data,
/// so nothing is logged for what is already there).
fn v7_to_v8(txn: &WriteTransaction) -> StoreResult<()> {
    super::search::create_tables(txn)
}

/// Version 2 adds the sales analytics tables (all empty in a version-1 file).
fn v1_to_v2(txn: &WriteTransaction) -> StoreResult<()> {
    create_sales_tables(txn)
}

/// Version 3 adds per-hour and per-day totals over all dimensions and single-dimension
/// partials, filled from the rollups.
fn v2_to_v3(txn: &WriteTransaction) -> StoreResult<()> {
    use super::codec;
    use super::sales::{add_into, partials};
    use crate::domain::rollup::Metrics;
    use std::collections::BTreeMap;
    let mut totals: BTreeMap<(u64, i32), Metrics> = BTreeMap::new();
    let mut parts: BTreeMap<(u64, u8, i32, String), Metrics> = BTreeMap::new();
    for row in txn.open_table(ROLLUP_DAY)?.iter()? {
        let (k, v) = row?;
        let (org, day, dim) = k.value();
        let m: Metrics = codec::decode(v.value())?;
        totals.entry((org, day)).or_default().add(&m);
        for (d, val) in partials(dim) {
            parts
                .entry((org, d, day, val.to_string()))
                .or_default()
                .add(&m);
        }
    }
    add_into(txn, TOTAL_DAY, totals, false)?;
    add_into(
        txn,
        PART_DAY,
        parts
            .iter()
            .map(|((o, d, b, v), m)| ((*o, *d, *b, v.as_str()), *m)),
        false,
    )?;
    let mut totals: BTreeMap<(u64, i64), Metrics> = BTreeMap::new();
    let mut parts: BTreeMap<(u64, u8, i64, String), Metrics> = BTreeMap::new();
    for row in txn.open_table(ROLLUP_HOUR)?.iter()? {
        let (k, v) = row?;
        let (org, hour, dim) = k.value();
        let m: Metrics = codec::decode(v.value())?;
        totals.entry((org, hour)).or_default().add(&m);
        for (d, val) in partials(dim) {
            parts
                .entry((org, d, hour, val.to_string()))
                .or_default()
                .add(&m);
        }
    }
    add_into(txn, TOTAL_HOUR, totals, false)?;
    add_into(
        txn,
        PART_HOUR,
        parts
            .iter()
            .map(|((o, d, b, v), m)| ((*o, *d, *b, v.as_str()), *m)),
        false,
    )?;
    Ok(())
}

/// Every stored sale of an org, and every refund whose order is stored (a refund whose order
/// has not arrived counts when the order does, as in ingest): `each(sale, None)` for a sale,
/// `each(order, Some(refund))` for a refund.
fn sales_and_refunds(
    txn: &WriteTransaction,
    org: crate::domain::OrgId,
    mut each: impl FnMut(&crate::domain::events::Sale, Option<&crate::domain::events::Refund>),
) -> StoreResult<()> {
    use super::codec;
    use crate::domain::events::{Event, Kind};
    let mut refunds = Vec::new();
    for row in txn
        .open_table(EVENTS)?
        .range((org.0, 0u8, "")..=(org.0, u8::MAX, "\u{10ffff}"))?
    {
        let (_, v) = row?;
        match codec::decode::<Event>(v.value())? {
            Event::Sale(s) => each(&s, None),
            Event::Refund(r) => refunds.push(r),
            _ => {}
        }
    }
    for r in refunds {
        if let Some(Event::Sale(order)) =
            super::sales::get_event(txn, org, Kind::Sale, &r.order_id)?
        {
            each(&order, Some(&r));
        }
    }
    Ok(())
}

/// Version 4 adds org API keys and import progress (new, empty tables), and per-product day
/// and month rows, filled from the raw events.
fn v3_to_v4(txn: &WriteTransaction) -> StoreResult<()> {
    use super::orgs;
    use super::sales::{
        Figures, add_product_rows, product_periods, refund_products, sale_products,
    };
    use crate::domain::Ts;
    create_v4_tables(txn)?;
    for org in orgs::list(txn)? {
        let mut items: Vec<(Ts, String, Figures)> = Vec::new();
        sales_and_refunds(txn, org.id, |s, refund| match refund {
            None => items.extend(
                sale_products(s)
                    .into_iter()
                    .map(|(k, f)| (s.at, k.to_string(), f)),
            ),
            Some(r) => items.extend(
                refund_products(r, s)
                    .into_iter()
                    .map(|(k, f)| (r.at, k.to_string(), f)),
            ),
        })?;
        let (by_day, by_month) = product_periods(org.id.0, &org.tz(), items.into_iter());
        add_product_rows(&mut &*txn, &by_day, &by_month)?;
    }
    Ok(())
}

/// Version 5 adds per-customer day rows (by channel and region), filled from the raw events.
fn v4_to_v5(txn: &WriteTransaction) -> StoreResult<()> {
    use super::orgs;
    use super::sales::{
        CustomerRows, add_customer_item, add_customer_rows, refund_customer, refund_products,
        sale_customer, sale_products,
    };
    create_v5_tables(txn)?;
    for org in orgs::list(txn)? {
        // Summed as they are read: one row per customer, day and channel/region in memory,
        // not one item per event.
        let tz = org.tz();
        let mut rows = CustomerRows::default();
        sales_and_refunds(txn, org.id, |s, refund| {
            let (at, row) = match refund {
                None => (s.at, sale_customer(s, &sale_products(s))),
                Some(r) => (r.at, refund_customer(r, s, &refund_products(r, s))),
            };
            if let Some((c, cr, f)) = row {
                let (_, day) = crate::domain::rollup::buckets(at, &tz);
                add_customer_item(&mut rows, (org.id.0, day), c.to_string(), cr, &f);
            }
        })?;
        add_customer_rows(&mut &*txn, &rows)?;
    }
    Ok(())
}

/// Version 6 adds pipelines and opportunities; every org without a pipeline gets the default
/// one.
fn v5_to_v6(txn: &WriteTransaction) -> StoreResult<()> {
    super::pipeline::create_tables(txn)?;
    for org in super::orgs::list(txn)? {
        if super::pipeline::pipelines(txn, org.id)?.is_empty() {
            super::orgs::add_default_pipeline(txn, org.id, org.created_at)?;
        }
    }
    Ok(())
}

/// Version 7 adds ISV partners, their notes, daily health scores and settings (all new).
fn v6_to_v7(txn: &WriteTransaction) -> StoreResult<()> {
    super::partners::create_tables(txn)
}

fn create_v5_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(CUSTOMER_DAY)?;
    Ok(())
}

fn create_v4_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(API_KEYS)?;
    txn.open_table(API_KEY_HASHES)?;
    txn.open_table(IMPORTS)?;
    txn.open_table(PRODUCT_DAY)?;
    txn.open_table(PRODUCT_MONTH)?;
    Ok(())
}

fn create_sales_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(EVENTS)?;
    // (the time index: per-event rows until version 8; a file upgraded from version 1 gets
    // the version-9 table here, and the upgrade to 9 finds no rows to move)
    txn.open_table(EVENT_BLOCKS)?;
    txn.open_table(ROLLUP_HOUR)?;
    txn.open_table(ROLLUP_DAY)?;
    txn.open_table(CUSTOMERS)?;
    txn.open_table(PRODUCTS)?;
    txn.open_table(PENDING_REFUNDS)?;
    txn.open_table(DATA_VERSION)?;
    txn.open_table(TOTAL_HOUR)?;
    txn.open_table(TOTAL_DAY)?;
    txn.open_table(PART_HOUR)?;
    txn.open_table(PART_DAY)?;
    Ok(())
}

fn create_all(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(META)?;
    txn.open_table(ORGS)?;
    txn.open_table(ORG_NAMES)?;
    txn.open_table(USERS)?;
    txn.open_table(USER_EMAILS)?;
    txn.open_table(TEAMS)?;
    txn.open_table(FAMILIES)?;
    txn.open_table(REFRESH_TOKENS)?;
    txn.open_table(AUDIT)?;
    create_sales_tables(txn)?;
    create_v4_tables(txn)?;
    create_v5_tables(txn)?;
    super::pipeline::create_tables(txn)?;
    super::partners::create_tables(txn)?;
    super::search::create_tables(txn)
}

pub fn schema_version(txn: &impl ReadTx) -> StoreResult<Option<u32>> {
    let meta = txn.table(META)?;
    let v = meta.get(SCHEMA_KEY)?;
    match v {
        Some(g) => {
            let b: [u8; 4] = g.value().try_into().map_err(|_| {
                StoreError::Codec(super::CodecError::Decode(
                    "schema_version is not 4 bytes".into(),
                ))
            })?;
            Ok(Some(u32::from_le_bytes(b)))
        }
        None => Ok(None),
    }
}

fn set_version(txn: &WriteTransaction, v: u32) -> StoreResult<()> {
    txn.open_table(META)?
        .insert(SCHEMA_KEY, v.to_le_bytes().as_slice())?;
    Ok(())
}

/// Where the automatic backup taken before upgrading a file from schema `from` goes: beside it.
pub fn upgrade_backup_path(db: &std::path::Path, from: u32) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".before-upgrade-from-v{from}.sbbackup"));
    db.with_file_name(name)
}

/// Back up a file about to be upgraded (its schema is older than this version's).
fn backup_before_upgrade(store: &Store) -> StoreResult<()> {
    // A new file has no meta table yet: nothing to keep.
    let found = store.read(|t| Ok(schema_version(t).ok().flatten()))?;
    let Some(from) = found.filter(|v| (1..SCHEMA_VERSION).contains(v)) else {
        return Ok(());
    };
    let path = upgrade_backup_path(store.path(), from);
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    super::backup::write(store, &path, true, now).map_err(|e| match e {
        super::backup::BackupError::Store(e) => e,
        super::backup::BackupError::Io { path, source } => StoreError::Io { path, source },
        other => StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    tracing::info!(from, to = SCHEMA_VERSION, backup = %path.display(), "backed up the data file before upgrading it");
    Ok(())
}

pub(super) fn run(store: &Store) -> StoreResult<()> {
    const _: () = assert!(STEPS.len() as u32 == SCHEMA_VERSION - 1);
    // An up-to-date file is only read: a server can start on a full disk.
    let current = store.read(|t| match super::open_existing(t, META)? {
        Some(_) => Ok(schema_version(t)? == Some(SCHEMA_VERSION)),
        None => Ok(false),
    })?;
    if current {
        return Ok(());
    }
    backup_before_upgrade(store)?;
    store.write(|txn| {
        // A brand-new file has no meta table yet; opening it for write creates it.
        let found = schema_version(txn)?;
        match found {
            None => {
                let has_data = txn.list_tables()?.any(|t| t.name() != META.name());
                if has_data {
                    return Err(StoreError::Corrupt {
                        path: store.path().to_path_buf(),
                        detail: "tables present but no schema version".into(),
                    });
                }
                create_all(txn)?;
                set_version(txn, SCHEMA_VERSION)?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    path: store.path().to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(0) => {
                return Err(StoreError::Corrupt {
                    path: store.path().to_path_buf(),
                    detail: "schema version 0".into(),
                });
            }
            Some(v) => {
                for (i, step) in STEPS.iter().enumerate().skip(v as usize - 1) {
                    tracing::info!(from = i + 1, to = i + 2, "upgrading data file schema");
                    step(txn)?;
                }
                if v != SCHEMA_VERSION {
                    set_version(txn, SCHEMA_VERSION)?;
                }
            }
        }
        Ok(())
    })
}
