//! ISV partners as the API, the pages and the upkeep job use them: create, change, archive,
//! notes, the org's partner settings, and the health score computed from the partner and the
//! deals linked to it (read from the pipeline's [`Books`](crate::pipeline::Books)).
//!
//! Every write validates first and commits the record, its health snapshot and the audit
//! entry in one transaction, or nothing.

use crate::analytics::day_number;
use crate::domain::forecast::weighted;
use crate::domain::money::MoneyInput;
use crate::domain::org::Org;
use crate::domain::partner::{
    Contact, Factor, Health, HealthInputs, Note, Partner, PartnerSettings, PartnerStatus, health,
    optional_text, parse_contacts, parse_labels, parse_tiers, parse_website,
};
use crate::domain::pipeline::{PartnerRole, StageKind};
use crate::domain::{NoteId, PartnerId, Scope, Ts, UserId, required_text};
use crate::error::{AppError, AppResult};
use crate::export::csv_safe;
use crate::pipeline::{Book, Books, Caller, People, audit_entry, invalid, parse_date, stale};
use crate::store::audit::{self, Entry};
use crate::store::{Store, orgs, partners as repo};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

const DAY: i64 = 86_400_000_000;

/// The fields of a partner a client sends: all it wants to set when creating (only `name` is
/// required), any of them to change one.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerInput {
    pub name: Option<String>,
    /// A web address; a bare domain gets `https://`.
    pub website: Option<String>,
    /// One of the org's tiers (case-insensitive); default: the lowest.
    pub tier: Option<String>,
    /// prospect, onboarding, active, at_risk or churned; default prospect.
    pub status: Option<String>,
    /// The responsible user's id; default: the caller.
    pub owner: Option<String>,
    pub region: Option<String>,
    pub categories: Option<Vec<String>>,
    /// `YYYY-MM-DD`; empty text clears it.
    pub contract_start: Option<String>,
    /// `YYYY-MM-DD`; empty text clears it.
    pub renewal_date: Option<String>,
    /// The full contact list (replaces the current one).
    pub contacts: Option<Vec<Contact>>,
    pub tags: Option<Vec<String>>,
    /// Yearly revenue target: decimal string or number in the org's currency; empty text
    /// clears it.
    pub revenue_target: Option<MoneyInput>,
    /// Archive (true) or restore (false). Partners are never deleted.
    pub archived: Option<bool>,
}

fn optional_date(field: &'static str, raw: &str) -> AppResult<Option<jiff::civil::Date>> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse_date(field, raw).map(Some)
    }
}

fn edit_denied() -> AppError {
    AppError::forbidden("You may only change partners you own (or your team's, for managers).")
}

/// Apply `input` to `p`; checks every field and touches nothing else.
fn apply(
    c: &Caller,
    settings: &PartnerSettings,
    people: &People,
    p: &mut Partner,
    input: &PartnerInput,
) -> AppResult<()> {
    if let Some(n) = &input.name {
        p.name = required_text("name", n, 200).map_err(invalid)?;
    }
    if let Some(w) = &input.website {
        p.website = parse_website(w).map_err(invalid)?;
    }
    if let Some(t) = &input.tier {
        p.tier = settings
            .tiers
            .iter()
            .find(|k| k.eq_ignore_ascii_case(t.trim()))
            .cloned()
            .ok_or_else(|| {
                AppError::validation(
                    "tier",
                    format!(
                        "`{}` is not one of: {}",
                        t.trim(),
                        settings.tiers.join(", ")
                    ),
                )
            })?;
    }
    if let Some(s) = &input.status {
        let status = PartnerStatus::parse(s).map_err(invalid)?;
        if status != p.status {
            // A person's choice of status replaces salesboard's at-risk mark.
            p.at_risk_reason = None;
        }
        p.status = status;
    }
    if let Some(raw) = input.owner.as_deref().map(str::trim) {
        let id = raw
            .parse::<UserId>()
            .ok()
            .filter(|u| people.0.get(u).is_some_and(|p| p.2))
            .ok_or_else(|| {
                AppError::validation("owner", "is not an active user of this organization")
            })?;
        if !people.in_scope(c.scope, c.me(), id) {
            return Err(AppError::forbidden(
                "You may only give partners to yourself (or your team, for managers).",
            ));
        }
        p.owner = id;
    }
    if let Some(r) = &input.region {
        p.region = optional_text("region", r, 60).map_err(invalid)?;
    }
    if let Some(v) = &input.categories {
        p.categories = parse_labels("categories", v, 20).map_err(invalid)?;
    }
    if let Some(v) = &input.tags {
        p.tags = parse_labels("tags", v, 30).map_err(invalid)?;
    }
    if let Some(v) = &input.contract_start {
        p.contract_start = optional_date("contract_start", v)?;
    }
    if let Some(v) = &input.renewal_date {
        p.renewal_date = optional_date("renewal_date", v)?;
    }
    if let (Some(s), Some(r)) = (p.contract_start, p.renewal_date)
        && r < s
    {
        return Err(AppError::validation(
            "renewal_date",
            "must not be before the contract start",
        ));
    }
    if let Some(v) = &input.contacts {
        p.contacts = parse_contacts(v).map_err(invalid)?;
    }
    if let Some(t) = &input.revenue_target {
        p.revenue_target = match t {
            MoneyInput::Text(s) if s.trim().is_empty() => None,
            t => {
                let minor = c
                    .org
                    .currency
                    .to_minor(t)
                    .map_err(|e| AppError::validation("revenue_target", e.0))?;
                Some(crate::pipeline::checked_amount(
                    "revenue_target",
                    minor,
                    &c.org.currency,
                )?)
            }
        };
    }
    if let Some(a) = input.archived {
        p.archived = a;
    }
    if !people.in_scope(c.scope, c.me(), p.owner) {
        return Err(edit_denied());
    }
    Ok(())
}

