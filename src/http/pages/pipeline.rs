//! `/pipeline` (kanban board and table), `/opportunities/…` (new, detail with timeline, edit)
//! and `/forecast`. The board's whole state is in the URL; htmx swaps `#board` in place and
//! pushes the URL; the same URLs render the full page without JavaScript. Open boards refresh
//! themselves when `/live/pipeline` says something changed.

use super::{Shell, shell};
use crate::app::AppState;
use crate::auth::{Authz, csrf, perm};
use crate::domain::forecast::Period;
use crate::domain::org::Org;
use crate::domain::pipeline::{Opportunity, StageKind, Tracked};
use crate::domain::{OpportunityId, Permission, PipelineId, Scope, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::pipeline::{
    self as deals, OpportunityInput, People, RawFilter, Viewer, deal_filter, parse_as_of,
};
use crate::render::pipeline as r;
use crate::store::{orgs, pipeline as repo};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "pages/pipeline.html")]
pub struct PipelinePage {
    shell: Shell,
    heading: String,
    actions: bool,
    body: String,
}

/// Cards shown per board column (counts and totals cover every deal).
const CARDS_PER_COLUMN: usize = 50;
/// Days of won and lost deals the board shows when no close period is chosen.
const CLOSED_RECENT_DAYS: i64 = 30;
/// Rows per table page.
const TABLE_PAGE: usize = 100;

/// The board's state, as in its URL.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoardQuery {
    pub pipeline: Option<PipelineId>,
    /// `""`, `me` or a user id.
    pub owner: String,
    /// `""` or a partner id.
    pub partner: String,
    /// One of [`r::CLOSE_CHOICES`].
    pub close: String,
    pub q: String,
    pub table: bool,
    pub as_of: Option<jiff::civil::Date>,
    pub page: usize,
}

impl BoardQuery {
    pub fn parse(raw: &str) -> AppResult<BoardQuery> {
        let mut b = BoardQuery::default();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let v = v.trim();
            match k.as_ref() {
                "pipeline" if !v.is_empty() => {
                    b.pipeline =
                        Some(v.parse().map_err(|_| {
                            AppError::validation("pipeline", "is not a pipeline id")
                        })?)
                }
                "owner" => b.owner = v.to_string(),
                "partner" => {
                    if !v.is_empty() && v.parse::<crate::domain::PartnerId>().is_err() {
                        return Err(AppError::validation("partner", "is not a partner id"));
                    }
                    b.partner = v.to_string();
                }
                "close" => {
                    if !r::CLOSE_CHOICES.iter().any(|(c, _)| *c == v) {
                        return Err(AppError::validation(
                            "close",
                            format!("`{v}` is not a close period"),
                        ));
                    }
                    b.close = v.to_string();
                }
                "q" => b.q = v.chars().take(100).collect(),
                "view" => b.table = v == "table",
                "as_of" if !v.is_empty() => b.as_of = Some(deals::parse_date("as_of", v)?),
                "page" if !v.is_empty() => {
                    b.page = v
                        .parse()
                        .map_err(|_| AppError::validation("page", "must be a page number"))?
                }
                _ => {}
            }
        }
        Ok(b)
    }

    /// The canonical query (empty values left out).
    pub fn query(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(p) = self.pipeline {
            s.append_pair("pipeline", &p.to_string());
        }
        for (k, v) in [
            ("owner", &self.owner),
            ("partner", &self.partner),
            ("close", &self.close),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if self.table {
            s.append_pair("view", "table");
        }
        if let Some(d) = self.as_of {
            s.append_pair("as_of", &d.to_string());
        }
        if self.page > 0 {
            s.append_pair("page", &self.page.to_string());
        }
        s.finish()
    }

    fn href(&self) -> String {
        let q = self.query();
        if q.is_empty() {
            "/pipeline".into()
        } else {
            format!("/pipeline?{q}")
        }
    }

    /// Close dates this view covers, and whether only open deals show.
    fn close_range(&self, today: jiff::civil::Date) -> (Option<Period>, bool) {
        let quarter = |d: jiff::civil::Date| {
            Period::quarter_of(d).unwrap_or_else(|| {
                let first = Period::quarter_start(d);
                Period {
                    from: first,
                    to: first,
                }
            })
        };
        match self.close.as_str() {
            "overdue" => (
                today.yesterday().ok().map(|y| Period {
                    from: jiff::civil::Date::MIN,
                    to: y,
                }),
                true,
            ),
            "this_month" => (Some(Period::month_of(today)), false),
            "this_quarter" => (Some(quarter(today)), false),
            "next_quarter" => {
                let next = quarter(today).to.tomorrow().unwrap_or(today);
                (Some(quarter(next)), false)
            }
            _ => (None, false),
        }
    }
}

