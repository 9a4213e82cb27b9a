//! The forecast of a period from opportunities (current or "as of" a past instant), the
//! pipeline hygiene figures from the history, and the week-over-week waterfall.
//!
//! Categories are cumulative, as sales teams read them: **closed won** (won deals closing in
//! the period), **commit** (closed won + open deals in commit stages), **best case** (commit +
//! open deals in best-case stages), **pipeline** (every open deal closing in the period that
//! is not omitted) and **weighted** (Σ amount × probability over those open deals).

use super::pipeline::{ForecastCategory, HistoryRecord, Pipeline, StageKind, Tracked, Value};
use super::{OpportunityId, PartnerId, PipelineId, StageId, TeamId, Ts, UserId};
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the forecast needs of one deal.
#[derive(Clone, Debug)]
pub struct Deal<'a> {
    pub id: OpportunityId,
    pub state: &'a Tracked,
    pub partner: Option<PartnerId>,
    pub team: Option<TeamId>,
}

/// Amounts in minor units of the org's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub closed_won: i64,
    pub commit: i64,
    pub best_case: i64,
    pub pipeline: i64,
    pub weighted: i64,
    /// Open deals closing in the period.
    pub open_deals: u64,
    pub won_deals: u64,
}

impl Figures {
    fn add(&mut self, kind: StageKind, cat: ForecastCategory, amount: i64, probability: u8) {
        match kind {
            StageKind::Won => {
                self.closed_won = self.closed_won.saturating_add(amount);
                self.commit = self.commit.saturating_add(amount);
                self.best_case = self.best_case.saturating_add(amount);
                self.won_deals += 1;
            }
            StageKind::Lost => {}
            StageKind::Open => {
                if cat == ForecastCategory::Omitted {
                    return;
                }
                self.open_deals += 1;
                self.pipeline = self.pipeline.saturating_add(amount);
                self.weighted = self.weighted.saturating_add(weighted(amount, probability));
                if cat == ForecastCategory::Commit {
                    self.commit = self.commit.saturating_add(amount);
                }
                if matches!(cat, ForecastCategory::Commit | ForecastCategory::BestCase) {
                    self.best_case = self.best_case.saturating_add(amount);
                }
            }
        }
    }
}

/// amount × probability%, rounded half away from zero, exact in integers.
pub fn weighted(amount: i64, probability: u8) -> i64 {
    let x = i128::from(amount) * i128::from(probability);
    let q = (x.abs() + 50) / 100;
    i64::try_from(if x < 0 { -q } else { q }).unwrap_or(i64::MAX)
}

/// The forecast of one period, in total and by owner, team, partner and pipeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Forecast {
    pub total: Figures,
    pub by_owner: BTreeMap<UserId, Figures>,
    /// `None`: owners in no team.
    pub by_team: BTreeMap<Option<TeamId>, Figures>,
    /// `None`: deals without a partner.
    pub by_partner: BTreeMap<Option<PartnerId>, Figures>,
    pub by_pipeline: BTreeMap<PipelineId, Figures>,
}

/// Stage kind and forecast category of every stage of every pipeline.
pub struct StageIndex(rustc_hash::FxHashMap<StageId, (StageKind, ForecastCategory)>);

impl StageIndex {
    pub fn new<'a>(pipelines: impl IntoIterator<Item = &'a Pipeline>) -> StageIndex {
        StageIndex(
            pipelines
                .into_iter()
                .flat_map(|p| p.stages.iter().map(|s| (s.id, (s.kind, s.forecast))))
                .collect(),
        )
    }
    pub fn kind(&self, s: StageId) -> StageKind {
        self.0.get(&s).map_or(StageKind::Open, |k| k.0)
    }
    fn of(&self, s: StageId) -> (StageKind, ForecastCategory) {
        self.0
            .get(&s)
            .copied()
            .unwrap_or((StageKind::Open, ForecastCategory::Pipeline))
    }
}

/// Inclusive date range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    pub fn contains(&self, d: Date) -> bool {
        self.from <= d && d <= self.to
    }

    /// The calendar month holding `d`.
    pub fn month_of(d: Date) -> Period {
        Period {
            from: d.first_of_month(),
            to: d.last_of_month(),
        }
    }

    /// The first day of the calendar quarter holding `d`.
    pub fn quarter_start(d: Date) -> Date {
        Date::new(d.year(), (d.month() - 1) / 3 * 3 + 1, 1).unwrap_or(d)
    }

    /// The calendar quarter holding `d`; `None` for the last quarter jiff can count to.
    pub fn quarter_of(d: Date) -> Option<Period> {
        let from = Period::quarter_start(d);
        let to = from
            .checked_add(jiff::Span::new().months(3))
            .and_then(|n| n.yesterday())
            .ok()?;
        Some(Period { from, to })
    }
}

