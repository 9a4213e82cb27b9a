//! Pipelines, opportunities (with their history) and the forecast.
//!
//! Single records carry an `ETag` (their version); a change sent with `If-Match` applies only
//! to that version, otherwise it answers 409 naming the current one.

use super::{Json, Query};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::forecast::{Figures, Flow, Waterfall};
use crate::domain::org::Org;
use crate::domain::pipeline::{
    ForecastCategory, HistoryRecord, Opportunity, PartnerRole, Pipeline, StageKind, Tracked, Value,
};
use crate::domain::{OpportunityId, PartnerId, PipelineId, Scope, StageId, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::pipeline::{
    self as deals, ForecastArgs, OpportunityInput, People, PipelineInput, RawFilter, Viewer,
    deal_filter, parse_as_of,
};
use crate::store::{orgs, pipeline as repo};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type Viewing = Authz<perm::PipelineView>;
type Editing = Authz<perm::PipelineEdit>;

pub(super) async fn org_of(state: &AppState, id: crate::domain::OrgId) -> AppResult<Org> {
    state
        .db(move |s| Ok(s.read(|t| orgs::get(t, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))
}

/// The version an `If-Match` header names (`"7"`, `W/"7"`); `None` without the header.
pub(super) fn if_match(h: &HeaderMap) -> AppResult<Option<u64>> {
    let Some(v) = h.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    // `*`: any current version (RFC 9110), the same as no condition for a record that exists.
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse()
        .map(Some)
        .map_err(|_| AppError::bad_request("If-Match must be the ETag of the record, e.g. \"3\"."))
}

pub(super) fn with_etag<T: Serialize>(version: u64, status: StatusCode, body: T) -> Response {
    let mut r = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

// ---------- views ----------

#[derive(Serialize, ToSchema)]
pub struct StageView {
    id: StageId,
    name: String,
    probability: u8,
    kind: StageKind,
    forecast: ForecastCategory,
}

#[derive(Serialize, ToSchema)]
pub struct PipelineView {
    id: PipelineId,
    name: String,
    /// The active stages in board order.
    stages: Vec<StageView>,
    lost_reasons: Vec<String>,
    archived: bool,
    created_at: Ts,
    updated_at: Ts,
    version: u64,
}

impl From<&Pipeline> for PipelineView {
    fn from(p: &Pipeline) -> Self {
        PipelineView {
            id: p.id,
            name: p.name.clone(),
            stages: p
                .active_stages()
                .map(|s| StageView {
                    id: s.id,
                    name: s.name.clone(),
                    probability: s.probability,
                    kind: s.kind,
                    forecast: s.forecast,
                })
                .collect(),
            lost_reasons: p.lost_reasons.clone(),
            archived: p.archived,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OpportunityView {
    id: OpportunityId,
    name: String,
    account: String,
    pipeline: PipelineId,
    pipeline_name: String,
    stage: StageId,
    stage_name: String,
    /// open, won or lost
    status: StageKind,
    /// Exact decimal in the org's currency, e.g. `"12500.00"`.
    amount: String,
    currency: String,
    /// Percent.
    probability: u8,
    /// amount × probability, exact decimal.
    weighted_amount: String,
    owner: UserId,
    owner_name: String,
    #[schema(value_type = String, format = Date)]
    close_date: jiff::civil::Date,
    next_step: String,
    source: String,
    notes: String,
    lost_reason: Option<String>,
    /// The linked ISV partner, if any.
    partner: Option<PartnerId>,
    partner_name: Option<String>,
    partner_role: Option<PartnerRole>,
    archived: bool,
    created_at: Ts,
    updated_at: Ts,
    closed_at: Option<Ts>,
    /// When it entered its current stage.
    stage_since: Ts,
    /// The ETag: send it back in `If-Match` to change this version only.
    version: u64,
}

/// Partner names by id, for views of deals.
pub type PartnerNames = std::collections::HashMap<PartnerId, String>;

fn partner_names(s: &crate::store::Store, org: crate::domain::OrgId) -> AppResult<PartnerNames> {
    Ok(s.read(|t| crate::store::partners::names(t, org))?)
}

fn opp_view(
    org: &Org,
    book_pipes: &[Pipeline],
    people: &People,
    partners: &PartnerNames,
    o: &Opportunity,
    t: &Tracked,
) -> OpportunityView {
    let pipe = book_pipes.iter().find(|p| p.id == t.pipeline);
    let stage = pipe.and_then(|p| p.stage(t.stage));
    OpportunityView {
        id: o.id,
        name: o.name.clone(),
        account: o.account.clone(),
        pipeline: t.pipeline,
        pipeline_name: pipe.map(|p| p.name.clone()).unwrap_or_default(),
        stage: t.stage,
        stage_name: stage.map(|s| s.name.clone()).unwrap_or_default(),
        status: stage.map_or(StageKind::Open, |s| s.kind),
        amount: org.currency.format_minor(t.amount),
        currency: org.currency.code().to_string(),
        probability: t.probability,
        weighted_amount: org
            .currency
            .format_minor(crate::domain::forecast::weighted(t.amount, t.probability)),
        owner: t.owner,
        owner_name: people.name(t.owner).to_string(),
        close_date: t.close_date,
        next_step: o.next_step.clone(),
        source: o.source.clone(),
        notes: o.notes.clone(),
        lost_reason: o.lost_reason.clone(),
        partner: o.partner.map(|p| p.0),
        partner_name: o.partner.and_then(|p| partners.get(&p.0).cloned()),
        partner_role: o.partner.map(|p| p.1),
        archived: t.archived,
        created_at: o.created_at,
        updated_at: o.updated_at,
        closed_at: o.closed_at,
        stage_since: o.stage_since,
        version: o.version,
    }
}

// ---------- pipelines ----------

#[derive(Serialize, ToSchema)]
pub struct Pipelines {
    items: Vec<PipelineView>,
}

/// The org's pipelines with their stages (archived ones last).
#[utoipa::path(get, path = "/pipelines", tag = "pipeline",
    responses((status = 200, description = "The pipelines", body = Pipelines)))]
pub async fn list_pipelines(
    State(state): State<AppState>,
    a: Viewing,
) -> AppResult<Json<Pipelines>> {
    let org = a.user().org;
    let mut pipes = state
        .db(move |s| Ok(s.read(|t| repo::pipelines(t, org))?))
        .await?;
    pipes.sort_by_key(|p| p.archived);
    Ok(Json(Pipelines {
        items: pipes.iter().map(PipelineView::from).collect(),
    }))
}

fn parse_pipeline_id(id: &str) -> AppResult<PipelineId> {
    id.parse().map_err(|_| AppError::not_found("Pipeline"))
}

/// One pipeline.
#[utoipa::path(get, path = "/pipelines/{id}", tag = "pipeline",
    params(("id" = String, Path, description = "The pipeline id")),
    responses((status = 200, description = "The pipeline", body = PipelineView)))]
pub async fn get_pipeline(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (org, id) = (a.user().org, parse_pipeline_id(&id)?);
    let p = state
        .db(move |s| Ok(s.read(|t| repo::get_pipeline(t, org, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Pipeline"))?;
    Ok(with_etag(p.version, StatusCode::OK, PipelineView::from(&p)))
}

/// Create a pipeline. Without `stages` it gets the default ones.
#[utoipa::path(post, path = "/pipelines", tag = "pipeline", request_body = PipelineInput,
    responses((status = 201, description = "Created", body = PipelineView)))]
pub async fn create_pipeline(
    State(state): State<AppState>,
    a: Editing,
    Json(input): Json<PipelineInput>,
) -> AppResult<Response> {
    deals::org_wide(a.scope)?;
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), Scope::Org, org.clone());
    let p = state
        .db_pipeline(org.id, move |s| deals::create_pipeline(s, &c, &input))
        .await?;
    Ok(with_etag(
        p.version,
        StatusCode::CREATED,
        PipelineView::from(&p),
    ))
}

/// Rename, replace the stages (deals in removed stages move where `move_to` says), change
/// lost reasons, archive or restore.
#[utoipa::path(patch, path = "/pipelines/{id}", tag = "pipeline",
    params(("id" = String, Path, description = "The pipeline id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; a stale one answers 409")),
    request_body = PipelineInput,
    responses((status = 200, description = "The updated pipeline", body = PipelineView)))]
pub async fn update_pipeline(
    State(state): State<AppState>,
    a: Editing,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(input): Json<PipelineInput>,
) -> AppResult<Response> {
    deals::org_wide(a.scope)?;
    let id = parse_pipeline_id(&id)?;
    let version = if_match(&headers)?;
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), Scope::Org, org.clone());
    let p = state
        .db_pipeline(org.id, move |s| {
            deals::update_pipeline(s, &c, id, &input, version)
        })
        .await?;
    Ok(with_etag(p.version, StatusCode::OK, PipelineView::from(&p)))
}

