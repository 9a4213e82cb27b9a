//! Reads: the org's deals decoded once per pipeline data version ([`Books`]), filtered by the
//! caller's scope; boards, lists, "as of" states and the forecast.

use super::ops::People;
use crate::domain::forecast::{self, Deal, Flow, Forecast, Period, StageIndex, Waterfall};
use crate::domain::pipeline::{self, HistoryRecord, Opportunity, Pipeline, StageKind, Tracked};
use crate::domain::{OpportunityId, OrgId, PartnerId, PipelineId, Scope, Ts, UserId};
use crate::error::AppResult;
use crate::store::{ReadTx, Store, pipeline as repo};
use jiff::civil::Date;
use std::collections::HashMap;
use std::sync::Arc;

/// Every pipeline and opportunity of one org at one data version.
pub struct Book {
    pub version: u64,
    pub pipelines: Vec<Pipeline>,
    pub opps: Vec<Opportunity>,
}

impl Book {
    pub fn load(txn: &impl ReadTx, org: OrgId) -> AppResult<Book> {
        let version = repo::version(txn, org)?;
        let pipelines = repo::pipelines(txn, org)?;
        let mut opps = Vec::new();
        repo::each_opportunity(txn, org, |o| opps.push(o))?;
        Ok(Book {
            version,
            pipelines,
            opps,
        })
    }

    pub fn pipeline(&self, id: PipelineId) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub fn opportunity(&self, id: OpportunityId) -> Option<&Opportunity> {
        self.opps
            .binary_search_by_key(&id, |o| o.id)
            .ok()
            .map(|i| &self.opps[i])
    }

    pub fn stages(&self) -> StageIndex {
        StageIndex::new(&self.pipelines)
    }
}

/// Loaded books of recently read orgs, replaced when the org's version moves on.
#[derive(Clone)]
pub struct Books(moka::sync::Cache<u64, Arc<Book>>);

impl Default for Books {
    fn default() -> Self {
        Books(moka::sync::Cache::new(64))
    }
}

impl Books {
    /// The org's book as of the newest commit.
    pub fn get(&self, store: &Store, org: OrgId) -> AppResult<Arc<Book>> {
        store
            .read(|txn| {
                let version = repo::version(txn, org)?;
                if let Some(b) = self.0.get(&org.0)
                    && b.version == version
                {
                    return Ok(Ok(b));
                }
                Ok(Book::load(txn, org).map(Arc::new))
            })?
            .inspect(|b| self.0.insert(org.0, b.clone()))
    }
}

/// Which deals a list, board or forecast shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DealFilter {
    pub pipeline: Option<PipelineId>,
    pub owner: Option<UserId>,
    pub partner: Option<PartnerId>,
    /// Expected close date range (inclusive).
    pub close_from: Option<Date>,
    pub close_to: Option<Date>,
    /// Also archived deals (which otherwise never show).
    pub include_archived: bool,
    /// Words in the name or account (case-insensitive).
    pub text: Option<String>,
}

/// The viewer: who and at which scope of `pipeline.view`.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    pub me: UserId,
    pub scope: Scope,
}

impl DealFilter {
    pub fn matches(&self, o: &Opportunity, t: &Tracked) -> bool {
        (self.include_archived || !t.archived)
            && self.pipeline.is_none_or(|p| t.pipeline == p)
            && self.owner.is_none_or(|u| t.owner == u)
            && self
                .partner
                .is_none_or(|p| o.partner.map(|x| x.0) == Some(p))
            && self.close_from.is_none_or(|d| t.close_date >= d)
            && self.close_to.is_none_or(|d| t.close_date <= d)
            && self.text.as_deref().is_none_or(|q| {
                let q = q.to_lowercase();
                o.name.to_lowercase().contains(&q) || o.account.to_lowercase().contains(&q)
            })
    }
}

/// The deals the viewer may see that pass the filter, with their state (current, or at
/// `states` when given: an "as of" view).
pub fn visible<'a>(
    book: &'a Book,
    people: &People,
    viewer: Viewer,
    filter: &DealFilter,
    states: Option<&'a HashMap<OpportunityId, Tracked>>,
) -> Vec<(&'a Opportunity, &'a Tracked)> {
    book.opps
        .iter()
        .filter_map(|o| {
            let t = match states {
                None => &o.state,
                Some(s) => s.get(&o.id)?,
            };
            (people.in_scope(viewer.scope, viewer.me, t.owner) && filter.matches(o, t))
                .then_some((o, t))
        })
        .collect()
}

