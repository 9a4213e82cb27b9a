//! Teams.

use super::{ReadTx, StoreError, StoreResult, codec, get_rec, tables::*};
use crate::domain::{OrgId, TeamId, user::Team};
use redb::{ReadableTable, WriteTransaction};

pub fn get(txn: &impl ReadTx, org: OrgId, id: TeamId) -> StoreResult<Option<Team>> {
    get_rec(&txn.table(TEAMS)?, (org.0, id.0))
}

pub fn list(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<Team>> {
    let t = txn.table(TEAMS)?;
    let mut out = Vec::new();
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))? {
        let (_, v) = row?;
        out.push(codec::decode(v.value())?);
    }
    Ok(out)
}

pub fn insert(txn: &WriteTransaction, team: &Team) -> StoreResult<()> {
    if list(txn, team.org)?
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(&team.name))
    {
        return Err(StoreError::Conflict {
            field: "name",
            message: format!("a team named `{}` already exists", team.name),
        });
    }
    txn.open_table(TEAMS)?
        .insert((team.org.0, team.id.0), codec::encode(team)?.as_slice())?;
    Ok(())
}
