//! Pipelines, opportunities and the opportunity history. Writes of an opportunity and its
//! history record happen together through [`save_opportunity`], so the two cannot disagree.

use super::{ReadTx, StoreError, StoreResult, codec, get_rec, tables::*};
use crate::domain::pipeline::{HistoryRecord, Opportunity, Pipeline};
use crate::domain::search::Change;
use crate::domain::{OpportunityId, OrgId, PipelineId, Ts};
use redb::{ReadableTable, WriteTransaction};

pub fn get_pipeline(
    txn: &impl ReadTx,
    org: OrgId,
    id: PipelineId,
) -> StoreResult<Option<Pipeline>> {
    get_rec(&txn.table(PIPELINES)?, (org.0, id.0))
}

/// Every pipeline of the org (archived ones too), oldest first.
pub fn pipelines(txn: &impl ReadTx, org: OrgId) -> StoreResult<Vec<Pipeline>> {
    let t = txn.table(PIPELINES)?;
    let mut out = Vec::new();
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))? {
        out.push(codec::decode(row?.1.value())?);
    }
    Ok(out)
}

/// Insert or replace a pipeline; names are unique per org (case-insensitive).
pub fn put_pipeline(txn: &WriteTransaction, p: &Pipeline) -> StoreResult<()> {
    if pipelines(txn, p.org)?
        .iter()
        .any(|o| o.id != p.id && o.name.eq_ignore_ascii_case(&p.name))
    {
        return Err(StoreError::Conflict {
            field: "name",
            message: format!("a pipeline named `{}` already exists", p.name),
        });
    }
    txn.open_table(PIPELINES)?
        .insert((p.org.0, p.id.0), codec::encode(p)?.as_slice())?;
    super::search::log(txn, p.org, [(Change::Pipeline, p.id.to_string().as_str())])?;
    bump(txn, p.org, Touched::Everything)
}

pub fn get_opportunity(
    txn: &impl ReadTx,
    org: OrgId,
    id: OpportunityId,
) -> StoreResult<Option<Opportunity>> {
    get_rec(&txn.table(OPPORTUNITIES)?, (org.0, id.0))
}

/// Every opportunity of the org, in creation order. `each` sees them one by one, so callers
/// can filter without holding all of them.
pub fn each_opportunity(
    txn: &impl ReadTx,
    org: OrgId,
    mut each: impl FnMut(Opportunity),
) -> StoreResult<()> {
    let t = txn.table(OPPORTUNITIES)?;
    for row in t.range((org.0, 0u128)..=(org.0, u128::MAX))? {
        each(codec::decode(row?.1.value())?);
    }
    Ok(())
}

/// Store the opportunity and, when given, its next history record (whose `seq` must be the
/// opportunity's `history_seq`).
pub fn save_opportunity(
    txn: &WriteTransaction,
    opp: &Opportunity,
    record: Option<&HistoryRecord>,
) -> StoreResult<()> {
    let org = opp.org.0;
    txn.open_table(OPPORTUNITIES)?
        .insert((org, opp.id.0), codec::encode(opp)?.as_slice())?;
    if let Some(r) = record {
        debug_assert_eq!(r.seq, opp.history_seq);
        let key = (org, opp.id.0, r.seq);
        let mut by_deal = txn.open_table(OPP_HISTORY_BY_DEAL)?;
        if by_deal.get(key)?.is_some() {
            // History is append-only: a record is never replaced.
            return Err(StoreError::Conflict {
                field: "version",
                message: "this opportunity changed at the same time; reload and try again".into(),
            });
        }
        by_deal.insert(key, r.at.0)?;
        txn.open_table(OPP_HISTORY)?
            .insert((org, r.at.0, opp.id.0, r.seq), codec::encode(r)?.as_slice())?;
    }
    super::search::log(
        txn,
        opp.org,
        [(Change::Opportunity, opp.id.to_string().as_str())],
    )?;
    bump(txn, opp.org, Touched::Deal(opp.id))
}

/// Store generated or imported deals with their whole histories (demo data, benchmarks):
/// every record goes in as it is, keyed like the ones the API writes.
pub fn import_opportunities(
    txn: &WriteTransaction,
    org: OrgId,
    deals: &[(Opportunity, Vec<HistoryRecord>)],
) -> StoreResult<()> {
    let mut opps = txn.open_table(OPPORTUNITIES)?;
    let mut hist = txn.open_table(OPP_HISTORY)?;
    let mut by_deal = txn.open_table(OPP_HISTORY_BY_DEAL)?;
    for (o, records) in deals {
        opps.insert((org.0, o.id.0), codec::encode(o)?.as_slice())?;
        for r in records {
            hist.insert((org.0, r.at.0, o.id.0, r.seq), codec::encode(r)?.as_slice())?;
            by_deal.insert((org.0, o.id.0, r.seq), r.at.0)?;
        }
    }
    drop((opps, hist, by_deal));
    let ids: Vec<String> = deals.iter().map(|(o, _)| o.id.to_string()).collect();
    super::search::log(
        txn,
        org,
        ids.iter().map(|id| (Change::Opportunity, id.as_str())),
    )?;
    bump(txn, org, Touched::Everything)
}

/// Whether the org has any opportunity.
pub fn has_opportunities(txn: &impl ReadTx, org: OrgId) -> StoreResult<bool> {
    Ok(txn
        .table(OPPORTUNITIES)?
        .range((org.0, 0u128)..=(org.0, u128::MAX))?
        .next()
        .is_some())
}

