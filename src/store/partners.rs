//! ISV partners, their notes, their daily health scores and the org's partner settings.

use super::{ReadTx, StoreError, StoreResult, codec, get_rec, tables::*};
use crate::domain::partner::{Note, Partner, PartnerSettings};
use crate::domain::search::Change;
use crate::domain::{OrgId, PartnerId};
use redb::{ReadableTable, WriteTransaction};

pub fn create_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(PARTNERS)?;
    txn.open_table(PARTNER_NOTES)?;
    txn.open_table(PARTNER_HEALTH)?;
    txn.open_table(PARTNER_SETTINGS)?;
    Ok(())
}

pub fn get(txn: &impl ReadTx, org: OrgId, id: PartnerId) -> StoreResult<Option<Partner>> {
    get_rec(&txn.table(PARTNERS)?, (org.0, id.0))
}

/// Every partner of the org (archived ones too), oldest first.
pub fn list(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<Partner>> {
    let t = txn.table(PARTNERS)?;
    let mut out = Vec::new();
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Every partner's name by id (archived ones too), for labels.
pub fn names(
    txn: &impl ReadTx,
    org: OrgId,
) -> StoreResult<std::collections::HashMap<PartnerId, String>> {
    Ok(list(txn, org)?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

/// Insert or replace a partner; names are unique per org (case-insensitive).
pub fn put(txn: &WriteTransaction, p: &Partner) -> StoreResult<()> {
    if list(txn, p.org)?
        .iter()
        .any(|o| o.id != p.id && o.name.eq_ignore_ascii_case(&p.name))
    {
        return Err(StoreError::Conflict {
            field: "name",
            message: format!("a partner named `{}` already exists", p.name),
        });
    }
    txn.open_table(PARTNERS)?
        .insert((p.org.0, p.id.0), codec::encode(p)?.as_slice())?;
    super::search::log(txn, p.org, [(Change::Partner, p.id.to_string().as_str())])
}

/// Insert new partners in bulk (demo data, benchmarks): names are checked against the org's
/// and each other once, instead of once per partner.
pub fn put_all(txn: &WriteTransaction, org: OrgId, new: &[Partner]) -> StoreResult<()> {
    let mut names: std::collections::HashSet<String> = list(txn, org)?
        .into_iter()
        .map(|p| p.name.to_lowercase())
        .collect();
    let mut t = txn.open_table(PARTNERS)?;
    for p in new {
        if p.org != org || !names.insert(p.name.to_lowercase()) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("a partner named `{}` already exists", p.name),
            });
        }
        t.insert((org.0, p.id.0), codec::encode(p)?.as_slice())?;
    }
    drop(t);
    let ids: Vec<String> = new.iter().map(|p| p.id.to_string()).collect();
    super::search::log(
        txn,
        org,
        ids.iter().map(|id| (Change::Partner, id.as_str())),
    )
}

pub fn add_note(
    txn: &WriteTransaction,
    org: OrgId,
    partner: PartnerId,
    n: &Note,
) -> StoreResult<()> {
    let mut t = txn.open_table(PARTNER_NOTES)?;
    let key = (org.0, partner.0, n.id.0);
    if t.get(key)?.is_some() {
        return Err(StoreError::Conflict {
            field: "id",
            message: "a note with this id exists".into(),
        });
    }
    t.insert(key, codec::encode(n)?.as_slice())?;
    super::search::log(txn, org, [(Change::Partner, partner.to_string().as_str())])
}

/// A partner's notes, newest first.
pub fn notes(txn: &impl ReadTx, org: OrgId, partner: PartnerId) -> StoreResult<Vec<Note>> {
    let t = txn.table(PARTNER_NOTES)?;
    let mut out = Vec::new();
    for row in t
        .range((org.0, partner.0, 0u128)..=(org.0, partner.0, u128::MAX))?
        .rev()
    {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Record the health score of a day (replacing an earlier one of the same day).
pub fn set_health(
    txn: &WriteTransaction,
    org: OrgId,
    partner: PartnerId,
    day: i32,
    score: u8,
) -> StoreResult<()> {
    txn.open_table(PARTNER_HEALTH)?
        .insert((org.0, partner.0, day), score)?;
    Ok(())
}

/// The partner's most recent recorded score.
pub fn last_health(txn: &impl ReadTx, org: OrgId, partner: PartnerId) -> StoreResult<Option<u8>> {
    let t = txn.table(PARTNER_HEALTH)?;
    let last = t
        .range((org.0, partner.0, i32::MIN)..=(org.0, partner.0, i32::MAX))?
        .next_back()
        .transpose()?
        .map(|(_, v)| v.value());
    Ok(last)
}

/// A partner's daily scores from `from` to `to` (day numbers, inclusive), oldest first.
pub fn health_history(
    txn: &impl ReadTx,
    org: OrgId,
    partner: PartnerId,
    from: i32,
    to: i32,
) -> StoreResult<Vec<(i32, u8)>> {
    let t = txn.table(PARTNER_HEALTH)?;
    let mut out = Vec::new();
    for row in t.range((org.0, partner.0, from)..=(org.0, partner.0, to))? {
        let (k, v) = row?;
        out.push((k.value().2, v.value()));
    }
    Ok(out)
}

/// The org's partner settings (the defaults until someone changes them).
pub fn settings(txn: &impl ReadTx, org: OrgId) -> StoreResult<PartnerSettings> {
    Ok(get_rec(&txn.table(PARTNER_SETTINGS)?, org.0)?.unwrap_or_default())
}

pub fn put_settings(txn: &WriteTransaction, org: OrgId, s: &PartnerSettings) -> StoreResult<()> {
    txn.open_table(PARTNER_SETTINGS)?
        .insert(org.0, codec::encode(s)?.as_slice())?;
    Ok(())
}
