//! Org API keys.

use super::{ReadTx, StoreResult, codec, get_rec, tables::*};
use crate::domain::apikey::ApiKey;
use crate::domain::{ApiKeyId, OrgId};
use redb::{ReadableTable, WriteTransaction};

pub fn get(txn: &impl ReadTx, org: OrgId, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
    get_rec(&txn.table(API_KEYS)?, (org.0, id.0))
}

/// Every key of an org, newest first.
pub fn list(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<ApiKey>> {
    let t = txn.table(API_KEYS)?;
    let mut out = Vec::new();
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))?.rev() {
        let (_, v) = row?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

/// The active key whose secret hashes to `hash`.
pub fn by_hash(txn: &impl ReadTx, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
    let Some((org, id)) = txn
        .table(API_KEY_HASHES)?
        .get(hash.as_slice())?
        .map(|g| g.value())
    else {
        return Ok(None);
    };
    Ok(get(txn, OrgId(org), ApiKeyId(id))?.filter(ApiKey::active))
}

pub fn insert(txn: &WriteTransaction, key: &ApiKey, hash: &[u8; 32]) -> StoreResult<()> {
    txn.open_table(API_KEYS)?
        .insert((key.org.0, key.id.0), codec::encode(key)?.as_slice())?;
    txn.open_table(API_KEY_HASHES)?
        .insert(hash.as_slice(), (key.org.0, key.id.0))?;
    Ok(())
}

/// Store a revoked key and forget its hash, so it never authenticates again.
pub fn revoke(txn: &WriteTransaction, key: &ApiKey) -> StoreResult<()> {
    txn.open_table(API_KEYS)?
        .insert((key.org.0, key.id.0), codec::encode(key)?.as_slice())?;
    let mut hashes = txn.open_table(API_KEY_HASHES)?;
    let mut gone: Vec<Vec<u8>> = Vec::new();
    for row in hashes.iter()? {
        let (k, v) = row?;
        if v.value() == (key.org.0, key.id.0) {
            gone.push(k.value().to_vec());
        }
    }
    for h in gone {
        hashes.remove(h.as_slice())?;
    }
    Ok(())
}