// ---------- opportunities ----------

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OpportunityQuery {
    /// Pipeline id or name.
    pipeline: Option<String>,
    /// Owner user id, or `me`.
    owner: Option<String>,
    /// Partner id: only deals linked to it.
    partner: Option<String>,
    /// Expected close date from (inclusive), `YYYY-MM-DD`.
    close_from: Option<String>,
    /// Expected close date to (inclusive).
    close_to: Option<String>,
    /// open, won or lost.
    status: Option<String>,
    /// Words in the name or account.
    q: Option<String>,
    /// Include archived opportunities.
    archived: Option<bool>,
    /// Show the opportunities as they stood at this instant (RFC 3339) or the end of this
    /// day (`YYYY-MM-DD`, org time zone).
    as_of: Option<String>,
    /// close_date (default), amount, name, stage, owner, updated_at or created_at; prefix `-`
    /// for descending.
    sort: Option<String>,
    /// Page size, 1–500, default 50.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OpportunityPage {
    items: Vec<OpportunityView>,
    /// Matching opportunities over all pages.
    total: usize,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

/// Opportunities the caller may see, filtered, sorted and paged; optionally as of a past
/// instant (reconstructed from the history).
#[utoipa::path(get, path = "/opportunities", tag = "pipeline", params(OpportunityQuery),
    responses((status = 200, description = "A page of opportunities", body = OpportunityPage)))]