fn org_and_csrf(state: &AppState, p: &crate::auth::Principal) -> String {
    csrf::token(state.keys.secret(), p.0.session)
}

pub(super) async fn org_of(state: &AppState, id: crate::domain::OrgId) -> AppResult<Org> {
    state
        .db(move |s| Ok(s.read(|t| orgs::get(t, id))?))
        .await?
        .ok_or_else(|| AppError::not_found("Organization"))
}

/// Everything the board needs from the caller.
struct Who {
    viewer: Viewer,
    /// The scope of `pipeline.edit`, if held.
    edit: Option<Scope>,
    csrf: String,
}

fn who<P: crate::auth::extract::RequiredPermission>(state: &AppState, a: &Authz<P>) -> Who {
    let role = a.user().role;
    Who {
        viewer: Viewer::of(a.user()),
        edit: role.scope_of(Permission::PipelineEdit),
        csrf: org_and_csrf(state, &a.principal),
    }
}

/// The `#board` element (filters outside it) for `q`.
fn board_html(
    state: &AppState,
    store: &crate::store::Store,
    org: &Org,
    who: &Who,
    q: &BoardQuery,
    now: Ts,
) -> AppResult<(String, String, u64)> {
    let book = state.books.get(store, org.id)?;
    let people = store.read(|t| Ok(People::load(t, org.id)))??;
    let pipe = match q.pipeline {
        Some(id) => book
            .pipeline(id)
            .filter(|p| !p.archived)
            .ok_or_else(|| AppError::not_found("Pipeline"))?,
        None => book
            .pipelines
            .iter()
            .find(|p| !p.archived)
            .ok_or_else(|| AppError::not_found("Pipeline"))?,
    };
    let today = org.today(now);
    let mut filter = deal_filter(
        &book,
        who.viewer.me,
        RawFilter {
            owner: Some(&q.owner),
            partner: Some(&q.partner),
            q: Some(&q.q),
            ..Default::default()
        },
    )?;
    filter.pipeline = Some(pipe.id);
    let (range, open_only) = q.close_range(today);
    if let Some(p) = range {
        filter.close_from = Some(p.from);
        filter.close_to = Some(p.to);
    }
    let as_of = parse_as_of(org, q.as_of.map(|d| d.to_string()).as_deref())?;
    let states = match as_of {
        Some(at) => Some(deals::states_at(store, &book, org.id, at)?),
        None => None,
    };
    let mut rows = deals::visible(&book, &people, who.viewer, &filter, states.as_ref());
    let stages = book.stages();
    if open_only {
        rows.retain(|(_, t)| stages.kind(t.stage) == StageKind::Open);
    }
    // Without a close period the board's won and lost columns hold the last 30 days: a board
    // is for what is moving now (the table and the close filter show older deals).
    let recent_from = today
        .checked_sub(jiff::Span::new().days(CLOSED_RECENT_DAYS))
        .unwrap_or(today);
    let recent_only = q.close.is_empty() && !q.table;
    if recent_only {
        rows.retain(|(_, t)| {
            stages.kind(t.stage) == StageKind::Open || t.close_date >= recent_from
        });
    }
    let me = who.viewer.me;
    let edit = if as_of.is_some() { None } else { who.edit };
    let editable = |t: &Tracked| edit.is_some_and(|s| people.in_scope(s, me, t.owner));
    let back = q.query();
    let ctx = r::Ctx {
        currency: &org.currency,
        people: &people,
        today,
        csrf: &who.csrf,
        back: &back,
        editable: &editable,
    };
    let inner = if q.table {
        rows.sort_by_key(|(o, t)| (t.close_date, o.id));
        let pages = rows.len().div_ceil(TABLE_PAGE).max(1);
        let page = q.page.min(pages - 1);
        let shown: Vec<(&Opportunity, &Tracked)> = rows
            .iter()
            .skip(page * TABLE_PAGE)
            .take(TABLE_PAGE)
            .copied()
            .collect();
        let link = |p: usize| {
            BoardQuery {
                page: p,
                ..q.clone()
            }
            .href()
        };
        let pager = html! {
            @if pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page > 0 { a.btn.btn-small href=(link(page - 1)) hx-get=(link(page - 1)) hx-target="#board" hx-select="#board" hx-swap="outerHTML" hx-push-url="true" { "← Previous" } }
                    span.small.muted { " Page " (page + 1) " of " (pages) " (" (rows.len()) " deals) " }
                    @if page + 1 < pages { a.btn.btn-small href=(link(page + 1)) hx-get=(link(page + 1)) hx-target="#board" hx-select="#board" hx-swap="outerHTML" hx-push-url="true" { "Next →" } }
                }
            }
        };
        r::table(&shown, &book.pipelines, &ctx, pager)
    } else {
        let b = deals::board(pipe, &rows, CARDS_PER_COLUMN);
        r::board(&b, &ctx)
    };
    let total: i64 = rows
        .iter()
        .filter(|(_, t)| stages.kind(t.stage) == StageKind::Open)
        .map(|(_, t)| t.amount)
        .fold(0i64, i64::saturating_add);
    let weighted: i64 = rows
        .iter()
        .filter(|(_, t)| stages.kind(t.stage) == StageKind::Open)
        .map(|(_, t)| crate::domain::forecast::weighted(t.amount, t.probability))
        .fold(0i64, i64::saturating_add);
    let href = q.href();
    let html = html! {
        // app.js holds a live redraw back while a table row has unsaved edits.
        div #board hx-get=(href) hx-trigger="sse:changed, sse:refresh"
            hx-select="#board" hx-target="this" hx-swap="outerHTML"
            data-version=(book.version) data-pipeline=(pipe.id.to_string()) {
            @if let Some(d) = q.as_of {
                p.alert.alert-info role="status" { "As it stood at the end of " (d.to_string()) ", rebuilt from the history. Changes are off in this view. "
                    a href=(BoardQuery { as_of: None, ..q.clone() }.href()) { "Back to now" } }
            }
            p.small.muted #board-summary { (r::plural(rows.len() as u64, "deal"))
                @if recent_only { " (won and lost: closed in the last " (CLOSED_RECENT_DAYS) " days)" }
                " · open " (org.currency.display_minor(total)) " · weighted " (org.currency.display_minor(weighted)) }
            (inner)
        }
    };
    let options = r::FilterOptions {
        pipelines: &book.pipelines,
        owners: {
            let mut o: Vec<(UserId, &str)> = people
                .0
                .iter()
                .filter(|(id, p)| p.2 && people.in_scope(who.viewer.scope, me, **id))
                .map(|(id, p)| (*id, p.1.as_str()))
                .collect();
            o.sort_by_key(|(_, n)| n.to_lowercase());
            o
        },
        partners: {
            let mut p: Vec<(String, String)> = store
                .read(|t| crate::store::partners::list(t, org.id))?
                .into_iter()
                .filter(|p| !p.archived || p.id.to_string() == q.partner)
                .map(|p| (p.id.to_string(), p.name))
                .collect();
            p.sort_by_key(|(_, n)| n.to_lowercase());
            p
        },
    };
    let filters = r::filters(
        &options,
        &r::FilterValues {
            pipeline: Some(pipe.id),
            owner: &q.owner,
            partner: &q.partner,
            close: &q.close,
            q: &q.q,
            table: q.table,
            as_of: q.as_of,
        },
    );
    Ok((filters.into_string(), html.into_string(), book.version))
}

