//! `salesboard verify`: read a data file (or a backup) end to end and say whether it can be
//! trusted. For a data file: every record of every table is read and decoded with the codec;
//! cross-references are followed (user → org, email → user, deal → pipeline and stage, deal →
//! partner, history → deal, note → partner, team → org); every org's audit chain is checked;
//! the sales rollups and aggregates are recomputed in memory from the raw events, by the same
//! code that ingest runs, and compared. Nothing is changed. For a backup: its signature,
//! header, checksum and records.

use crate::domain::OrgId;
use crate::domain::events::{Event, Kind, Refund, Sale};
use crate::domain::org::Org;
use crate::domain::search::Change;
use crate::store::sales::{AddRows, CustomerAgg, ProductAgg, Sink, Summed};
use crate::store::tables::{self, *};
use crate::store::{ReadTx, StoreError, audit, backup, codec, migrate, open_existing, orgs, sales};
use redb::{ReadableTable, TableDefinition};
use rustc_hash::FxHashMap;
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

/// Read every record (raw) of the tables that are not decoded, which makes redb check each
/// page it reads.
struct ReadAll<'a> {
    txn: &'a redb::ReadTransaction,
    skip: &'a [&'static str],
    records: u64,
}

impl tables::Visit for ReadAll<'_> {
    type Error = StoreError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), StoreError> {
        if self.skip.contains(&redb::TableHandle::name(&def)) {
            return Ok(());
        }
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

/// Verify the data file at `path` (the server must be stopped). Rollups are not recomputed
/// when raw events have expired from the file (rollups keep what expired).
pub fn data_file(path: &Path) -> Result<Report, StoreError> {
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
    // References, audit chains and rollups are checked on the current schema only (a file
    // whose orgs do not decode gets its problem from the decode check).
    let current = version == Some(migrate::SCHEMA_VERSION);
    let orgs_list = match current.then(|| orgs::list(txn)) {
        Some(Ok(list)) => Some(list),
        Some(Err(e)) => {
            r.problems.push(format!(
                "the organizations cannot be read ({e}), so references, audit chains and \
                 rollups were not checked"
            ));
            None
        }
        None => None,
    };
    let recompute = match &orgs_list {
        Some(list) if !sales::raw_expired(txn)? => Some(list.as_slice()),
        _ => None,
    };

    std::thread::scope(|scope| {
        // The recomputation runs beside the checks, in a transaction of its own (the same
        // snapshot: nothing else writes the file).
        let fresh = match recompute {
            Some(orgs) => {
                let t = file.begin_read()?;
                Some(scope.spawn(move || recompute_all(&t, orgs)))
            }
            None => None,
        };
        read_and_decode(txn, &mut r)?;
        let Some(orgs_list) = orgs_list.as_deref() else {
            if !current {
                r.skipped.push(format!(
                    "references, audit chains and rollups are checked on files of schema {} only: \
                 start the server once (it backs the file up, then upgrades it) and verify again",
                    migrate::SCHEMA_VERSION
                ));
            }
            return Ok(());
        };
        references(txn, orgs_list, &mut r)?;
        match fresh {
            Some(h) => {
                let fresh = h
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                compare(txn, fresh, &mut r)?;
            }
            None => r.skipped.push(
                "rollups were not recomputed: raw events have expired from this file \
                 (data.keep_raw_events_days), and rollups keep what expired"
                    .into(),
            ),
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(r)
}

/// Every record of every table read; every record of a codec table decoded.
fn read_and_decode(txn: &redb::ReadTransaction, r: &mut Report) -> Result<(), StoreError> {
    let mut records = 0u64;
    macro_rules! decode {
        ($($table:expr => $ty:ty),* $(,)?) => {{
            let names = [$(redb::TableHandle::name(&$table)),*];
            $(
                let name = redb::TableHandle::name(&$table);
                let (n, bad) = decode_all::<_, $ty>(txn, $table)?;
                records += n;
                let (noun, verb) = if n == 1 { ("record", "decodes") } else { ("records", "decode") };
                r.check(bad.is_empty(), format!("{name}: {n} {noun} {verb}"), || {
                    format!("{name}: records that do not decode: {}", bad.join("; "))
                });
            )*
            names
        }};
    }
    let decoded = decode!(
        ORGS => crate::domain::org::Org,
        USERS => crate::domain::user::User,
        TEAMS => crate::domain::user::Team,
        FAMILIES => crate::store::sessions::Family,
        AUDIT => audit::AuditRecord,
        EVENTS => Event,
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
    // The other tables, raw.
    let mut all = ReadAll {
        txn,
        skip: &decoded,
        records: 0,
    };
    match tables::for_each(&mut all) {
        Ok(()) => r.passed.push(format!(
            "all {} records of every table read",
            records + all.records
        )),
        Err(e) => r.problems.push(format!("reading the tables failed: {e}")),
    }
    Ok(())
}

/// Cross-references and audit chains, org by org.
fn references(
    txn: &redb::ReadTransaction,
    orgs_list: &[Org],
    r: &mut Report,
) -> Result<(), StoreError> {
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
    for o in orgs_list {
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
    Ok(())
}

/// The derived sales tables as a replay of every org's stored events in time order (by the
/// code ingest runs) leaves them.
fn recompute_all(txn: &redb::ReadTransaction, orgs: &[Org]) -> Result<Recomputed, StoreError> {
    /// Sums are written into the recomputation this often (bounding the batch's sums).
    const FLUSH_EVERY: u64 = 1_000_000;
    let mut fresh = Fresh {
        events: txn.open_table(EVENTS)?,
        parked: BTreeMap::new(),
        tables: HashMap::new(),
    };
    let times = txn.open_table(EVENT_TIME)?;
    // (the batch holds `fresh`, and with it fresh's own handle of the table)
    let events = txn.open_table(EVENTS)?;
    let mut replayed = 0u64;
    for org in orgs {
        let mut b = sales::Batch::new(&mut fresh, org)?;
        let id = org.id.0;
        for row in times.range((id, i64::MIN, 0u8, "")..=(id, i64::MAX, u8::MAX, "\u{10ffff}"))? {
            let (k, _) = row?;
            let (_, _, kind, event_id) = k.value();
            // An event that does not decode is reported by the decode check (and its sums
            // are then missing here).
            let Some(e) = events
                .get((id, kind, event_id))?
                .and_then(|v| codec::decode::<Event>(v.value()).ok())
            else {
                continue;
            };
            b.one(&e)?;
            replayed += 1;
            if replayed.is_multiple_of(FLUSH_EVERY) {
                b.flush()?;
            }
        }
        b.finish()?;
    }
    for ((org, order, id), refund) in std::mem::take(&mut fresh.parked) {
        fresh.put(
            PENDING_REFUNDS,
            &(org, order.as_str(), id.as_str()),
            &refund,
        );
    }
    Ok(Recomputed {
        tables: fresh.tables,
        replayed,
    })
}

/// What the recomputation left.
struct Recomputed {
    tables: HashMap<String, Box<dyn FreshTable>>,
    replayed: u64,
}

/// One recomputed table: values by key (as redb lays the key out), kept as values (each row
/// is added to many times) and encoded as stored when compared.
type Typed<V> = FxHashMap<Vec<u8>, V>;

trait FreshTable: Send {
    fn any(&self) -> &dyn std::any::Any;
    fn any_mut(&mut self) -> &mut dyn std::any::Any;
    /// Take out the row with this key, encoded.
    fn take(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many rows were not taken.
    fn left(&self) -> usize;
}

impl<V: serde::Serialize + Send + 'static> FreshTable for Typed<V> {
    fn any(&self) -> &dyn std::any::Any {
        self
    }
    fn any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn take(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.remove(key).map(|v| codec::encode(&v)).transpose()?)
    }
    fn left(&self) -> usize {
        self.len()
    }
}

/// The derived sales tables recomputed in memory. Orders of refunds come from the stored
/// events.
struct Fresh {
    events: redb::ReadOnlyTable<(u64, u8, &'static str), &'static [u8]>,
    parked: BTreeMap<(u64, String, String), Refund>,
    tables: HashMap<String, Box<dyn FreshTable>>,
}

impl Fresh {
    fn row<K: redb::Key + 'static>(key: &K::SelfType<'_>) -> Vec<u8> {
        K::as_bytes(key).as_ref().to_vec()
    }

    /// The table `name`, holding values of type `V` (each table holds one type).
    fn table_mut<V: serde::Serialize + Send + 'static>(&mut self, name: &str) -> &mut Typed<V> {
        if !self.tables.contains_key(name) {
            self.tables
                .insert(name.to_string(), Box::new(Typed::<V>::default()));
        }
        self.tables
            .get_mut(name)
            .and_then(|t| t.any_mut().downcast_mut::<Typed<V>>())
            .expect("each recomputed table holds one type of value")
    }

    fn get<K: redb::Key + 'static, T: Clone + 'static>(
        &self,
        def: TableDefinition<'static, K, &'static [u8]>,
        key: &K::SelfType<'_>,
    ) -> Option<T> {
        self.tables
            .get(redb::TableHandle::name(&def))
            .map(|t| {
                t.any()
                    .downcast_ref::<Typed<T>>()
                    .expect("each recomputed table holds one type of value")
            })
            .and_then(|t| t.get(&Self::row::<K>(key)))
            .cloned()
    }

    fn put<K: redb::Key + 'static, T: serde::Serialize + Send + Clone + 'static>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        key: &K::SelfType<'_>,
        value: &T,
    ) {
        let row = Self::row::<K>(key);
        self.table_mut::<T>(redb::TableHandle::name(&def))
            .insert(row, value.clone());
    }
}

impl AddRows for Fresh {
    fn add<'k, K: redb::Key + 'static, V: Summed>(
        &mut self,
        def: TableDefinition<'static, K, &'static [u8]>,
        rows: impl IntoIterator<Item = (K::SelfType<'k>, V)>,
    ) -> Result<(), StoreError> {
        let t = self.table_mut::<V>(redb::TableHandle::name(&def));
        for (k, m) in rows {
            t.entry(Self::row::<K>(&k)).or_default().add_to(&m);
        }
        Ok(())
    }
}

impl Sink for Fresh {
    /// The replayed events come from the stored table, where each (kind, id) is once.
    fn keep_event(&mut self, _org: OrgId, _e: &Event) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn sale(&self, org: OrgId, id: &str) -> Result<Option<Sale>, StoreError> {
        // A sale that does not decode counts as missing: the decode check names it.
        match self.events.get((org.0, Kind::Sale as u8, id))? {
            Some(v) => match codec::decode::<Event>(v.value()) {
                Ok(Event::Sale(s)) => Ok(Some(s)),
                _ => Ok(None),
            },
            None => Ok(None),
        }
    }

    fn has_parked(&self) -> Result<bool, StoreError> {
        Ok(!self.parked.is_empty())
    }

    fn park_refund(&mut self, org: OrgId, r: &Refund) -> Result<(), StoreError> {
        self.parked
            .insert((org.0, r.order_id.clone(), r.id.clone()), r.clone());
        Ok(())
    }

    fn take_parked(&mut self, org: OrgId, order: &str) -> Result<Vec<Refund>, StoreError> {
        let keys: Vec<_> = self
            .parked
            .range((org.0, order.to_string(), String::new())..)
            .take_while(|((o, ord, _), _)| *o == org.0 && ord == order)
            .map(|(k, _)| k.clone())
            .collect();
        Ok(keys
            .into_iter()
            .filter_map(|k| self.parked.remove(&k))
            .collect())
    }

    fn customer(&self, org: OrgId, id: &str) -> Result<Option<CustomerAgg>, StoreError> {
        Ok(self.get(CUSTOMERS, &(org.0, id)))
    }

    fn product(&self, org: OrgId, sku: &str) -> Result<Option<ProductAgg>, StoreError> {
        Ok(self.get(PRODUCTS, &(org.0, sku)))
    }

    fn put_customer(&mut self, org: OrgId, id: &str, c: &CustomerAgg) -> Result<(), StoreError> {
        self.put(CUSTOMERS, &(org.0, id), c);
        Ok(())
    }

    fn put_product(&mut self, org: OrgId, sku: &str, p: &ProductAgg) -> Result<(), StoreError> {
        self.put(PRODUCTS, &(org.0, sku), p);
        Ok(())
    }

    fn changed(&mut self, _: OrgId, _: &[(Change, String)], _: bool) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The derived tables as stored, compared with their recomputation.
struct Derived<'a> {
    txn: &'a redb::ReadTransaction,
    fresh: HashMap<String, Box<dyn FreshTable>>,
    /// table -> (rows compared, differences)
    out: BTreeMap<&'static str, (u64, u64)>,
}

/// The derived tables compared.
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

impl tables::Visit for Derived<'_> {
    type Error = StoreError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), StoreError> {
        let name = redb::TableHandle::name(&def);
        let Some(name) = COMPARED.iter().copied().find(|n| *n == name) else {
            return Ok(());
        };
        let mut fresh: Box<dyn FreshTable> = self
            .fresh
            .remove(name)
            .unwrap_or_else(|| Box::new(Typed::<Vec<u8>>::default()));
        // Names, emails, regions and categories take the last event that arrived, which a
        // replay need not repeat: only the figures are compared.
        let same = |stored: &[u8], fresh: &[u8]| -> Result<bool, StoreError> {
            Ok(if name == "customers" || name == "products" {
                // (a stored row that does not decode differs; the decode check names it)
                figures_only(name, stored).ok() == Some(figures_only(name, fresh)?)
            } else {
                stored == fresh
            })
        };
        let (mut rows, mut diff) = (0u64, 0u64);
        if let Some(t) = open_existing(self.txn, def)? {
            for row in t.iter()? {
                let (k, v) = row?;
                rows += 1;
                let (k, v) = (k.value(), v.value());
                let v = V::as_bytes(&v);
                let ok = match fresh.take(K::as_bytes(&k).as_ref())? {
                    Some(f) => same(v.as_ref(), &f)?,
                    None => false,
                };
                diff += u64::from(!ok);
            }
        }
        let missing = fresh.left() as u64;
        rows += missing;
        diff += missing;
        self.out.insert(name, (rows, diff));
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

/// Compare the stored derived tables with the recomputation.
fn compare(
    txn: &redb::ReadTransaction,
    fresh: Recomputed,
    r: &mut Report,
) -> Result<(), StoreError> {
    let events = fresh.replayed;
    let mut d = Derived {
        txn,
        fresh: fresh.tables,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ts;
    use crate::domain::org::NewOrg;
    use crate::store::Store;

    /// A file with demo events of two orgs, applied in a shuffled order and in small batches
    /// (refunds before their orders, a customer's first order after later ones, duplicates).
    fn shuffled_file(path: &Path) -> Vec<Org> {
        let store = Store::open(path).unwrap();
        let mut out = Vec::new();
        for (name, tz, seed) in [("A", "America/New_York", 3), ("B", "Asia/Kolkata", 4)] {
            let org = store
                .write(|t| orgs::create(t, NewOrg::parse(name, tz, "USD").unwrap(), Ts(0)))
                .unwrap();
            let spec = crate::ingest::demo::Spec {
                events: 1500,
                days: 20,
                seed,
                last_day: jiff::civil::date(2026, 11, 20),
            };
            let mut all = Vec::new();
            crate::ingest::demo::generate(&spec, &org.tz(), 10_000, |b| {
                all.extend(b);
                Ok::<_, ()>(())
            })
            .unwrap();
            let mut rng = seed;
            for i in (1..all.len()).rev() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                all.swap(i, (rng >> 33) as usize % (i + 1));
            }
            let again: Vec<Event> = all.iter().step_by(7).cloned().collect();
            all.extend(again);
            for chunk in all.chunks(97) {
                store.write(|t| sales::apply(t, &org, chunk)).unwrap();
            }
            out.push(org);
        }
        store.close();
        out
    }

    #[test]
    fn a_shuffled_ingest_matches_its_recomputation_and_tampering_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        let orgs = shuffled_file(&path);
        let r = data_file(&path).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        let line = r
            .passed
            .iter()
            .find(|l| l.starts_with("rollups and aggregates recomputed"))
            .unwrap();
        assert!(!line.contains("from 0 raw"), "{line}");

        // Change one figure in rows of several derived tables, and drop a row of another.
        let store = Store::open(&path).unwrap();
        store
            .write(|txn| {
                let mut t = txn.open_table(CUSTOMER_DAY)?;
                let (k, mut f) = {
                    let last = t.last()?.unwrap();
                    let k = last.0.value();
                    let f: sales::Figures = codec::decode(last.1.value())?;
                    ((k.0, k.1, k.2.to_string(), k.3.to_string()), f)
                };
                f.units += 1;
                t.insert(
                    (k.0, k.1, k.2.as_str(), k.3.as_str()),
                    codec::encode(&f)?.as_slice(),
                )?;
                let mut c = txn.open_table(CUSTOMERS)?;
                let (k, mut agg) = {
                    let first = c.first()?.unwrap();
                    let k = first.0.value();
                    let a: CustomerAgg = codec::decode(first.1.value())?;
                    ((k.0, k.1.to_string()), a)
                };
                agg.orders += 1;
                agg.name = Some("renamed (not a difference)".into());
                c.insert((k.0, k.1.as_str()), codec::encode(&agg)?.as_slice())?;
                let mut h = txn.open_table(PART_HOUR)?;
                let k = {
                    let first = h.first()?.unwrap();
                    let k = first.0.value();
                    (k.0, k.1, k.2, k.3.to_string())
                };
                h.remove((k.0, k.1, k.2, k.3.as_str()))?;
                Ok(())
            })
            .unwrap();
        store.close();
        drop(store);
        let r = data_file(&path).unwrap();
        let all = r.problems.join("\n");
        for want in ["customer_day: 1 of", "customers: 1 of", "part_hour: 1 of"] {
            assert!(all.contains(want), "{want}: {all}");
        }
        assert_eq!(r.problems.len(), 1, "{all}");
        assert_eq!(orgs.len(), 2);
    }
}
