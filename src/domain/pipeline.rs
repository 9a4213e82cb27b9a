//! Pipelines, their stages and opportunities, and the opportunity history: every change of the
//! tracked fields (pipeline, stage, amount, probability, owner, close date, archived) is one
//! append-only [`HistoryRecord`] holding each field's value before and after. The state of any
//! opportunity at any past instant follows from the history alone ([`replay`]), or from the
//! current state by undoing the records after that instant ([`undo`]), which is what "as of"
//! views use: only the recent records need reading.

use super::{Invalid, OpportunityId, OrgId, PartnerId, PipelineId, StageId, Ts, UserId};
use super::{required_text, roles::Scope};
use jiff::civil::Date;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What reaching a stage means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Still being worked.
    Open,
    /// Closed and won.
    Won,
    /// Closed and lost.
    Lost,
}

/// Where open deals in a stage count in the forecast. Cumulative in the usual way: the commit
/// figure includes closed-won deals, best case includes commit, pipeline includes everything
/// open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastCategory {
    /// Open, not yet likely.
    Pipeline,
    /// Could close in the period if things go well.
    BestCase,
    /// The owner commits to closing it in the period.
    Commit,
    /// Left out of the forecast.
    Omitted,
}

impl StageKind {
    pub fn parse(raw: &str) -> Result<StageKind, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(StageKind::Open),
            "won" => Ok(StageKind::Won),
            "lost" => Ok(StageKind::Lost),
            other => Err(Invalid::new(
                "kind",
                format!("`{other}` is not one of: open, won, lost"),
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }
}

impl ForecastCategory {
    pub fn parse(raw: &str) -> Result<ForecastCategory, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pipeline" => Ok(ForecastCategory::Pipeline),
            "best_case" => Ok(ForecastCategory::BestCase),
            "commit" => Ok(ForecastCategory::Commit),
            "omitted" => Ok(ForecastCategory::Omitted),
            other => Err(Invalid::new(
                "forecast",
                format!("`{other}` is not one of: pipeline, best_case, commit, omitted"),
            )),
        }
    }
    /// The category a stage of this probability gets unless one is chosen.
    pub fn for_probability(p: u8) -> ForecastCategory {
        match p {
            80.. => ForecastCategory::Commit,
            40.. => ForecastCategory::BestCase,
            _ => ForecastCategory::Pipeline,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Omitted => "omitted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub id: StageId,
    pub name: String,
    /// Default probability (percent) of a deal entering this stage.
    pub probability: u8,
    pub kind: StageKind,
    pub forecast: ForecastCategory,
    /// Removed stages stay in the list (hidden) so history keeps their names.
    pub removed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: PipelineId,
    pub org: OrgId,
    pub name: String,
    /// In board order, removed ones included.
    pub stages: Vec<Stage>,
    /// Reasons a user picks from when a deal is lost.
    pub lost_reasons: Vec<String>,
    pub archived: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub version: u64,
}

/// One stage as a client describes it (create or replace the list).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// The id of an existing stage to keep (renamed or re-ordered); omit for a new stage.
    pub id: Option<String>,
    pub name: String,
    /// Default probability in percent, 0–100; won stages are 100 and lost stages 0.
    pub probability: Option<u8>,
    /// `open` (default), `won` or `lost`.
    pub kind: Option<String>,
    /// `pipeline`, `best_case`, `commit` or `omitted`; default from the probability.
    pub forecast: Option<String>,
}

pub const MAX_STAGES: usize = 20;
pub const MAX_LOST_REASONS: usize = 30;

