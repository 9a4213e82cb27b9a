//! Login sessions ("token families"). A family is created at login; each refresh rotates its
//! token to the next generation. Only hashes of refresh tokens are stored.

use super::{ReadTx, StoreResult, codec, get_rec, tables::*};
use crate::domain::{FamilyId, OrgId, Ts, UserId};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub id: FamilyId,
    pub org: OrgId,
    pub user: UserId,
    /// The user's session epoch at login; a bump of the user's epoch ends this family.
    pub epoch: u32,
    /// Generation of the only refresh token that may still be used.
    pub generation: u32,
    pub created_at: Ts,
    pub rotated_at: Ts,
    pub expires_at: Ts,
    pub revoked_at: Option<Ts>,
    /// Why the family was revoked: `logout`, `reuse`, ...
    pub revoked_reason: Option<String>,
}

pub fn get(txn: &impl ReadTx, id: FamilyId) -> StoreResult<Option<Family>> {
    get_rec(&txn.table(FAMILIES)?, id.0)
}

pub fn put(txn: &WriteTransaction, f: &Family) -> StoreResult<()> {
    txn.open_table(FAMILIES)?
        .insert(f.id.0, codec::encode(f)?.as_slice())?;
    Ok(())
}

/// Record a refresh token hash as generation `generation` of `family`.
pub fn add_token(
    txn: &WriteTransaction,
    hash: &[u8; 32],
    family: FamilyId,
    generation: u32,
) -> StoreResult<()> {
    txn.open_table(REFRESH_TOKENS)?
        .insert(hash.as_slice(), (family.0, generation))?;
    Ok(())
}

pub fn token(txn: &impl ReadTx, hash: &[u8; 32]) -> StoreResult<Option<(FamilyId, u32)>> {
    Ok(txn.table(REFRESH_TOKENS)?.get(hash.as_slice())?.map(|g| {
        let (f, generation) = g.value();
        (FamilyId(f), generation)
    }))
}
