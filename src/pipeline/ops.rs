//! Writes: opportunities (create, change, move, archive) and pipelines (create, edit stages).

use crate::auth::accounts::ActingAs;
use crate::domain::money::{MoneyInput, Rates};
use crate::domain::org::Org;
use crate::domain::pipeline::{
    HistoryRecord, Opportunity, Pipeline, StageInput, StageKind, Tracked, diff, in_scope,
    parse_lost_reasons, parse_probability, parse_stages,
};
use crate::domain::{Invalid, required_text};
use crate::domain::{OpportunityId, OrgId, PipelineId, Scope, StageId, TeamId, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, Entry};
use crate::store::{ReadTx, Store, pipeline as repo, users};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// The fields of an opportunity a client sends: all of them to create (name, account,
/// amount and close date are required), any of them to change one.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityInput {
    pub name: Option<String>,
    /// The customer account the deal is with.
    pub account: Option<String>,
    /// Pipeline id or name; default: the first pipeline.
    pub pipeline: Option<String>,
    /// Stage id or name within the pipeline; default: its first open stage.
    pub stage: Option<String>,
    /// Decimal string (`"12500.00"`) or number.
    pub amount: Option<MoneyInput>,
    /// ISO code; default the org's currency (others need a configured exchange rate).
    pub currency: Option<String>,
    /// Percent 0–100; default: the stage's probability (also when only the stage changes).
    pub probability: Option<i64>,
    /// A user id; default: the caller.
    pub owner: Option<String>,
    /// `YYYY-MM-DD`, in the org's calendar. Set to today when a deal closes unless given.
    pub close_date: Option<String>,
    pub next_step: Option<String>,
    pub source: Option<String>,
    pub notes: Option<String>,
    /// Required to be one of the pipeline's lost reasons when it has any; only for lost deals.
    pub lost_reason: Option<String>,
    /// Archive (true) or restore (false); archived deals leave boards and forecasts.
    pub archived: Option<bool>,
    /// The ISV partner's id; empty text removes the link.
    pub partner: Option<String>,
    /// `sourced` (the partner brought the deal; the default) or `influenced`.
    pub partner_role: Option<String>,
}

/// The largest amount a deal (or a target) may have, in whole units of the currency: far
/// beyond any real deal, and small enough that sums over millions of deals stay exact.
pub const MAX_AMOUNT_UNITS: i64 = 1_000_000_000_000;

/// An amount in minor units for `field`, checked: not negative, at most
/// [`MAX_AMOUNT_UNITS`].
pub fn checked_amount(
    field: &'static str,
    minor: i64,
    currency: &crate::domain::money::Currency,
) -> AppResult<i64> {
    if minor < 0 {
        return Err(AppError::validation(field, "must not be negative"));
    }
    if minor / 10i64.pow(u32::from(currency.minor_digits())) > MAX_AMOUNT_UNITS {
        return Err(AppError::validation(
            field,
            "must be at most 1,000,000,000,000",
        ));
    }
    Ok(minor)
}

/// What every operation needs to know about who acts and where.
pub struct Caller {
    pub by: ActingAs,
    /// The scope of the caller's `pipeline.edit` (`Org` for the command line and the demo).
    pub scope: Scope,
    pub org: Org,
    pub rates: Rates,
    pub now: Ts,
}

impl Caller {
    pub fn me(&self) -> UserId {
        self.by.user.unwrap_or(UserId(0))
    }
    pub fn label(&self) -> String {
        self.by.actor.label()
    }
}

/// Users of the org: their team, name and whether they are active.
pub struct People(pub HashMap<UserId, (Option<TeamId>, String, bool)>);

impl People {
    pub fn load(txn: &impl ReadTx, org: OrgId) -> AppResult<People> {
        Ok(People(
            users::list(txn, org)?
                .into_iter()
                .map(|u| (u.id, (u.team, u.name, !u.disabled)))
                .collect(),
        ))
    }
    pub fn team(&self, u: UserId) -> Option<TeamId> {
        self.0.get(&u).and_then(|p| p.0)
    }
    pub fn name(&self, u: UserId) -> &str {
        self.0.get(&u).map_or("(removed user)", |p| p.1.as_str())
    }
    pub fn in_scope(&self, scope: Scope, me: UserId, owner: UserId) -> bool {
        in_scope(scope, me, owner, &|u| self.team(u))
    }
}

pub(crate) fn invalid(e: Invalid) -> AppError {
    AppError::validation(e.field, e.message)
}