fn wants_board(headers: &HeaderMap) -> bool {
    headers.get("hx-target").and_then(|v| v.to_str().ok()) == Some("board")
        && !headers.contains_key("hx-history-restore-request")
}

pub async fn pipeline_page(
    State(state): State<AppState>,
    a: Authz<perm::PipelineView>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    let q = BoardQuery::parse(query.as_deref().unwrap_or(""))?;
    let fragment = wants_board(&headers);
    if !fragment && query.as_deref().unwrap_or("") != q.query() {
        return Ok(Redirect::to(&q.href()).into_response());
    }
    let org = org_of(&state, a.user().org).await?;
    let w = who(&state, &a);
    let now = state.clock.now();
    let st = state.clone();
    let q2 = q.clone();
    let (filters, board, version) = state
        .db(move |s| board_html(&st, s, &org, &w, &q2, now))
        .await?;
    if fragment {
        let refresh = headers.get("hx-trigger").and_then(|v| v.to_str().ok()) == Some("board");
        if refresh {
            return Ok(Html(board).into_response());
        }
        return Ok(([("hx-push-url", q.href())], Html(board)).into_response());
    }
    let body = html! {
        div #pipeline-live hx-ext="sse" sse-connect=(format!("/live/pipeline?v={version}")) {
            div.dash-head {
                (maud::PreEscaped(filters))
                span #live-status .live-status data-state="connecting" role="status" title="Live updates" {
                    span.live-dot aria-hidden="true" {} span.live-text { "Connecting…" }
                }
            }
            (maud::PreEscaped(board))
        }
    };
    Ok(PipelinePage {
        shell: shell(&state, &a.principal, "Pipeline", "/pipeline").await?,
        heading: "Pipeline".into(),
        actions: a.user().role.has(Permission::PipelineEdit),
        body: body.into_string(),
    }
    .into_response())
}

/// A change from the board: a stage move (`stage`) or an inline edit (table row).
#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    probability: Option<String>,
    #[serde(default)]
    close_date: Option<String>,
    version: u64,
    #[serde(default)]
    back: String,
    #[serde(default, rename = "_csrf")]
    _csrf: String,
}