fn partner_json(p: &Partner) -> Option<String> {
    audit::json(&json!({
        "name": p.name, "website": p.website, "tier": p.tier, "status": p.status,
        "owner": p.owner.to_string(), "region": p.region, "categories": p.categories,
        "contract_start": p.contract_start.map(|d| d.to_string()),
        "renewal_date": p.renewal_date.map(|d| d.to_string()),
        "contacts": p.contacts.len(), "tags": p.tags, "revenue_target": p.revenue_target,
        "archived": p.archived,
    }))
}

pub fn create_partner(
    store: &Store,
    books: &Books,
    c: &Caller,
    input: &PartnerInput,
) -> AppResult<Partner> {
    let org = c.org.id;
    let book = books.get(store, org)?;
    store.try_write(|txn| {
        let settings = repo::settings(txn, org)?;
        let people = People::load(txn, org)?;
        if input.name.is_none() {
            return Err(AppError::validation("name", "is required"));
        }
        if input.owner.is_none() && c.by.user.is_none() {
            return Err(AppError::validation("owner", "is required"));
        }
        let mut p = Partner {
            id: PartnerId::generate(),
            org,
            name: String::new(),
            website: String::new(),
            tier: settings.tiers.first().cloned().unwrap_or_default(),
            status: PartnerStatus::Prospect,
            owner: c.me(),
            region: String::new(),
            categories: Vec::new(),
            contract_start: None,
            renewal_date: None,
            contacts: Vec::new(),
            tags: Vec::new(),
            revenue_target: None,
            at_risk_reason: None,
            archived: false,
            last_activity: c.now,
            created_at: c.now,
            updated_at: c.now,
            version: 1,
        };
        apply(c, &settings, &people, &mut p, input)?;
        let entry = audit_entry(
            c,
            "partner.create",
            "partner",
            p.id.to_string(),
            None,
            partner_json(&p),
        );
        let scoring = Scoring {
            org: &c.org,
            settings: &settings,
            book: &book,
            now: c.now,
        };
        save_scored(txn, &scoring, p, entry, true)
    })
}

/// Change a partner. `if_version`: the version the client last saw (a stale one is a 409).
pub fn update_partner(
    store: &Store,
    books: &Books,
    c: &Caller,
    id: PartnerId,
    input: &PartnerInput,
    if_version: Option<u64>,
) -> AppResult<Partner> {
    let org = c.org.id;
    let book = books.get(store, org)?;
    store.try_write(|txn| {
        let mut p = repo::get(txn, org, id)?.ok_or_else(|| AppError::not_found("Partner"))?;
        let people = People::load(txn, org)?;
        if !people.in_scope(c.scope, c.me(), p.owner) {
            return Err(edit_denied());
        }
        if let Some(v) = if_version
            && v != p.version
        {
            return Err(stale(p.version));
        }
        let settings = repo::settings(txn, org)?;
        let before = p.clone();
        apply(c, &settings, &people, &mut p, input)?;
        if p == before {
            return Ok(p);
        }
        p.version += 1;
        p.updated_at = c.now.max(before.updated_at);
        p.last_activity = c.now.max(before.last_activity);
        let entry = audit_entry(
            c,
            "partner.update",
            "partner",
            p.id.to_string(),
            partner_json(&before),
            partner_json(&p),
        );
        // A status the person sets is theirs: no automatic mark over it.
        let may_mark = input.status.is_none();
        let scoring = Scoring {
            org: &c.org,
            settings: &settings,
            book: &book,
            now: c.now,
        };
        save_scored(txn, &scoring, p, entry, may_mark)
    })
}

