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
    let (seq, prev_hash) = match last {
        Some((seq, bytes)) => (seq + 1, codec::decode::<AuditRecord>(&bytes)?.hash),
        None => (1, [0; 32]),
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

/// Newest first, at most `limit`, starting below `before` (a sequence number) when given.
pub fn list(
    txn: &impl ReadTx,
    org: OrgId,
    before: Option<u64>,
    limit: usize,
) -> StoreResult<Vec<AuditRecord>> {
    let t = txn.table(AUDIT)?;
    let end = before.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for row in t.range((org.0, 0u64)..(org.0, end))?.rev().take(limit) {
        let (_, v) = row?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

/// Check the org's whole chain; returns the number of records, or the first broken sequence.
pub fn verify_chain(txn: &impl ReadTx, org: OrgId) -> StoreResult<Result<u64, u64>> {
    let t = txn.table(AUDIT)?;
    let mut prev = [0u8; 32];
    let mut n = 0;
    for row in t.range((org.0, 0u64)..=(org.0, u64::MAX))? {
        let (k, v) = row?;
        let rec: AuditRecord = codec::decode(v.value())?;
        n += 1;
        if rec.seq != k.value().1
            || rec.seq != n
            || rec.prev_hash != prev
            || rec.compute_hash()? != rec.hash
        {
            return Ok(Err(k.value().1));
        }
        prev = rec.hash;
    }
    Ok(Ok(n))
}

/// Field-level JSON snapshot helper for `old`/`new`.
pub fn json<T: Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}
