//! The search change log: which records the search index must re-read. A record's writer
//! appends `(org, kind, key)` in the same write transaction as the record, so the log and the
//! data never disagree; the indexer reads the log after its last applied sequence.

use super::{ReadTx, StoreError, StoreResult, tables::*};
use crate::domain::OrgId;
use crate::domain::search::Change;
use redb::{ReadableTable, WriteTransaction};

const TRIMMED_KEY: &str = "search_trimmed";
const FILE_ID_KEY: &str = "file_id";

pub fn create_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(SEARCH_CHANGES)?;
    file_id_or_create(txn)?;
    Ok(())
}

/// A random id given to a data file when it is created (or upgraded to schema 8): an index built
/// from another file is never mistaken for this file's.
pub fn file_id(txn: &impl ReadTx) -> StoreResult<Option<u128>> {
    let meta = txn.table(META)?;
    let v = meta.get(FILE_ID_KEY)?;
    v.map(|g| {
        <[u8; 16]>::try_from(g.value())
            .map(u128::from_le_bytes)
            .map_err(|_| {
                StoreError::Codec(super::CodecError::Decode("file_id is not 16 bytes".into()))
            })
    })
    .transpose()
}

/// Give the file a new id (a restored file is another file than its source).
pub fn new_file_id(txn: &WriteTransaction) -> StoreResult<()> {
    let id: u128 = rand::random();
    txn.open_table(META)?
        .insert(FILE_ID_KEY, id.to_le_bytes().as_slice())?;
    Ok(())
}

fn file_id_or_create(txn: &WriteTransaction) -> StoreResult<u128> {
    if let Some(id) = file_id(txn)? {
        return Ok(id);
    }
    let id: u128 = rand::random();
    txn.open_table(META)?
        .insert(FILE_ID_KEY, id.to_le_bytes().as_slice())?;
    Ok(id)
}

fn meta_u64(txn: &impl ReadTx, key: &str) -> StoreResult<u64> {
    let meta = txn.table(META)?;
    let v = meta.get(key)?;
    Ok(v.and_then(|g| <[u8; 8]>::try_from(g.value()).ok())
        .map_or(0, u64::from_le_bytes))
}

/// The last sequence trimmed from the log: an index that applied less than this has missed
/// changes and must be rebuilt.
pub fn trimmed_through(txn: &impl ReadTx) -> StoreResult<u64> {
    meta_u64(txn, TRIMMED_KEY)
}

/// The newest change sequence (0 when nothing was ever logged).
pub fn last_seq(txn: &impl ReadTx) -> StoreResult<u64> {
    let t = txn.table(SEARCH_CHANGES)?;
    let last = t.last()?.map_or(0, |(k, _)| k.value());
    Ok(last.max(trimmed_through(txn)?))
}

/// Log that these records changed (in the caller's write transaction).
pub fn log<'a>(
    txn: &WriteTransaction,
    org: OrgId,
    changes: impl IntoIterator<Item = (Change, &'a str)>,
) -> StoreResult<()> {
    let mut next = last_seq(txn)?;
    let mut t = txn.open_table(SEARCH_CHANGES)?;
    for (kind, key) in changes {
        next += 1;
        t.insert(next, (org.0, kind as u8, key))?;
    }
    Ok(())
}

/// One logged change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub seq: u64,
    pub org: OrgId,
    pub kind: Change,
    pub key: String,
}

/// Up to `limit` changes after sequence `after`, oldest first, and the last sequence read
/// (`after` when there was none). Rows of a kind this version does not know are skipped (they
/// come from nothing it wrote) but count as read.
pub fn changes_after(
    txn: &impl ReadTx,
    after: u64,
    limit: usize,
) -> StoreResult<(Vec<Logged>, u64)> {
    let t = txn.table(SEARCH_CHANGES)?;
    let mut out = Vec::new();
    let mut read = after;
    for row in t.range(after.saturating_add(1)..)?.take(limit) {
        let (k, v) = row?;
        read = k.value();
        let (org, kind, key) = v.value();
        if let Some(kind) = Change::from_u8(kind) {
            out.push(Logged {
                seq: k.value(),
                org: OrgId(org),
                kind,
                key: key.to_string(),
            });
        }
    }
    Ok((out, read))
}

/// Remove the changes up to and including `seq` (the index has applied them).
pub fn trim_through(txn: &WriteTransaction, seq: u64) -> StoreResult<()> {
    if seq <= trimmed_through(txn)? {
        return Ok(());
    }
    let mut t = txn.open_table(SEARCH_CHANGES)?;
    t.retain_in(..=seq, |_, _| false)?;
    txn.open_table(META)?
        .insert(TRIMMED_KEY, seq.to_le_bytes().as_slice())?;
    Ok(())
}
