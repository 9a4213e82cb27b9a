//! Reads: the org's deals decoded once per pipeline data version ([`Books`]), filtered by the
//! caller's scope; boards, lists, "as of" states and the forecast.

use super::ops::People;
use crate::domain::forecast::{self, Deal, Flow, Forecast, Period, StageIndex, Step, Waterfall};
use crate::domain::org::Org;
use crate::domain::pipeline::{self, HistoryRecord, Opportunity, Pipeline, StageKind, Tracked};
use crate::domain::{OpportunityId, OrgId, PartnerId, PipelineId, Scope, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::store::{ReadTx, Store, pipeline as repo};
use jiff::civil::Date;
use std::sync::Arc;

/// Every pipeline and opportunity of one org at one data version, with each deal's stage
/// [`Step`]s (what the flow figures need of its history). Deals are shared between versions:
/// a change to one deal makes a new book that reuses every other deal.
pub struct Book {
    pub version: u64,
    pub pipelines: Arc<Vec<Pipeline>>,
    /// Sorted by id.
    pub opps: Vec<Arc<Opportunity>>,
    /// `steps[i]` belongs to `opps[i]`.
    steps: Vec<Arc<[Step]>>,
    /// Answers computed from this version, shared by every reader of it (a new version
    /// starts empty).
    memo: Memo,
}

/// What stays true of a book until its next version: stage flows per view, and the states
/// at the instants the forecast's waterfall starts from.
#[derive(Default)]
struct Memo {
    flows: std::sync::Mutex<Vec<(FlowKey, Arc<forecast::FlowSums>)>>,
    as_of: std::sync::Mutex<Vec<(Ts, Arc<AsOf>)>>,
}

/// A stage flow's view: pipeline, viewer and filter. Only org-wide and own views are
/// remembered: whether a deal is in them depends on the deal alone (team views also depend
/// on who is in which team, which can change without a new version).
#[derive(Clone, PartialEq)]
struct FlowKey {
    pipeline: PipelineId,
    /// `None`: the whole org; else the viewer's own deals.
    own: Option<UserId>,
    filter: DealFilter,
}

impl FlowKey {
    fn of(pipeline: PipelineId, viewer: Viewer, filter: &DealFilter) -> Option<FlowKey> {
        let own = match viewer.scope {
            Scope::Org => None,
            Scope::Own => Some(viewer.me),
            Scope::Team => return None,
        };
        Some(FlowKey {
            pipeline,
            own,
            filter: filter.clone(),
        })
    }
    fn shows(&self, o: &Opportunity) -> bool {
        self.own.is_none_or(|me| o.state.owner == me) && self.filter.matches(o, &o.state)
    }
}

/// Memo entries kept per kind (the oldest goes first).
const MEMO_ENTRIES: usize = 16;

fn memo_get<K: PartialEq, V>(m: &std::sync::Mutex<Vec<(K, Arc<V>)>>, k: &K) -> Option<Arc<V>> {
    let v = m.lock().unwrap_or_else(|e| e.into_inner());
    v.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
}

/// The remembered answer for `k`, or `compute`'s (then remembered).
fn memo_or<K: PartialEq, V>(
    m: &std::sync::Mutex<Vec<(K, Arc<V>)>>,
    k: K,
    compute: impl FnOnce() -> AppResult<Arc<V>>,
) -> AppResult<Arc<V>> {
    if let Some(v) = memo_get(m, &k) {
        return Ok(v);
    }
    let v = compute()?;
    memo_put(m, k, v.clone());
    Ok(v)
}

fn memo_put<K: PartialEq, V>(m: &std::sync::Mutex<Vec<(K, Arc<V>)>>, k: K, v: Arc<V>) {
    let mut list = m.lock().unwrap_or_else(|e| e.into_inner());
    // Readers that missed together each computed the same answer: keep one.
    list.retain(|(key, _)| *key != k);
    if list.len() >= MEMO_ENTRIES {
        list.remove(0);
    }
    list.push((k, v));
}

impl Book {
    /// Decode every deal and walk the whole history once (the first read of an org).
    pub fn load(txn: &impl ReadTx, org: OrgId) -> AppResult<Book> {
        let version = repo::version(txn, org)?;
        let pipelines = Arc::new(repo::pipelines(txn, org)?);
        let mut opps = Vec::new();
        repo::each_opportunity(txn, org, |o| opps.push(Arc::new(o)))?;
        // Steps straight from the time-ordered history, without holding the records.
        let mut walk: rustc_hash::FxHashMap<OpportunityId, Vec<Step>> = Default::default();
        repo::each_history(txn, org, |r| {
            let steps = walk.entry(r.opportunity).or_default();
            if let Some(s) = forecast::next_step(steps.last(), &r) {
                steps.push(s);
            }
        })?;
        let steps = opps
            .iter()
            .map(|o| Arc::from(walk.remove(&o.id).unwrap_or_default()))
            .collect();
        Ok(Book {
            version,
            pipelines,
            opps,
            steps,
            memo: Memo::default(),
        })
    }

    /// This book moved on to `version`, re-reading only the deals in `changed`.
    fn patched(
        &self,
        txn: &impl ReadTx,
        org: OrgId,
        version: u64,
        changed: &[OpportunityId],
    ) -> AppResult<Book> {
        let mut opps = self.opps.clone();
        let mut steps = self.steps.clone();
        for id in changed {
            let Some(o) = repo::get_opportunity(txn, org, *id)? else {
                continue;
            };
            let st: Arc<[Step]> = Arc::from(forecast::steps(&repo::history(txn, org, *id)?));
            match opps.binary_search_by_key(id, |o| o.id) {
                Ok(i) => {
                    opps[i] = Arc::new(o);
                    steps[i] = st;
                }
                Err(i) => {
                    opps.insert(i, Arc::new(o));
                    steps.insert(i, st);
                }
            }
        }
        let next = Book {
            version,
            pipelines: self.pipelines.clone(),
            opps,
            steps,
            memo: Memo::default(),
        };
        self.carry_memo(&next, changed);
        Ok(next)
    }

    /// Bring what this book remembered over to `next`, the same deals but `changed`: each
    /// stage flow loses the changed deals' old parts and gains their new ones; the states
    /// at an earlier instant gain the changed deals' states before this change (they stood
    /// so at that instant, unless they changed after it already and are held).
    fn carry_memo(&self, next: &Book, changed: &[OpportunityId]) {
        let old: Vec<(&Opportunity, &[Step])> = changed
            .iter()
            .filter_map(|id| self.index(*id).map(|i| (&*self.opps[i], &*self.steps[i])))
            .collect();
        let new: Vec<(&Opportunity, &[Step])> = changed
            .iter()
            .filter_map(|id| next.index(*id).map(|i| (&*next.opps[i], &*next.steps[i])))
            .collect();
        let flows: Vec<(FlowKey, Arc<forecast::FlowSums>)> = self
            .memo
            .flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (key, sums) in flows {
            let Some(p) = self.pipeline(key.pipeline) else {
                continue;
            };
            let table = forecast::FlowTable::new(p);
            let mut sums = forecast::FlowSums::clone(&sums);
            for (o, st) in &old {
                if key.shows(o) {
                    table.add(&mut sums, st, -1);
                }
            }
            for (o, st) in &new {
                if key.shows(o) {
                    table.add(&mut sums, st, 1);
                }
            }
            memo_put(&next.memo.flows, key, Arc::new(sums));
        }
        // A change recorded at or before the instant would belong in those states: not kept.
        let earliest = new.iter().map(|(o, _)| o.updated_at).min();
        let states: Vec<(Ts, Arc<AsOf>)> = self
            .memo
            .as_of
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (at, s) in states {
            if earliest.is_some_and(|e| e <= at) {
                continue;
            }
            let mut changed_since = s.changed.clone();
            for id in changed {
                changed_since
                    .entry(*id)
                    .or_insert_with(|| self.opportunity(*id).map(|o| o.state.clone()));
            }
            memo_put(
                &next.memo.as_of,
                at,
                Arc::new(AsOf {
                    changed: changed_since,
                }),
            );
        }
    }

    pub fn pipeline(&self, id: PipelineId) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    fn index(&self, id: OpportunityId) -> Option<usize> {
        self.opps.binary_search_by_key(&id, |o| o.id).ok()
    }

    pub fn opportunity(&self, id: OpportunityId) -> Option<&Opportunity> {
        self.index(id).map(|i| &*self.opps[i])
    }

    /// The deal's stage steps, oldest first.
    pub fn steps(&self, id: OpportunityId) -> Option<&[Step]> {
        self.index(id).map(|i| &*self.steps[i])
    }

    pub fn stages(&self) -> StageIndex {
        StageIndex::new(self.pipelines.iter())
    }
}

/// Loaded books of recently read orgs. A reader that finds the org's version moved on
/// re-reads only the deals the change journal names (a full load only after pipeline edits,
/// imports, or more than [`repo::JOURNAL`] changes).
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
                let cached = self.0.get(&org.0);
                if let Some(b) = &cached
                    && b.version == version
                {
                    return Ok(Ok(b.clone()));
                }
                if let Some(b) = &cached
                    && b.version < version
                    && let Some(changes) = repo::changes(txn, org, b.version, version)?
                    && !changes.contains(&repo::Touched::Everything)
                {
                    let mut ids: Vec<OpportunityId> = changes
                        .iter()
                        .filter_map(|c| match c {
                            repo::Touched::Deal(id) => Some(*id),
                            _ => None,
                        })
                        .collect();
                    ids.sort();
                    ids.dedup();
                    return Ok(b.patched(txn, org, version, &ids).map(Arc::new));
                }
                Ok(Book::load(txn, org).map(Arc::new))
            })?
            .inspect(|b| {
                // Never replace a newer book with an older one (readers race).
                if self.0.get(&org.0).is_none_or(|c| c.version < b.version) {
                    self.0.insert(org.0, b.clone());
                }
            })
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