impl Pipeline {
    /// The stages shown on the board (not removed), in order.
    pub fn active_stages(&self) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(|s| !s.removed)
    }

    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// A stage by id or (case-insensitive) name, among the active ones.
    pub fn find_stage(&self, raw: &str) -> Option<&Stage> {
        let raw = raw.trim();
        let id = raw.parse::<StageId>().ok();
        self.active_stages()
            .find(|s| Some(s.id) == id || s.name.eq_ignore_ascii_case(raw))
    }

    /// The first open stage: where new deals start unless told otherwise.
    pub fn first_open(&self) -> Option<&Stage> {
        self.active_stages().find(|s| s.kind == StageKind::Open)
    }

    /// A new pipeline with the stages most sales teams start from.
    pub fn default_for(org: OrgId, name: &str, now: Ts) -> Pipeline {
        let stage = |name: &str, probability: u8, kind: StageKind| Stage {
            id: StageId::generate(),
            name: name.into(),
            probability,
            kind,
            forecast: ForecastCategory::for_probability(probability),
            removed: false,
        };
        Pipeline {
            id: PipelineId::generate(),
            org,
            name: name.into(),
            stages: vec![
                stage("Prospecting", 10, StageKind::Open),
                stage("Qualification", 20, StageKind::Open),
                stage("Proposal", 50, StageKind::Open),
                stage("Negotiation", 80, StageKind::Open),
                stage("Closed won", 100, StageKind::Won),
                stage("Closed lost", 0, StageKind::Lost),
            ],
            lost_reasons: [
                "Price",
                "Lost to competitor",
                "No decision",
                "Timing",
                "Other",
            ]
            .map(String::from)
            .to_vec(),
            archived: false,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Replace the active stage list with `input`. Existing stages named by id keep their id
    /// (so history stays attached); stages left out are marked removed. Returns the ids of
    /// the removed stages (the caller moves their deals first).
    pub fn set_stages(&mut self, input: &[StageInput]) -> Result<Vec<StageId>, Invalid> {
        let stages = parse_stages(input, &self.stages)?;
        let kept: Vec<StageId> = stages.iter().map(|s| s.id).collect();
        let mut removed = Vec::new();
        let mut out = stages;
        for old in &self.stages {
            if !kept.contains(&old.id) {
                if !old.removed {
                    removed.push(old.id);
                }
                out.push(Stage {
                    removed: true,
                    ..old.clone()
                });
            }
        }
        self.stages = out;
        Ok(removed)
    }
}

/// A pipeline by id or (case-insensitive) name, archived ones included.
pub fn find_pipeline<'a>(all: &'a [Pipeline], raw: &str) -> Option<&'a Pipeline> {
    let raw = raw.trim();
    let id = raw.parse::<PipelineId>().ok();
    all.iter()
        .find(|p| Some(p.id) == id || p.name.eq_ignore_ascii_case(raw))
}

/// Check a stage list: 2–20 stages, unique names, at least one open, one won and one lost.
pub fn parse_stages(input: &[StageInput], existing: &[Stage]) -> Result<Vec<Stage>, Invalid> {
    if input.len() < 3 || input.len() > MAX_STAGES {
        return Err(Invalid::new(
            "stages",
            format!(
                "a pipeline needs between 3 and {MAX_STAGES} stages (open ones, a won one and a lost one)"
            ),
        ));
    }
    let mut out: Vec<Stage> = Vec::with_capacity(input.len());
    for s in input {
        let name = required_text("stages", &s.name, 60)?;
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return Err(Invalid::new(
                "stages",
                format!("two stages are named `{name}`"),
            ));
        }
        let kind = match &s.kind {
            Some(k) => StageKind::parse(k).map_err(|e| Invalid::new("stages", e.message))?,
            None => StageKind::Open,
        };
        let probability = match (kind, s.probability) {
            (StageKind::Won, _) => 100,
            (StageKind::Lost, _) => 0,
            (StageKind::Open, Some(p)) if p > 100 => {
                return Err(Invalid::new(
                    "stages",
                    format!("the probability of `{name}` must be between 0 and 100"),
                ));
            }
            (StageKind::Open, Some(p)) => p,
            (StageKind::Open, None) => 10,
        };
        let forecast = match &s.forecast {
            Some(f) => ForecastCategory::parse(f).map_err(|e| Invalid::new("stages", e.message))?,
            None => ForecastCategory::for_probability(probability),
        };
        let id = match s.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => StageId::generate(),
            Some(raw) => {
                let id = raw.parse::<StageId>().ok();
                match existing.iter().find(|e| Some(e.id) == id) {
                    Some(e) if e.kind == kind => e.id,
                    Some(_) => {
                        return Err(Invalid::new(
                            "stages",
                            format!("the kind of `{name}` cannot change (add a new stage instead)"),
                        ));
                    }
                    None => {
                        return Err(Invalid::new(
                            "stages",
                            format!("`{raw}` is not a stage of this pipeline"),
                        ));
                    }
                }
            }
        };
        if out.iter().any(|o| o.id == id) {
            return Err(Invalid::new("stages", "a stage is listed twice"));
        }
        out.push(Stage {
            id,
            name,
            probability,
            kind,
            forecast,
            removed: false,
        });
    }
    for (kind, what) in [
        (StageKind::Open, "an open"),
        (StageKind::Won, "a won"),
        (StageKind::Lost, "a lost"),
    ] {
        if !out.iter().any(|s| s.kind == kind) {
            return Err(Invalid::new(
                "stages",
                format!("a pipeline needs {what} stage"),
            ));
        }
    }
    Ok(out)
}