pub async fn list_opportunities(
    State(state): State<AppState>,
    a: Viewing,
    Query(q): Query<OpportunityQuery>,
) -> AppResult<Json<OpportunityPage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 500"));
    }
    let offset: usize = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| AppError::validation("cursor", "is not a cursor from a previous page"))?,
    };
    let (sort, desc) = match q.sort.as_deref().unwrap_or("close_date") {
        s if s.starts_with('-') => (s[1..].to_string(), true),
        s => (s.to_string(), false),
    };
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(StageKind::parse(s).map_err(|e| AppError::validation("status", e.message))?)
        }
    };
    let org = org_of(&state, a.user().org).await?;
    let viewer = Viewer {
        me: a.user().id,
        scope: a.scope,
    };
    let st = state.clone();
    let page = state
        .db(move |s| {
            let book = st.books.get(s, org.id)?;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let partners = partner_names(s, org.id)?;
            let mut filter = deal_filter(&book, viewer.me, RawFilter { pipeline: q.pipeline.as_deref(), owner: q.owner.as_deref(), partner: q.partner.as_deref(), close_from: q.close_from.as_deref(), close_to: q.close_to.as_deref(), q: q.q.as_deref() })?;
            filter.include_archived = q.archived.unwrap_or(false);
            let states = match parse_as_of(&org, q.as_of.as_deref())? {
                Some(at) => Some(deals::states_at(s, &book, org.id, at)?),
                None => None,
            };
            let stages = book.stages();
            let mut rows = deals::visible(&book, &people, viewer, &filter, states.as_ref());
            if let Some(k) = status {
                rows.retain(|(_, t)| stages.kind(t.stage) == k);
            }
            let stage_pos = |t: &Tracked| {
                book.pipeline(t.pipeline)
                    .and_then(|p| p.stages.iter().position(|s| s.id == t.stage))
                    .unwrap_or(0)
            };
            match sort.as_str() {
                "close_date" => rows.sort_by_key(|(o, t)| (t.close_date, o.id)),
                "amount" => rows.sort_by_key(|(o, t)| (t.amount, o.id)),
                "name" => rows.sort_by_cached_key(|(o, _)| (o.name.to_lowercase(), o.id)),
                "stage" => rows.sort_by_key(|(o, t)| (t.pipeline, stage_pos(t), o.id)),
                "owner" => rows.sort_by(|a, b| (people.name(a.1.owner), a.0.id).cmp(&(people.name(b.1.owner), b.0.id))),
                "updated_at" => rows.sort_by_key(|(o, _)| (o.updated_at, o.id)),
                "created_at" => rows.sort_by_key(|(o, _)| (o.created_at, o.id)),
                other => {
                    return Err(AppError::validation("sort", format!("`{other}` is not one of: close_date, amount, name, stage, owner, updated_at, created_at")));
                }
            }
            if desc {
                rows.reverse();
            }
            let total = rows.len();
            let items = rows
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(o, t)| opp_view(&org, &book.pipelines, &people, &partners, o, t))
                .collect();
            Ok(OpportunityPage {
                items,
                total,
                next_cursor: offset
                    .checked_add(limit)
                    .filter(|end| *end < total)
                    .map(|end| end.to_string()),
            })
        })
        .await?;
    Ok(Json(page))
}

