//! `salesboard verify`: read a data file (or a backup) end to end and say whether it can be
//! trusted. For a data file: every record of every table is read and decoded with the codec;
//! cross-references are followed (user → org, email → user, deal → pipeline and stage, deal →
//! partner, history → deal, note → partner, team → org); every org's audit chain is checked;
//! the sales rollups and aggregates are recomputed from the raw events in a scratch file and
//! compared. Nothing is changed. For a backup: its signature, header, checksum and records.

use crate::domain::OrgId;
use crate::store::tables::{self, *};
use crate::store::{ReadTx, StoreError, audit, backup, codec, migrate, open_existing, orgs, sales};
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// What verify found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per check that passed.
    pub passed: Vec<String>,
    /// One line per problem.
    pub problems: Vec<String>,
    /// Checks left out, and why.
    pub skipped: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
    fn check(&mut self, ok: bool, pass: String, problem: impl FnOnce() -> String) {
        if ok {
            self.passed.push(pass);
        } else {
            self.problems.push(problem());
        }
    }
}

/// Verify a backup file.
pub fn backup_file(path: &Path) -> Report {
    let mut r = Report::default();
    match backup::check(path) {
        Ok(h) => r.passed.push(format!(
            "backup of schema {} made {} by salesboard {}: {} records in {} tables, checksum matches",
            h.schema_version,
            h.created_at,
            h.salesboard,
            h.records(),
            h.tables.values().filter(|n| **n > 0).count()
        )),
        Err(e) => r.problems.push(e.to_string()),
    }
    r
}

/// Whether `path` starts like a backup file.
pub fn is_backup(path: &Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; backup::MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == backup::MAGIC
}

/// Every record of a codec table decodes as `T`; returns (records, first failures).
fn decode_all<K: redb::Key + 'static, T: DeserializeOwned>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, &'static [u8]>,
) -> Result<(u64, Vec<String>), StoreError> {
    let Some(t) = open_existing(txn, def)? else {
        return Ok((0, Vec::new()));
    };
    let mut n = 0;
    let mut bad = Vec::new();
    for row in t.iter()? {
        let (_, v) = row?;
        n += 1;
        if let Err(e) = codec::decode::<T>(v.value())
            && bad.len() < 3
        {
            bad.push(format!("record {n}: {e}"));
        }
    }
    Ok((n, bad))
}

/// Read every table's every record (raw), which makes redb check each page it reads.
struct ReadAll<'a> {
    txn: &'a redb::ReadTransaction,
    records: u64,
}

impl tables::Visit for ReadAll<'_> {
    type Error = StoreError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), StoreError> {
        let Some(t) = open_existing(self.txn, def)? else {
            return Ok(());
        };
        for row in t.iter()? {
            let (k, v) = row?;
            std::hint::black_box((
                K::as_bytes(&k.value()).as_ref().len(),
                V::as_bytes(&v.value()).as_ref().len(),
            ));
            self.records += 1;
        }
        Ok(())
    }
}