/// What scoring a partner needs besides the partner.
struct Scoring<'a> {
    org: &'a Org,
    settings: &'a PartnerSettings,
    book: &'a Book,
    now: Ts,
}

/// Store `p` with its health of today and the audit entry; when `may_mark`, mark it at risk
/// if the change made its score drop below the threshold (audited as salesboard's own act).
fn save_scored(
    txn: &redb::WriteTransaction,
    sc: &Scoring,
    mut p: Partner,
    entry: Entry,
    may_mark: bool,
) -> AppResult<Partner> {
    let Scoring {
        org,
        settings,
        book,
        now,
    } = *sc;
    let facts = facts(book, Some(p.id)).remove(&p.id).unwrap_or_default();
    let h = score(org, settings, &p, &facts, now);
    repo::put(txn, &p)?;
    audit::append(txn, org.id, now, entry)?;
    if !p.archived {
        if may_mark {
            mark_and_record(txn, org, settings, &mut p, &h, now)?;
        }
        repo::set_health(txn, org.id, p.id, day_number(org.today(now)), h.score)?;
    }
    Ok(p)
}

/// [`mark_at_risk`] against the last recorded score; a mark is stored and audited. Call
/// before recording today's score. Returns whether it marked the partner.
fn mark_and_record(
    txn: &redb::WriteTransaction,
    org: &Org,
    settings: &PartnerSettings,
    p: &mut Partner,
    h: &Health,
    now: Ts,
) -> AppResult<bool> {
    let before = repo::last_health(txn, org.id, p.id)?;
    if !mark_at_risk(p, h, before, settings, org.today(now)) {
        return Ok(false);
    }
    p.updated_at = now.max(p.updated_at);
    repo::put(txn, p)?;
    audit::append(
        txn,
        org.id,
        now,
        Entry {
            actor: audit::Actor::System,
            action: "partner.at_risk",
            entity: "partner",
            entity_id: p.id.to_string(),
            old: None,
            new: audit::json(&json!({"status": p.status, "reason": p.at_risk_reason})),
        },
    )?;
    Ok(true)
}

/// Mark an active or onboarding partner at risk when its score dropped below the threshold:
/// `h` is below it and the last recorded score (`before`) was not. A new partner has no
/// drop; a partner someone set back to active after a mark stays so until it recovers and
/// drops again. Returns whether it changed the partner.
fn mark_at_risk(
    p: &mut Partner,
    h: &Health,
    before: Option<u8>,
    settings: &PartnerSettings,
    today: jiff::civil::Date,
) -> bool {
    let dropped = before.is_some_and(|b| b >= settings.at_risk_below);
    if !dropped
        || !matches!(p.status, PartnerStatus::Active | PartnerStatus::Onboarding)
        || p.archived
    {
        return false;
    }
    match crate::domain::partner::at_risk_reason(h, settings.at_risk_below, today) {
        Some(reason) => {
            p.status = PartnerStatus::AtRisk;
            p.at_risk_reason = Some(reason);
            p.version += 1;
            true
        }
        None => false,
    }
}

/// Add a note (author and time recorded); counts as activity with the partner.
pub fn add_note(store: &Store, c: &Caller, id: PartnerId, text: &str) -> AppResult<Note> {
    let org = c.org.id;
    let text = crate::domain::partner::parse_note(text).map_err(invalid)?;
    store.try_write(|txn| {
        let mut p = repo::get(txn, org, id)?.ok_or_else(|| AppError::not_found("Partner"))?;
        let note = Note {
            id: NoteId::generate(),
            at: c.now,
            by: c.by.user,
            by_label: c.label(),
            text: text.clone(),
        };
        repo::add_note(txn, org, id, &note)?;
        // Activity, not an edit: the version (ETag) stays, so open edit forms stay valid.
        p.last_activity = c.now.max(p.last_activity);
        repo::put(txn, &p)?;
        audit::append(
            txn,
            org,
            c.now,
            audit_entry(
                c,
                "partner.note",
                "partner",
                id.to_string(),
                None,
                audit::json(&json!({"note": note.id.to_string()})),
            ),
        )?;
        Ok(note)
    })
}

