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
use crate::store::integrity::{self, Integrity};
use crate::store::sales::{AddRows, CustomerAgg, ProductAgg, Sink, Summed};
use crate::store::tables::{self, *};
use crate::store::{ReadTx, StoreError, audit, backup, codec, migrate, open_existing, orgs, sales};
use redb::{ReadableTable, TableDefinition};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

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

/// How far a [`data_file_with`] run is, for a progress display on another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events in the file.
    pub events: AtomicU64,
    /// Events read and decoded so far.
    pub decoded: AtomicU64,
    /// What runs now: [`Progress::DECODING`], [`Progress::REPLAYING`], [`Progress::COMPARING`].
    pub phase: AtomicU8,
}

impl Progress {
    /// Reading and decoding every record (the events last).
    pub const DECODING: u8 = 0;
    /// Every event is read; the replay threads finish their share.
    pub const REPLAYING: u8 = 1;
    /// The recomputed rollups are compared with the stored ones.
    pub const COMPARING: u8 = 2;
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
/// `each` is given every record that decodes, with its key.
fn decode_all<K: redb::Key + 'static, T: DeserializeOwned>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, &'static [u8]>,
    mut each: impl FnMut(K::SelfType<'_>, T),
) -> Result<(u64, Vec<String>), StoreError> {
    let Some(t) = open_existing(txn, def)? else {
        return Ok((0, Vec::new()));
    };
    let mut n = 0;
    let mut bad = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        n += 1;
        match codec::decode::<T>(v.value()) {
            Ok(record) => each(k.value(), record),
            Err(e) if bad.len() < 3 => bad.push(format!("record {n}: {e}")),
            Err(_) => {}
        }
    }
    Ok((n, bad))
}

/// The decode check's line for one table: `n` records, the first failures `bad`.
fn report_decoded(r: &mut Report, name: &str, n: u64, bad: &[String]) {
    let (noun, verb) = if n == 1 {
        ("record", "decodes")
    } else {
        ("records", "decode")
    };
    r.check(bad.is_empty(), format!("{name}: {n} {noun} {verb}"), || {
        format!("{name}: records that do not decode: {}", bad.join("; "))
    });
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
    data_file_with(path, &Progress::default())
}

/// [`data_file`], telling `progress` how far it is.
pub fn data_file_with(path: &Path, progress: &Progress) -> Result<Report, StoreError> {
    let file = crate::store::read_only(path)?;
    let mut r = Report::default();
    if file.recovered {
        r.passed.push(
            "the file was not closed cleanly (killed or crashed): redb's crash recovery ran \
             first, as at every start (it writes to the file: it rolls back a commit that was \
             cut off), and the checks below read the recovered file"
                .into(),
        );
    }
    // redb's integrity check walks every page once more; it runs on a thread of its own
    // beside the other checks (which leave a core of this 2-core machine partly idle). Those
    // read pages redb trusts, so on a damaged file they may fail or panic inside redb: the
    // integrity check's finding then explains it.
    let (integrity, checks) = std::thread::scope(|scope| {
        let integrity = std::thread::Builder::new()
            .name("verify-integrity".into())
            .spawn_scoped(scope, || integrity::check(path))
            .map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            records(&file, &mut r, progress)
        }));
        let integrity = integrity
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok::<_, StoreError>((integrity, checks))
    })?;
    // After the crash-recovery note, if there is one.
    let first = usize::from(file.recovered);
    let damaged = match integrity {
        Ok(Integrity::Clean) => {
            r.passed.insert(
                first,
                "redb integrity: every page of the committed tables matches its checksum, and \
                 redb's record of used pages agrees with them"
                    .into(),
            );
            false
        }
        Ok(Integrity::Repaired) => {
            r.problems.insert(
                0,
                "redb integrity: the file needs repair (the newest commit's pages fail their \
                 checksums, or redb's record of used pages disagrees with the tables); the next \
                 start would repair it and may lose the newest commit. Keep a copy of the file \
                 and restore from a backup"
                    .into(),
            );
            true
        }
        Ok(Integrity::Corrupt(detail)) => {
            r.problems.insert(
                0,
                format!("redb integrity: the file is corrupt ({detail}); restore it from a backup"),
            );
            true
        }
        Err(e) => {
            r.problems
                .insert(0, format!("redb's integrity check could not run: {e}"));
            false
        }
    };
    match checks {
        Ok(Ok(())) => {}
        Ok(Err(e)) if damaged => r
            .problems
            .push(format!("the checks stopped on the damaged pages: {e}")),
        Ok(Err(e)) => return Err(e),
        Err(_) if damaged => r
            .problems
            .push("the checks stopped on the damaged pages (redb failed reading them)".into()),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(r)
}