fn parse_opp_id(id: &str) -> AppResult<OpportunityId> {
    id.parse().map_err(|_| AppError::not_found("Opportunity"))
}

/// Load one opportunity the viewer may see (others' out-of-scope deals are "not found").
fn visible_one(
    state: &AppState,
    s: &crate::store::Store,
    org: &Org,
    viewer: Viewer,
    id: OpportunityId,
) -> AppResult<(std::sync::Arc<deals::Book>, People, OpportunityView)> {
    let book = state.books.get(s, org.id)?;
    let people = s.read(|t| Ok(People::load(t, org.id)))??;
    let o = deals::deal_in_scope(&book, &people, viewer, id)?;
    let view = opp_view(
        org,
        &book.pipelines,
        &people,
        &partner_names(s, org.id)?,
        o,
        &o.state,
    );
    Ok((book.clone(), people, view))
}

/// One opportunity.
#[utoipa::path(get, path = "/opportunities/{id}", tag = "pipeline",
    params(("id" = String, Path, description = "The opportunity id")),
    responses((status = 200, description = "The opportunity; its version is the ETag", body = OpportunityView)))]
pub async fn get_opportunity(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_opp_id(&id)?;
    let org = org_of(&state, a.user().org).await?;
    let viewer = Viewer {
        me: a.user().id,
        scope: a.scope,
    };
    let st = state.clone();
    let view = state
        .db(move |s| Ok(visible_one(&st, s, &org, viewer, id)?.2))
        .await?;
    Ok(with_etag(view.version, StatusCode::OK, view))
}

async fn write_opp(
    state: &AppState,
    a: &Editing,
    id: Option<OpportunityId>,
    input: OpportunityInput,
    version: Option<u64>,
) -> AppResult<Response> {
    let org = org_of(state, a.user().org).await?;
    let viewer = Viewer::of(a.user());
    let me = viewer.me;
    let st = state.clone();
    let c = state.caller(a.user(), a.scope, org.clone());
    let (view, status) = state
        .db_pipeline(org.id, move |s| {
            // A deal the caller cannot see is "not found", before any edit rule.
            if let Some(id) = id {
                visible_one(&st, s, &org, viewer, id)?;
            }
            let (opp, status) = match id {
                None => (
                    deals::create_opportunity(s, &c, &input)?,
                    StatusCode::CREATED,
                ),
                Some(id) => (
                    deals::update_opportunity(s, &c, id, &input, version)?,
                    StatusCode::OK,
                ),
            };
            let (_, _, view) = visible_one(
                &st,
                s,
                &org,
                Viewer {
                    me,
                    scope: Scope::Org,
                },
                opp.id,
            )?;
            Ok((view, status))
        })
        .await?;
    Ok(with_etag(view.version, status, view))
}

/// Create an opportunity (recorded as the first entry of its history).
#[utoipa::path(post, path = "/opportunities", tag = "pipeline", request_body = OpportunityInput,
    responses((status = 201, description = "Created", body = OpportunityView)))]
pub async fn create_opportunity(
    State(state): State<AppState>,
    a: Editing,
    Json(input): Json<OpportunityInput>,
) -> AppResult<Response> {
    write_opp(&state, &a, None, input, None).await
}

/// Change an opportunity: any of its fields; moving it to another stage is `{"stage": "Proposal"}`.
/// Every change of pipeline, stage, amount, probability, owner, close date or archived is
/// recorded in its history.
#[utoipa::path(patch, path = "/opportunities/{id}", tag = "pipeline",
    params(("id" = String, Path, description = "The opportunity id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last seen; a stale one answers 409")),
    request_body = OpportunityInput,
    responses((status = 200, description = "The updated opportunity", body = OpportunityView)))]