fn text(field: &'static str, v: &str, max: usize) -> AppResult<String> {
    let v = v.trim();
    if v.chars().count() > max {
        return Err(AppError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

pub fn parse_date(field: &'static str, raw: &str) -> AppResult<Date> {
    raw.trim().parse::<Date>().map_err(|_| {
        AppError::validation(
            field,
            format!("`{}` is not a date like 2026-12-31", raw.trim()),
        )
    })
}

fn pick_pipeline<'a>(all: &'a [Pipeline], raw: Option<&str>) -> AppResult<&'a Pipeline> {
    let live = all.iter().filter(|p| !p.archived);
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => live.into_iter().next().ok_or_else(|| {
            AppError::validation(
                "pipeline",
                "this organization has no pipeline; create one first",
            )
        }),
        Some(raw) => crate::domain::pipeline::find_pipeline(all, raw)
            .filter(|p| !p.archived)
            .ok_or_else(|| {
                AppError::validation(
                    "pipeline",
                    format!("`{raw}` is not a pipeline of this organization"),
                )
            }),
    }
}

fn pick_stage(p: &Pipeline, raw: &str) -> AppResult<StageId> {
    p.find_stage(raw).map(|s| s.id).ok_or_else(|| {
        AppError::validation(
            "stage",
            format!("`{}` is not a stage of the pipeline {}", raw.trim(), p.name),
        )
    })
}

fn pick_owner(c: &Caller, people: &People, raw: Option<&str>) -> AppResult<Option<UserId>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id = raw
        .parse::<UserId>()
        .ok()
        .filter(|u| people.0.get(u).is_some_and(|p| p.2))
        .ok_or_else(|| {
            AppError::validation("owner", "is not an active user of this organization")
        })?;
    if !people.in_scope(c.scope, c.me(), id) {
        return Err(AppError::forbidden(
            "You may only assign opportunities to yourself (or your team, for managers).",
        ));
    }
    Ok(Some(id))
}

fn stage_name(pipes: &[Pipeline]) -> impl Fn(StageId) -> String + '_ {
    move |s| {
        pipes
            .iter()
            .find_map(|p| p.stage(s))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }
}

