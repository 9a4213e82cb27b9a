//! Organizations.

use super::{ReadTx, StoreError, StoreResult, codec, get_rec, tables::*};
use crate::domain::{OrgId, Ts, org::NewOrg, org::Org};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

pub fn create(txn: &WriteTransaction, new: NewOrg, now: Ts) -> StoreResult<Org> {
    let mut names = txn.open_table(ORG_NAMES)?;
    let key = new.name.to_lowercase();
    if names.get(key.as_str())?.is_some() {
        return Err(StoreError::Conflict {
            field: "name",
            message: format!("an organization named `{}` already exists", new.name),
        });
    }
    let mut orgs = txn.open_table(ORGS)?;
    let next = orgs.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
    let org = Org {
        id: OrgId(next),
        name: new.name,
        timezone: new.timezone,
        currency: new.currency,
        created_at: now,
    };
    orgs.insert(next, codec::encode(&org)?.as_slice())?;
    names.insert(key.as_str(), next)?;
    drop((orgs, names));
    add_default_pipeline(txn, org.id, now)?;
    Ok(org)
}

/// Every org starts with one pipeline of the usual stages (editable).
pub(super) fn add_default_pipeline(txn: &WriteTransaction, org: OrgId, now: Ts) -> StoreResult<()> {
    let p = crate::domain::pipeline::Pipeline::default_for(org, "Sales", now);
    super::pipeline::put_pipeline(txn, &p)
}

pub fn get(txn: &impl ReadTx, id: OrgId) -> StoreResult<Option<Org>> {
    get_rec(&txn.table(ORGS)?, id.0)
}

pub fn by_name(txn: &impl ReadTx, name: &str) -> StoreResult<Option<Org>> {
    let id = txn
        .table(ORG_NAMES)?
        .get(name.trim().to_lowercase().as_str())?
        .map(|g| g.value());
    match id {
        Some(id) => get(txn, OrgId(id)),
        None => Ok(None),
    }
}

pub fn list(txn: &impl ReadTx) -> StoreResult<Vec<Org>> {
    let t = txn.table(ORGS)?;
    let mut out = Vec::new();
    for row in t.iter()? {
        let (_, v) = row?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

/// The first organization made (the lowest id), if any.
pub fn first_id(txn: &impl ReadTx) -> StoreResult<Option<OrgId>> {
    let t = txn.table(ORGS)?;
    let first = t.first()?.map(|(k, _)| OrgId(k.value()));
    Ok(first)
}

pub fn count(txn: &impl ReadTx) -> StoreResult<u64> {
    Ok(txn.table(ORGS)?.len()?)
}
