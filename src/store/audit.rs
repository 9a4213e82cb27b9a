//! The audit log: append-only, one sequence per org, each record carrying the hash of the one
//! before it so that any edit or removal breaks the chain.

use super::{ReadTx, StoreResult, codec, tables::*};
use crate::domain::{OrgId, Ts, UserId};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who did something.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Actor {
    User {
        id: UserId,
        email: String,
    },
    /// The command line on the server machine.
    Cli,
    /// salesboard itself (first-run bootstrap, scheduled jobs).
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::User { email, .. } => email.clone(),
            Actor::Cli => "command line".into(),
            Actor::System => "salesboard".into(),
        }
    }
}

/// What happened, before it is sequenced and chained.
#[derive(Clone, Debug)]
pub struct Entry {
    pub actor: Actor,
    /// e.g. `user.create`, `user.role_change`
    pub action: &'static str,
    /// e.g. `user`, `org`, `team`
    pub entity: &'static str,
    pub entity_id: String,
    /// JSON text of the changed fields before and after.
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: Ts,
    pub actor: Actor,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The hash this record should carry, given its content and predecessor.
    pub fn compute_hash(&self) -> StoreResult<[u8; 32]> {
        let mut unhashed = self.clone();
        unhashed.hash = [0; 32];
        let mut h = Sha256::new();
        h.update(codec::encode(&unhashed)?);
        Ok(h.finalize().into())
    }
}

pub fn append(txn: &WriteTransaction, org: OrgId, at: Ts, e: Entry) -> StoreResult<AuditRecord> {
    let mut t = txn.open_table(AUDIT)?;
    let last = t
        .range((org.0, 0u64)..=(org.0, u64::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, v)| (k.value().1, v.value().to_vec()));
    let (seq, prev_hash, at) = match last {
        Some((seq, bytes)) => {
            let prev = codec::decode::<AuditRecord>(&bytes)?;
            // Time never goes backwards in the log (a clock step, or a change that waited for
            // the writer), so reading it by time can stop at the first older record.
            (seq + 1, prev.hash, at.max(prev.at))
        }
        // Every record was removed by retention: the chain goes on from the last one.
        None => match anchor(txn, org)? {
            Some(a) => (a.seq + 1, a.hash, at),
            None => (1, [0; 32], at),
        },
    };
    let mut rec = AuditRecord {
        seq,
        at,
        actor: e.actor,
        action: e.action.into(),
        entity: e.entity.into(),
        entity_id: e.entity_id,
        old: e.old,
        new: e.new,
        prev_hash,
        hash: [0; 32],
    };
    rec.hash = rec.compute_hash()?;
    t.insert((org.0, seq), codec::encode(&rec)?.as_slice())?;
    Ok(rec)
}

/// Check the org's whole chain; returns the number of records, or the first broken sequence.
/// After retention removed old records, the chain starts from the last removed one's hash.
pub fn verify_chain(txn: &impl ReadTx, org: OrgId) -> StoreResult<Result<u64, u64>> {
    let t = txn.table(AUDIT)?;
    let (mut seq, mut prev) = match anchor(txn, org)? {
        Some(a) => (a.seq, a.hash),
        None => (0, [0u8; 32]),
    };
    let mut n = 0;
    for row in t.range((org.0, 0u64)..=(org.0, u64::MAX))? {
        let (k, v) = row?;
        let rec: AuditRecord = codec::decode(v.value())?;
        n += 1;
        seq += 1;
        if rec.seq != k.value().1
            || rec.seq != seq
            || rec.prev_hash != prev
            || rec.compute_hash()? != rec.hash
        {
            return Ok(Err(k.value().1));
        }
        prev = rec.hash;
    }
    Ok(Ok(n))
}

/// Which records of an org's audit log to show (all given conditions hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub actor: Option<ActorIs>,
    /// e.g. `user.create`
    pub action: Option<String>,
    /// e.g. `user`
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// `at >= from`
    pub from: Option<Ts>,
    /// `at < to`
    pub to: Option<Ts>,
}

/// Who did it, for [`Filter`].
#[derive(Clone, Debug, PartialEq)]
pub enum ActorIs {
    User(UserId),
    Cli,
    System,
}