pub async fn update_opportunity(
    State(state): State<AppState>,
    a: Editing,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(input): Json<OpportunityInput>,
) -> AppResult<Response> {
    let id = parse_opp_id(&id)?;
    let version = if_match(&headers)?;
    write_opp(&state, &a, Some(id), input, version).await
}

#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    field: &'static str,
    /// Absent in the creation entry.
    before: Option<serde_json::Value>,
    after: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    seq: u32,
    at: Ts,
    by: Option<UserId>,
    by_label: String,
    changes: Vec<ChangeView>,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    items: Vec<HistoryView>,
}

pub fn value_json(org: &Org, v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Pipeline(p) => json!(p.to_string()),
        Value::Stage(id, name) => json!({"id": id.to_string(), "name": name}),
        Value::Amount(a) => json!(org.currency.format_minor(*a)),
        Value::Probability(p) => json!(p),
        Value::Owner(u) => json!(u.to_string()),
        Value::CloseDate(d) => json!(d.to_string()),
        Value::Archived(b) => json!(b),
    }
}

fn history_view(org: &Org, r: &HistoryRecord) -> HistoryView {
    HistoryView {
        seq: r.seq,
        at: r.at,
        by: r.by,
        by_label: r.by_label.clone(),
        changes: r
            .changes
            .iter()
            .map(|c| ChangeView {
                field: c.after.field(),
                before: c.before.as_ref().map(|b| value_json(org, b)),
                after: value_json(org, &c.after),
            })
            .collect(),
    }
}

/// The opportunity's history, oldest first: who changed which tracked field when, with the
/// values before and after.
#[utoipa::path(get, path = "/opportunities/{id}/history", tag = "pipeline",
    params(("id" = String, Path, description = "The opportunity id")),
    responses((status = 200, description = "The history", body = History)))]
pub async fn opportunity_history(
    State(state): State<AppState>,
    a: Viewing,
    Path(id): Path<String>,
) -> AppResult<Json<History>> {
    let id = parse_opp_id(&id)?;
    let org = org_of(&state, a.user().org).await?;
    let viewer = Viewer {
        me: a.user().id,
        scope: a.scope,
    };
    let st = state.clone();
    let items = state
        .db(move |s| {
            visible_one(&st, s, &org, viewer, id)?;
            let recs = s.read(|t| repo::history(t, org.id, id))?;
            Ok(recs.iter().map(|r| history_view(&org, r)).collect())
        })
        .await?;
    Ok(Json(History { items }))
}

// ---------- forecast ----------

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// `month` (default: this month), `quarter` (this quarter), or `custom` with from/to.
    period: Option<String>,
    /// First day (custom), or any day of the month/quarter wanted.
    from: Option<String>,
    /// Last day (custom).
    to: Option<String>,
    pipeline: Option<String>,
    /// Owner user id, or `me`.
    owner: Option<String>,
    /// The forecast as it stood at this instant or the end of this day.
    as_of: Option<String>,
    /// Start of the waterfall (an instant, or a day meaning its end); default 7 days before
    /// `as_of` (or now).
    since: Option<String>,
    /// Open deals unchanged for this many days are stale (default 30).
    stale_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Row {
    /// The owner, team, partner or pipeline id (`null`: none).
    key: Option<String>,
    label: String,
    #[serde(flatten)]
    figures: MoneyFigures,
}