impl Viewer {
    /// `user` at the scope their role holds `pipeline.view` at (own when not at all; the
    /// route's extractor has already refused users without it).
    pub fn of(user: &crate::domain::user::User) -> Viewer {
        Viewer {
            me: user.id,
            scope: user
                .role
                .scope_of(crate::domain::Permission::PipelineView)
                .unwrap_or(Scope::Own),
        }
    }
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

/// One deal the viewer may see; others (and other orgs' ids) are "not found".
pub fn deal_in_scope<'a>(
    book: &'a Book,
    people: &People,
    viewer: Viewer,
    id: OpportunityId,
) -> AppResult<&'a Opportunity> {
    book.opportunity(id)
        .filter(|o| people.in_scope(viewer.scope, viewer.me, o.state.owner))
        .ok_or_else(|| AppError::not_found("Opportunity"))
}

/// The deals the viewer may see that pass the filter, with their state (current, or at
/// `states` when given: an "as of" view).
pub fn visible<'a>(
    book: &'a Book,
    people: &People,
    viewer: Viewer,
    filter: &DealFilter,
    states: Option<&'a AsOf>,
) -> Vec<(&'a Opportunity, &'a Tracked)> {
    // In scope now and at the time shown: an "as of" view never shows deals (whose names and
    // notes are today's) the viewer may not see today.
    book.opps
        .iter()
        .filter_map(|o| {
            let t = match states {
                None => Some(&o.state),
                Some(s) => s.state(o),
            };
            match in_view(people, viewer, filter, o, t) {
                forecast::Side::In(t) => Some((&**o, t)),
                _ => None,
            }
        })
        .collect()
}