/// Month number (year × 12 + month − 1) of a date, the key of monthly targets.
pub fn month_number(d: Date) -> i32 {
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

/// The target of `period` from monthly targets (month number -> amount): a month the period
/// covers whole counts fully, one it covers in part counts by its share of days. `None`
/// without any target in the period.
pub fn period_target(period: Period, monthly: &BTreeMap<i32, i64>) -> Option<i64> {
    let mut total: i128 = 0;
    let mut any = false;
    let mut day = period.from.first_of_month();
    while day <= period.to {
        let (first, last) = (day, day.last_of_month());
        if let Some(a) = monthly.get(&month_number(day)) {
            any = true;
            let from = first.max(period.from);
            let to = last.min(period.to);
            let covered = i128::from((to - from).get_days() + 1);
            let days = i128::from(last.day());
            total += (i128::from(*a) * covered + days / 2) / days;
        }
        match last.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    any.then(|| i64::try_from(total).unwrap_or(i64::MAX))
}

pub fn forecast<'a>(
    deals: impl IntoIterator<Item = Deal<'a>>,
    stages: &StageIndex,
    period: Period,
) -> Forecast {
    let mut f = Forecast::default();
    for d in deals {
        let t = d.state;
        if t.archived || !period.contains(t.close_date) {
            continue;
        }
        let (kind, cat) = stages.of(t.stage);
        for fig in [
            &mut f.total,
            f.by_owner.entry(t.owner).or_default(),
            f.by_team.entry(d.team).or_default(),
            f.by_partner.entry(d.partner).or_default(),
            f.by_pipeline.entry(t.pipeline).or_default(),
        ] {
            fig.add(kind, cat, t.amount, t.probability);
        }
    }
    f
}

/// Per stage: how long deals stayed, and how many moved on to the next stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StageFlow {
    pub stage: String,
    /// Finished stays in the stage (the deal moved on, or closed).
    pub stays: u64,
    /// Average length of a finished stay, in days.
    pub avg_days: f64,
    /// Deals that reached this stage (or a later one).
    pub reached: u64,
    /// Share of those that went on to the next stage (or won, for the last open stage);
    /// `None` for the last stage.
    pub conversion: Option<f64>,
}

/// Hygiene figures of one pipeline from its deals' histories (grouped per deal, in `seq`
/// order) and their current states.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Flow {
    pub stages: Vec<StageFlow>,
    /// Average days from creation to won, over won deals.
    pub avg_cycle_days: Option<f64>,
    pub won: u64,
    pub lost: u64,
    /// won / (won + lost)
    pub win_rate: Option<f64>,
}

const DAY_MICROS: f64 = 86_400e6;

/// Where a deal was from `at` on: what the flow figures need of its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub at: Ts,
    pub pipeline: PipelineId,
    pub stage: StageId,
}

/// The step `r` adds after `last` (the deal's previous step), if it moves the deal to another
/// pipeline or stage.
pub fn next_step(last: Option<&Step>, r: &HistoryRecord) -> Option<Step> {
    let (mut p, mut s) = last.map_or((PipelineId(0), StageId(0)), |l| (l.pipeline, l.stage));
    for c in &r.changes {
        match &c.after {
            Value::Pipeline(x) => p = *x,
            Value::Stage(x, _) => s = *x,
            _ => {}
        }
    }
    let step = Step {
        at: r.at,
        pipeline: p,
        stage: s,
    };
    last.is_none_or(|l| (l.pipeline, l.stage) != (p, s))
        .then_some(step)
}

/// A deal's steps from its history (in `seq` order): one per change of pipeline or stage.
pub fn steps(records: &[HistoryRecord]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for r in records {
        if let Some(s) = next_step(out.last(), r) {
            out.push(s);
        }
    }
    out
}