/// Settings as a client sends them; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Tier names, lowest first (1–20).
    pub tiers: Option<Vec<String>>,
    /// Factor name -> weight 0–100 (factors left out keep their weight).
    pub weights: Option<HashMap<String, i64>>,
    /// Scores below this mark active and onboarding partners at risk (0–100).
    pub at_risk_below: Option<i64>,
}

/// Change the org's partner settings. Partners whose tier is no longer listed keep it (the
/// list offers it as theirs until someone picks another).
pub fn update_settings(
    store: &Store,
    c: &Caller,
    input: &SettingsInput,
    if_version: Option<u64>,
) -> AppResult<PartnerSettings> {
    if c.scope != Scope::Org {
        return Err(AppError::forbidden(
            "Changing partner settings needs partners.edit for the whole organization.",
        ));
    }
    let org = c.org.id;
    store.try_write(|txn| {
        let mut s = repo::settings(txn, org)?;
        if let Some(v) = if_version
            && v != s.version
        {
            return Err(stale(s.version));
        }
        let before = s.clone();
        if let Some(t) = &input.tiers {
            s.tiers = parse_tiers(t).map_err(invalid)?;
        }
        if let Some(w) = &input.weights {
            for (name, weight) in w {
                let f = Factor::parse(name).ok_or_else(|| {
                    AppError::validation(
                        "weights",
                        format!(
                            "`{name}` is not one of: {}",
                            Factor::ALL.map(Factor::as_str).join(", ")
                        ),
                    )
                })?;
                let w = u8::try_from(*weight).ok().filter(|w| *w <= 100).ok_or_else(|| {
                    AppError::validation("weights", format!("{name}: must be from 0 to 100"))
                })?;
                s.weights.set(f, w);
            }
            if s.weights.0.iter().all(|w| *w == 0) {
                return Err(AppError::validation(
                    "weights",
                    "at least one factor needs a weight above 0",
                ));
            }
        }
        if let Some(t) = input.at_risk_below {
            s.at_risk_below = u8::try_from(t)
                .ok()
                .filter(|t| *t <= 100)
                .ok_or_else(|| AppError::validation("at_risk_below", "must be from 0 to 100"))?;
        }
        if s == before {
            return Ok(s);
        }
        s.version += 1;
        repo::put_settings(txn, org, &s)?;
        let js = |s: &PartnerSettings| {
            audit::json(&json!({"tiers": s.tiers, "weights": s.weights.0, "at_risk_below": s.at_risk_below}))
        };
        audit::append(
            txn,
            org,
            c.now,
            audit_entry(
                c,
                "partner.settings",
                "org",
                org.to_string(),
                js(&before),
                js(&s),
            ),
        )?;
        Ok(s)
    })
}

// ---------- reading: facts, health, figures ----------

/// What the deals linked to one partner add up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Open deals (sourced or influenced) and their amounts.
    pub open_deals: u32,
    pub open_amount: i64,
    pub open_weighted: i64,
    /// Open amount of the deals it sourced.
    pub open_sourced: i64,
    /// Expected close dates of the open deals (slipped ones are counted against the day of
    /// the read).
    pub open_closing: Vec<jiff::civil::Date>,
    /// Sourced deals created in the last 90 days and the 90 before (relative to `now` of the
    /// read).
    pub created: Vec<Ts>,
    /// Won and lost deals: (when they closed, amount, won).
    pub closed: Vec<(Ts, i64, bool)>,
    /// Every linked deal (archived ones left out).
    pub deals: u32,
    pub last_change: Option<Ts>,
}