/// Apply a change made on the board; `input` builds it from the deal as it is now.
async fn change(
    state: &AppState,
    a: &Authz<perm::PipelineEdit>,
    headers: &HeaderMap,
    id: &str,
    input: impl FnOnce(&Opportunity, &Org) -> AppResult<OpportunityInput> + Send + 'static,
    version: Option<u64>,
    back: &str,
) -> AppResult<Response> {
    let id: OpportunityId = id.parse().map_err(|_| AppError::not_found("Opportunity"))?;
    let q = BoardQuery::parse(back)?;
    let href = q.href();
    let org = org_of(state, a.user().org).await?;
    let w = who(state, a);
    let st = state.clone();
    let htmx = crate::http::is_htmx(headers);
    let c = state.caller(a.user(), a.scope, org.clone());
    let board = state
        .db_pipeline(org.id, move |s| {
            let book = st.books.get(s, org.id)?;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let o = deals::deal_in_scope(&book, &people, w.viewer, id)?;
            let input = input(o, &org)?;
            deals::update_opportunity(s, &c, id, &input, version)?;
            if htmx {
                Ok(Some(board_html(&st, s, &org, &w, &q, c.now)?.1))
            } else {
                Ok(None)
            }
        })
        .await?;
    Ok(match board {
        Some(b) => Html(b).into_response(),
        None => Redirect::to(&href).into_response(),
    })
}

/// Move a card to another stage (drag and drop, or the "Move to" menu).
pub async fn move_card(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> AppResult<Response> {
    let stage = f
        .stage
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| AppError::validation("stage", "choose a stage"))?;
    let input = move |_: &Opportunity, _: &Org| {
        Ok(OpportunityInput {
            stage: Some(stage),
            ..Default::default()
        })
    };
    change(&state, &a, &headers, &id, input, Some(f.version), &f.back).await
}

/// Save an inline edit of a table row. Only fields that differ from the deal as it is count,
/// so a new stage brings its own probability unless the probability was edited too.
pub async fn edit_row(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> AppResult<Response> {
    let (version, back) = (f.version, f.back.clone());
    let input = move |o: &Opportunity, org: &Org| {
        let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let differs = |v: Option<String>, now: String| given(v).filter(|v| *v != now);
        let probability = match differs(f.probability, o.state.probability.to_string()) {
            None => None,
            Some(p) => Some(p.parse::<i64>().map_err(|_| {
                AppError::validation("probability", "must be a whole percentage from 0 to 100")
            })?),
        };
        Ok(OpportunityInput {
            stage: differs(f.stage, o.state.stage.to_string()),
            amount: differs(f.amount, org.currency.format_minor(o.state.amount))
                .map(crate::domain::money::MoneyInput::Text),
            probability,
            close_date: differs(f.close_date, o.state.close_date.to_string()),
            ..Default::default()
        })
    };
    change(&state, &a, &headers, &id, input, Some(version), &back).await
}

// ---------- one opportunity ----------

#[derive(Template, WebTemplate)]
#[template(path = "pages/opportunity.html")]
pub struct OpportunityPage {
    shell: Shell,
    error: Option<String>,
    /// `None`: the new-opportunity form.
    id: Option<String>,
    p: DealParts,
}

/// A pipeline and its stages, for the stage picker.
pub struct PipelineChoice {
    name: String,
    stages: Vec<(String, String)>,
}

/// Everything the opportunity page shows besides the layout.
pub struct DealParts {
    heading: String,
    form: DealForm,
    version: u64,
    pipelines: Vec<PipelineChoice>,
    owners: Vec<(String, String)>,
    lost_reasons: Vec<String>,
    /// (id, name) of the partners a deal may be linked to.
    partners: Vec<(String, String)>,
    summary: String,
    timeline: String,
    editable: bool,
}

/// The fields of the opportunity form, as text.
#[derive(Deserialize, Default, Clone)]
pub struct DealForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    probability: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    close_date: String,
    #[serde(default)]
    next_step: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    lost_reason: String,
    #[serde(default)]
    partner: String,
    #[serde(default)]
    partner_role: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default, rename = "_csrf")]
    _csrf: String,
}

impl DealForm {
    /// The pipeline is the one holding the chosen stage (the form picks both in one list).
    fn with_pipeline_of_stage(mut self, book: &deals::Book) -> DealForm {
        let stage = self.stage.trim().parse().ok();
        if let Some(p) = book
            .pipelines
            .iter()
            .find(|p| p.active_stages().any(|s| Some(s.id) == stage))
        {
            self.pipeline = p.id.to_string();
        }
        self
    }