/// Stage stays, conversions, cycle length and win rate of `pipeline`, from each deal's
/// [`steps`] (the deal's creation is its first step).
pub fn flow<'a>(pipeline: &Pipeline, deals: impl IntoIterator<Item = &'a [Step]>) -> Flow {
    let table = FlowTable::new(pipeline);
    let mut sums = table.sums();
    for steps in deals {
        table.add(&mut sums, steps, 1);
    }
    table.finish(pipeline, &sums)
}

/// The additive parts of a [`Flow`]: each deal's part can be added, or taken away again
/// when the deal changes, so a flow follows single changes without a full walk. Durations
/// are whole microseconds, so adding and taking away is exact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowSums {
    stays: Vec<i64>,
    stay_micros: Vec<i128>,
    /// reached[i]: deals whose furthest point is open stage i or later (index n: won)
    reached: Vec<i64>,
    won: i64,
    lost: i64,
    cycle_micros: i128,
}

/// One pipeline's open stages, for walking deals' steps.
pub struct FlowTable {
    pipeline: PipelineId,
    open: Vec<StageId>,
    /// (stage, its open index, its kind), every stage including removed ones.
    table: Vec<(StageId, Option<usize>, StageKind)>,
}

impl FlowTable {
    pub fn new(pipeline: &Pipeline) -> FlowTable {
        let open: Vec<StageId> = pipeline
            .active_stages()
            .filter(|s| s.kind == StageKind::Open)
            .map(|s| s.id)
            .collect();
        let table = pipeline
            .stages
            .iter()
            .map(|s| (s.id, open.iter().position(|o| *o == s.id), s.kind))
            .collect();
        FlowTable {
            pipeline: pipeline.id,
            open,
            table,
        }
    }

    /// Empty sums of the right shape.
    pub fn sums(&self) -> FlowSums {
        let n = self.open.len();
        FlowSums {
            stays: vec![0; n],
            stay_micros: vec![0; n],
            reached: vec![0; n + 1],
            ..FlowSums::default()
        }
    }

    fn info(&self, s: StageId) -> Option<(Option<usize>, StageKind)> {
        self.table.iter().find(|t| t.0 == s).map(|t| (t.1, t.2))
    }

    /// Add one deal's part (`sign` 1), or take it away (`sign` -1).
    pub fn add(&self, sums: &mut FlowSums, steps: &[Step], sign: i64) {
        let Some(first) = steps.first() else { return };
        let n = self.open.len();
        let mut furthest: Option<usize> = None;
        let mut last_kind = None;
        // The open index of the previous step's stage (when in this pipeline).
        let mut prev: Option<(Ts, Option<usize>)> = None;
        for s in steps {
            let here = (s.pipeline == self.pipeline)
                .then(|| self.info(s.stage))
                .flatten();
            if let Some((at, Some(k))) = prev {
                sums.stays[k] += sign;
                sums.stay_micros[k] += i128::from(sign) * i128::from(s.at.0 - at.0);
            }
            if s.pipeline == self.pipeline {
                if let Some((Some(k), _)) = here {
                    furthest = Some(furthest.map_or(k, |f| f.max(k)));
                }
                last_kind = here.map(|h| h.1);
                if last_kind == Some(StageKind::Won) {
                    furthest = Some(n);
                }
            }
            prev = Some((s.at, here.and_then(|h| h.0)));
        }
        let Some(last) = steps.last().filter(|l| l.pipeline == self.pipeline) else {
            return;
        };
        match last_kind {
            Some(StageKind::Won) => {
                sums.won += sign;
                sums.cycle_micros += i128::from(sign) * i128::from(last.at.0 - first.at.0);
            }
            Some(StageKind::Lost) => sums.lost += sign,
            _ => {}
        }
        if let Some(f) = furthest {
            for r in sums.reached.iter_mut().take(f + 1) {
                *r += sign;
            }
        }
    }

    /// The flow the sums add up to.
    pub fn finish(&self, pipeline: &Pipeline, sums: &FlowSums) -> Flow {
        let days = |micros: i128| micros as f64 / DAY_MICROS;
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let stages = self
            .open
            .iter()
            .enumerate()
            .map(|(i, id)| StageFlow {
                stage: pipeline
                    .stage(*id)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                stays: count(sums.stays[i]),
                avg_days: if sums.stays[i] > 0 {
                    days(sums.stay_micros[i]) / sums.stays[i] as f64
                } else {
                    0.0
                },
                reached: count(sums.reached[i]),
                conversion: (sums.reached[i] > 0)
                    .then(|| sums.reached[i + 1] as f64 / sums.reached[i] as f64),
            })
            .collect();
        let (won, lost) = (count(sums.won), count(sums.lost));
        Flow {
            stages,
            avg_cycle_days: (won > 0).then(|| days(sums.cycle_micros) / won as f64),
            won,
            lost,
            win_rate: (won + lost > 0).then(|| won as f64 / (won + lost) as f64),
        }
    }
}