/// Forecast figures as exact decimals of the org's currency.
#[derive(Serialize, ToSchema)]
pub struct MoneyFigures {
    closed_won: String,
    commit: String,
    best_case: String,
    pipeline: String,
    weighted: String,
    open_deals: u64,
    won_deals: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ForecastView {
    #[schema(value_type = String, format = Date)]
    from: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    to: jiff::civil::Date,
    as_of: Option<Ts>,
    currency: String,
    total: MoneyFigures,
    /// The period's target from the monthly targets (the owner's with `owner`, else the
    /// organization's); months the period covers in part count by their share of days.
    target: Option<String>,
    /// Target minus closed won (not below zero).
    gap: Option<String>,
    /// Open pipeline / gap.
    coverage: Option<f64>,
    by_owner: Vec<Row>,
    by_team: Vec<Row>,
    by_pipeline: Vec<Row>,
    by_partner: Vec<Row>,
    /// Open deals whose close date has passed.
    slipped: AttentionView,
    /// Open deals with no change for `stale_days`.
    stale: AttentionView,
    /// Stage durations and conversions of the chosen pipeline (or the first one).
    flow: Flow,
    flow_pipeline: PipelineId,
    /// How the period's open pipeline changed since `waterfall_since`.
    waterfall: WaterfallView,
    waterfall_since: Ts,
}

/// Deals needing attention.
#[derive(Serialize, ToSchema)]
pub struct AttentionView {
    count: usize,
    /// Their total amount.
    amount: String,
    /// The 50 largest, largest first.
    top: Vec<OpportunityId>,
}

fn attention_view(org: &Org, a: &deals::Attention) -> AttentionView {
    AttentionView {
        count: a.count,
        amount: org.currency.format_minor(a.amount),
        top: a.top.iter().map(|(id, _)| *id).collect(),
    }
}

/// Open pipeline of the period at the start, each kind of change, and at the end; exact
/// decimals: `start + new + moved_in - moved_out - won - lost + amount_up - amount_down = end`.
#[derive(Serialize, ToSchema)]
pub struct WaterfallView {
    start: String,
    new: String,
    moved_in: String,
    moved_out: String,
    won: String,
    lost: String,
    amount_up: String,
    amount_down: String,
    end: String,
}

fn waterfall_view(org: &Org, w: &Waterfall) -> WaterfallView {
    let m = |v| org.currency.format_minor(v);
    WaterfallView {
        start: m(w.start),
        new: m(w.new),
        moved_in: m(w.moved_in),
        moved_out: m(w.moved_out),
        won: m(w.won),
        lost: m(w.lost),
        amount_up: m(w.amount_up),
        amount_down: m(w.amount_down),
        end: m(w.end),
    }
}

fn money(org: &Org, f: &Figures) -> MoneyFigures {
    let m = |v| org.currency.format_minor(v);
    MoneyFigures {
        closed_won: m(f.closed_won),
        commit: m(f.commit),
        best_case: m(f.best_case),
        pipeline: m(f.pipeline),
        weighted: m(f.weighted),
        open_deals: f.open_deals,
        won_deals: f.won_deals,
    }
}

/// Closed won, commit, best case, pipeline and weighted pipeline of a period, by owner, team,
/// pipeline and partner; slipped and stale deals; stage flow; the waterfall since a date.
#[utoipa::path(get, path = "/forecast", tag = "pipeline", params(ForecastQuery),
    responses((status = 200, description = "The forecast", body = ForecastView)))]
pub async fn forecast(
    State(state): State<AppState>,
    a: Viewing,
    Query(q): Query<ForecastQuery>,
) -> AppResult<Json<ForecastView>> {
    let org = org_of(&state, a.user().org).await?;
    let viewer = Viewer {
        me: a.user().id,
        scope: a.scope,
    };
    let now = state.clock.now();
    let st = state.clone();
    let view = state
        .db(move |s| {
            let args = ForecastArgs {
                period: q.period.as_deref(),
                from: q.from.as_deref(),
                to: q.to.as_deref(),
                pipeline: q.pipeline.as_deref(),
                owner: q.owner.as_deref(),
                as_of: q.as_of.as_deref(),
                since: q.since.as_deref(),
                stale_days: q.stale_days,
            };
            let d = deals::forecast_data(s, &st.books, &org, viewer, args, now)?;
            let f = &d.forecast;
            let row = |key: Option<String>, label: String, v: &Figures| Row {
                key,
                label,
                figures: money(&org, v),
            };
            let (flow_pipeline, flow) = d
                .flow
                .as_ref()
                .map(|(p, f)| (*p, Flow::clone(f)))
                .ok_or_else(|| AppError::not_found("Pipeline"))?;
            let remaining = d.target.map(|t| (t - f.total.closed_won).max(0));
            Ok(ForecastView {
                from: d.period.from,
                to: d.period.to,
                as_of: d.as_of,
                currency: org.currency.code().to_string(),
                total: money(&org, &f.total),
                target: d.target.map(|t| org.currency.format_minor(t)),
                gap: remaining.map(|g| org.currency.format_minor(g)),
                coverage: remaining
                    .filter(|g| *g > 0)
                    .map(|g| f.total.pipeline as f64 / g as f64),
                by_owner: f
                    .by_owner
                    .iter()
                    .map(|(k, v)| row(Some(k.to_string()), d.people.name(*k).to_string(), v))
                    .collect(),
                by_team: f
                    .by_team
                    .iter()
                    .map(|(k, v)| row(k.map(|t| t.to_string()), d.team_name(*k), v))
                    .collect(),
                by_pipeline: f
                    .by_pipeline
                    .iter()
                    .map(|(k, v)| row(Some(k.to_string()), d.pipeline_name(*k), v))
                    .collect(),
                by_partner: f
                    .by_partner
                    .iter()
                    .map(|(k, v)| row(k.map(|p| p.to_string()), d.partner_name(*k), v))
                    .collect(),
                slipped: attention_view(&org, &d.slipped),
                stale: attention_view(&org, &d.stale),
                flow,
                flow_pipeline,
                waterfall: waterfall_view(&org, &d.waterfall),
                waterfall_since: d.since,
            })
        })
        .await?;
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// `YYYY-MM`.
    month: String,
    /// A user id for a personal target; omit for the whole organization's.
    owner: Option<String>,
    /// Decimal string or number; `null` removes the target.
    amount: Option<crate::domain::money::MoneyInput>,
}