/// Verify the data file at `path` (the server must be stopped). `scratch` is a directory for
/// the recomputation's temporary file (left out when raw events have expired from the file:
/// rollups keep what expired).
pub fn data_file(path: &Path, scratch: &Path) -> Result<Report, StoreError> {
    let file = crate::store::read_only(path)?;
    let txn = &file.txn;
    let mut r = Report::default();
    if file.recovered {
        r.passed.push(
            "the file was not closed cleanly (killed or crashed): redb's crash recovery ran, \
             as at every start"
                .into(),
        );
    }

    // Schema.
    let version = migrate::schema_version(txn)?;
    match version {
        Some(v) if v <= migrate::SCHEMA_VERSION => r.passed.push(format!(
            "schema version {v}{}",
            if v < migrate::SCHEMA_VERSION {
                format!(
                    " (upgraded to {} at the next start)",
                    migrate::SCHEMA_VERSION
                )
            } else {
                String::new()
            }
        )),
        Some(v) => r.problems.push(format!(
            "schema version {v} is newer than this salesboard ({})",
            migrate::SCHEMA_VERSION
        )),
        None => r
            .problems
            .push("no schema version: not a salesboard data file".into()),
    }

    // Every record readable.
    let mut all = ReadAll { txn, records: 0 };
    match tables::for_each(&mut all) {
        Ok(()) => r
            .passed
            .push(format!("all {} records of every table read", all.records)),
        Err(e) => r.problems.push(format!("reading the tables failed: {e}")),
    }

    // Every codec record decodes.
    macro_rules! decode {
        ($($table:expr => $ty:ty),* $(,)?) => {$(
            let name = redb::TableHandle::name(&$table);
            let (n, bad) = decode_all::<_, $ty>(txn, $table)?;
            let (noun, verb) = if n == 1 { ("record", "decodes") } else { ("records", "decode") };
            r.check(bad.is_empty(), format!("{name}: {n} {noun} {verb}"), || {
                format!("{name}: records that do not decode: {}", bad.join("; "))
            });
        )*};
    }
    decode!(
        ORGS => crate::domain::org::Org,
        USERS => crate::domain::user::User,
        TEAMS => crate::domain::user::Team,
        FAMILIES => crate::store::sessions::Family,
        AUDIT => audit::AuditRecord,
        EVENTS => crate::domain::events::Event,
        ROLLUP_HOUR => crate::domain::rollup::Metrics,
        ROLLUP_DAY => crate::domain::rollup::Metrics,
        TOTAL_HOUR => crate::domain::rollup::Metrics,
        TOTAL_DAY => crate::domain::rollup::Metrics,
        PART_HOUR => crate::domain::rollup::Metrics,
        PART_DAY => crate::domain::rollup::Metrics,
        CUSTOMERS => sales::CustomerAgg,
        PRODUCTS => sales::ProductAgg,
        PENDING_REFUNDS => crate::domain::events::Refund,
        API_KEYS => crate::domain::apikey::ApiKey,
        IMPORTS => crate::import::run::Progress,
        PRODUCT_DAY => sales::Figures,
        PRODUCT_MONTH => sales::Figures,
        CUSTOMER_DAY => sales::Figures,
        PIPELINES => crate::domain::pipeline::Pipeline,
        OPPORTUNITIES => crate::domain::pipeline::Opportunity,
        OPP_HISTORY => crate::domain::pipeline::HistoryRecord,
        PARTNERS => crate::domain::partner::Partner,
        PARTNER_NOTES => crate::domain::partner::Note,
        PARTNER_SETTINGS => crate::domain::partner::PartnerSettings,
    );

    if version != Some(migrate::SCHEMA_VERSION) {
        r.skipped.push(format!(
            "references, audit chains and rollups are checked on files of schema {} only: start \
             the server once (it backs the file up, then upgrades it) and verify again",
            migrate::SCHEMA_VERSION
        ));
        return Ok(r);
    }

    // Cross-references and audit chains, org by org.
    let orgs_list = orgs::list(txn)?;
    let org_ids: HashSet<u64> = orgs_list.iter().map(|o| o.id.0).collect();
    let mut dangling: Vec<String> = Vec::new();
    let mut note = |what: String| {
        if dangling.len() < 10 {
            dangling.push(what);
        }
    };
    let mut refs = 0u64;
    let users: HashSet<(u64, u128)> = {
        let t = txn.table(USERS)?;
        let mut s = HashSet::new();
        for row in t.iter()? {
            let (k, _) = row?;
            let (org, id) = k.value();
            refs += 1;
            if !org_ids.contains(&org) {
                note(format!("user {id:032x} belongs to a missing org {org}"));
            }
            s.insert((org, id));
        }
        s
    };
    for row in txn.table(USER_EMAILS)?.iter()? {
        let (k, v) = row?;
        refs += 1;
        if !users.contains(&v.value()) {
            note(format!(
                "login email {} points at a missing user",
                k.value()
            ));
        }
    }
    for row in txn.table(TEAMS)?.iter()? {
        let (k, _) = row?;
        refs += 1;
        if !org_ids.contains(&k.value().0) {
            note(format!(
                "team {:032x} belongs to a missing org",
                k.value().1
            ));
        }
    }
    for o in &orgs_list {
        let org: OrgId = o.id;
        let pipelines: HashMap<u128, crate::domain::pipeline::Pipeline> =
            crate::store::pipeline::pipelines(txn, org)?
                .into_iter()
                .map(|p| (p.id.0, p))
                .collect();
        let partners: HashSet<u128> = crate::store::partners::list(txn, org)?
            .iter()
            .map(|p| p.id.0)
            .collect();
        let mut deals = HashSet::new();
        crate::store::pipeline::each_opportunity(txn, org, |d| {
            refs += 1;
            deals.insert(d.id.0);
            match pipelines.get(&d.state.pipeline.0) {
                None => note(format!("deal {} is in a missing pipeline", d.id)),
                Some(p) if p.stage(d.state.stage).is_none() => {
                    note(format!("deal {} is in a missing stage", d.id))
                }
                Some(_) => {}
            }
            if let Some((p, _)) = d.partner
                && !partners.contains(&p.0)
            {
                note(format!("deal {} links a missing partner", d.id));
            }
        })?;
        for row in txn
            .table(OPP_HISTORY_BY_DEAL)?
            .range((org.0, 0u128, 0u32)..=(org.0, u128::MAX, u32::MAX))?
        {
            let (k, _) = row?;
            refs += 1;
            if !deals.contains(&k.value().1) {
                note(format!("history of a missing deal {:032x}", k.value().1));
            }
        }
        for row in txn
            .table(PARTNER_NOTES)?
            .range((org.0, 0u128, 0u128)..=(org.0, u128::MAX, u128::MAX))?
        {
            let (k, _) = row?;
            refs += 1;
            if !partners.contains(&k.value().1) {
                note(format!("a note of a missing partner {:032x}", k.value().1));
            }
        }
        match audit::verify_chain(txn, org)? {
            Ok(n) => r.passed.push(format!(
                "audit log of \"{}\": {n} records, chain intact",
                o.name
            )),
            Err(seq) => r.problems.push(format!(
                "audit log of \"{}\": the chain is broken at record {seq} (edited or removed)",
                o.name
            )),
        }
    }
    let dangling_empty = dangling.is_empty();
    r.check(
        dangling_empty,
        format!("{refs} cross-references resolve"),
        || format!("references to missing records: {}", dangling.join("; ")),
    );

    // Rollups recomputed from the raw events.
    if sales::raw_expired(txn)? {
        r.skipped.push(
            "rollups were not recomputed: raw events have expired from this file \
             (data.keep_raw_events_days), and rollups keep what expired"
                .into(),
        );
    } else {
        recompute(txn, &orgs_list, scratch, &mut r)?;
    }
    Ok(r)
}

