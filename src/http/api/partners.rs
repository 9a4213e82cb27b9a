//! ISV partners: list (filters, sorting, pages, CSV), create, change, archive, notes, the
//! health score with its factors and history, and the org's partner settings.

use super::pipeline::{if_match, org_of, with_etag};
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::org::Org;
use crate::domain::partner::{Band, Contact, Factor, Health, Note, PartnerSettings, PartnerStatus};
use crate::domain::{NoteId, PartnerId, Scope, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::partners::{self as svc, ListQuery, PartnerInput, Row, SettingsInput};
use crate::pipeline::People;
use crate::store::partners as repo;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type Viewing = Authz<perm::PartnersView>;
type Editing = Authz<perm::PartnersEdit>;

#[derive(Serialize, ToSchema)]
pub struct HealthSummary {
    /// 0–100.
    score: u8,
    /// at_risk, watch or healthy.
    band: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    id: PartnerId,
    name: String,
    website: String,
    tier: String,
    status: PartnerStatus,
    /// Why salesboard marked the partner at risk, if it did.
    at_risk_reason: Option<String>,
    owner: UserId,
    owner_name: String,
    region: String,
    categories: Vec<String>,
    #[schema(value_type = Option<String>, format = Date)]
    contract_start: Option<jiff::civil::Date>,
    #[schema(value_type = Option<String>, format = Date)]
    renewal_date: Option<jiff::civil::Date>,
    contacts: Vec<Contact>,
    tags: Vec<String>,
    currency: String,
    /// Yearly revenue target, exact decimal.
    revenue_target: Option<String>,
    health: HealthSummary,
    /// Open deals linked to the partner (sourced or influenced) and their amounts.
    open_deals: u32,
    open_pipeline: String,
    weighted_pipeline: String,
    /// Won amount of its deals closing this calendar year.
    won_this_year: String,
    archived: bool,
    last_activity: Ts,
    created_at: Ts,
    updated_at: Ts,
    /// The ETag: send it back in `If-Match` to change this version only.
    version: u64,
}

fn view(org: &Org, people: &People, settings: &PartnerSettings, r: &Row) -> PartnerView {
    let p = &r.partner;
    let money = |m: i64| org.currency.format_minor(m);
    PartnerView {
        id: p.id,
        name: p.name.clone(),
        website: p.website.clone(),
        tier: p.tier.clone(),
        status: p.status,
        at_risk_reason: p.at_risk_reason.clone(),
        owner: p.owner,
        owner_name: people.name(p.owner).to_string(),
        region: p.region.clone(),
        categories: p.categories.clone(),
        contract_start: p.contract_start,
        renewal_date: p.renewal_date,
        contacts: p.contacts.clone(),
        tags: p.tags.clone(),
        currency: org.currency.code().to_string(),
        revenue_target: p.revenue_target.map(money),
        health: HealthSummary {
            score: r.health.score,
            band: Band::of(r.health.score, settings.at_risk_below).as_str(),
        },
        open_deals: r.facts.open_deals,
        open_pipeline: money(r.facts.open_amount),
        weighted_pipeline: money(r.facts.open_weighted),
        won_this_year: money(r.won_this_year),
        archived: p.archived,
        last_activity: p.last_activity,
        created_at: p.created_at,
        updated_at: p.updated_at,
        version: p.version,
    }
}

/// Everything a read needs: the org, its people, settings and every partner's row.
struct Loaded {
    org: Org,
    people: People,
    settings: PartnerSettings,
    rows: Vec<Row>,
}

async fn load(state: &AppState, org: crate::domain::OrgId) -> AppResult<Loaded> {
    let org = org_of(state, org).await?;
    let st = state.clone();
    let now = state.clock.now();
    state
        .db(move |s| {
            let (settings, rows) = svc::rows(s, &st.books, &org, now)?;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            Ok(Loaded {
                org,
                people,
                settings,
                rows,
            })
        })
        .await
}

fn parse_id(id: &str) -> AppResult<PartnerId> {
    id.parse().map_err(|_| AppError::not_found("Partner"))
}

impl Loaded {
    fn one(&self, id: PartnerId) -> AppResult<&Row> {
        self.rows
            .iter()
            .find(|r| r.partner.id == id)
            .ok_or_else(|| AppError::not_found("Partner"))
    }
    fn view(&self, r: &Row) -> PartnerView {
        view(&self.org, &self.people, &self.settings, r)
    }
}

#[derive(Serialize, ToSchema)]
pub struct PartnerPage {
    items: Vec<PartnerView>,
    /// Matching partners over all pages.
    total: usize,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

/// Partners, filtered, sorted and paged, each with its health and deal figures.
#[utoipa::path(get, path = "/partners", tag = "partners", params(ListQuery),
    responses((status = 200, description = "A page of partners", body = PartnerPage)))]