#[derive(Serialize, ToSchema)]
pub struct TargetView {
    month: String,
    owner: Option<UserId>,
    amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct Targets {
    items: Vec<TargetView>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TargetQuery {
    /// First month, `YYYY-MM` (default: this month).
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: 11 months after `from`).
    to: Option<String>,
}

/// Monthly forecast targets (the organization's and personal ones).
#[utoipa::path(get, path = "/forecast/targets", tag = "pipeline", params(TargetQuery),
    responses((status = 200, description = "The targets", body = Targets)))]
pub async fn list_targets(
    State(state): State<AppState>,
    a: Viewing,
    Query(q): Query<TargetQuery>,
) -> AppResult<Json<Targets>> {
    let org = org_of(&state, a.user().org).await?;
    let this = crate::domain::forecast::month_number(org.today(state.clock.now()));
    let from = match q.from.as_deref() {
        Some(m) => deals::parse_month("from", m)?,
        None => this,
    };
    let to = match q.to.as_deref() {
        Some(m) => deals::parse_month("to", m)?,
        None => from + 11,
    };
    let viewer = Viewer {
        me: a.user().id,
        scope: a.scope,
    };
    // Personal targets of people the caller may see, and the organization's.
    let items = state
        .db(move |s| {
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let all = s.read(|t| repo::targets(t, org.id, from, to))?;
            Ok(all
                .into_iter()
                .filter(|(_, owner, _)| {
                    owner.is_none_or(|u| people.in_scope(viewer.scope, viewer.me, u))
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(Targets {
        items: items
            .into_iter()
            .map(|(m, owner, a)| TargetView {
                month: deals::month_text(m),
                owner,
                amount: org.currency.format_minor(a),
            })
            .collect(),
    }))
}

/// Set (or with `amount: null` remove) a monthly target. Needs `goals.manage`: org-wide for
/// the organization's targets, a manager's team scope for their team members'.
#[utoipa::path(put, path = "/forecast/targets", tag = "pipeline", request_body = TargetBody,
    responses((status = 200, description = "The targets of that month", body = Targets)))]
pub async fn set_target(
    State(state): State<AppState>,
    a: Authz<perm::GoalsManage>,
    Json(b): Json<TargetBody>,
) -> AppResult<Json<Targets>> {
    let org = org_of(&state, a.user().org).await?;
    let month = deals::parse_month("month", &b.month)?;
    let org2 = org.clone();
    let c = state.caller(a.user(), a.scope, org2.clone());
    let items = state
        .db_pipeline(org.id, move |s| {
            deals::set_targets(s, &c, b.owner.as_deref(), &[(month, b.amount.clone())])?;
            Ok(s.read(|t| repo::targets(t, org2.id, month, month))?)
        })
        .await?;
    Ok(Json(Targets {
        items: items
            .into_iter()
            .map(|(m, owner, a)| TargetView {
                month: deals::month_text(m),
                owner,
                amount: org.currency.format_minor(a),
            })
            .collect(),
    }))
}