/// Apply `input` to `opp` (a fresh one when creating). Checks every field; touches nothing
/// outside `opp`.
fn apply_input(
    c: &Caller,
    pipes: &[Pipeline],
    people: &People,
    partners: &[crate::domain::partner::Partner],
    opp: &mut Opportunity,
    input: &OpportunityInput,
    creating: bool,
) -> AppResult<()> {
    link_partner(partners, opp, input)?;
    if let Some(n) = &input.name {
        opp.name = required_text("name", n, 200).map_err(invalid)?;
    }
    if let Some(a) = &input.account {
        opp.account = required_text("account", a, 200).map_err(invalid)?;
    }
    for (field, v, slot, max) in [
        ("next_step", &input.next_step, &mut opp.next_step, 500),
        ("source", &input.source, &mut opp.source, 100),
        ("notes", &input.notes, &mut opp.notes, 10_000),
    ] {
        if let Some(v) = v {
            *slot = text(field, v, max)?;
        }
    }
    let before = opp.state.clone();
    let t = &mut opp.state;
    // pipeline and stage
    let pipe = match (&input.pipeline, creating) {
        (Some(raw), _) => pick_pipeline(pipes, Some(raw))?,
        (None, true) => pick_pipeline(pipes, None)?,
        (None, false) => pipes
            .iter()
            .find(|p| p.id == t.pipeline)
            .ok_or_else(|| AppError::internal("opportunity refers to a missing pipeline"))?,
    };
    let moved_pipeline = pipe.id != t.pipeline;
    t.pipeline = pipe.id;
    match &input.stage {
        Some(raw) => t.stage = pick_stage(pipe, raw)?,
        None if creating || moved_pipeline => {
            t.stage = pipe
                .first_open()
                .map(|s| s.id)
                .ok_or_else(|| AppError::validation("pipeline", "has no open stage"))?;
        }
        None => {}
    }
    let stage = pipe
        .stage(t.stage)
        .ok_or_else(|| AppError::internal("opportunity refers to a missing stage"))?;
    let stage_changed = creating || t.stage != before.stage;
    match input.probability {
        Some(p) => t.probability = parse_probability(p).map_err(invalid)?,
        None if stage_changed => t.probability = stage.probability,
        None => {}
    }
    if let Some(a) = &input.amount {
        let conv = c
            .rates
            .conversion(&c.org.currency, input.currency.as_deref())
            .ok_or_else(|| {
                AppError::validation(
                    "currency",
                    crate::domain::events::currency_mismatch(
                        input.currency.as_deref().unwrap_or_default(),
                        &c.org.currency,
                    ),
                )
            })?;
        let minor = conv
            .to_minor(a)
            .map_err(|e| AppError::validation("amount", e.0))?;
        t.amount = checked_amount("amount", minor, &c.org.currency)?;
    } else if creating {
        return Err(AppError::validation("amount", "is required"));
    } else if input.currency.is_some() {
        return Err(AppError::validation(
            "currency",
            "is only accepted with an amount",
        ));
    }
    if let Some(owner) = pick_owner(c, people, input.owner.as_deref())? {
        t.owner = owner;
    }
    match &input.close_date {
        Some(raw) => t.close_date = parse_date("close_date", raw)?,
        None if creating => return Err(AppError::validation("close_date", "is required")),
        None if stage_changed && stage.kind != StageKind::Open => {
            t.close_date = c.org.today(c.now);
        }
        None => {}
    }
    if let Some(a) = input.archived {
        t.archived = a;
    }
    // closing and reopening
    if stage_changed {
        opp.stage_since = c.now;
        opp.closed_at = (stage.kind != StageKind::Open).then_some(c.now);
    }
    match (&input.lost_reason, stage.kind) {
        (Some(r), StageKind::Lost) => {
            let r = r.trim();
            let known = pipe.lost_reasons.iter().find(|k| k.eq_ignore_ascii_case(r));
            opp.lost_reason = match (known, pipe.lost_reasons.is_empty()) {
                (Some(k), _) => Some(k.clone()),
                (None, true) if !r.is_empty() => Some(text("lost_reason", r, 100)?),
                (None, true) => None,
                (None, false) => {
                    return Err(AppError::validation(
                        "lost_reason",
                        format!("must be one of: {}", pipe.lost_reasons.join(", ")),
                    ));
                }
            };
        }
        (Some(r), _) if !r.trim().is_empty() => {
            return Err(AppError::validation(
                "lost_reason",
                "applies only to lost opportunities",
            ));
        }
        (_, StageKind::Lost) => {}
        _ => opp.lost_reason = None,
    }
    // Moving a deal away from its owner's scope, or a deal out of scope, is refused.
    if !people.in_scope(c.scope, c.me(), t.owner) {
        return Err(AppError::forbidden(
            "You may only change your own opportunities (or your team's, for managers).",
        ));
    }
    Ok(())
}

/// Set, change or remove the deal's partner link.
fn link_partner(
    partners: &[crate::domain::partner::Partner],
    opp: &mut Opportunity,
    input: &OpportunityInput,
) -> AppResult<()> {
    use crate::domain::pipeline::PartnerRole;
    let role = match input.partner_role.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(match r.to_ascii_lowercase().as_str() {
            "sourced" => PartnerRole::Sourced,
            "influenced" => PartnerRole::Influenced,
            _ => {
                return Err(AppError::validation(
                    "partner_role",
                    format!("`{r}` is not one of: sourced, influenced"),
                ));
            }
        }),
    };
    let current = opp.partner;
    let partner = match input.partner.as_deref().map(str::trim) {
        None => current.map(|c| c.0),
        Some("") => None,
        Some(raw) => {
            let p = raw
                .parse::<crate::domain::PartnerId>()
                .ok()
                .and_then(|id| partners.iter().find(|p| p.id == id))
                .ok_or_else(|| {
                    AppError::validation("partner", "is not a partner of this organization")
                })?;
            if p.archived && current.map(|c| c.0) != Some(p.id) {
                return Err(AppError::validation(
                    "partner",
                    format!("{} is archived; restore it first", p.name),
                ));
            }
            Some(p.id)
        }
    };
    opp.partner = match (partner, role) {
        (None, Some(_)) if input.partner.is_some() || current.is_none() => {
            return Err(AppError::validation(
                "partner_role",
                "applies only to deals with a partner",
            ));
        }
        (None, _) => None,
        (Some(p), r) => Some((
            p,
            r.or(current.map(|c| c.1)).unwrap_or(PartnerRole::Sourced),
        )),
    };
    Ok(())
}