/// Deals as they stood at an earlier instant: only the ones changed since are held (the
/// others are as they are now).
pub struct AsOf {
    changed: rustc_hash::FxHashMap<OpportunityId, Option<Tracked>>,
}

impl AsOf {
    /// `o`'s state then; `None` if it did not exist yet.
    pub fn state<'a>(&'a self, o: &'a Opportunity) -> Option<&'a Tracked> {
        match self.changed.get(&o.id) {
            Some(then) => then.as_ref(),
            None => Some(&o.state),
        }
    }

    /// How many deals changed since.
    pub fn changed(&self) -> usize {
        self.changed.len()
    }
}

/// [`states_at`], remembered by the book for its version (the forecast's waterfall starts
/// from the same instant for everyone on a given day).
fn states_at_shared(store: &Store, book: &Book, org: OrgId, at: Ts) -> AppResult<Arc<AsOf>> {
    memo_or(&book.memo.as_of, at, || {
        Ok(Arc::new(states_at(store, book, org, at)?))
    })
}

/// The deals at `at`: the current states with every later record undone (one sequential
/// read of the records after `at`).
pub fn states_at(store: &Store, book: &Book, org: OrgId, at: Ts) -> AppResult<AsOf> {
    let later: Vec<HistoryRecord> = store.read(|t| repo::history_after(t, org, at))?;
    let changed = pipeline::undo_changed(|id| book.opportunity(id).map(|o| o.state.clone()), later);
    Ok(AsOf { changed })
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
            c.total = c.total.saturating_add(t.amount);
            c.weighted = c
                .weighted
                .saturating_add(forecast::weighted(t.amount, t.probability));
            c.cards.push((o, t));
        }
    }
    for c in &mut columns {
        // Only the first `cards` need ordering: pick them, then sort those.
        if c.cards.len() > cards && cards > 0 {
            c.cards
                .select_nth_unstable_by_key(cards - 1, |(o, t)| (t.close_date, o.id));
            c.cards.truncate(cards);
        }
        c.cards.sort_by_key(|(o, t)| (t.close_date, o.id));
        c.cards.truncate(cards);
    }
    Board { pipeline, columns }
}

