//! User accounts. Lookups by id are scoped to an org: another org's id is simply not found.

use super::{ReadTx, StoreError, StoreResult, codec, get_rec, tables::*};
use crate::domain::search::Change;
use crate::domain::{OrgId, UserId, user::User};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

pub fn get(txn: &impl ReadTx, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
    get_rec(&txn.table(USERS)?, (org.0, id.0))
}

/// Find the account for a login name, in whatever org it lives.
pub fn by_email(txn: &impl ReadTx, email: &str) -> StoreResult<Option<User>> {
    let key = txn.table(USER_EMAILS)?.get(email)?.map(|g| g.value());
    match key {
        Some((org, id)) => get(txn, OrgId(org), UserId(id)),
        None => Ok(None),
    }
}

pub fn list(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<User>> {
    let t = txn.table(USERS)?;
    let mut out = Vec::new();
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))? {
        let (_, v) = row?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

pub fn count_all(txn: &impl ReadTx) -> StoreResult<u64> {
    Ok(txn.table(USERS)?.len()?)
}

/// Insert a new user; the email must be free.
pub fn insert(txn: &WriteTransaction, user: &User) -> StoreResult<()> {
    let mut emails = txn.open_table(USER_EMAILS)?;
    if emails.get(user.email.as_str())?.is_some() {
        return Err(StoreError::Conflict {
            field: "email",
            message: format!("{} already has an account", user.email),
        });
    }
    emails.insert(user.email.as_str(), (user.org.0, user.id.0))?;
    txn.open_table(USERS)?
        .insert((user.org.0, user.id.0), codec::encode(user)?.as_slice())?;
    super::search::log(
        txn,
        user.org,
        [(Change::User, user.id.to_string().as_str())],
    )
}

/// Replace an existing user record (the email is immutable here).
pub fn update(txn: &WriteTransaction, user: &User) -> StoreResult<()> {
    let mut t = txn.open_table(USERS)?;
    if t.get((user.org.0, user.id.0))?.is_none() {
        return Err(StoreError::NotFound("User"));
    }
    t.insert((user.org.0, user.id.0), codec::encode(user)?.as_slice())?;
    super::search::log(
        txn,
        user.org,
        [(Change::User, user.id.to_string().as_str())],
    )
}