    fn of(o: &Opportunity, currency: &crate::domain::money::Currency) -> DealForm {
        DealForm {
            name: o.name.clone(),
            account: o.account.clone(),
            pipeline: o.state.pipeline.to_string(),
            stage: o.state.stage.to_string(),
            amount: currency.format_minor(o.state.amount),
            probability: o.state.probability.to_string(),
            owner: o.state.owner.to_string(),
            close_date: o.state.close_date.to_string(),
            next_step: o.next_step.clone(),
            source: o.source.clone(),
            notes: o.notes.clone(),
            lost_reason: o.lost_reason.clone().unwrap_or_default(),
            partner: o.partner.map(|p| p.0.to_string()).unwrap_or_default(),
            partner_role: o
                .partner
                .map(|p| p.1.as_str().to_string())
                .unwrap_or_default(),
            version: Some(o.version),
            _csrf: String::new(),
        }
    }

    fn input(&self, creating: bool, before: Option<&DealForm>) -> AppResult<OpportunityInput> {
        let text = |v: &str| Some(v.to_string());
        let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        // On edit, the probability follows a new stage unless the user changed it too.
        let changed =
            |f: fn(&DealForm) -> &str| before.is_none_or(|b| f(b).trim() != f(self).trim());
        let probability = match opt(&self.probability) {
            Some(p) if creating || changed(|f| &f.probability) => {
                Some(p.parse::<i64>().map_err(|_| {
                    AppError::validation("probability", "must be a whole percentage from 0 to 100")
                })?)
            }
            _ => None,
        };
        // Pickers send their value only when it changed: a value the lists do not offer (a
        // disabled owner, an archived pipeline) is never replaced by the first option.
        let picked = |f: fn(&DealForm) -> &str| {
            if creating || changed(f) {
                opt(f(self))
            } else {
                None
            }
        };
        Ok(OpportunityInput {
            name: text(&self.name),
            account: text(&self.account),
            pipeline: picked(|f| &f.pipeline),
            stage: picked(|f| &f.stage),
            amount: if creating || changed(|f| &f.amount) {
                opt(&self.amount).map(crate::domain::money::MoneyInput::Text)
            } else {
                None
            },
            currency: None,
            probability,
            owner: picked(|f| &f.owner),
            close_date: opt(&self.close_date),
            next_step: text(&self.next_step),
            source: text(&self.source),
            notes: text(&self.notes),
            // Blank keeps the deal's reason (a lost deal may have none, or one since removed).
            lost_reason: opt(&self.lost_reason),
            archived: None,
            // Empty text removes the link; unchanged pickers are not sent.
            partner: (creating && !self.partner.trim().is_empty()
                || !creating && changed(|f| &f.partner))
            .then(|| self.partner.trim().to_string()),
            partner_role: (!self.partner.trim().is_empty()
                && (creating || changed(|f| &f.partner_role) || changed(|f| &f.partner)))
            .then(|| opt(&self.partner_role))
            .flatten(),
        })
    }
}