/// The derived sales tables (rebuilt from events and compared).
struct Derived<'a> {
    a: &'a redb::ReadTransaction,
    b: &'a redb::ReadTransaction,
    /// table -> (rows compared, differences)
    out: BTreeMap<&'static str, (u64, u64)>,
}

impl tables::Visit for Derived<'_> {
    type Error = StoreError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), StoreError> {
        let name = redb::TableHandle::name(&def);
        const COMPARED: &[&str] = &[
            "rollup_hour",
            "rollup_day",
            "total_hour",
            "total_day",
            "part_hour",
            "part_day",
            "customers",
            "products",
            "product_day",
            "product_month",
            "customer_day",
            "pending_refunds",
        ];
        let Some(name) = COMPARED.iter().find(|n| **n == name) else {
            return Ok(());
        };
        let rows = |txn: &redb::ReadTransaction| -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
            let mut m = BTreeMap::new();
            let Some(t) = open_existing(txn, def)? else {
                return Ok(m);
            };
            for row in t.iter()? {
                let (k, v) = row?;
                m.insert(
                    K::as_bytes(&k.value()).as_ref().to_vec(),
                    V::as_bytes(&v.value()).as_ref().to_vec(),
                );
            }
            Ok(m)
        };
        let (mut stored, mut fresh) = (rows(self.a)?, rows(self.b)?);
        // Names, emails, regions and categories take the last event that arrived, which a
        // replay in time order need not repeat: only the figures are compared.
        if *name == "customers" || *name == "products" {
            for m in [&mut stored, &mut fresh] {
                for v in m.values_mut() {
                    *v = figures_only(name, v)?;
                }
            }
        }
        let keys: HashSet<&Vec<u8>> = stored.keys().chain(fresh.keys()).collect();
        let diff = keys
            .iter()
            .filter(|k| stored.get(**k) != fresh.get(**k))
            .count() as u64;
        self.out.insert(name, (keys.len() as u64, diff));
        Ok(())
    }
}