/// The next history record of `opp` if its tracked fields changed (and bumps its counters).
fn record(
    c: &Caller,
    pipes: &[Pipeline],
    before: Option<&Tracked>,
    opp: &mut Opportunity,
) -> Option<HistoryRecord> {
    let changes = diff(before, &opp.state, &stage_name(pipes));
    if changes.is_empty() {
        return None;
    }
    opp.history_seq += 1;
    Some(HistoryRecord {
        opportunity: opp.id,
        seq: opp.history_seq,
        // Never before the deal's previous change, even if the clock stepped back: history
        // stays in time order.
        at: opp.updated_at,
        by: c.by.user,
        by_label: c.label(),
        changes,
    })
}

pub(crate) fn audit_entry(
    c: &Caller,
    action: &'static str,
    entity: &'static str,
    id: String,
    old: Option<String>,
    new: Option<String>,
) -> Entry {
    Entry {
        actor: c.by.actor.clone(),
        action,
        entity,
        entity_id: id,
        old,
        new,
    }
}

/// The org's partners when the input links one (none needed otherwise).
fn partners_for(
    txn: &impl ReadTx,
    org: OrgId,
    input: &OpportunityInput,
) -> AppResult<Vec<crate::domain::partner::Partner>> {
    match input.partner.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => Ok(crate::store::partners::list(txn, org)?),
        _ => Ok(Vec::new()),
    }
}

fn opp_json(o: &Opportunity) -> Option<String> {
    audit::json(&json!({
        "name": o.name, "account": o.account, "pipeline": o.state.pipeline.to_string(),
        "stage": o.state.stage.to_string(), "amount": o.state.amount,
        "probability": o.state.probability, "owner": o.state.owner.to_string(),
        "close_date": o.state.close_date.to_string(), "archived": o.state.archived,
        "lost_reason": o.lost_reason,
        "partner": o.partner.map(|p| p.0.to_string()), "partner_role": o.partner.map(|p| p.1),
    }))
}

pub fn create_opportunity(
    store: &Store,
    c: &Caller,
    input: &OpportunityInput,
) -> AppResult<Opportunity> {
    let org = c.org.id;
    store.try_write(|txn| {
        let pipes = repo::pipelines(txn, org)?;
        let people = People::load(txn, org)?;
        let mut opp = Opportunity {
            id: OpportunityId::generate(),
            org,
            name: String::new(),
            account: String::new(),
            partner: None,
            next_step: String::new(),
            source: String::new(),
            notes: String::new(),
            lost_reason: None,
            state: Tracked {
                pipeline: PipelineId(0),
                stage: StageId(0),
                amount: 0,
                probability: 0,
                owner: c.me(),
                close_date: c.org.today(c.now),
                archived: false,
            },
            created_at: c.now,
            updated_at: c.now,
            closed_at: None,
            stage_since: c.now,
            version: 1,
            history_seq: 0,
        };
        for (field, v) in [("name", &input.name), ("account", &input.account)] {
            if v.is_none() {
                return Err(AppError::validation(field, "is required"));
            }
        }
        if input.owner.is_none() && c.by.user.is_none() {
            return Err(AppError::validation("owner", "is required"));
        }
        let partners = partners_for(txn, org, input)?;
        apply_input(c, &pipes, &people, &partners, &mut opp, input, true)?;
        let rec = record(c, &pipes, None, &mut opp);
        repo::save_opportunity(txn, &opp, rec.as_ref())?;
        audit::append(
            txn,
            org,
            c.now,
            audit_entry(
                c,
                "opportunity.create",
                "opportunity",
                opp.id.to_string(),
                None,
                opp_json(&opp),
            ),
        )?;
        Ok(opp)
    })
}

/// Change an opportunity. `if_version`: the version the client last saw (a stale one is a
/// 409 naming the current version). Returns the opportunity as stored.
pub fn update_opportunity(
    store: &Store,
    c: &Caller,
    id: OpportunityId,
    input: &OpportunityInput,
    if_version: Option<u64>,
) -> AppResult<Opportunity> {
    let org = c.org.id;
    store.try_write(|txn| {
        let mut opp = repo::get_opportunity(txn, org, id)?
            .ok_or_else(|| AppError::not_found("Opportunity"))?;
        let people = People::load(txn, org)?;
        if !people.in_scope(c.scope, c.me(), opp.state.owner) {
            // Out of scope looks the same as absent to readers who cannot see it either.
            return Err(AppError::forbidden(
                "You may only change your own opportunities (or your team's, for managers).",
            ));
        }
        if let Some(v) = if_version
            && v != opp.version
        {
            return Err(stale(opp.version));
        }
        let pipes = repo::pipelines(txn, org)?;
        let before = opp.clone();
        let partners = partners_for(txn, org, input)?;
        apply_input(c, &pipes, &people, &partners, &mut opp, input, false)?;
        if opp == before {
            return Ok(opp);
        }
        opp.version += 1;
        opp.updated_at = c.now.max(before.updated_at);
        let rec = record(c, &pipes, Some(&before.state), &mut opp);
        repo::save_opportunity(txn, &opp, rec.as_ref())?;
        audit::append(
            txn,
            org,
            c.now,
            audit_entry(
                c,
                "opportunity.update",
                "opportunity",
                opp.id.to_string(),
                opp_json(&before),
                opp_json(&opp),
            ),
        )?;
        Ok(opp)
    })
}