/// How the open pipeline of a period changed between two instants. Every figure is an
/// amount; `start + new + moved_in - moved_out - won - lost + amount_up - amount_down = end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Waterfall {
    pub start: i64,
    pub new: i64,
    pub moved_in: i64,
    pub moved_out: i64,
    pub won: i64,
    pub lost: i64,
    pub amount_up: i64,
    pub amount_down: i64,
    pub end: i64,
}

/// Where a deal stood, for one side of a waterfall.
#[derive(Clone, Copy, Debug)]
pub enum Side<'a> {
    /// It did not exist yet.
    Absent,
    /// It existed but was outside the view (another pipeline, owner, scope...).
    Outside,
    /// In the view, in this state.
    In(&'a Tracked),
}

/// Each deal as it was at the first instant and at the second (deals outside the view at
/// both may be left out). Every amount in the answer comes from these pairs, so the
/// waterfall always adds up.
pub fn waterfall<'a>(
    pairs: impl IntoIterator<Item = (Side<'a>, Side<'a>)>,
    stages: &StageIndex,
    period: Period,
) -> Waterfall {
    let open_in = |t: &Tracked| {
        let (kind, cat) = stages.of(t.stage);
        !t.archived
            && period.contains(t.close_date)
            && kind == StageKind::Open
            && cat != ForecastCategory::Omitted
    };
    let mut w = Waterfall::default();
    for (before, after) in pairs {
        let was = match before {
            Side::In(t) if open_in(t) => Some(t),
            _ => None,
        };
        let is = match after {
            Side::In(t) if open_in(t) => Some(t),
            _ => None,
        };
        if let Some(b) = was {
            w.start = w.start.saturating_add(b.amount);
        }
        if let Some(n) = is {
            w.end = w.end.saturating_add(n.amount);
        }
        match (was, is) {
            (None, Some(n)) if matches!(before, Side::Absent) => {
                w.new = w.new.saturating_add(n.amount)
            }
            (None, Some(n)) => w.moved_in = w.moved_in.saturating_add(n.amount),
            (None, None) => {}
            (Some(b), Some(n)) => {
                let d = n.amount - b.amount;
                if d > 0 {
                    w.amount_up = w.amount_up.saturating_add(d);
                } else {
                    w.amount_down = w.amount_down.saturating_sub(d);
                }
            }
            (Some(b), None) => {
                let closed = match after {
                    Side::In(n) if !n.archived && period.contains(n.close_date) => {
                        Some(stages.of(n.stage).0)
                    }
                    _ => None,
                };
                match closed {
                    Some(StageKind::Won) => w.won = w.won.saturating_add(b.amount),
                    Some(StageKind::Lost) => w.lost = w.lost.saturating_add(b.amount),
                    _ => w.moved_out = w.moved_out.saturating_add(b.amount),
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrgId;
    use crate::domain::pipeline::{FieldChange, diff};
    use std::collections::HashMap;

    fn fixture() -> (Pipeline, Vec<(OpportunityId, Tracked, Option<PartnerId>)>) {
        let p = Pipeline::default_for(OrgId(1), "Sales", Ts(0));
        let s = |name: &str| p.find_stage(name).unwrap().id;
        let d = |m, day| Date::constant(2026, m, day);
        let t = |stage, amount, probability, owner, close| Tracked {
            pipeline: p.id,
            stage,
            amount,
            probability,
            owner: UserId(owner),
            close_date: close,
            archived: false,
        };
        let deals = vec![
            // in Q4 2026
            (
                OpportunityId(1),
                t(s("Closed won"), 10_000, 100, 1, d(10, 5)),
                Some(PartnerId(7)),
            ),
            (
                OpportunityId(2),
                t(s("Negotiation"), 20_000, 80, 1, d(11, 30)),
                None,
            ),
            (
                OpportunityId(3),
                t(s("Proposal"), 30_000, 50, 2, d(12, 1)),
                Some(PartnerId(7)),
            ),
            (
                OpportunityId(4),
                t(s("Prospecting"), 40_000, 10, 2, d(12, 31)),
                None,
            ),
            (
                OpportunityId(5),
                t(s("Closed lost"), 50_000, 0, 1, d(11, 2)),
                None,
            ),
            // outside Q4
            (
                OpportunityId(6),
                t(s("Negotiation"), 60_000, 80, 1, d(9, 30)),
                None,
            ),
            (
                OpportunityId(7),
                t(s("Closed won"), 70_000, 100, 2, Date::constant(2027, 1, 1)),
                None,
            ),
        ];
        (p, deals)
    }

    const Q4: Period = Period {
        from: Date::constant(2026, 10, 1),
        to: Date::constant(2026, 12, 31),
    };

    #[test]
    fn forecast_matches_hand_computed_figures() {
        let (p, deals) = fixture();
        let idx = StageIndex::new([&p]);
        let teams = |u: UserId| (u.0 == 2).then_some(TeamId(5));
        let f = forecast(
            deals.iter().map(|(id, t, partner)| Deal {
                id: *id,
                state: t,
                partner: *partner,
                team: teams(t.owner),
            }),
            &idx,
            Q4,
        );
        let want = Figures {
            closed_won: 10_000,
            commit: 10_000 + 20_000,
            best_case: 10_000 + 20_000 + 30_000,
            pipeline: 20_000 + 30_000 + 40_000,
            weighted: 16_000 + 15_000 + 4_000,
            open_deals: 3,
            won_deals: 1,
        };
        assert_eq!(f.total, want);
        assert_eq!(f.by_owner[&UserId(1)].closed_won, 10_000);
        assert_eq!(f.by_owner[&UserId(1)].pipeline, 20_000);
        assert_eq!(f.by_owner[&UserId(2)].pipeline, 70_000);
        assert_eq!(f.by_team[&Some(TeamId(5))].weighted, 19_000);
        assert_eq!(f.by_partner[&Some(PartnerId(7))].best_case, 40_000);
        assert_eq!(f.by_pipeline[&p.id], want);
    }

    #[test]
    fn period_targets_add_whole_months_and_prorate_partial_ones() {
        let m = |y, mo| month_number(Date::constant(y, mo, 1));
        let monthly: BTreeMap<i32, i64> = [
            (m(2026, 10), 3_000),
            (m(2026, 11), 3_000),
            (m(2026, 12), 3_100),
        ]
        .into();
        assert_eq!(period_target(Q4, &monthly), Some(9_100));
        // 15 of November's 30 days and 1 of December's 31
        let p = Period {
            from: Date::constant(2026, 11, 16),
            to: Date::constant(2026, 12, 1),
        };
        assert_eq!(period_target(p, &monthly), Some(1_500 + 100));
        let jan = Period {
            from: Date::constant(2027, 1, 1),
            to: Date::constant(2027, 1, 31),
        };
        assert_eq!(period_target(jan, &monthly), None);
    }

    #[test]
    fn quarters_and_months_of_a_day() {
        assert_eq!(Period::quarter_of(Date::constant(2026, 11, 23)), Some(Q4));
        assert_eq!(
            Period::month_of(Date::constant(2024, 2, 10)),
            Period {
                from: Date::constant(2024, 2, 1),
                to: Date::constant(2024, 2, 29)
            }
        );
        assert_eq!(Period::quarter_of(Date::constant(9999, 11, 1)), None);
        assert_eq!(
            Period::quarter_start(Date::constant(9999, 11, 1)),
            Date::constant(9999, 10, 1)
        );
    }

    #[test]
    fn weighted_rounds_exactly() {
        assert_eq!(weighted(333, 50), 167);
        assert_eq!(weighted(-333, 50), -167);
        assert_eq!(weighted(i64::MAX, 100), i64::MAX);
        assert_eq!(weighted(1999, 0), 0);
    }

    #[test]
    fn waterfall_reconciles() {
        let (p, deals) = fixture();
        let idx = StageIndex::new([&p]);
        let before: HashMap<_, _> = deals.iter().map(|(id, t, _)| (*id, t.clone())).collect();
        let mut after = before.clone();
        after.get_mut(&OpportunityId(2)).unwrap().stage = p.find_stage("Closed won").unwrap().id; // won 20k
        after.get_mut(&OpportunityId(3)).unwrap().amount = 35_000; // up 5k
        after.get_mut(&OpportunityId(4)).unwrap().close_date = Date::constant(2027, 2, 1); // out 40k
        after.get_mut(&OpportunityId(6)).unwrap().close_date = Date::constant(2026, 10, 15); // in 60k
        let mut new = before[&OpportunityId(4)].clone();
        new.amount = 1_000;
        after.insert(OpportunityId(8), new); // new 1k
        let pairs = after
            .iter()
            .map(|(id, t)| (before.get(id).map_or(Side::Absent, Side::In), Side::In(t)));
        let w = waterfall(pairs, &idx, Q4);
        assert_eq!(w.start, 90_000);
        assert_eq!(
            (w.new, w.moved_in, w.moved_out, w.won, w.lost),
            (1_000, 60_000, 40_000, 20_000, 0)
        );
        assert_eq!((w.amount_up, w.amount_down), (5_000, 0));
        assert_eq!(
            w.start + w.new + w.moved_in - w.moved_out - w.won - w.lost + w.amount_up
                - w.amount_down,
            w.end
        );
        assert_eq!(w.end, 35_000 + 60_000 + 1_000);
    }

    #[test]
    fn deals_entering_or_leaving_the_view_count_as_moved() {
        let (p, deals) = fixture();
        let idx = StageIndex::new([&p]);
        let open = &deals[1].1; // 20k, negotiation, in Q4
        let w = waterfall(
            [
                (Side::Outside, Side::In(open)),
                (Side::In(open), Side::Outside),
                (Side::Absent, Side::Outside),
            ],
            &idx,
            Q4,
        );
        assert_eq!((w.moved_in, w.moved_out, w.new), (20_000, 20_000, 0));
        assert_eq!((w.start, w.end), (20_000, 20_000));
    }

    #[test]
    fn flow_counts_stays_conversions_and_cycle() {
        let p = Pipeline::default_for(OrgId(1), "Sales", Ts(0));
        let s = |name: &str| p.find_stage(name).unwrap().id;
        let day = |d: i64| Ts(d * 86_400_000_000);
        let name = |_| String::new();
        let start = |stage| Tracked {
            pipeline: p.id,
            stage,
            amount: 1,
            probability: 10,
            owner: UserId(1),
            close_date: Date::constant(2026, 1, 1),
            archived: false,
        };
        let history = |moves: &[(i64, &str)]| -> Vec<HistoryRecord> {
            let mut t = start(s(moves[0].1));
            let mut out = vec![HistoryRecord {
                opportunity: OpportunityId(1),
                seq: 1,
                at: day(moves[0].0),
                by: None,
                by_label: String::new(),
                changes: diff(None, &t, &name),
            }];
            for (i, (at, stage)) in moves.iter().enumerate().skip(1) {
                let mut u = t.clone();
                u.stage = s(stage);
                let changes: Vec<FieldChange> = diff(Some(&t), &u, &name);
                out.push(HistoryRecord {
                    opportunity: OpportunityId(1),
                    seq: i as u32 + 1,
                    at: day(*at),
                    by: None,
                    by_label: String::new(),
                    changes,
                });
                t = u;
            }
            out
        };
        let a = history(&[
            (0, "Prospecting"),
            (2, "Qualification"),
            (6, "Proposal"),
            (10, "Closed won"),
        ]);
        let b = history(&[(0, "Prospecting"), (4, "Closed lost")]);
        let c = history(&[(0, "Qualification")]);
        let (a, b, c) = (steps(&a), steps(&b), steps(&c));
        let f = flow(&p, [a.as_slice(), b.as_slice(), c.as_slice()]);
        assert_eq!((f.won, f.lost), (1, 1));
        assert_eq!(f.win_rate, Some(0.5));
        assert_eq!(f.avg_cycle_days, Some(10.0));
        let pros = &f.stages[0];
        assert_eq!((pros.stays, pros.avg_days), (2, 3.0)); // 2 days and 4 days
        assert_eq!(pros.reached, 3);
        assert_eq!(pros.conversion, Some(2.0 / 3.0)); // a and c got further
        let qual = &f.stages[1];
        assert_eq!((qual.reached, qual.conversion), (2, Some(0.5)));
        let nego = &f.stages[3];
        assert_eq!((nego.reached, nego.conversion), (1, Some(1.0))); // a skipped it and won
    }
}