/// The filter fields the list, the board and the forecast share, as sent.
#[derive(Clone, Copy, Default)]
pub struct RawFilter<'a> {
    pub pipeline: Option<&'a str>,
    pub owner: Option<&'a str>,
    /// A partner id.
    pub partner: Option<&'a str>,
    pub close_from: Option<&'a str>,
    pub close_to: Option<&'a str>,
    pub q: Option<&'a str>,
}

/// Check a filter against the org's pipelines.
pub fn deal_filter(book: &Book, me: UserId, raw: RawFilter) -> AppResult<DealFilter> {
    let RawFilter {
        pipeline,
        owner,
        partner,
        close_from,
        close_to,
        q,
    } = raw;
    let nonblank = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let pipeline = match nonblank(pipeline) {
        None => None,
        Some(raw) => Some(
            pipeline::find_pipeline(&book.pipelines, &raw)
                .map(|p| p.id)
                .ok_or_else(|| {
                    AppError::validation(
                        "pipeline",
                        format!("`{raw}` is not a pipeline of this organization"),
                    )
                })?,
        ),
    };
    let owner = match nonblank(owner).as_deref() {
        None => None,
        Some("me") => Some(me),
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| AppError::validation("owner", "must be a user id or `me`"))?,
        ),
    };
    let partner = match nonblank(partner) {
        None => None,
        Some(raw) => Some(
            raw.parse::<PartnerId>()
                .map_err(|_| AppError::validation("partner", "must be a partner id"))?,
        ),
    };
    let date = |field, v: Option<&str>| {
        nonblank(v)
            .map(|d| super::parse_date(field, &d))
            .transpose()
    };
    Ok(DealFilter {
        pipeline,
        owner,
        partner,
        close_from: date("close_from", close_from)?,
        close_to: date("close_to", close_to)?,
        include_archived: false,
        text: nonblank(q),
    })
}