/// One opportunity's history, oldest first.
pub fn history(
    txn: &impl ReadTx,
    org: OrgId,
    id: OpportunityId,
) -> StoreResult<Vec<HistoryRecord>> {
    let by_deal = txn.table(OPP_HISTORY_BY_DEAL)?;
    let recs = txn.table(OPP_HISTORY)?;
    let mut out = Vec::new();
    for row in by_deal.range((org.0, id.0, 0u32)..=(org.0, id.0, u32::MAX))? {
        let (k, at) = row?;
        let (_, _, seq) = k.value();
        if let Some(r) = get_rec(&recs, (org.0, at.value(), id.0, seq))? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every history record of the org after `after` (exclusive), in time order.
pub fn history_after(txn: &impl ReadTx, org: OrgId, after: Ts) -> StoreResult<Vec<HistoryRecord>> {
    let mut out = Vec::new();
    each_history_after(txn, org, after, |r| out.push(r))?;
    Ok(out)
}

/// [`history_after`] one record at a time.
pub fn each_history_after(
    txn: &impl ReadTx,
    org: OrgId,
    after: Ts,
    mut each: impl FnMut(HistoryRecord),
) -> StoreResult<()> {
    let t = txn.table(OPP_HISTORY)?;
    let start = after.0.saturating_add(1);
    for row in t.range((org.0, start, 0u128, 0u32)..=(org.0, i64::MAX, u128::MAX, u32::MAX))? {
        each(codec::decode(row?.1.value())?);
    }
    Ok(())
}

/// Every history record of the org, in time order.
pub fn each_history(
    txn: &impl ReadTx,
    org: OrgId,
    each: impl FnMut(HistoryRecord),
) -> StoreResult<()> {
    each_history_after(txn, org, Ts(i64::MIN), each)
}

/// The org's pipeline data version (0 before any change).
pub fn version(txn: &impl ReadTx, org: OrgId) -> StoreResult<u64> {
    Ok(txn
        .table(PIPELINE_VERSION)?
        .get(org.0)?
        .map(|g| g.value())
        .unwrap_or(0))
}

/// What a committed version changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touched {
    /// One opportunity.
    Deal(OpportunityId),
    /// Pipelines, or many deals at once.
    Everything,
    /// Nothing that decoded deals depend on (targets).
    NoDeals,
}

/// How many versions of the change journal are kept per org.
pub const JOURNAL: u64 = 4096;

fn bump(txn: &WriteTransaction, org: OrgId, touched: Touched) -> StoreResult<()> {
    let mut t = txn.open_table(PIPELINE_VERSION)?;
    let v = t.get(org.0)?.map(|g| g.value()).unwrap_or(0) + 1;
    t.insert(org.0, v)?;
    let mut j = txn.open_table(PIPELINE_CHANGES)?;
    let what = match touched {
        Touched::Deal(id) => id.0,
        Touched::Everything => 0,
        Touched::NoDeals => u128::MAX,
    };
    j.insert((org.0, v), what)?;
    if v > JOURNAL {
        j.remove((org.0, v - JOURNAL))?;
    }
    Ok(())
}

/// What versions `after+1 ..= upto` changed, oldest first; `None` when the journal no longer
/// covers them all.
pub fn changes(
    txn: &impl ReadTx,
    org: OrgId,
    after: u64,
    upto: u64,
) -> StoreResult<Option<Vec<Touched>>> {
    if upto <= after {
        return Ok(Some(Vec::new()));
    }
    if upto - after > JOURNAL {
        return Ok(None);
    }
    let t = txn.table(PIPELINE_CHANGES)?;
    let mut out = Vec::with_capacity((upto - after) as usize);
    for row in t.range((org.0, after + 1)..=(org.0, upto))? {
        out.push(match row?.1.value() {
            0 => Touched::Everything,
            u128::MAX => Touched::NoDeals,
            id => Touched::Deal(OpportunityId(id)),
        });
    }
    Ok((out.len() as u64 == upto - after).then_some(out))
}

/// A monthly target: `owner` `None` is the whole org's. `amount` `None` removes it.
pub fn set_target(
    txn: &WriteTransaction,
    org: OrgId,
    month: i32,
    owner: Option<crate::domain::UserId>,
    amount: Option<i64>,
) -> StoreResult<()> {
    let mut t = txn.open_table(FORECAST_TARGETS)?;
    let key = (org.0, month, owner.map_or(0, |u| u.0));
    match amount {
        Some(a) => t.insert(key, a)?,
        None => t.remove(key)?,
    };
    bump(txn, org, Touched::NoDeals)
}

/// Targets of months `from..=to` (month numbers): (month, owner, amount).
pub fn targets(
    txn: &impl ReadTx,
    org: OrgId,
    from: i32,
    to: i32,
) -> StoreResult<Vec<(i32, Option<crate::domain::UserId>, i64)>> {
    let t = txn.table(FORECAST_TARGETS)?;
    let mut out = Vec::new();
    for row in t.range((org.0, from, 0u128)..=(org.0, to, u128::MAX))? {
        let (k, v) = row?;
        let (_, month, owner) = k.value();
        out.push((
            month,
            (owner != 0).then_some(crate::domain::UserId(owner)),
            v.value(),
        ));
    }
    Ok(out)
}

pub(super) fn create_tables(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(FORECAST_TARGETS)?;
    txn.open_table(PIPELINES)?;
    txn.open_table(OPPORTUNITIES)?;
    txn.open_table(OPP_HISTORY)?;
    txn.open_table(OPP_HISTORY_BY_DEAL)?;
    txn.open_table(PIPELINE_CHANGES)?;
    txn.open_table(PIPELINE_VERSION)?;
    Ok(())
}