pub async fn list_partners(
    State(state): State<AppState>,
    a: Viewing,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<PartnerPage>> {
    let (limit, offset) = svc::page_of(&q)?;
    let l = load(&state, a.user().org).await?;
    let rows = svc::select(&l.rows, &l.settings, &l.people, a.user().id, &q)?;
    let total = rows.len();
    Ok(Json(PartnerPage {
        items: rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| l.view(r))
            .collect(),
        total,
        next_cursor: offset
            .checked_add(limit)
            .filter(|end| *end < total)
            .map(|end| end.to_string()),
    }))
}

/// The same list as CSV (every matching partner; `limit` and `cursor` are ignored). Needs
/// reports.export as well as partners.view.
#[utoipa::path(get, path = "/partners/export", tag = "partners", params(ListQuery),
    responses((status = 200, description = "CSV, one partner per row", content_type = "text/csv", body = String)))]
pub async fn export_partners(
    State(state): State<AppState>,
    a: Authz<perm::ReportsExport>,
    _viewing: Viewing,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let l = load(&state, a.user().org).await?;
    let rows = svc::select(&l.rows, &l.settings, &l.people, a.user().id, &q)?;
    let body = svc::csv(&l.org, &l.people, &l.settings, &rows)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"partners.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// One partner.
#[utoipa::path(get, path = "/partners/{id}", tag = "partners",
    params(("id" = String, Path, description = "The partner id")),
    responses((status = 200, description = "The partner; its version is the ETag", body = PartnerView)))]
pub async fn get_partner(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let l = load(&state, a.user().org).await?;
    let v = l.view(l.one(id)?);
    Ok(with_etag(v.version, StatusCode::OK, v))
}

async fn write(
    state: &AppState,
    a: &Editing,
    id: Option<PartnerId>,
    input: PartnerInput,
    version: Option<u64>,
) -> AppResult<Response> {
    let org = org_of(state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org.clone());
    let st = state.clone();
    let p = state
        .db(move |s| match id {
            None => svc::create_partner(s, &st.books, &c, &input),
            Some(id) => svc::update_partner(s, &st.books, &c, id, &input, version),
        })
        .await?;
    let l = load(state, org.id).await?;
    let v = l.view(l.one(p.id)?);
    let status = if id.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(v.version, status, v))
}

/// Create a partner (only `name` is required). The health score of the day is recorded.
#[utoipa::path(post, path = "/partners", tag = "partners", request_body = PartnerInput,
    responses((status = 201, description = "Created", body = PartnerView)))]
pub async fn create_partner(
    State(state): State<AppState>,
    a: Editing,
    Json(input): Json<PartnerInput>,
) -> AppResult<Response> {
    write(&state, &a, None, input, None).await
}

/// Change a partner: any of its fields; `{"archived": true}` archives it (partners are never
/// deleted). Setting a status replaces salesboard's at-risk mark.
#[utoipa::path(patch, path = "/partners/{id}", tag = "partners",
    params(("id" = String, Path, description = "The partner id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; a stale one answers 409")),
    request_body = PartnerInput,
    responses((status = 200, description = "The updated partner", body = PartnerView)))]
pub async fn update_partner(
    State(state): State<AppState>,
    a: Editing,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(input): Json<PartnerInput>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let version = if_match(&headers)?;
    write(&state, &a, Some(id), input, version).await
}

#[derive(Serialize, ToSchema)]
pub struct FactorView {
    factor: Factor,
    label: &'static str,
    /// 0–100; absent when the factor does not apply (its weight goes to the others).
    score: Option<u8>,
    /// The fact behind the score.
    detail: String,
    weight: u8,
    /// Points of the total score from this factor.
    contribution: f64,
}

#[derive(Serialize, ToSchema)]
pub struct DayScore {
    #[schema(value_type = String, format = Date)]
    date: jiff::civil::Date,
    score: u8,
}

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    score: u8,
    band: &'static str,
    at_risk_below: u8,
    at_risk_reason: Option<String>,
    factors: Vec<FactorView>,
    /// The stored daily scores of the last 180 days, oldest first.
    history: Vec<DayScore>,
}

pub fn factor_views(h: &Health) -> Vec<FactorView> {
    h.factors
        .iter()
        .map(|f| FactorView {
            factor: f.factor,
            label: f.factor.label(),
            score: f.score,
            detail: f.detail.clone(),
            weight: f.weight,
            contribution: (f.contribution * 10.0).round() / 10.0,
        })
        .collect()
}

/// The partner's health now, explained factor by factor, with its daily history.
#[utoipa::path(get, path = "/partners/{id}/health", tag = "partners",
    params(("id" = String, Path, description = "The partner id")),
    responses((status = 200, description = "The health score and history", body = HealthView)))]