/// An instant from `as_of`: RFC 3339, or a date meaning the end of that day in the org's zone.
pub fn parse_as_of(org: &Org, raw: Option<&str>) -> AppResult<Option<Ts>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = raw.parse::<jiff::Timestamp>() {
        return Ok(Some(Ts::from_timestamp(t)));
    }
    let d = super::parse_date("as_of", raw)?;
    end_of_day(org, d)
        .map(Some)
        .ok_or_else(|| AppError::validation("as_of", "is out of range"))
}

/// The last instant of local day `d` in the org's time zone.
fn end_of_day(org: &Org, d: Date) -> Option<Ts> {
    let next = d.tomorrow().and_then(|d| d.to_zoned(org.tz())).ok()?;
    Some(Ts(next.timestamp().as_microsecond() - 1))
}

/// The forecast period: `month` or `quarter` around `from` (default today), or `custom`.
pub fn period_of(
    org: &Org,
    now: Ts,
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<Period> {
    let day = |field, v: Option<&str>| {
        v.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|d| super::parse_date(field, d))
            .transpose()
    };
    let anchor = day("from", from)?.unwrap_or_else(|| org.today(now));
    match period.unwrap_or("month") {
        "month" => Ok(Period::month_of(anchor)),
        "quarter" => Period::quarter_of(anchor)
            .ok_or_else(|| AppError::validation("from", "is out of range")),
        "custom" => {
            let (Some(f), Some(t)) = (day("from", from)?, day("to", to)?) else {
                return Err(AppError::validation(
                    "to",
                    "a custom period needs both from and to",
                ));
            };
            if t < f {
                return Err(AppError::validation("to", "must not be before from"));
            }
            Ok(Period { from: f, to: t })
        }
        other => Err(AppError::validation(
            "period",
            format!("`{other}` is not one of: month, quarter, custom"),
        )),
    }
}

/// Deals needing attention: how many, their total, and the largest few.
#[derive(Clone, Debug, Default)]
pub struct Attention {
    pub count: usize,
    pub amount: i64,
    /// The [`ATTENTION_TOP`] largest, largest first, with their state at the time shown.
    pub top: Vec<(OpportunityId, Tracked)>,
}

pub const ATTENTION_TOP: usize = 50;

impl Attention {
    fn of<'a>(deals: impl Iterator<Item = &'a (&'a Opportunity, &'a Tracked)>) -> Attention {
        let mut all: Vec<&(&Opportunity, &Tracked)> = deals.collect();
        let amount = all
            .iter()
            .fold(0i64, |a, (_, t)| a.saturating_add(t.amount));
        let count = all.len();
        let key = |d: &&(&Opportunity, &Tracked)| (std::cmp::Reverse(d.1.amount), d.0.id);
        if all.len() > ATTENTION_TOP {
            all.select_nth_unstable_by_key(ATTENTION_TOP - 1, key);
            all.truncate(ATTENTION_TOP);
        }
        all.sort_by_key(key);
        Attention {
            count,
            amount,
            top: all.iter().map(|(o, t)| (o.id, (*t).clone())).collect(),
        }
    }
}

/// What a forecast view asks for (as sent; checked by [`forecast_data`]).
#[derive(Clone, Copy, Default)]
pub struct ForecastArgs<'a> {
    /// `month` (default), `quarter` or `custom`.
    pub period: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub pipeline: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub as_of: Option<&'a str>,
    pub since: Option<&'a str>,
    pub stale_days: Option<u32>,
}

/// A forecast with everything around it: figures, target, hygiene, flow and waterfall.
pub struct ForecastData {
    pub book: Arc<Book>,
    pub people: People,
    pub period: Period,
    pub as_of: Option<Ts>,
    pub forecast: Forecast,
    /// The period's target (the owner's when one is chosen, else the org's).
    pub target: Option<i64>,
    /// Open deals past their close date, and open deals unchanged for `stale_days`, with
    /// their state at the time the forecast shows.
    pub slipped: Attention,
    pub stale: Attention,
    pub stale_days: u32,
    /// Stage flow of the chosen pipeline (or the first one).
    pub flow: Option<(PipelineId, Arc<Flow>)>,
    pub waterfall: Waterfall,
    pub since: Ts,
    /// Names of the org's teams and partners, for the rows' labels.
    pub teams: Vec<crate::domain::user::Team>,
    pub partners: std::collections::HashMap<PartnerId, String>,
}