impl Filter {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        let actor = match (&self.actor, &r.actor) {
            (None, _) => true,
            (Some(ActorIs::User(a)), Actor::User { id, .. }) => a == id,
            (Some(ActorIs::Cli), Actor::Cli) | (Some(ActorIs::System), Actor::System) => true,
            _ => false,
        };
        actor
            && self.action.as_ref().is_none_or(|a| *a == r.action)
            && self.entity.as_ref().is_none_or(|e| *e == r.entity)
            && self.entity_id.as_ref().is_none_or(|e| *e == r.entity_id)
            && self.from.is_none_or(|f| r.at >= f)
            && self.to.is_none_or(|t| r.at < t)
    }
}

/// A page of [`find`].
pub struct Found {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
}

/// The records matching `f`, newest first, at most `limit`, below sequence `before` when
/// given. Records are appended in time order, so the scan stops at the first one older than
/// `f.from`.
pub fn find(
    txn: &impl ReadTx,
    org: OrgId,
    f: &Filter,
    before: Option<u64>,
    limit: usize,
) -> StoreResult<Found> {
    let t = txn.table(AUDIT)?;
    let end = before.unwrap_or(u64::MAX);
    let mut records = Vec::new();
    let mut next_before = None;
    for row in t.range((org.0, 0u64)..(org.0, end))?.rev() {
        let (k, v) = row?;
        let rec: AuditRecord = codec::decode(v.value())?;
        if f.from.is_some_and(|from| rec.at < from) {
            break;
        }
        if !f.matches(&rec) {
            continue;
        }
        if records.len() == limit {
            next_before = Some(k.value().1 + 1);
            break;
        }
        records.push(rec);
    }
    Ok(Found {
        records,
        next_before,
    })
}

/// The distinct actions and entities among the org's latest `scan` records, sorted (choices for
/// the filters).
pub fn recent_kinds(
    txn: &impl ReadTx,
    org: OrgId,
    scan: usize,
) -> StoreResult<(Vec<String>, Vec<String>)> {
    let t = txn.table(AUDIT)?;
    let mut actions = std::collections::BTreeSet::new();
    let mut entities = std::collections::BTreeSet::new();
    for row in t.range((org.0, 0u64)..=(org.0, u64::MAX))?.rev().take(scan) {
        let (_, v) = row?;
        let rec: AuditRecord = codec::decode(v.value())?;
        actions.insert(rec.action);
        entities.insert(rec.entity);
    }
    Ok((
        actions.into_iter().collect(),
        entities.into_iter().collect(),
    ))
}

/// Where an org's chain continues after retention removed its oldest records: the last removed
/// record's sequence and hash.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: u64,
    pub hash: [u8; 32],
}

fn anchor_key(org: OrgId) -> String {
    format!("audit_anchor/{}", org.0)
}

pub fn anchor(txn: &impl ReadTx, org: OrgId) -> StoreResult<Option<Anchor>> {
    let meta = txn.table(META)?;
    let v = meta.get(anchor_key(org).as_str())?;
    match v {
        Some(v) => Ok(Some(codec::decode(v.value())?)),
        None => Ok(None),
    }
}

/// Remove up to `max` of the org's oldest records made before `before`, keeping the chain
/// checkable (the last removed record becomes the [`Anchor`]). Returns how many were removed.
pub fn remove_before(
    txn: &WriteTransaction,
    org: OrgId,
    before: Ts,
    max: usize,
) -> StoreResult<usize> {
    let mut t = txn.open_table(AUDIT)?;
    let mut last: Option<Anchor> = None;
    let mut keys = Vec::new();
    for row in t.range((org.0, 0u64)..=(org.0, u64::MAX))?.take(max) {
        let (k, v) = row?;
        let rec: AuditRecord = codec::decode(v.value())?;
        if rec.at >= before {
            break;
        }
        keys.push(k.value().1);
        last = Some(Anchor {
            seq: rec.seq,
            hash: rec.hash,
        });
    }
    for seq in &keys {
        t.remove((org.0, *seq))?;
    }
    if let Some(a) = last {
        txn.open_table(META)?
            .insert(anchor_key(org).as_str(), codec::encode(&a)?.as_slice())?;
    }
    Ok(keys.len())
}

/// Field-level JSON snapshot helper for `old`/`new`.
pub fn json<T: Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}