fn figures_only(table: &str, bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    Ok(if table == "customers" {
        let mut c: sales::CustomerAgg = codec::decode(bytes)?;
        (c.name, c.email, c.region) = (None, None, None);
        codec::encode(&c)?
    } else {
        let mut p: sales::ProductAgg = codec::decode(bytes)?;
        (p.name, p.category) = (String::new(), String::new());
        codec::encode(&p)?
    })
}

fn recompute(
    txn: &redb::ReadTransaction,
    orgs_list: &[crate::domain::org::Org],
    scratch: &Path,
    r: &mut Report,
) -> Result<(), StoreError> {
    let dir = tempfile::Builder::new()
        .prefix("salesboard-verify-")
        .tempdir_in(scratch)
        .map_err(|source| StoreError::Io {
            path: scratch.to_path_buf(),
            source,
        })?;
    let fresh = crate::store::Store::open(&dir.path().join("recompute.redb"))?;
    // the orgs as they are (time zones decide the buckets)
    fresh.write(|t| {
        let mut o = t.open_table(ORGS)?;
        for org in orgs_list {
            o.insert(org.id.0, codec::encode(org)?.as_slice())?;
        }
        Ok(())
    })?;
    let mut events = 0u64;
    for org in orgs_list {
        let times = txn.table(EVENT_TIME)?;
        let all = txn.table(EVENTS)?;
        let mut batch = Vec::with_capacity(20_000);
        for row in times
            .range((org.id.0, i64::MIN, 0u8, "")..=(org.id.0, i64::MAX, u8::MAX, "\u{10ffff}"))?
        {
            let (k, _) = row?;
            let (_, _, kind, id) = k.value();
            if let Some(v) = all.get((org.id.0, kind, id))? {
                batch.push(codec::decode::<crate::domain::events::Event>(v.value())?);
            }
            if batch.len() == 20_000 {
                events += batch.len() as u64;
                fresh.write(|t| sales::apply(t, org, &batch).map(|_| ()))?;
                batch.clear();
            }
        }
        events += batch.len() as u64;
        fresh.write(|t| sales::apply(t, org, &batch).map(|_| ()))?;
    }
    let b = fresh.begin_read()?;
    let mut d = Derived {
        a: txn,
        b: &b,
        out: BTreeMap::new(),
    };
    tables::for_each(&mut d)?;
    let bad: Vec<String> = d
        .out
        .iter()
        .filter(|(_, (_, diff))| *diff > 0)
        .map(|(n, (rows, diff))| format!("{n}: {diff} of {rows} rows differ"))
        .collect();
    let rows: u64 = d.out.values().map(|(n, _)| n).sum();
    r.check(
        bad.is_empty(),
        format!(
            "rollups and aggregates recomputed from {events} raw events: all {rows} rows match"
        ),
        || {
            format!(
                "rollups differ from a recomputation from the raw events: {}",
                bad.join("; ")
            )
        },
    );
    Ok(())
}