impl ForecastData {
    pub fn team_name(&self, t: Option<crate::domain::TeamId>) -> String {
        t.and_then(|k| self.teams.iter().find(|t| t.id == k))
            .map_or("No team".into(), |t| t.name.clone())
    }
    pub fn partner_name(&self, p: Option<PartnerId>) -> String {
        match p {
            None => "No partner".into(),
            Some(p) => self
                .partners
                .get(&p)
                .cloned()
                .unwrap_or_else(|| p.to_string()),
        }
    }
    pub fn pipeline_name(&self, p: PipelineId) -> String {
        self.book
            .pipeline(p)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }
}

const DAY: i64 = 86_400_000_000;

/// Where a deal stood for a view: absent, outside it (filter or scope) or in it.
fn in_view<'t>(
    people: &People,
    viewer: Viewer,
    filter: &DealFilter,
    o: &Opportunity,
    t: Option<&'t Tracked>,
) -> forecast::Side<'t> {
    match t {
        None => forecast::Side::Absent,
        Some(t)
            if people.in_scope(viewer.scope, viewer.me, o.state.owner)
                && people.in_scope(viewer.scope, viewer.me, t.owner)
                && filter.matches(o, t) =>
        {
            forecast::Side::In(t)
        }
        Some(_) => forecast::Side::Outside,
    }
}