/// Every check but redb's own: the schema, every record, the time index, the references, and
/// the rollups recomputed.
fn records(
    file: &crate::store::ReadOnlyFile,
    r: &mut Report,
    progress: &Progress,
) -> Result<(), StoreError> {
    let txn = &file.txn;
    if let Some(t) = open_existing(txn, EVENTS)? {
        progress
            .events
            .store(redb::ReadableTableMetadata::len(&t)?, Ordering::Relaxed);
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
        // The replay runs beside the checks, on threads of their own, each in a transaction of
        // its own (the same snapshot: nothing else writes the file); the decode check feeds
        // them the events it decodes.
        let (feeder, replays) = match recompute {
            Some(orgs) => {
                let (feeder, replays) = start_replay(scope, file, orgs)?;
                (Some(feeder), replays)
            }
            None => (None, Vec::new()),
        };
        let index = read_and_decode(txn, r, feeder, progress)?;
        compare_index(&index, r);
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
        references(txn, orgs_list, r)?;
        if recompute.is_some() {
            progress.phase.store(Progress::REPLAYING, Ordering::Relaxed);
            let parts = replays
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<Vec<_>, _>>()?;
            progress.phase.store(Progress::COMPARING, Ordering::Relaxed);
            compare(txn, || file.begin_read(), parts, r)?;
        } else {
            r.skipped.push(
                "rollups were not recomputed: raw events have expired from this file \
                 (data.keep_raw_events_days), and rollups keep what expired"
                    .into(),
            );
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(())
}

/// Every record of every table read; every record of a codec table decoded (the events are
/// fed to the replay, when there is one, as they decode).
fn read_and_decode(
    txn: &redb::ReadTransaction,
    r: &mut Report,
    feeder: Option<Feeder>,
    progress: &Progress,
) -> Result<IndexCheck, StoreError> {
    let mut records = 0u64;
    macro_rules! decode {
        ($($table:expr => $ty:ty),* $(,)?) => {{
            let names = [$(redb::TableHandle::name(&$table)),*];
            $(
                let name = redb::TableHandle::name(&$table);
                let (n, bad) = decode_all::<_, $ty>(txn, $table, |_, _| {})?;
                records += n;
                report_decoded(r, name, n, &bad);
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
    let (n, bad, events) = decode_events(txn, feeder, progress)?;
    records += n;
    report_decoded(r, redb::TableHandle::name(&EVENTS), n, &bad);
    let (stored, table) = EventIndex::of_time_index(txn)?;
    records += stored.keys;
    // The other tables, raw.
    let skip: Vec<&str> = decoded
        .into_iter()
        .chain([
            redb::TableHandle::name(&EVENTS),
            redb::TableHandle::name(&EVENT_BLOCKS),
            redb::TableHandle::name(&EVENT_TIME),
        ])
        .collect();
    let mut all = ReadAll {
        txn,
        skip: &skip,
        records: 0,
    };
    match tables::for_each(&mut all) {
        Ok(()) => r.passed.push(format!(
            "all {} records of every table read",
            records + all.records
        )),
        Err(e) => r.problems.push(format!("reading the tables failed: {e}")),
    }
    Ok(IndexCheck {
        stored,
        table,
        events,
    })
}

/// Every event decoded, and fed to the replay; returns (records, first failures, the
/// fingerprint of the events' time keys when every event decodes).
fn decode_events(
    txn: &redb::ReadTransaction,
    mut feeder: Option<Feeder>,
    progress: &Progress,
) -> Result<(u64, Vec<String>, Option<EventIndex>), StoreError> {
    let mut index = EventIndex::default();
    let mut seen = 0u64;
    // (an event that does not decode is not replayed: its sums then differ)
    let (n, bad) = decode_all::<_, Event>(txn, EVENTS, |(org, kind, id), e| {
        seen += 1;
        if seen.is_multiple_of(4096) {
            progress.decoded.store(seen, Ordering::Relaxed);
        }
        index.add(org, e.at().0, kind, id);
        if let Some(f) = &mut feeder {
            f.event(org, e);
        }
    })?;
    progress.decoded.store(seen, Ordering::Relaxed);
    if let Some(f) = feeder {
        f.finish();
    }
    let index = bad.is_empty().then_some(index);
    Ok((n, bad, index))
}

/// The time index of the events, and the events' own time keys.
struct IndexCheck {
    stored: EventIndex,
    /// The index's table (per-event rows in files before schema version 9).
    table: &'static str,
    /// None when some events do not decode.
    events: Option<EventIndex>,
}

/// The time index of the events holds exactly the stored events' keys.
fn compare_index(index: &IndexCheck, r: &mut Report) {
    let name = index.table;
    match &index.events {
        Some(events) => r.check(
            index.stored == *events,
            format!(
                "the time index of the events ({name}) lists each of the {} events once",
                events.keys
            ),
            || {
                format!(
                    "the time index of the events ({name}) does not match them: {} entries for \
                     {} events{}",
                    index.stored.keys,
                    events.keys,
                    if index.stored.keys == events.keys {
                        " (some name an event that is not stored, or give the wrong time or kind)"
                    } else {
                        ""
                    }
                )
            },
        ),
        None => r.skipped.push(format!(
            "the time index of the events ({name}) was not compared: some events do not decode"
        )),
    }
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
    // Org names (unique, case-insensitively) and time zones.
    let mut named = 0usize;
    for row in txn.table(ORG_NAMES)?.iter()? {
        let (k, v) = row?;
        refs += 1;
        named += 1;
        match orgs_list.iter().find(|o| o.id.0 == v.value()) {
            None => note(format!(
                "the org name \"{}\" points at a missing org",
                k.value()
            )),
            Some(o) if o.name.to_lowercase() != k.value() => note(format!(
                "the org name \"{}\" points at the org named \"{}\"",
                k.value(),
                o.name
            )),
            Some(_) => {}
        }
    }
    if named != orgs_list.len() {
        note(format!("{} orgs but {named} org names", orgs_list.len()));
    }
    for o in orgs_list {
        if jiff::tz::TimeZone::get(&o.timezone).is_err() {
            note(format!(
                "the time zone \"{}\" of \"{}\" is in neither this machine's time zone \
                 database nor the one built into salesboard, so its days are counted in UTC",
                o.timezone, o.name
            ));
        }
    }
    // Login sessions: family -> user, refresh token -> family.
    let mut families: HashMap<u128, u32> = HashMap::new();
    if let Some(t) = open_existing(txn, FAMILIES)? {
        for row in t.iter()? {
            let (k, v) = row?;
            refs += 1;
            // (a family that does not decode is named by the decode check)
            let Ok(f) = codec::decode::<crate::store::sessions::Family>(v.value()) else {
                continue;
            };
            if f.id.0 != k.value() {
                note(format!(
                    "login session {:032x} is stored under another id",
                    f.id.0
                ));
            }
            if !users.contains(&(f.org.0, f.user.0)) {
                note(format!(
                    "login session {:032x} is of a missing user",
                    f.id.0
                ));
            }
            families.insert(k.value(), f.generation);
        }
    }
    if let Some(t) = open_existing(txn, REFRESH_TOKENS)? {
        for row in t.iter()? {
            let (_, v) = row?;
            refs += 1;
            let (family, generation) = v.value();
            match families.get(&family) {
                None => note(format!(
                    "a refresh token of a missing login session {family:032x}"
                )),
                Some(current) if generation > *current => note(format!(
                    "a refresh token of login session {family:032x} is newer than the session"
                )),
                Some(_) => {}
            }
        }
    }
    // API keys: each active key has its secret's hash, and only active keys have one.
    let mut active: HashSet<(u64, u128)> = HashSet::new();
    if let Some(t) = open_existing(txn, API_KEYS)? {
        for row in t.iter()? {
            let (k, v) = row?;
            refs += 1;
            let (org, id) = k.value();
            if !org_ids.contains(&org) {
                note(format!("API key {id:032x} belongs to a missing org {org}"));
            }
            if codec::decode::<crate::domain::apikey::ApiKey>(v.value())
                .is_ok_and(|key| key.active())
            {
                active.insert((org, id));
            }
        }
    }
    let mut hashed: HashSet<(u64, u128)> = HashSet::new();
    if let Some(t) = open_existing(txn, API_KEY_HASHES)? {
        for row in t.iter()? {
            let (_, v) = row?;
            refs += 1;
            let key = v.value();
            if !active.contains(&key) {
                note(format!(
                    "a secret hash authenticates API key {:032x}, which is revoked or missing",
                    key.1
                ));
            }
            hashed.insert(key);
        }
    }
    if let Some((_, id)) = active.difference(&hashed).next() {
        note(format!(
            "the active API key {id:032x} has no secret hash (it cannot authenticate)"
        ));
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
        if let Some(t) = open_existing(txn, PARTNER_HEALTH)? {
            let mut last = None;
            for row in t.range((org.0, 0u128, i32::MIN)..=(org.0, u128::MAX, i32::MAX))? {
                let (k, _) = row?;
                let partner = k.value().1;
                // (one reference per partner: its days follow one another)
                if last == Some(partner) {
                    continue;
                }
                last = Some(partner);
                refs += 1;
                if !partners.contains(&partner) {
                    note(format!("health scores of a missing partner {partner:032x}"));
                }
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

/// What the decode check sends a replay thread: an org's events start, or some of them.
enum Feed {
    Org(usize),
    Events(Vec<Event>),
}

/// Sends the decoded events to the replay threads. Ingest gives the same rows whatever order
/// events arrive in (a customer's earlier first order demotes the later one; a refund before
/// its order waits for it), so the replay takes the events in the order they are stored: one
/// sequential pass over the file, where time order would cost a random lookup per event.
/// Each customer's events go to one thread (which then knows their first order); other
/// events spread by id. The threads' rows are added together when compared.
struct Feeder {
    senders: Vec<std::sync::mpsc::SyncSender<Feed>>,
    chunks: Vec<Vec<Event>>,
    /// Org id -> its place in the list of orgs (events of other orgs are not replayed).
    orgs: HashMap<u64, usize>,
    /// The org whose events come now, and whether they are replayed.
    current: Option<(u64, bool)>,
}

impl Feeder {
    const CHUNK: usize = 1024;

    fn event(&mut self, org: u64, e: Event) {
        if self.current.map(|(o, _)| o) != Some(org) {
            self.send_chunks();
            let place = self.orgs.get(&org).copied();
            if let Some(i) = place {
                for s in &self.senders {
                    // (a thread that stopped has an error to report when joined)
                    let _ = s.send(Feed::Org(i));
                }
            }
            self.current = Some((org, place.is_some()));
        }
        if self.current.is_some_and(|(_, replayed)| !replayed) {
            return;
        }
        let key = match &e {
            Event::Sale(s) => s.customer.as_deref().unwrap_or(&s.id),
            Event::Customer(c) => &c.id,
            Event::Refund(r) => &r.id,
            Event::Traffic(t) => &t.id,
        };
        let h = std::hash::BuildHasher::hash_one(&rustc_hash::FxBuildHasher, key);
        let part = ((u128::from(h) * self.senders.len() as u128) >> 64) as usize;
        self.chunks[part].push(e);
        if self.chunks[part].len() == Self::CHUNK {
            let chunk = std::mem::take(&mut self.chunks[part]);
            let _ = self.senders[part].send(Feed::Events(chunk));
        }
    }

    fn send_chunks(&mut self) {
        for (chunk, s) in self.chunks.iter_mut().zip(&self.senders) {
            if !chunk.is_empty() {
                let _ = s.send(Feed::Events(std::mem::take(chunk)));
            }
        }
    }

    /// Every event sent: the threads finish.
    fn finish(mut self) {
        self.send_chunks();
    }
}

type Replay<'scope> = std::thread::ScopedJoinHandle<'scope, Result<Recomputed, StoreError>>;

/// Start the replay threads (one per core, at least two, at most four).
fn start_replay<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    file: &'env crate::store::ReadOnlyFile,
    orgs: &'env [Org],
) -> Result<(Feeder, Vec<Replay<'scope>>), StoreError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let mut senders = Vec::new();
    let mut replays = Vec::new();
    for i in 0..threads {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let txn = file.begin_read()?;
        let h = std::thread::Builder::new()
            .name(format!("verify-replay-{i}"))
            .spawn_scoped(scope, move || replay(&txn, orgs, rx))
            .map_err(|e| StoreError::Io {
                path: std::path::PathBuf::from("(verify thread)"),
                source: e,
            })?;
        senders.push(tx);
        replays.push(h);
    }
    let feeder = Feeder {
        chunks: vec![Vec::new(); senders.len()],
        senders,
        orgs: orgs.iter().enumerate().map(|(i, o)| (o.id.0, i)).collect(),
        current: None,
    };
    Ok((feeder, replays))
}

/// One replay thread: the events it is fed, applied org by org by the code ingest runs. Each
/// org's batch sums its rows until the org is done (in stored order an event may touch any
/// row, so flushing sooner would not bound the sums, only add them up twice).
fn replay(
    txn: &redb::ReadTransaction,
    orgs: &[Org],
    feed: std::sync::mpsc::Receiver<Feed>,
) -> Result<Recomputed, StoreError> {
    let mut fresh = Fresh {
        events: txn.open_table(EVENTS)?,
        parked: BTreeMap::new(),
        tables: HashMap::new(),
    };
    let mut replayed = 0u64;
    let mut next = feed.recv().ok();
    while let Some(msg) = next {
        let Feed::Org(i) = msg else {
            unreachable!("the feeder names the org before its events");
        };
        let mut b = sales::Batch::new(&mut fresh, &orgs[i])?;
        next = loop {
            match feed.recv() {
                Ok(Feed::Events(events)) => {
                    for e in &events {
                        b.one(e)?;
                    }
                    replayed += events.len() as u64;
                }
                other => break other.ok(),
            }
        };
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

/// A fingerprint of a set of time index entries (org, time, kind, id), the same whatever order
/// they are added in: the time index and the events it indexes must give the same one.
#[derive(Debug, Default, PartialEq, Eq)]
struct EventIndex {
    keys: u64,
    sum: u64,
    xor: u64,
}

impl EventIndex {
    fn add(&mut self, org: u64, at: i64, kind: u8, id: &str) {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same on both sides, and no structure a sum could cancel.
        let mut h = std::hash::DefaultHasher::new();
        (org, at, kind, id).hash(&mut h);
        let h = h.finish();
        self.keys += 1;
        self.sum = self.sum.wrapping_add(h);
        self.xor ^= h.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// The fingerprint of the stored time index, and the name of its table: blocks, or in a
    /// file not yet upgraded to schema version 9, a row per event.
    fn of_time_index(
        txn: &redb::ReadTransaction,
    ) -> Result<(EventIndex, &'static str), StoreError> {
        let mut index = EventIndex::default();
        if let Some(t) = open_existing(txn, EVENT_TIME)? {
            for row in t.iter()? {
                let (k, _) = row?;
                let (org, at, kind, id) = k.value();
                index.add(org, at, kind, id);
            }
            return Ok((index, redb::TableHandle::name(&EVENT_TIME)));
        }
        if let Some(t) = open_existing(txn, EVENT_BLOCKS)? {
            crate::store::event_times::each(&t, |org, e| index.add(org, e.at, e.kind, &e.id))?;
        }
        Ok((index, redb::TableHandle::name(&EVENT_BLOCKS)))
    }
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
    /// Take out the row with this key, here and in `others` (the other replay threads' parts
    /// of the table), put together and encoded.
    fn take(
        &mut self,
        key: &[u8],
        others: &mut [Box<dyn FreshTable>],
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many rows were not taken, here and in `others`.
    fn left(&self, others: &[Box<dyn FreshTable>]) -> usize;
}

/// Two replay threads' parts of one row, put together.
trait Merge {
    fn merge(&mut self, other: Self);
}

impl<V: Summed> Merge for V {
    fn merge(&mut self, other: Self) {
        self.add_to(&other)
    }
}

impl Merge for CustomerAgg {
    fn merge(&mut self, o: Self) {
        fn pick<T: Ord>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            }
        }
        self.email = self.email.take().or(o.email);
        self.name = self.name.take().or(o.name);
        self.region = self.region.take().or(o.region);
        self.created_at = pick(self.created_at, o.created_at, Ord::min);
        self.first = pick(self.first.take(), o.first, Ord::min);
        self.last_purchase = pick(self.last_purchase, o.last_purchase, Ord::max);
        self.orders = self.orders.saturating_add(o.orders);
        self.revenue = self.revenue.saturating_add(o.revenue);
        self.refunds = self.refunds.saturating_add(o.refunds);
    }
}

impl Merge for ProductAgg {
    fn merge(&mut self, o: Self) {
        if self.name.is_empty() {
            (self.name, self.category) = (o.name, o.category);
        }
        self.figures.add(&o.figures);
    }
}

/// A refund waiting for its order is one row, whichever thread parked it.
impl Merge for Refund {
    fn merge(&mut self, _: Self) {}
}

/// (the value of a table no thread recomputed)
impl Merge for Vec<u8> {
    fn merge(&mut self, _: Self) {}
}

fn part<V: 'static>(t: &dyn FreshTable) -> &Typed<V> {
    t.any()
        .downcast_ref()
        .expect("each recomputed table holds one type of value")
}

impl<V: Merge + serde::Serialize + Send + 'static> FreshTable for Typed<V> {
    fn any(&self) -> &dyn std::any::Any {
        self
    }
    fn any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn take(
        &mut self,
        key: &[u8],
        others: &mut [Box<dyn FreshTable>],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut row = self.remove(key);
        for o in others {
            let o: &mut Typed<V> = o
                .any_mut()
                .downcast_mut()
                .expect("each recomputed table holds one type of value");
            if let Some(more) = o.remove(key) {
                match &mut row {
                    Some(row) => row.merge(more),
                    None => row = Some(more),
                }
            }
        }
        Ok(row.map(|v| codec::encode(&v)).transpose()?)
    }
    fn left(&self, others: &[Box<dyn FreshTable>]) -> usize {
        let mut n = self.len();
        for (i, o) in others.iter().enumerate() {
            n += part::<V>(o.as_ref())
                .keys()
                .filter(|k| {
                    !self.contains_key(*k)
                        && !others[..i]
                            .iter()
                            .any(|p| part::<V>(p.as_ref()).contains_key(*k))
                })
                .count();
        }
        n
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
    fn table_mut<V: Merge + serde::Serialize + Send + 'static>(
        &mut self,
        name: &str,
    ) -> &mut Typed<V> {
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

    fn put<K: redb::Key + 'static, T: Merge + serde::Serialize + Send + Clone + 'static>(
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
        let rows = rows.into_iter();
        // (room for every row at once: growing a map of millions of rows step by step
        // rehashes every key several times)
        t.reserve(rows.size_hint().0);
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
    /// The tables this one compares (of [`COMPARED`]).
    only: &'a [&'static str],
    /// Each table's parts, one per replay thread that recomputed some of it.
    fresh: HashMap<String, Vec<Box<dyn FreshTable>>>,
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
        let Some(name) = self.only.iter().copied().find(|n| *n == name) else {
            return Ok(());
        };
        let mut parts = self.fresh.remove(name).unwrap_or_default();
        if parts.is_empty() {
            parts.push(Box::new(Typed::<Vec<u8>>::default()));
        }
        let (fresh, others) = parts.split_first_mut().expect("one part at least");
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
                let ok = match fresh.take(K::as_bytes(&k).as_ref(), others)? {
                    Some(f) => same(v.as_ref(), &f)?,
                    None => false,
                };
                diff += u64::from(!ok);
            }
        }
        let missing = fresh.left(others) as u64;
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

/// The compared table with the most rows (a row per customer, day and channel), compared on a
/// second thread beside the others.
const BIGGEST: &[&str] = &["customer_day"];

/// Compare the stored derived tables with the recomputation: the biggest table on a second
/// thread, in a read transaction of its own (`begin_read`), the others here.
fn compare(
    txn: &redb::ReadTransaction,
    begin_read: impl FnOnce() -> Result<redb::ReadTransaction, StoreError>,
    replays: Vec<Recomputed>,
    r: &mut Report,
) -> Result<(), StoreError> {
    let events: u64 = replays.iter().map(|p| p.replayed).sum();
    let mut tables: HashMap<String, Vec<Box<dyn FreshTable>>> = HashMap::new();
    for (name, t) in replays.into_iter().flat_map(|p| p.tables) {
        tables.entry(name).or_default().push(t);
    }
    let (big, rest): (HashMap<_, _>, HashMap<_, _>) = tables
        .into_iter()
        .partition(|(name, _)| BIGGEST.contains(&name.as_str()));
    let others: Vec<&'static str> = COMPARED
        .iter()
        .copied()
        .filter(|n| !BIGGEST.contains(n))
        .collect();
    let out = std::thread::scope(|scope| {
        let t2 = begin_read()?;
        let second = scope.spawn(move || {
            let mut d = Derived {
                txn: &t2,
                only: BIGGEST,
                fresh: big,
                out: BTreeMap::new(),
            };
            tables::for_each(&mut d).map(|()| d.out)
        });
        let mut d = Derived {
            txn,
            only: &others,
            fresh: rest,
            out: BTreeMap::new(),
        };
        tables::for_each(&mut d)?;
        let mut out = d.out;
        out.extend(
            second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
        );
        Ok::<_, StoreError>(out)
    })?;
    let bad: Vec<String> = out
        .iter()
        .filter(|(_, (_, diff))| *diff > 0)
        .map(|(n, (rows, diff))| format!("{n}: {diff} of {rows} rows differ"))
        .collect();
    let rows: u64 = out.values().map(|(n, _)| n).sum();
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

    /// Change the file at `path` with `tamper`, verify it and check that each of `wants` is
    /// named among the problems; returns the problems.
    fn tampered(
        path: &Path,
        tamper: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
        wants: &[&str],
    ) -> Vec<String> {
        let store = Store::open(path).unwrap();
        store.write(tamper).unwrap();
        store.close();
        drop(store);
        let r = data_file(path).unwrap();
        let all = r.problems.join("\n");
        for want in wants {
            assert!(all.contains(want), "{want}: {all}");
        }
        r.problems
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
        let problems = tampered(
            &path,
            |txn| {
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
                // An event indexed at a time a microsecond off its own.
                let mut blocks = txn.open_table(EVENT_BLOCKS)?;
                let (k, mut entries) = {
                    let last = blocks.last()?.unwrap();
                    let entries: Vec<crate::store::event_times::Entry> =
                        codec::decode(last.1.value())?;
                    (last.0.value(), entries)
                };
                entries.last_mut().unwrap().at += 1;
                blocks.insert(k, codec::encode(&entries)?.as_slice())?;
                Ok(())
            },
            &[
                "customer_day: 1 of",
                "customers: 1 of",
                "part_hour: 1 of",
                "the time index of the events (event_time_blocks) does not match them",
            ],
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(orgs.len(), 2);
    }

    /// A flipped byte in a page is found by redb's checksums, named, and the file is left as
    /// it was (the check repairs nothing in place).
    #[test]
    fn a_damaged_page_is_named_and_the_file_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        let store = Store::open(&path).unwrap();
        let marker = "Damaged Page Test Org";
        store
            .write(|t| orgs::create(t, NewOrg::parse(marker, "UTC", "EUR").unwrap(), Ts(0)))
            .unwrap();
        store.close();
        drop(store);
        let r = data_file(&path).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert!(r.passed.iter().any(|l| l.starts_with("redb integrity")));

        // Every copy of the org's name (the live page and any freed older ones) gets a byte
        // flipped, so the live page surely does.
        let mut bytes = std::fs::read(&path).unwrap();
        let mut flipped = 0;
        let mut at = 0;
        while let Some(i) = bytes[at..]
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())
        {
            bytes[at + i + 3] ^= 0x20;
            at += i + marker.len();
            flipped += 1;
        }
        assert!(flipped > 0);
        std::fs::write(&path, &bytes).unwrap();

        let r = data_file(&path).unwrap();
        let all = r.problems.join("\n");
        assert!(all.contains("redb integrity: the file is corrupt"), "{all}");
        assert!(all.contains("restore it from a backup"), "{all}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "verify wrote the file"
        );
    }

    #[test]
    fn references_to_missing_records_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.redb");
        let store = Store::open(&path).unwrap();
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("A", "Europe/Paris", "EUR").unwrap(), Ts(0)))
            .unwrap();
        store.close();
        drop(store);
        let r = data_file(&path).unwrap();
        assert!(r.ok(), "{:?}", r.problems);

        tampered(
            &path,
            |txn| {
                txn.open_table(REFRESH_TOKENS)?
                    .insert([7u8; 32].as_slice(), (0xdead_u128, 1))?;
                txn.open_table(API_KEY_HASHES)?
                    .insert([9u8; 32].as_slice(), (org.id.0, 0xbeef_u128))?;
                txn.open_table(ORG_NAMES)?.insert("ghost", 999)?;
                txn.open_table(PARTNER_HEALTH)?
                    .insert((org.id.0, 0xfeed_u128, 20_000), 50)?;
                let mut o = org.clone();
                o.timezone = "Mars/Olympus_Mons".into();
                txn.open_table(ORGS)?
                    .insert(org.id.0, codec::encode(&o)?.as_slice())?;
                Ok(())
            },
            &[
                "a refresh token of a missing login session",
                "API key 0000000000000000000000000000beef, which is revoked or missing",
                "the org name \"ghost\" points at a missing org",
                "1 orgs but 2 org names",
                "\"Mars/Olympus_Mons\" of \"A\" is in neither this machine",
                "health scores of a missing partner 0000000000000000000000000000feed",
            ],
        );
    }
}