/// The facts of every partner with linked deals, from one pass over the org's deals.
/// `only`: just that partner's (one partner's write need not gather everyone's).
pub fn facts(book: &Book, only: Option<PartnerId>) -> HashMap<PartnerId, Facts> {
    let stages = book.stages();
    let mut out: HashMap<PartnerId, Facts> = HashMap::new();
    for o in &book.opps {
        let Some((pid, role)) = o.partner.filter(|p| only.is_none_or(|id| p.0 == id)) else {
            continue;
        };
        let t = &o.state;
        if t.archived {
            continue;
        }
        let f = out.entry(pid).or_default();
        f.deals += 1;
        f.last_change = f.last_change.max(Some(o.updated_at));
        match stages.kind(t.stage) {
            StageKind::Open => {
                f.open_deals += 1;
                f.open_amount = f.open_amount.saturating_add(t.amount);
                f.open_weighted = f
                    .open_weighted
                    .saturating_add(weighted(t.amount, t.probability));
                if role == PartnerRole::Sourced {
                    f.open_sourced = f.open_sourced.saturating_add(t.amount);
                }
                f.open_closing.push(t.close_date);
            }
            // Dated by when the deal closed (its expected close date may still lie ahead).
            k => f.closed.push((
                o.closed_at.unwrap_or(o.updated_at),
                t.amount,
                k == StageKind::Won,
            )),
        }
        if role == PartnerRole::Sourced {
            f.created.push(o.created_at);
        }
    }
    out
}

/// The health inputs of `p` at `now`.
pub fn inputs(org: &Org, p: &Partner, f: &Facts, now: Ts) -> HealthInputs {
    let today = org.today(now);
    let last = f
        .last_change
        .map_or(p.last_activity, |c| c.max(p.last_activity));
    let (recent_from, before_from) = (Ts(now.0 - 90 * DAY), Ts(now.0 - 180 * DAY));
    let year_ago = today
        .checked_sub(jiff::Span::new().years(1))
        .unwrap_or(today);
    let closed: Vec<(jiff::civil::Date, i64, bool)> = f
        .closed
        .iter()
        .map(|(at, amount, won)| (org.today(*at), *amount, *won))
        .collect();
    let closed_12m = closed
        .iter()
        .filter(|(d, _, _)| *d > year_ago && *d <= today);
    let jan1 = jiff::civil::date(today.year(), 1, 1);
    let days_in_year = f64::from(if today.in_leap_year() { 366 } else { 365 });
    HealthInputs {
        days_since_activity: (now.0 - last.0).max(0) / DAY,
        open_sourced: f.open_sourced,
        new_recent: f.created.iter().filter(|c| **c >= recent_from).count() as u32,
        new_before: f
            .created
            .iter()
            .filter(|c| **c >= before_from && **c < recent_from)
            .count() as u32,
        won_12m: closed_12m.clone().filter(|c| c.2).count() as u32,
        lost_12m: closed_12m.filter(|c| !c.2).count() as u32,
        won_this_year: closed
            .iter()
            .filter(|(d, _, won)| *won && d.year() == today.year() && *d <= today)
            .map(|c| c.1)
            .fold(0i64, i64::saturating_add),
        revenue_target: p.revenue_target,
        year_elapsed: f64::from(today.day_of_year()) / days_in_year,
        open_deals: f.open_deals,
        slipped_deals: f.open_closing.iter().filter(|d| **d < today).count() as u32,
        days_to_renewal: p
            .renewal_date
            .map(|r| i64::from((r - jan1).get_days() - (today - jan1).get_days())),
    }
}

/// The health of `p` at `now`.
pub fn score(org: &Org, s: &PartnerSettings, p: &Partner, f: &Facts, now: Ts) -> Health {
    let money = |m: i64| org.currency.display_minor(m);
    health(&inputs(org, p, f, now), &s.weights, &money)
}

/// A partner with its current health and deal figures.
pub struct Row {
    pub partner: Partner,
    pub health: Health,
    pub facts: Facts,
    /// Won amount of its deals closing this calendar year.
    pub won_this_year: i64,
}

/// Every partner of the org with health and figures (archived ones when `archived`).
pub fn rows(
    store: &Store,
    books: &Books,
    org: &Org,
    now: Ts,
) -> AppResult<(PartnerSettings, Vec<Row>)> {
    let book = books.get(store, org.id)?;
    let (settings, list) =
        store.read(|t| Ok((repo::settings(t, org.id)?, repo::list(t, org.id)?)))?;
    let mut all = facts(&book, None);
    let rows = list
        .into_iter()
        .map(|p| {
            let f = all.remove(&p.id).unwrap_or_default();
            let h = score(org, &settings, &p, &f, now);
            let won = inputs(org, &p, &f, now).won_this_year;
            Row {
                partner: p,
                health: h,
                facts: f,
                won_this_year: won,
            }
        })
        .collect();
    Ok((settings, rows))
}