pub fn forecast_data(
    store: &Store,
    books: &Books,
    org: &Org,
    viewer: Viewer,
    args: ForecastArgs,
    now: Ts,
) -> AppResult<ForecastData> {
    let period = period_of(org, now, args.period, args.from, args.to)?;
    let book = books.get(store, org.id)?;
    let people = store.read(|t| Ok(People::load(t, org.id)))??;
    let mut filter = deal_filter(
        &book,
        viewer.me,
        RawFilter {
            pipeline: args.pipeline,
            owner: args.owner,
            ..Default::default()
        },
    )?;
    filter.include_archived = true;
    let as_of = parse_as_of(org, args.as_of)?;
    let at = as_of.unwrap_or(now);
    let then = match as_of {
        Some(t) => Some(states_at(store, &book, org.id, t)?),
        None => None,
    };
    let rows = visible(&book, &people, viewer, &filter, then.as_ref());
    let live: Vec<_> = rows.iter().filter(|(_, t)| !t.archived).copied().collect();
    let stages = book.stages();
    let forecast = forecast::forecast(
        // Out-of-period deals are skipped before their team is looked up.
        live.iter()
            .filter(|(_, t)| period.contains(t.close_date))
            .map(|(o, t)| Deal {
                id: o.id,
                state: t,
                partner: o.partner.map(|p| p.0),
                team: people.team(t.owner),
            }),
        &stages,
        period,
    );
    let today = org.today(at);
    let stale_days = args.stale_days.unwrap_or(30);
    if !(1..=3650).contains(&stale_days) {
        return Err(AppError::validation(
            "stale_days",
            "must be between 1 and 3650",
        ));
    }
    let stale_before = Ts(at.0 - i64::from(stale_days) * DAY);
    let open: Vec<&(&Opportunity, &Tracked)> = live
        .iter()
        .filter(|(_, t)| stages.kind(t.stage) == StageKind::Open)
        .collect();
    let slipped = Attention::of(open.iter().copied().filter(|(_, t)| t.close_date < today));
    let stale = Attention::of(
        open.iter()
            .copied()
            .filter(|(o, _)| o.updated_at < stale_before),
    );
    // Default: since the end of the day a week before the day shown (the same instant all
    // day long, so the states then are computed once per version).
    let since = match parse_as_of(org, args.since)? {
        Some(s) => s,
        None => today
            .checked_sub(jiff::Span::new().days(7))
            .ok()
            .and_then(|d| end_of_day(org, d))
            .unwrap_or(Ts(at.0 - 7 * DAY)),
    };
    if since > at {
        return Err(AppError::validation(
            "since",
            "must be before the time the forecast shows",
        ));
    }
    // Pairs of (at `since`, at `at`) for every deal in the view at either instant: a deal
    // that moved into or out of the view (pipeline, owner, scope) counts as moved.
    let before = states_at_shared(store, &book, org.id, since)?;
    let pairs = book.opps.iter().filter_map(|o| {
        let now = match &then {
            Some(s) => s.state(o),
            None => Some(&o.state),
        };
        let pair = (
            in_view(&people, viewer, &filter, o, before.state(o)),
            in_view(&people, viewer, &filter, o, now),
        );
        matches!(
            pair,
            (forecast::Side::In(_), _) | (_, forecast::Side::In(_))
        )
        .then_some(pair)
    });
    let waterfall = forecast::waterfall(pairs, &stages, period);
    let flow = match filter
        .pipeline
        .and_then(|p| book.pipeline(p))
        .or_else(|| book.pipelines.iter().find(|p| !p.archived))
    {
        Some(p) => {
            let table = forecast::FlowTable::new(p);
            // The deals of `rows`, walked with their steps (same order, no id lookups).
            let compute = || {
                let mut sums = table.sums();
                for (o, st) in book.opps.iter().zip(&book.steps) {
                    let t = match &then {
                        Some(s) => s.state(o),
                        None => Some(&o.state),
                    };
                    if matches!(
                        in_view(&people, viewer, &filter, o, t),
                        forecast::Side::In(_)
                    ) {
                        // Now: every step (as a carried memo has them); as of: up to then.
                        let upto = match as_of {
                            Some(_) => st.partition_point(|x| x.at <= at),
                            None => st.len(),
                        };
                        table.add(&mut sums, &st[..upto], 1);
                    }
                }
                Ok(Arc::new(sums))
            };
            // Now (not "as of"), the flow of the whole history is remembered for the version
            // and follows single changes (see `Book::carry_memo`).
            let key = FlowKey::of(p.id, viewer, &filter).filter(|_| as_of.is_none());
            let sums = match key {
                None => compute()?,
                Some(key) => memo_or(&book.memo.flows, key, compute)?,
            };
            Some((p.id, Arc::new(table.finish(p, &sums))))
        }
        None => None,
    };
    let (first, last) = (
        forecast::month_number(period.from),
        forecast::month_number(period.to),
    );
    let targets = store.read(|t| repo::targets(t, org.id, first, last))?;
    let mut monthly: std::collections::BTreeMap<i32, i64> = Default::default();
    // Personal targets count only for people the viewer may see; the org's target only for
    // org-wide views (a team's view adds up its members' targets).
    let seen = |u: &Option<crate::domain::UserId>| {
        u.is_some_and(|u| people.in_scope(viewer.scope, viewer.me, u))
    };
    let mine: Vec<_> = match filter.owner {
        Some(u) => targets
            .iter()
            .filter(|t| t.1 == Some(u) && seen(&t.1))
            .collect(),
        None if viewer.scope == Scope::Org && targets.iter().any(|t| t.1.is_none()) => {
            targets.iter().filter(|t| t.1.is_none()).collect()
        }
        None => targets.iter().filter(|t| seen(&t.1)).collect(),
    };
    for (m, _, a) in mine {
        *monthly.entry(*m).or_default() += a;
    }
    let (teams, partners) = store.read(|t| {
        Ok((
            crate::store::teams::list(t, org.id)?,
            crate::store::partners::names(t, org.id)?,
        ))
    })?;
    Ok(ForecastData {
        teams,
        partners,
        target: forecast::period_target(period, &monthly),
        book,
        people,
        period,
        as_of,
        forecast,
        slipped,
        stale,
        stale_days,
        flow,
        waterfall,
        since,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::accounts::{self, ActingAs, NewUserInput};
    use crate::domain::org::NewOrg;
    use crate::pipeline::{Caller, OpportunityInput};

    /// A book kept current from the change journal equals one loaded from scratch.
    #[test]
    fn a_patched_book_equals_a_fresh_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let by = ActingAs::cli();
        let org = accounts::create_org(
            &store,
            &by,
            NewOrg::parse("P", "UTC", "USD").unwrap(),
            Ts(0),
        )
        .unwrap();
        let input = NewUserInput {
            email: "o@example.com".into(),
            name: "O".into(),
            role: "owner".into(),
            team: None,
            password: Some("long enough password".into()),
        };
        let (owner, _) = accounts::create_user(&store, &by, org.id, input, Ts(0)).unwrap();
        let books = Books::default();
        let stages = [
            "Prospecting",
            "Proposal",
            "Negotiation",
            "Closed won",
            "Closed lost",
        ];
        let mut ids = Vec::new();
        let org_wide = Viewer {
            me: owner.id,
            scope: Scope::Org,
        };
        let own = Viewer {
            me: owner.id,
            scope: Scope::Own,
        };
        let views = [
            (org_wide, "1970-01-01T00:00:20Z"),
            (own, "1970-01-01T00:00:05Z"),
            (org_wide, "1970-01-01T00:00:45Z"),
        ];
        for i in 0..40i64 {
            let c = Caller {
                by: by.clone(),
                scope: Scope::Org,
                org: org.clone(),
                rates: Default::default(),
                now: Ts(i * 1_000_000),
            };
            if i % 4 == 0 {
                let input = OpportunityInput {
                    name: Some(format!("D{i}")),
                    account: Some("A".into()),
                    amount: Some(crate::domain::money::MoneyInput::Text("100".into())),
                    close_date: Some("2026-12-31".into()),
                    owner: Some(owner.id.to_string()),
                    ..Default::default()
                };
                ids.push(
                    super::super::create_opportunity(&store, &c, &input)
                        .unwrap()
                        .id,
                );
            } else {
                let id = ids[(i as usize * 7) % ids.len()];
                let input = OpportunityInput {
                    stage: Some(stages[i as usize % stages.len()].into()),
                    amount: (i % 3 == 0)
                        .then(|| crate::domain::money::MoneyInput::Text(format!("{}", 100 + i))),
                    next_step: Some(format!("step {i}")),
                    ..Default::default()
                };
                super::super::update_opportunity(&store, &c, id, &input, None).unwrap();
            }
            if i % 3 == 0 {
                let kept = books.get(&store, org.id).unwrap();
                let fresh = store.read(|t| Ok(Book::load(t, org.id))).unwrap().unwrap();
                assert_eq!(kept.version, fresh.version);
                assert_eq!(kept.opps, fresh.opps, "after change {i}");
                assert_eq!(kept.steps, fresh.steps, "after change {i}");
            }
            // What the forecast remembers per version (flows, the waterfall's starting
            // states), carried over single changes, equals a computation from scratch.
            for (viewer, since) in views {
                let forecast = |books: &Books| {
                    let args = ForecastArgs {
                        period: Some("custom"),
                        from: Some("2026-01-01"),
                        to: Some("2026-12-31"),
                        since: Some(since),
                        ..Default::default()
                    };
                    forecast_data(&store, books, &org, viewer, args, Ts(50_000_000)).unwrap()
                };
                let (kept, fresh) = (forecast(&books), forecast(&Books::default()));
                assert_eq!(kept.flow, fresh.flow, "flow after change {i}");
                assert_eq!(
                    kept.waterfall, fresh.waterfall,
                    "waterfall after change {i}"
                );
            }
        }
        // Every deal has steps, starting at its creation.
        let b = books.get(&store, org.id).unwrap();
        assert!(
            ids.iter()
                .all(|id| b.steps(*id).is_some_and(|s| !s.is_empty()))
        );
    }
}