pub async fn partner_health(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Json<HealthView>> {
    let id = parse_id(&id)?;
    let l = load(&state, a.user().org).await?;
    let r = l.one(id)?;
    let today = crate::analytics::day_number(l.org.today(state.clock.now()));
    let org = l.org.id;
    let history = state
        .db(move |s| Ok(s.read(|t| repo::health_history(t, org, id, today - 179, today))?))
        .await?;
    Ok(Json(HealthView {
        score: r.health.score,
        band: Band::of(r.health.score, l.settings.at_risk_below).as_str(),
        at_risk_below: l.settings.at_risk_below,
        at_risk_reason: r.partner.at_risk_reason.clone(),
        factors: factor_views(&r.health),
        history: history
            .into_iter()
            .map(|(d, score)| DayScore {
                date: crate::analytics::day_date(d),
                score,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NoteView {
    id: NoteId,
    at: Ts,
    by: Option<UserId>,
    by_label: String,
    text: String,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        NoteView {
            id: n.id,
            at: n.at,
            by: n.by,
            by_label: n.by_label,
            text: n.text,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Notes {
    /// Newest first.
    items: Vec<NoteView>,
}

/// A partner's notes, newest first.
#[utoipa::path(get, path = "/partners/{id}/notes", tag = "partners",
    params(("id" = String, Path, description = "The partner id")),
    responses((status = 200, description = "The notes", body = Notes)))]
pub async fn list_notes(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Json<Notes>> {
    let id = parse_id(&id)?;
    let org = a.user().org;
    let notes = state
        .db(move |s| {
            s.read(|t| {
                Ok(match repo::get(t, org, id)? {
                    None => None,
                    Some(_) => Some(repo::notes(t, org, id)?),
                })
            })?
            .ok_or_else(|| AppError::not_found("Partner"))
        })
        .await?;
    Ok(Json(Notes {
        items: notes.into_iter().map(NoteView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1–10,000 characters; line breaks are kept.
    text: String,
}

/// Add a note (anyone who may see partners and edit some; the author and time are recorded).
#[utoipa::path(post, path = "/partners/{id}/notes", tag = "partners",
    params(("id" = String, Path, description = "The partner id")),
    request_body = NoteInput,
    responses((status = 201, description = "The note", body = NoteView)))]
pub async fn add_note(
    State(state): State<AppState>,
    a: Editing,
    Path(id): Path<String>,
    Json(input): Json<NoteInput>,
) -> AppResult<(StatusCode, Json<NoteView>)> {
    let id = parse_id(&id)?;
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org);
    let note = state
        .db(move |s| svc::add_note(s, &c, id, &input.text))
        .await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    tiers: Vec<String>,
    /// Factor -> weight (0–100, relative).
    weights: std::collections::BTreeMap<&'static str, u8>,
    at_risk_below: u8,
    version: u64,
}

fn settings_view(s: &PartnerSettings) -> SettingsView {
    SettingsView {
        tiers: s.tiers.clone(),
        weights: Factor::ALL
            .iter()
            .map(|f| (f.as_str(), s.weights.get(*f)))
            .collect(),
        at_risk_below: s.at_risk_below,
        version: s.version,
    }
}

/// The org's partner settings: tiers, health weights and the at-risk threshold.
#[utoipa::path(get, path = "/partner-settings", tag = "partners",
    responses((status = 200, description = "The settings; the version is the ETag", body = SettingsView)))]
pub async fn get_settings(State(state): State<AppState>, a: Viewing) -> AppResult<Response> {
    let org = a.user().org;
    let s = state
        .db(move |s| Ok(s.read(|t| repo::settings(t, org))?))
        .await?;
    Ok(with_etag(s.version, StatusCode::OK, settings_view(&s)))
}

/// Change the partner settings (partners.edit for the whole organization).
#[utoipa::path(put, path = "/partner-settings", tag = "partners", request_body = SettingsInput,
    params(("If-Match" = Option<String>, Header, description = "The ETag last seen; a stale one answers 409")),
    responses((status = 200, description = "The new settings", body = SettingsView)))]
pub async fn put_settings(
    State(state): State<AppState>,
    a: Editing,
    headers: HeaderMap,
    Json(input): Json<SettingsInput>,
) -> AppResult<Response> {
    let version = if_match(&headers)?;
    let org = org_of(&state, a.user().org).await?;
    let scope: Scope = a.scope;
    let c = state.caller(a.user(), scope, org);
    let s = state
        .db(move |s| svc::update_settings(s, &c, &input, version))
        .await?;
    Ok(with_etag(s.version, StatusCode::OK, settings_view(&s)))
}