/// Check a list of lost reasons: unique, non-empty, at most [`MAX_LOST_REASONS`].
pub fn parse_lost_reasons(input: &[String]) -> Result<Vec<String>, Invalid> {
    if input.len() > MAX_LOST_REASONS {
        return Err(Invalid::new(
            "lost_reasons",
            format!("at most {MAX_LOST_REASONS} reasons"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for r in input {
        let r = required_text("lost_reasons", r, 60)?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&r)) {
            out.push(r);
        }
    }
    Ok(out)
}

/// How a partner is linked to a deal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    /// The partner brought the deal.
    Sourced,
    /// The partner helped win it.
    Influenced,
}

impl PartnerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerRole::Sourced => "sourced",
            PartnerRole::Influenced => "influenced",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub id: OpportunityId,
    pub org: OrgId,
    pub name: String,
    /// The customer account the deal is with.
    pub account: String,
    pub partner: Option<(PartnerId, PartnerRole)>,
    pub next_step: String,
    pub source: String,
    pub notes: String,
    pub lost_reason: Option<String>,
    /// The tracked fields (each change is in the history).
    pub state: Tracked,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// When the deal entered a won or lost stage (`None` while open).
    pub closed_at: Option<Ts>,
    /// When it entered its current stage.
    pub stage_since: Ts,
    /// Bumped by every change: the ETag of optimistic concurrency.
    pub version: u64,
    /// Sequence number of its last history record.
    pub history_seq: u32,
}

/// The fields whose every change is recorded. The amount is in minor units of the org's
/// currency; the probability in percent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tracked {
    pub pipeline: PipelineId,
    pub stage: StageId,
    pub amount: i64,
    pub probability: u8,
    pub owner: UserId,
    pub close_date: Date,
    pub archived: bool,
}

/// One field's value, as recorded in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    Pipeline(PipelineId),
    /// The stage and its name at the time.
    Stage(StageId, String),
    Amount(i64),
    Probability(u8),
    Owner(UserId),
    CloseDate(Date),
    Archived(bool),
}

impl Value {
    pub fn field(&self) -> &'static str {
        match self {
            Value::Pipeline(_) => "pipeline",
            Value::Stage(..) => "stage",
            Value::Amount(_) => "amount",
            Value::Probability(_) => "probability",
            Value::Owner(_) => "owner",
            Value::CloseDate(_) => "close_date",
            Value::Archived(_) => "archived",
        }
    }

    fn set(&self, t: &mut Tracked) {
        match self {
            Value::Pipeline(v) => t.pipeline = *v,
            Value::Stage(v, _) => t.stage = *v,
            Value::Amount(v) => t.amount = *v,
            Value::Probability(v) => t.probability = *v,
            Value::Owner(v) => t.owner = *v,
            Value::CloseDate(v) => t.close_date = *v,
            Value::Archived(v) => t.archived = *v,
        }
    }
}

/// A change of one field: `before` is `None` in the record that creates the deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub before: Option<Value>,
    pub after: Value,
}

/// One entry of an opportunity's history. Append-only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub opportunity: OpportunityId,
    /// 1 for the creation, then +1 per change.
    pub seq: u32,
    pub at: Ts,
    /// Who made the change (`None`: the system, an import).
    pub by: Option<UserId>,
    pub by_label: String,
    pub changes: Vec<FieldChange>,
}

impl HistoryRecord {
    pub fn is_creation(&self) -> bool {
        self.changes.iter().all(|c| c.before.is_none())
    }
    pub fn change_of(&self, field: &str) -> Option<&FieldChange> {
        self.changes.iter().find(|c| c.after.field() == field)
    }
}