/// The state of every deal at `at`: the current states with every later record undone.
pub fn states_at(
    store: &Store,
    book: &Book,
    org: OrgId,
    at: Ts,
) -> AppResult<HashMap<OpportunityId, Tracked>> {
    let later: Vec<HistoryRecord> = store.read(|t| repo::history_after(t, org, at))?;
    Ok(pipeline::undo(
        book.opps.iter().map(|o| (o.id, o.state.clone())),
        later,
    ))
}

/// One column of a board.
pub struct Column<'a> {
    pub stage: &'a pipeline::Stage,
    pub count: u64,
    pub total: i64,
    pub weighted: i64,
    /// Soonest close date first, at most the board's card limit.
    pub cards: Vec<(&'a Opportunity, &'a Tracked)>,
}

pub struct Board<'a> {
    pub pipeline: &'a Pipeline,
    pub columns: Vec<Column<'a>>,
}

/// The kanban of one pipeline: every active stage, with its count and totals over all
/// matching deals, and up to `cards` of them.
pub fn board<'a>(
    pipeline: &'a Pipeline,
    deals: &[(&'a Opportunity, &'a Tracked)],
    cards: usize,
) -> Board<'a> {
    let mut columns: Vec<Column> = pipeline
        .active_stages()
        .map(|stage| Column {
            stage,
            count: 0,
            total: 0,
            weighted: 0,
            cards: Vec::new(),
        })
        .collect();
    for (o, t) in deals {
        if let Some(c) = columns.iter_mut().find(|c| c.stage.id == t.stage) {
            c.count += 1;
            c.total += t.amount;
            c.weighted += forecast::weighted(t.amount, t.probability);
            c.cards.push((o, t));
        }
    }
    for c in &mut columns {
        c.cards.sort_by_key(|(o, t)| (t.close_date, o.id));
        c.cards.truncate(cards);
    }
    Board { pipeline, columns }
}

/// The forecast of the visible deals over `period`, with hygiene figures.
pub struct ForecastReport {
    pub forecast: Forecast,
    /// Open deals whose close date has passed.
    pub slipped: Vec<OpportunityId>,
    /// Open deals unchanged for `stale_days`.
    pub stale: Vec<OpportunityId>,
}

pub fn forecast_report(
    book: &Book,
    people: &People,
    deals: &[(&Opportunity, &Tracked)],
    period: Period,
    today: Date,
    stale_before: Ts,
) -> ForecastReport {
    let stages = book.stages();
    let forecast = forecast::forecast(
        deals.iter().map(|(o, t)| Deal {
            id: o.id,
            state: t,
            partner: o.partner.map(|p| p.0),
            team: people.team(t.owner),
        }),
        &stages,
        period,
    );
    let open: Vec<_> = deals
        .iter()
        .filter(|(_, t)| stages.kind(t.stage) == StageKind::Open)
        .collect();
    ForecastReport {
        forecast,
        slipped: open
            .iter()
            .filter(|(_, t)| t.close_date < today)
            .map(|(o, _)| o.id)
            .collect(),
        stale: open
            .iter()
            .filter(|(o, _)| o.updated_at < stale_before)
            .map(|(o, _)| o.id)
            .collect(),
    }
}

/// Stage durations, conversions and cycle length of one pipeline, from the history of the
/// given deals.
pub fn pipeline_flow(
    store: &Store,
    org: OrgId,
    pipeline: &Pipeline,
    deals: &[OpportunityId],
) -> AppResult<Flow> {
    let wanted: std::collections::HashSet<OpportunityId> = deals.iter().copied().collect();
    let mut by_deal: HashMap<OpportunityId, Vec<HistoryRecord>> = HashMap::new();
    store.read(|t| {
        repo::each_history(t, org, |r| {
            if wanted.contains(&r.opportunity) {
                by_deal.entry(r.opportunity).or_default().push(r);
            }
        })
    })?;
    Ok(forecast::flow(
        pipeline,
        by_deal.values().map(Vec::as_slice),
    ))
}

/// The waterfall of the visible deals' open pipeline in `period` between `since` and now.
pub fn waterfall(
    book: &Book,
    before: &HashMap<OpportunityId, Tracked>,
    visible_now: &[(&Opportunity, &Tracked)],
    period: Period,
) -> Waterfall {
    let after: HashMap<OpportunityId, Tracked> = visible_now
        .iter()
        .map(|(o, t)| (o.id, (*t).clone()))
        .collect();
    let before: HashMap<OpportunityId, Tracked> = before
        .iter()
        .filter(|(id, _)| after.contains_key(id))
        .map(|(id, t)| (*id, t.clone()))
        .collect();
    forecast::waterfall(&before, &after, &book.stages(), period)
}