pub fn stale(current: u64) -> AppError {
    AppError::conflict(
        Some("version"),
        format!(
            "This record was changed by someone else since you loaded it (it is now at version {current}). Reload it and apply your change again."
        ),
    )
}

/// Changing pipelines and stages is for holders of `pipeline.edit` at org scope (`scope`).
pub fn org_wide(scope: Scope) -> AppResult<()> {
    if scope != Scope::Org {
        return Err(AppError::forbidden(
            "Changing pipelines and their stages needs pipeline.edit for the whole organization (VP or admin).",
        ));
    }
    Ok(())
}

/// A pipeline as a client describes it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineInput {
    pub name: Option<String>,
    /// The full, ordered stage list (replaces the current one).
    pub stages: Option<Vec<StageInput>>,
    pub lost_reasons: Option<Vec<String>>,
    pub archived: Option<bool>,
    /// Where the deals of removed stages go: removed stage id or name -> stage id or name.
    #[serde(default)]
    pub move_to: HashMap<String, String>,
}

pub fn create_pipeline(store: &Store, c: &Caller, input: &PipelineInput) -> AppResult<Pipeline> {
    let org = c.org.id;
    let name =
        required_text("name", input.name.as_deref().unwrap_or_default(), 60).map_err(invalid)?;
    let mut p = Pipeline::default_for(org, &name, c.now);
    if let Some(stages) = &input.stages {
        p.stages = parse_stages(stages, &[]).map_err(invalid)?;
    }
    if let Some(r) = &input.lost_reasons {
        p.lost_reasons = parse_lost_reasons(r).map_err(invalid)?;
    }
    store.try_write(|txn| {
        repo::put_pipeline(txn, &p)?;
        audit::append(
            txn,
            org,
            c.now,
            audit_entry(
                c,
                "pipeline.create",
                "pipeline",
                p.id.to_string(),
                None,
                pipeline_json(&p),
            ),
        )?;
        Ok(p)
    })
}

fn pipeline_json(p: &Pipeline) -> Option<String> {
    audit::json(&json!({
        "name": p.name,
        "stages": p.active_stages().map(|s| json!({"id": s.id.to_string(), "name": s.name, "probability": s.probability, "kind": s.kind, "forecast": s.forecast})).collect::<Vec<_>>(),
        "lost_reasons": p.lost_reasons, "archived": p.archived,
    }))
}