/// Score every partner of every org for today: store the day's score and mark the ones that
/// fell below their org's threshold at risk (the upkeep job, hourly; a day keeps its last
/// score). Returns how many partners were marked.
pub fn refresh_all(store: &Store, books: &Books, now: Ts) -> AppResult<usize> {
    let mut marked = 0;
    let mut failed = None;
    for org in store.read(orgs::list)? {
        // One org's failure is logged and the others still get their scores.
        match refresh_org(store, books, &org, now) {
            Ok(n) => marked += n,
            Err(e) => {
                tracing::error!(org = org.id.0, error = %e.message, "partner health refresh failed");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(marked),
    }
}

fn refresh_org(store: &Store, books: &Books, org: &Org, now: Ts) -> AppResult<usize> {
    let book = books.get(store, org.id)?;
    store.try_write(|txn| -> AppResult<usize> {
        let settings = repo::settings(txn, org.id)?;
        let mut all = facts(&book, None);
        let today = day_number(org.today(now));
        let mut n = 0;
        for mut p in repo::list(txn, org.id)?.into_iter().filter(|p| !p.archived) {
            let f = all.remove(&p.id).unwrap_or_default();
            let h = score(org, &settings, &p, &f, now);
            if mark_and_record(txn, org, &settings, &mut p, &h, now)? {
                n += 1;
            }
            repo::set_health(txn, org.id, p.id, today, h.score)?;
        }
        Ok(n)
    })
}

// ---------- lists: filters, sorting ----------

/// A list's filters and order as a client sends them (the API's query and the page's URL).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Words in the name, website, region, tags or contacts.
    pub q: Option<String>,
    /// One of the org's tiers.
    pub tier: Option<String>,
    /// prospect, onboarding, active, at_risk or churned.
    pub status: Option<String>,
    /// The owner's user id, or `me`.
    pub owner: Option<String>,
    /// Health band: at_risk (below the org's threshold), watch (up to 69) or healthy (70+).
    pub health: Option<String>,
    /// Only partners with this tag.
    pub tag: Option<String>,
    /// Include archived partners.
    pub archived: Option<bool>,
    /// name (default), health, tier, status, owner, renewal_date, open_pipeline, won or
    /// updated_at; prefix `-` for descending.
    pub sort: Option<String>,
    /// Page size, 1–500, default 50.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const SORTS: &[&str] = &[
    "name",
    "health",
    "tier",
    "status",
    "owner",
    "renewal_date",
    "open_pipeline",
    "won",
    "updated_at",
];

/// The rows matching `q`, in its order; checks every parameter.
pub fn select<'a>(
    rows: &'a [Row],
    settings: &PartnerSettings,
    people: &People,
    me: UserId,
    q: &ListQuery,
) -> AppResult<Vec<&'a Row>> {
    let nonblank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let status = nonblank(&q.status)
        .map(|s| PartnerStatus::parse(&s).map_err(invalid))
        .transpose()?;
    let band = nonblank(&q.health)
        .map(|s| crate::domain::partner::Band::parse(&s).map_err(invalid))
        .transpose()?;
    let owner = match nonblank(&q.owner).as_deref() {
        None => None,
        Some("me") => Some(me),
        Some(raw) => Some(
            raw.parse::<UserId>()
                .map_err(|_| AppError::validation("owner", "must be a user id or `me`"))?,
        ),
    };
    let tier = nonblank(&q.tier);
    if let Some(t) = &tier
        && !settings.tiers.iter().any(|k| k.eq_ignore_ascii_case(t))
        && !rows.iter().any(|r| r.partner.tier.eq_ignore_ascii_case(t))
    {
        return Err(AppError::validation(
            "tier",
            format!("`{t}` is not one of: {}", settings.tiers.join(", ")),
        ));
    }
    let tag = nonblank(&q.tag);
    let words: Vec<String> = nonblank(&q.q)
        .map(|s| {
            s.to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let (sort, desc) = match nonblank(&q.sort).as_deref().unwrap_or("name") {
        s if s.starts_with('-') => (s[1..].to_string(), true),
        s => (s.to_string(), false),
    };
    if !SORTS.contains(&sort.as_str()) {
        return Err(AppError::validation(
            "sort",
            format!("`{sort}` is not one of: {}", SORTS.join(", ")),
        ));
    }
    let archived = q.archived.unwrap_or(false);
    let mut out: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            let p = &r.partner;
            (archived || !p.archived)
                && status.is_none_or(|s| p.status == s)
                && owner.is_none_or(|o| p.owner == o)
                && tier
                    .as_deref()
                    .is_none_or(|t| p.tier.eq_ignore_ascii_case(t))
                && band.is_none_or(|b| {
                    crate::domain::partner::Band::of(r.health.score, settings.at_risk_below) == b
                })
                && tag
                    .as_deref()
                    .is_none_or(|t| p.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
                && (words.is_empty() || {
                    let hay = haystack(p);
                    words.iter().all(|w| hay.contains(w.as_str()))
                })
        })
        .collect();
    let tier_pos = |r: &Row| {
        settings
            .tiers
            .iter()
            .position(|t| t.eq_ignore_ascii_case(&r.partner.tier))
            .unwrap_or(usize::MAX)
    };
    let name = |r: &Row| r.partner.name.to_lowercase();
    match sort.as_str() {
        "health" => out.sort_by_key(|r| (r.health.score, name(r))),
        "tier" => out.sort_by_key(|r| (tier_pos(r), name(r))),
        "status" => out.sort_by_key(|r| {
            (
                PartnerStatus::ALL
                    .iter()
                    .position(|s| *s == r.partner.status),
                name(r),
            )
        }),
        "owner" => out.sort_by_key(|r| (people.name(r.partner.owner).to_lowercase(), name(r))),
        "renewal_date" => out.sort_by_key(|r| {
            (
                r.partner.renewal_date.is_none(),
                r.partner.renewal_date,
                name(r),
            )
        }),
        "open_pipeline" => out.sort_by_key(|r| (r.facts.open_amount, name(r))),
        "won" => out.sort_by_key(|r| (r.won_this_year, name(r))),
        "updated_at" => out.sort_by_key(|r| (r.partner.updated_at, name(r))),
        _ => out.sort_by_cached_key(|r| (name(r), r.partner.id)),
    }
    if desc {
        out.reverse();
    }
    Ok(out)
}