async fn deal_page(
    state: &AppState,
    a: &crate::auth::Principal,
    org: Org,
    id: Option<OpportunityId>,
    form: Option<DealForm>,
    error: Option<String>,
) -> AppResult<OpportunityPage> {
    let role = a.user().role;
    let viewer = Viewer::of(a.user());
    let edit = role.scope_of(Permission::PipelineEdit);
    let st = state.clone();
    let p = state
        .db(move |s| {
            let book = st.books.get(s, org.id)?;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let current = id.and_then(|id| book.opportunity(id)).map(|o| o.state.clone());
            // The deal's own pipeline and stage are offered even when archived or removed.
            let pipelines: Vec<PipelineChoice> = book
                .pipelines
                .iter()
                .filter(|p| !p.archived || current.as_ref().is_some_and(|c| c.pipeline == p.id))
                .map(|p| PipelineChoice {
                    name: p.name.clone(),
                    stages: p
                        .stages
                        .iter()
                        .filter(|s| !s.removed || current.as_ref().is_some_and(|c| c.stage == s.id))
                        .map(|s| (s.id.to_string(), s.name.clone()))
                        .collect(),
                })
                .collect();
            let scope = edit.unwrap_or(Scope::Own);
            let mut owners: Vec<(String, String)> = people
                .0
                .iter()
                .filter(|(id, p)| {
                    (p.2 && people.in_scope(scope, viewer.me, **id))
                        || current.as_ref().is_some_and(|c| c.owner == **id)
                })
                .map(|(id, p)| (id.to_string(), if p.2 { p.1.clone() } else { format!("{} (disabled)", p.1) }))
                .collect();
            owners.sort_by_key(|o| o.1.to_lowercase());
            let current_partner = id.and_then(|id| book.opportunity(id)).and_then(|o| o.partner.map(|p| p.0));
            let mut partners: Vec<(String, String)> = s
                .read(|t| crate::store::partners::list(t, org.id))?
                .into_iter()
                .filter(|p| !p.archived || Some(p.id) == current_partner)
                .map(|p| (p.id.to_string(), p.name))
                .collect();
            partners.sort_by_key(|p| p.1.to_lowercase());
            let Some(id) = id else {
                let lost = book.pipelines.first().map(|p| p.lost_reasons.clone()).unwrap_or_default();
                let form = form.unwrap_or_else(|| DealForm {
                    owner: viewer.me.to_string(),
                    close_date: org.today(st.clock.now()).last_of_month().to_string(),
                    ..Default::default()
                });
                return Ok(DealParts {
                    heading: "New opportunity".to_string(),
                    form,
                    version: 0,
                    pipelines,
                    owners,
                    lost_reasons: lost,
                    partners,
                    summary: String::new(),
                    timeline: String::new(),
                    editable: edit.is_some(),
                });
            };
            let o = deals::deal_in_scope(&book, &people, viewer, id)?;
            let pipe = book.pipeline(o.state.pipeline);
            let history = s.read(|t| repo::history(t, org.id, id))?;
            let names = |v: &crate::domain::pipeline::Value| match v {
                crate::domain::pipeline::Value::Pipeline(p) => book.pipeline(*p).map(|p| p.name.clone()),
                _ => None,
            };
            let timeline = r::timeline(&history, &org.currency, &people, &org.tz(), &names).into_string();
            let stage = pipe.and_then(|p| p.stage(o.state.stage));
            let status = stage.map_or(StageKind::Open, |s| s.kind);
            let summary = html! {
                dl.facts {
                    dt { "Stage" } dd { (stage.map(|s| s.name.as_str()).unwrap_or("")) " "
                        span class=(format!("badge status-{}", status.as_str())) { (status.as_str()) } }
                    dt { "Amount" } dd { (org.currency.display_minor(o.state.amount)) " · " (o.state.probability) "% · weighted "
                        (org.currency.display_minor(crate::domain::forecast::weighted(o.state.amount, o.state.probability))) }
                    dt { "Owner" } dd { (people.name(o.state.owner)) }
                    @if let Some((pid, role)) = o.partner {
                        dt { "Partner" } dd {
                            a href=(format!("/partners/{pid}")) { (partners.iter().find(|p| p.0 == pid.to_string()).map(|p| p.1.as_str()).unwrap_or("(partner)")) }
                            " · " (role.as_str())
                        }
                    }
                    dt { "Expected close" } dd { (o.state.close_date.to_string()) }
                    dt { "In this stage since" } dd { (o.stage_since.display_in(&org.tz())) }
                    @if let Some(r) = &o.lost_reason { dt { "Lost because" } dd { (r) } }
                    dt { "Created" } dd { (o.created_at.display_in(&org.tz())) }
                }
            }
            .into_string();
            let editable = edit.is_some_and(|s| people.in_scope(s, viewer.me, o.state.owner));
            let form = form.unwrap_or_else(|| DealForm::of(o, &org.currency));
            let lost = pipe.map(|p| p.lost_reasons.clone()).unwrap_or_default();
            Ok(DealParts {
                heading: o.name.clone(),
                version: form.version.unwrap_or(o.version),
                form,
                pipelines,
                owners,
                lost_reasons: lost,
                partners,
                summary,
                timeline,
                editable,
            })
        })
        .await?;
    Ok(OpportunityPage {
        shell: shell(state, a, &p.heading, "/pipeline").await?,
        error,
        id: id.map(|i| i.to_string()),
        p,
    })
}

pub async fn new_opportunity(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
) -> AppResult<OpportunityPage> {
    let org = org_of(&state, a.user().org).await?;
    deal_page(&state, &a.principal, org, None, None, None).await
}