/// The field changes that take `before` (none: a new deal) to `after`. `stage_name` names
/// stages (of any pipeline) as they are called now.
pub fn diff(
    before: Option<&Tracked>,
    after: &Tracked,
    stage_name: &dyn Fn(StageId) -> String,
) -> Vec<FieldChange> {
    let values = |t: &Tracked| {
        [
            Value::Pipeline(t.pipeline),
            Value::Stage(t.stage, stage_name(t.stage)),
            Value::Amount(t.amount),
            Value::Probability(t.probability),
            Value::Owner(t.owner),
            Value::CloseDate(t.close_date),
            Value::Archived(t.archived),
        ]
    };
    let new = values(after);
    match before {
        None => new
            .into_iter()
            .map(|after| FieldChange {
                before: None,
                after,
            })
            .collect(),
        Some(b) => {
            let old = values(b);
            old.into_iter()
                .zip(new)
                .filter(|(o, n)| match (o, n) {
                    // A stage counts as changed by id, not by a rename since.
                    (Value::Stage(a, _), Value::Stage(b, _)) => a != b,
                    _ => o != n,
                })
                .map(|(o, n)| FieldChange {
                    before: Some(o),
                    after: n,
                })
                .collect()
        }
    }
}

/// The state after applying `rec` to `state` (`None` before the creation record).
pub fn apply(state: Option<Tracked>, rec: &HistoryRecord) -> Option<Tracked> {
    let mut t = match state {
        Some(t) => t,
        None => {
            // A creation record sets every field.
            let mut t = Tracked {
                pipeline: PipelineId(0),
                stage: StageId(0),
                amount: 0,
                probability: 0,
                owner: UserId(0),
                close_date: Date::constant(1970, 1, 1),
                archived: false,
            };
            if !rec.is_creation() {
                return None;
            }
            for c in &rec.changes {
                c.after.set(&mut t);
            }
            return Some(t);
        }
    };
    for c in &rec.changes {
        c.after.set(&mut t);
    }
    Some(t)
}

/// The state after every record of one deal at or before `at` (records in `seq` order);
/// `None` if it did not exist yet.
pub fn replay<'a>(records: impl IntoIterator<Item = &'a HistoryRecord>, at: Ts) -> Option<Tracked> {
    records
        .into_iter()
        .take_while(|r| r.at <= at)
        .fold(None, apply)
}

/// Undo one record: the state before it (`None` if it created the deal).
pub fn unapply(state: Tracked, rec: &HistoryRecord) -> Option<Tracked> {
    if rec.is_creation() {
        return None;
    }
    let mut t = state;
    for c in &rec.changes {
        if let Some(b) = &c.before {
            b.set(&mut t);
        }
    }
    Some(t)
}

/// The states at an earlier instant of the deals that changed since: the current states
/// (`current`) with every later record (`later`, any order) undone, newest first. A deal
/// created after the instant maps to `None`; deals missing from the answer did not change.
pub fn undo_changed(
    current: impl Fn(OpportunityId) -> Option<Tracked>,
    mut later: Vec<HistoryRecord>,
) -> FxHashMap<OpportunityId, Option<Tracked>> {
    // Fx: ids are already random (ULIDs), no need for a DoS-resistant hash.
    let mut states: FxHashMap<OpportunityId, Option<Tracked>> = FxHashMap::default();
    later.sort_by_key(|r| std::cmp::Reverse((r.at, r.seq)));
    for rec in &later {
        let slot = states
            .entry(rec.opportunity)
            .or_insert_with(|| current(rec.opportunity));
        *slot = slot.take().and_then(|t| unapply(t, rec));
    }
    states
}

/// The states of every deal at an earlier instant, from the current states and the history
/// records after it. Deals created after the instant are left out.
pub fn undo(
    current: impl IntoIterator<Item = (OpportunityId, Tracked)>,
    later: Vec<HistoryRecord>,
) -> HashMap<OpportunityId, Tracked> {
    let mut all: HashMap<OpportunityId, Tracked> = current.into_iter().collect();
    let changed = undo_changed(|id| all.get(&id).cloned(), later);
    for (id, t) in changed {
        match t {
            Some(t) => all.insert(id, t),
            None => all.remove(&id),
        };
    }
    all
}

/// Whether a user may see or change a deal owned by `owner`, holding the permission at
/// `scope`. `team_of` gives a user's team.
pub fn in_scope(
    scope: Scope,
    me: UserId,
    owner: UserId,
    team_of: &dyn Fn(UserId) -> Option<super::TeamId>,
) -> bool {
    match scope {
        Scope::Org => true,
        Scope::Own => owner == me,
        Scope::Team => owner == me || team_of(me).is_some_and(|t| team_of(owner) == Some(t)),
    }
}