/// The lower-cased text a search looks in.
fn haystack(p: &Partner) -> String {
    let mut h = format!("{} {} {} {}", p.name, p.website, p.region, p.tier);
    for t in p.tags.iter().chain(&p.categories) {
        h.push(' ');
        h.push_str(t);
    }
    for c in &p.contacts {
        h.push_str(&format!(" {} {} {}", c.name, c.email, c.role));
    }
    h.to_lowercase()
}

/// Page size and offset from a list query.
pub fn page_of(q: &ListQuery) -> AppResult<(usize, usize)> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 500"));
    }
    let offset = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| AppError::validation("cursor", "is not a cursor from a previous page"))?,
    };
    Ok((limit, offset))
}

/// The CSV export of rows (every column a spreadsheet user would want).
pub fn csv(
    org: &Org,
    people: &People,
    settings: &PartnerSettings,
    rows: &[&Row],
) -> AppResult<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let head = [
        "id",
        "name",
        "website",
        "tier",
        "status",
        "owner",
        "region",
        "categories",
        "tags",
        "contract_start",
        "renewal_date",
        "health",
        "health_band",
        "open_pipeline",
        "weighted_pipeline",
        "won_this_year",
        "revenue_target",
        "open_deals",
        "contacts",
        "archived",
        "created_at",
        "updated_at",
    ];
    let err = |e: ::csv::Error| AppError::internal(format!("csv: {e}"));
    w.write_record(head).map_err(err)?;
    for r in rows {
        let p = &r.partner;
        let money = |m: i64| org.currency.format_minor(m);
        let date = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
        w.write_record([
            p.id.to_string(),
            csv_safe(&p.name),
            csv_safe(&p.website),
            csv_safe(&p.tier),
            p.status.as_str().to_string(),
            csv_safe(people.name(p.owner)),
            csv_safe(&p.region),
            csv_safe(&p.categories.join("; ")),
            csv_safe(&p.tags.join("; ")),
            date(p.contract_start),
            date(p.renewal_date),
            r.health.score.to_string(),
            crate::domain::partner::Band::of(r.health.score, settings.at_risk_below)
                .as_str()
                .to_string(),
            money(r.facts.open_amount),
            money(r.facts.open_weighted),
            money(r.won_this_year),
            p.revenue_target.map(money).unwrap_or_default(),
            r.facts.open_deals.to_string(),
            csv_safe(
                &p.contacts
                    .iter()
                    .map(|c| format!("{} <{}>", c.name, c.email))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            p.archived.to_string(),
            p.created_at.to_string(),
            p.updated_at.to_string(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::internal(format!("csv: {e}")))
}

// ---------- demo ----------

/// Demo partners for an org without any (owned round-robin by `owners`); returns their ids.
/// Facts vary so that the list shows every health band: recent and stale activity, renewals
/// near and far, targets met and missed.
pub fn demo_partners(
    txn: &redb::WriteTransaction,
    org: &Org,
    owners: &[UserId],
    now: Ts,
) -> AppResult<Vec<PartnerId>> {
    if !repo::list(txn, org.id)?.is_empty() || owners.is_empty() {
        return Ok(Vec::new());
    }
    /// A demo partner: name, site, tier, status, region, days since its last activity, days
    /// to its renewal (0: none), yearly target in whole units (0: none).
    struct Demo(
        &'static str,
        &'static str,
        &'static str,
        PartnerStatus,
        &'static str,
        i64,
        i64,
        i64,
    );
    const DEMO: [Demo; 8] = [
        Demo(
            "Northwind Apps",
            "northwind.example",
            "Platinum",
            PartnerStatus::Active,
            "EMEA",
            2,
            300,
            900_000,
        ),
        Demo(
            "Contoso Cloud",
            "contoso.example",
            "Gold",
            PartnerStatus::Active,
            "NA",
            5,
            200,
            600_000,
        ),
        Demo(
            "Fabrikam Data",
            "fabrikam.example",
            "Gold",
            PartnerStatus::Active,
            "NA",
            40,
            25,
            500_000,
        ),
        Demo(
            "Adatum Security",
            "adatum.example",
            "Silver",
            PartnerStatus::Onboarding,
            "APAC",
            12,
            340,
            250_000,
        ),
        Demo(
            "Tailspin Analytics",
            "tailspin.example",
            "Silver",
            PartnerStatus::Active,
            "EMEA",
            75,
            -5,
            300_000,
        ),
        Demo(
            "Litware Labs",
            "litware.example",
            "Registered",
            PartnerStatus::Prospect,
            "LATAM",
            20,
            0,
            0,
        ),
        Demo(
            "Proseware",
            "proseware.example",
            "Registered",
            PartnerStatus::Active,
            "NA",
            8,
            120,
            150_000,
        ),
        Demo(
            "Woodgrove Integrations",
            "woodgrove.example",
            "Gold",
            PartnerStatus::Churned,
            "EMEA",
            160,
            -60,
            0,
        ),
    ];
    let settings = repo::settings(txn, org.id)?;
    let today = org.today(now);
    let mut ids = Vec::new();
    for (i, Demo(name, site, tier, status, region, quiet, renew, target)) in
        DEMO.into_iter().enumerate()
    {
        let renewal = (renew != 0)
            .then(|| today.checked_add(jiff::Span::new().days(renew)).ok())
            .flatten();
        let p = Partner {
            id: PartnerId::generate(),
            org: org.id,
            name: name.into(),
            website: format!("https://{site}"),
            tier: settings
                .tiers
                .iter()
                .find(|t| t.eq_ignore_ascii_case(tier))
                .cloned()
                .unwrap_or_else(|| tier.into()),
            status,
            owner: owners[i % owners.len()],
            region: region.into(),
            categories: vec![["Security", "Analytics", "Integration", "Cloud"][i % 4].into()],
            contract_start: renewal.and_then(|r| r.checked_sub(jiff::Span::new().years(1)).ok()),
            renewal_date: renewal,
            contacts: vec![Contact {
                name: ["Ana Silva", "Ben Okafor", "Chen Wei", "Dana Levi"][i % 4].into(),
                role: "Partner manager".into(),
                email: format!("partners@{site}"),
                phone: String::new(),
            }],
            tags: vec!["demo".into()],
            revenue_target: (target > 0)
                .then(|| target * 10i64.pow(u32::from(org.currency.minor_digits()))),
            at_risk_reason: None,
            archived: false,
            last_activity: Ts(now.0 - quiet * DAY),
            created_at: Ts(now.0 - 200 * DAY),
            updated_at: Ts(now.0 - quiet * DAY),
            version: 1,
        };
        repo::put(txn, &p)?;
        repo::add_note(
            txn,
            org.id,
            p.id,
            &Note {
                id: NoteId(
                    ulid::Ulid::from_parts(p.last_activity.0.max(0) as u64 / 1000, i as u128).0,
                ),
                at: p.last_activity,
                by: None,
                by_label: "salesboard demo".into(),
                text: format!(
                    "Quarterly review with {}: joint pipeline looked at deal by deal.",
                    p.contacts[0].name
                ),
            },
        )?;
        ids.push(p.id);
    }
    Ok(ids)
}