pub async fn create_opportunity(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    Form(f): Form<DealForm>,
) -> AppResult<Response> {
    let org = org_of(&state, a.user().org).await?;
    let org2 = org.clone();
    let (st, f2) = (state.clone(), f.clone());
    let c = state.caller(a.user(), a.scope, org2.clone());
    let made = state
        .db_pipeline(org.id, move |s| {
            let book = st.books.get(s, org2.id)?;
            let input = f2.with_pipeline_of_stage(&book).input(true, None)?;
            deals::create_opportunity(s, &c, &input)
        })
        .await;
    match made {
        Ok(o) => Ok(Redirect::to(&format!("/opportunities/{}", o.id)).into_response()),
        Err(e) if e.code == "validation" || e.code == "forbidden" => {
            let page = deal_page(
                &state,
                &a.principal,
                org,
                None,
                Some(f),
                Some(e.message.clone()),
            )
            .await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn opportunity_page(
    State(state): State<AppState>,
    a: Authz<perm::PipelineView>,
    Path(id): Path<String>,
) -> AppResult<OpportunityPage> {
    let id: OpportunityId = id.parse().map_err(|_| AppError::not_found("Opportunity"))?;
    let org = org_of(&state, a.user().org).await?;
    deal_page(&state, &a.principal, org, Some(id), None, None).await
}

pub async fn update_opportunity(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    Path(id): Path<String>,
    Form(f): Form<DealForm>,
) -> AppResult<Response> {
    let oid: OpportunityId = id.parse().map_err(|_| AppError::not_found("Opportunity"))?;
    let org = org_of(&state, a.user().org).await?;
    let org2 = org.clone();
    let f2 = f.clone();
    let st = state.clone();
    let viewer = who(&state, &a).viewer;
    let c = state.caller(a.user(), a.scope, org2.clone());
    let done = state
        .db_pipeline(org.id, move |s| {
            let book = st.books.get(s, org2.id)?;
            let people = s.read(|t| Ok(People::load(t, org2.id)))??;
            let o = deals::deal_in_scope(&book, &people, viewer, oid)?;
            let before = DealForm::of(o, &org2.currency);
            let input = f2
                .clone()
                .with_pipeline_of_stage(&book)
                .input(false, Some(&before))?;
            deals::update_opportunity(s, &c, oid, &input, f2.version)
        })
        .await;
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/opportunities/{id}")).into_response()),
        Err(e) if matches!(e.code, "validation" | "forbidden" | "conflict") => {
            // After a conflict the form shows the record as it is now (with its version), so
            // saving again cannot undo the other person's change.
            let keep = (e.code != "conflict").then_some(f);
            let page = deal_page(
                &state,
                &a.principal,
                org,
                Some(oid),
                keep,
                Some(e.message.clone()),
            )
            .await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- forecast ----------

fn refs(v: &[(Opportunity, Tracked)]) -> Vec<(&Opportunity, &Tracked)> {
    v.iter().map(|(o, t)| (o, t)).collect()
}

#[derive(Deserialize, Default)]
pub struct ForecastForm {
    #[serde(default)]
    period: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    since: String,
}

pub async fn forecast_page(
    State(state): State<AppState>,
    a: Authz<perm::PipelineView>,
    axum::extract::Query(f): axum::extract::Query<ForecastForm>,
) -> AppResult<PipelinePage> {
    let org = org_of(&state, a.user().org).await?;
    let w = who(&state, &a);
    let goals_org = a.user().role.scope_of(Permission::GoalsManage) == Some(Scope::Org);
    let now = state.clock.now();
    let st = state.clone();
    let body = state
        .db(move |s| {
            let nonblank = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
            let period_name = nonblank(&f.period).unwrap_or_else(|| "quarter".into());
            let (from, to, pipeline, owner, as_of, since) =
                (nonblank(&f.from), nonblank(&f.to), nonblank(&f.pipeline), nonblank(&f.owner), nonblank(&f.as_of), nonblank(&f.since));
            let args = deals::ForecastArgs {
                period: Some(&period_name),
                from: from.as_deref(),
                to: to.as_deref(),
                pipeline: pipeline.as_deref(),
                owner: owner.as_deref(),
                as_of: as_of.as_deref(),
                since: since.as_deref(),
                stale_days: None,
            };
            let d = deals::forecast_data(s, &st.books, &org, w.viewer, args, now)?;
            let (book, people, fc) = (&d.book, &d.people, &d.forecast);
            let by_owner: Vec<(String, _)> = fc.by_owner.iter().map(|(u, v)| (people.name(*u).to_string(), *v)).collect();
            let by_team: Vec<(String, _)> = fc.by_team.iter().map(|(k, v)| (d.team_name(*k), *v)).collect();
            let by_pipe: Vec<(String, _)> = fc.by_pipeline.iter().map(|(k, v)| (d.pipeline_name(*k), *v)).collect();
            let by_partner: Vec<(String, _)> = fc.by_partner.iter().map(|(k, v)| (d.partner_name(*k), *v)).collect();
            let deals_of = |list: &[(OpportunityId, Tracked)]| -> Vec<(Opportunity, Tracked)> {
                list.iter().filter_map(|(id, t)| book.opportunity(*id).map(|o| (o.clone(), t.clone()))).collect()
            };
            let (slipped, stale) = (deals_of(&d.slipped.top), deals_of(&d.stale.top));
            let pipe_id = pipeline
                .as_deref()
                .and_then(|p| crate::domain::pipeline::find_pipeline(&book.pipelines, p))
                .map(|p| p.id);
            let months: Vec<i32> = (crate::domain::forecast::month_number(d.period.from)..=crate::domain::forecast::month_number(d.period.to)).take(12).collect();
            let targets = s.read(|t| repo::targets(t, org.id, months.first().copied().unwrap_or(0), months.last().copied().unwrap_or(0)))?;
            let org_target = |m: i32| targets.iter().find(|t| t.0 == m && t.1.is_none()).map(|t| org.currency.format_minor(t.2)).unwrap_or_default();
            let back = form_urlencoded::Serializer::new(String::new())
                .append_pair("period", &period_name)
                .append_pair("from", &d.period.from.to_string())
                .append_pair("to", &d.period.to.to_string())
                .finish();
            Ok(html! {
                form.filters #forecast-filters method="get" action="/forecast" {
                    label.field { span { "Period" }
                        select name="period" {
                            @for (v, l) in [("month", "Month"), ("quarter", "Quarter"), ("custom", "Custom")] {
                                option value=(v) selected[period_name == v] { (l) }
                            }
                        }
                    }
                    label.field { span { "From" } input type="date" name="from" value=(d.period.from.to_string()); }
                    label.field { span { "To" } input type="date" name="to" value=(d.period.to.to_string()); }
                    label.field { span { "Pipeline" }
                        select name="pipeline" {
                            option value="" { "All pipelines" }
                            @for p in book.pipelines.iter().filter(|p| !p.archived) {
                                option value=(p.id.to_string()) selected[pipe_id == Some(p.id)] { (p.name) }
                            }
                        }
                    }
                    label.field { span { "As of" } input type="date" name="as_of" value=(f.as_of); }
                    label.field { span { "Changes since" } input type="date" name="since" value=(f.since); }
                    button.btn.btn-small type="submit" { "Show" }
                }
                p.small.muted { "Deals with an expected close date from " (d.period.from.to_string()) " to " (d.period.to.to_string())
                    @if let Some(t) = d.as_of { ", as they stood at " (t.display_in(&org.tz())) ", rebuilt from the history" } "." }
                (r::forecast_tiles(&fc.total, d.target, &org.currency))
                (r::forecast_rows("By owner", &by_owner, &org.currency))
                div.grid-2 {
                    (r::forecast_rows("By team", &by_team, &org.currency))
                    (r::forecast_rows("By pipeline", &by_pipe, &org.currency))
                }
                (r::forecast_rows("By partner", &by_partner, &org.currency))
                div.grid-2 {
                    (r::waterfall(&d.waterfall, &d.since.display_in(&org.tz()), &org.currency))
                    @if let Some((pid, fl)) = &d.flow { (r::flow(fl, book.pipeline(*pid).map(|p| p.name.as_str()).unwrap_or(""))) }
                }
                div.grid-2 {
                    (r::attention("Slipped deals", "slipped", d.slipped.count, &refs(&slipped), &org.currency, people, "No open deal is past its close date."))
                    (r::attention("Stale deals", "stale", d.stale.count, &refs(&stale), &org.currency, people, &format!("Every open deal changed in the last {} days.", d.stale_days)))
                }
                @if goals_org {
                    section.card #targets {
                        h2 { "Monthly targets" }
                        p.small.muted { "The organization's target for each month; the forecast compares the period with them." }
                        form.filters method="post" action="/forecast/targets" {
                            input type="hidden" name="_csrf" value=(w.csrf);
                            input type="hidden" name="back" value=(back);
                            @for m in &months {
                                @let text = deals::month_text(*m);
                                label.field { span { (text) } input.num type="text" inputmode="decimal" name=(format!("m{text}")) value=(org_target(*m)) placeholder="none"; }
                            }
                            button.btn.btn-small type="submit" { "Save targets" }
                        }
                    }
                }
            }
            .into_string())
        })
        .await?;
    Ok(PipelinePage {
        shell: shell(&state, &a.principal, "Forecast", "/forecast").await?,
        heading: "Forecast".into(),
        actions: false,
        body,
    })
}

/// Save the organization's monthly targets from the forecast page (`m2026-12=50000`; empty
/// removes).
pub async fn save_targets(
    State(state): State<AppState>,
    a: Authz<perm::GoalsManage>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let org = org_of(&state, a.user().org).await?;
    let back = f
        .iter()
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut months = Vec::new();
    for (k, v) in &f {
        if let Some(m) = k.strip_prefix('m') {
            let month = deals::parse_month("month", m)?;
            let v = v.trim();
            months.push((
                month,
                (!v.is_empty()).then(|| crate::domain::money::MoneyInput::Text(v.to_string())),
            ));
        }
    }
    let c = state.caller(a.user(), a.scope, org.clone());
    state
        .db_pipeline(org.id, move |s| {
            deals::set_targets(s, &c, None, &months)?;
            Ok(())
        })
        .await?;
    // `back` only ever becomes the query of this same page.
    let q: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(back.as_bytes()))
        .finish();
    Ok(Redirect::to(&format!("/forecast?{q}")).into_response())
}