/// Check a probability given in percent.
pub fn parse_probability(p: i64) -> Result<u8, Invalid> {
    u8::try_from(p)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| Invalid::new("probability", "must be a whole percentage from 0 to 100"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pipeline() -> Pipeline {
        Pipeline::default_for(OrgId(1), "Sales", Ts(0))
    }

    #[test]
    fn default_pipeline_has_open_won_and_lost_stages() {
        let p = pipeline();
        assert_eq!(p.first_open().unwrap().name, "Prospecting");
        assert_eq!(p.find_stage("closed WON").unwrap().kind, StageKind::Won);
        assert_eq!(
            p.find_stage("Negotiation").unwrap().forecast,
            ForecastCategory::Commit
        );
        assert_eq!(
            p.find_stage("Proposal").unwrap().forecast,
            ForecastCategory::BestCase
        );
    }

    fn input(p: &Pipeline) -> Vec<StageInput> {
        p.active_stages()
            .map(|s| StageInput {
                id: Some(s.id.to_string()),
                name: s.name.clone(),
                probability: Some(s.probability),
                kind: Some(s.kind.as_str().into()),
                forecast: None,
            })
            .collect()
    }

    #[test]
    fn stage_edits_keep_ids_and_mark_removed_stages() {
        let mut p = pipeline();
        let before = p.stages.clone();
        let mut inp = input(&p);
        inp[0].name = "Lead".into();
        inp.remove(1);
        inp.insert(
            2,
            StageInput {
                name: "Demo".into(),
                probability: Some(35),
                ..Default::default()
            },
        );
        let removed = p.set_stages(&inp).unwrap();
        assert_eq!(removed, vec![before[1].id]);
        assert_eq!(p.stages[0].id, before[0].id);
        assert_eq!(p.stages[0].name, "Lead");
        assert_eq!(p.active_stages().count(), 6);
        assert!(p.stage(before[1].id).unwrap().removed);
        assert!(p.find_stage("Qualification").is_none());
        assert_eq!(p.find_stage("demo").unwrap().probability, 35);
    }

    #[test]
    fn bad_stage_lists_are_refused_with_reasons() {
        let p = pipeline();
        let mut inp = input(&p);
        inp[1].name = "prospecting".into();
        assert!(
            parse_stages(&inp, &p.stages)
                .unwrap_err()
                .message
                .contains("two stages")
        );
        let inp: Vec<_> = input(&p)
            .into_iter()
            .filter(|s| s.kind.as_deref() != Some("won"))
            .collect();
        assert!(
            parse_stages(&inp, &p.stages)
                .unwrap_err()
                .message
                .contains("a won stage")
        );
        let mut inp = input(&p);
        inp[0].kind = Some("won".into());
        assert!(
            parse_stages(&inp, &p.stages)
                .unwrap_err()
                .message
                .contains("cannot change")
        );
        let mut inp = input(&p);
        inp[0].probability = Some(101);
        assert!(
            parse_stages(&inp, &p.stages)
                .unwrap_err()
                .message
                .contains("between 0 and 100")
        );
        let mut inp = input(&p);
        inp[0].id = Some(StageId::generate().to_string());
        assert!(
            parse_stages(&inp, &p.stages)
                .unwrap_err()
                .message
                .contains("not a stage")
        );
        assert!(parse_stages(&inp[..2], &p.stages).is_err());
    }

    #[test]
    fn diff_records_only_changed_fields_and_ignores_renames() {
        let p = pipeline();
        let t = Tracked {
            pipeline: p.id,
            stage: p.stages[0].id,
            amount: 1000,
            probability: 10,
            owner: UserId(1),
            close_date: Date::constant(2026, 12, 31),
            archived: false,
        };
        let name = |_| "x".to_string();
        assert_eq!(diff(None, &t, &name).len(), 7);
        let mut u = t.clone();
        u.stage = p.stages[2].id;
        u.probability = 50;
        let d = diff(Some(&t), &u, &name);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].after.field(), "stage");
        assert_eq!(d[1].before, Some(Value::Probability(10)));
        assert!(diff(Some(&t), &t, &name).is_empty());
    }

    #[test]
    fn scopes() {
        let teams = |u: UserId| match u.0 {
            1 | 2 => Some(super::super::TeamId(9)),
            _ => None,
        };
        assert!(in_scope(Scope::Own, UserId(1), UserId(1), &teams));
        assert!(!in_scope(Scope::Own, UserId(1), UserId(2), &teams));
        assert!(in_scope(Scope::Team, UserId(1), UserId(2), &teams));
        assert!(!in_scope(Scope::Team, UserId(1), UserId(3), &teams));
        assert!(!in_scope(Scope::Team, UserId(3), UserId(4), &teams));
        assert!(in_scope(Scope::Org, UserId(3), UserId(4), &teams));
    }

    /// One random edit of a random deal.
    #[derive(Clone, Debug)]
    enum Op {
        Create,
        Edit { which: usize, field: u8, value: u32 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::Create),
            4 => (any::<usize>(), 0u8..7, any::<u32>()).prop_map(|(which, field, value)| Op::Edit { which, field, value }),
        ]
    }

    proptest! {
        /// The state saved after every step equals both the forward replay of the history up
        /// to that instant and the undo of the later records from the final state.
        #[test]
        fn history_reproduces_every_past_state(ops in proptest::collection::vec((op(), 0i64..3), 1..60)) {
            let p = pipeline();
            let other = PipelineId(77);
            let mut current: Vec<(OpportunityId, Tracked, u32)> = Vec::new();
            let mut history: Vec<HistoryRecord> = Vec::new();
            let mut snapshots: Vec<(Ts, HashMap<OpportunityId, Tracked>)> = Vec::new();
            let mut now = 0i64;
            let name = |s: StageId| format!("stage {}", s.0);
            for (i, (op, gap)) in ops.iter().enumerate() {
                now += gap; // several changes can share an instant
                let (id, before, after) = match op {
                    Op::Create => {
                        let t = Tracked {
                            pipeline: p.id,
                            stage: p.stages[0].id,
                            amount: i as i64 * 100,
                            probability: 10,
                            owner: UserId(1),
                            close_date: Date::constant(2026, 1, 1),
                            archived: false,
                        };
                        let id = OpportunityId(i as u128 + 1);
                        current.push((id, t.clone(), 0));
                        (id, None, t)
                    }
                    Op::Edit { .. } if current.is_empty() => continue,
                    Op::Edit { which, field, value } => {
                        let n = current.len();
                        let slot = &mut current[which % n];
                        let before = slot.1.clone();
                        let mut t = before.clone();
                        match field {
                            0 => t.pipeline = if t.pipeline == other { p.id } else { other },
                            1 => t.stage = p.stages[*value as usize % p.stages.len()].id,
                            2 => t.amount = i64::from(*value % 5000),
                            3 => t.probability = (*value % 101) as u8,
                            4 => t.owner = UserId(u128::from(*value % 3)),
                            5 => t.close_date = Date::constant(2026, 1, 1 + (*value % 28) as i8),
                            _ => t.archived = !t.archived,
                        }
                        slot.1 = t.clone();
                        (slot.0, Some(before), t)
                    }
                };
                let changes = diff(before.as_ref(), &after, &name);
                if changes.is_empty() {
                    continue;
                }
                let slot = current.iter_mut().find(|c| c.0 == id).unwrap();
                slot.2 += 1;
                history.push(HistoryRecord {
                    opportunity: id,
                    seq: slot.2,
                    at: Ts(now),
                    by: None,
                    by_label: String::new(),
                    changes,
                });
                let state: HashMap<_, _> = current.iter().map(|(id, t, _)| (*id, t.clone())).collect();
                match snapshots.last_mut() {
                    Some((at, s)) if *at == Ts(now) => *s = state,
                    _ => snapshots.push((Ts(now), state)),
                }
            }
            let now_state: Vec<_> = current.iter().map(|(id, t, _)| (*id, t.clone())).collect();
            for (at, expected) in &snapshots {
                let mut forward = HashMap::new();
                for (id, _, _) in &current {
                    let recs: Vec<_> = history.iter().filter(|r| r.opportunity == *id).collect();
                    if let Some(t) = replay(recs, *at) {
                        forward.insert(*id, t);
                    }
                }
                prop_assert_eq!(&forward, expected);
                let later: Vec<_> = history.iter().filter(|r| r.at > *at).cloned().collect();
                prop_assert_eq!(&undo(now_state.clone(), later), expected);
            }
        }
    }
}