/// Rename a pipeline, replace its stages (moving the deals of removed stages where
/// `move_to` says), its lost reasons, or archive it (only without open deals).
pub fn update_pipeline(
    store: &Store,
    c: &Caller,
    id: PipelineId,
    input: &PipelineInput,
    if_version: Option<u64>,
) -> AppResult<Pipeline> {
    let org = c.org.id;
    store.try_write(|txn| {
        let mut p = repo::get_pipeline(txn, org, id)?.ok_or_else(|| AppError::not_found("Pipeline"))?;
        if let Some(v) = if_version
            && v != p.version
        {
            return Err(stale(p.version));
        }
        let before = p.clone();
        if let Some(n) = &input.name {
            p.name = required_text("name", n, 60).map_err(invalid)?;
        }
        if let Some(r) = &input.lost_reasons {
            p.lost_reasons = parse_lost_reasons(r).map_err(invalid)?;
        }
        let removed = match &input.stages {
            Some(stages) => p.set_stages(stages).map_err(invalid)?,
            None => Vec::new(),
        };
        // Deals in this pipeline, for moves out of removed stages and the archive check.
        let mut deals = Vec::new();
        repo::each_opportunity(txn, org, |o| {
            if o.state.pipeline == id && !o.state.archived {
                deals.push(o);
            }
        })?;
        if let Some(a) = input.archived {
            if a && deals.iter().any(|o| p.stage(o.state.stage).is_some_and(|s| s.kind == StageKind::Open)) {
                return Err(AppError::validation("archived", "this pipeline still has open opportunities; close or move them first"));
            }
            p.archived = a;
        }
        if p == before {
            return Ok(p);
        }
        p.version += 1;
        p.updated_at = c.now;
        repo::put_pipeline(txn, &p)?;
        let pipes: Vec<Pipeline> = repo::pipelines(txn, org)?;
        for gone in removed {
            let affected: Vec<&Opportunity> = deals.iter().filter(|o| o.state.stage == gone).collect();
            if affected.is_empty() {
                continue;
            }
            let gone_name = before.stage(gone).map(|s| s.name.as_str()).unwrap_or_default();
            let target = input
                .move_to
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(gone_name) || k.parse::<StageId>().ok() == Some(gone))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    AppError::validation(
                        "move_to",
                        format!("the stage `{gone_name}` has {} opportunities: say where they should go (`move_to`)", affected.len()),
                    )
                })?;
            let to = pick_stage(&p, target).map_err(|e| AppError::validation("move_to", e.message))?;
            let target_stage = p.stage(to).cloned();
            for o in affected {
                let mut moved = o.clone();
                moved.state.stage = to;
                if let Some(s) = &target_stage {
                    moved.state.probability = s.probability;
                    moved.stage_since = c.now;
                    moved.closed_at = (s.kind != StageKind::Open).then_some(c.now);
                }
                moved.version += 1;
                moved.updated_at = c.now.max(o.updated_at);
                let rec = record(c, &pipes, Some(&o.state), &mut moved);
                repo::save_opportunity(txn, &moved, rec.as_ref())?;
            }
        }
        audit::append(txn, org, c.now, audit_entry(c, "pipeline.update", "pipeline", p.id.to_string(), pipeline_json(&before), pipeline_json(&p)))?;
        Ok(p)
    })
}

/// `YYYY-MM` as a month number (year × 12 + month − 1).
pub fn parse_month(field: &'static str, raw: &str) -> AppResult<i32> {
    let bad = || {
        AppError::validation(
            field,
            format!("`{}` is not a month like 2026-12", raw.trim()),
        )
    };
    let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, i32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok(y * 12 + m - 1)
}

/// A month number as `YYYY-MM`.
pub fn month_text(month: i32) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// Set or remove (amount `None`) monthly targets, the org's (`owner` `None`) or a person's, all
/// in one transaction. `c.scope` is the caller's `goals.manage` scope: org-wide targets need
/// `Org`.
pub fn set_targets(
    store: &Store,
    c: &Caller,
    owner: Option<&str>,
    months: &[(i32, Option<MoneyInput>)],
) -> AppResult<()> {
    let org = c.org.id;
    store.try_write(|txn| {
        let people = People::load(txn, org)?;
        let owner = match owner.map(str::trim).filter(|s| !s.is_empty()) {
            None if c.scope != Scope::Org => {
                return Err(AppError::forbidden(
                    "Only users who manage goals for the whole organization set its targets.",
                ));
            }
            None => None,
            Some(raw) => {
                let id = raw
                    .parse::<UserId>()
                    .ok()
                    .filter(|u| people.0.contains_key(u))
                    .ok_or_else(|| {
                        AppError::validation("owner", "is not a user of this organization")
                    })?;
                if !people.in_scope(c.scope, c.me(), id) {
                    return Err(AppError::forbidden(
                        "You may only set targets for your team.",
                    ));
                }
                Some(id)
            }
        };
        for (month, amount) in months {
            let minor = match amount {
                None => None,
                Some(a) => {
                    let m = c
                        .org
                        .currency
                        .to_minor(a)
                        .map_err(|e| AppError::validation("amount", e.0))?;
                    Some(checked_amount("amount", m, &c.org.currency)?)
                }
            };
            repo::set_target(txn, org, *month, owner, minor)?;
            audit::append(
                txn,
                org,
                c.now,
                audit_entry(
                    c,
                    "forecast.target",
                    "target",
                    format!(
                        "{}/{}",
                        month_text(*month),
                        owner.map_or("org".into(), |o| o.to_string())
                    ),
                    None,
                    audit::json(&json!({"amount": minor})),
                ),
            )?;
        }
        Ok(())
    })
}
