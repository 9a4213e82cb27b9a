//! `/partners` (list with filters, sorting, pages and CSV export), `/partners/new`,
//! `/partners/{id}` (health explained and charted, facts, revenue, deals, contacts, notes, the
//! change form) and `/partners/settings`. The list's state is in its URL; htmx swaps
//! `#partner-list` and pushes the URL; without JavaScript the same URLs render the full page.

use super::pipeline::org_of;
use super::{form_all as all, form_first as first, shell};
use crate::app::AppState;
use crate::auth::{Authz, perm};
use crate::domain::money::MoneyInput;
use crate::domain::org::Org;
use crate::domain::partner::{Contact, Partner, PartnerSettings, split_labels};
use crate::domain::pipeline::StageKind;
use crate::domain::{PartnerId, Permission, Scope};
use crate::error::{AppError, AppResult};
use crate::partners::{self as svc, ListQuery, PartnerInput, SettingsInput};
use crate::pipeline::{DealFilter, People, Viewer};
use crate::render::partners as r;
use crate::store::partners as repo;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

use super::SectionPage as PartnersPage;

/// Rows per list page.
const PAGE: usize = 50;

/// Active users as (id, name), sorted by name; `keep` is listed even when disabled.
fn owner_choices(people: &People, keep: Option<crate::domain::UserId>) -> Vec<(String, String)> {
    let mut o: Vec<(String, String)> = people
        .0
        .iter()
        .filter(|(id, p)| p.2 || Some(**id) == keep)
        .map(|(id, p)| {
            let name = if p.2 {
                p.1.clone()
            } else {
                format!("{} (disabled)", p.1)
            };
            (id.to_string(), name)
        })
        .collect();
    o.sort_by_key(|o| o.1.to_lowercase());
    o
}

fn list_actions(a: &crate::auth::Principal) -> Vec<(String, &'static str, &'static str, bool)> {
    let mut out = vec![(
        "/partners/settings".to_string(),
        "Settings",
        "partner-settings",
        false,
    )];
    if a.user().role.has(Permission::PartnersEdit) {
        out.push((
            "/partners/new".to_string(),
            "New partner",
            "new-partner",
            true,
        ));
    }
    out
}

pub async fn list_page(
    State(state): State<AppState>,
    a: Authz<perm::PartnersView>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let (_, offset) = svc::page_of(&q)?;
    let org = org_of(&state, a.user().org).await?;
    let me = a.user().id;
    let can_export = a.user().role.has(Permission::ReportsExport);
    let now = state.clock.now();
    let st = state.clone();
    let q2 = q.clone();
    let (filters, list) = state
        .db(move |s| {
            let (settings, rows) = svc::rows(s, &st.books, &org, now)?;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let shown = svc::select(&rows, &settings, &people, me, &q2)?;
            let total = shown.len();
            let page: Vec<&svc::Row> = shown.iter().skip(offset).take(PAGE).copied().collect();
            let ctx = r::ListCtx {
                currency: &org.currency,
                people: &people,
                settings: &settings,
                any_partner: !rows.is_empty(),
                can_export,
            };
            let list = r::list(&ctx, &q2, &page, total, offset, PAGE);
            let filters = r::filters(
                &r::ListOptions {
                    settings: &settings,
                    owners: owner_choices(&people, None),
                },
                &q2,
            );
            Ok((filters.into_string(), list.into_string()))
        })
        .await?;
    let fragment = headers.get("hx-target").and_then(|v| v.to_str().ok()) == Some("partner-list")
        && !headers.contains_key("hx-history-restore-request");
    if fragment {
        return Ok(([("hx-push-url", r::list_href(&q))], Html(list)).into_response());
    }
    Ok(PartnersPage {
        shell: shell(&state, &a.principal, "Partners", "/partners").await?,
        heading: "Partners".into(),
        back: None,
        actions: list_actions(&a.principal),
        error: None,
        body: format!("{filters}{list}"),
    }
    .into_response())
}

// ---------- the partner form ----------

fn form_values(f: &[(String, String)]) -> r::FormValues {
    let (names, roles, emails, phones) = (
        all(f, "contact_name"),
        all(f, "contact_role"),
        all(f, "contact_email"),
        all(f, "contact_phone"),
    );
    let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
    r::FormValues {
        name: first(f, "name"),
        website: first(f, "website"),
        tier: first(f, "tier"),
        status: first(f, "status"),
        owner: first(f, "owner"),
        region: first(f, "region"),
        categories: first(f, "categories"),
        tags: first(f, "tags"),
        contract_start: first(f, "contract_start"),
        renewal_date: first(f, "renewal_date"),
        revenue_target: first(f, "revenue_target"),
        contacts: (0..names.len())
            .map(|i| [at(&names, i), at(&roles, i), at(&emails, i), at(&phones, i)])
            .filter(|c| c.iter().any(|v| !v.trim().is_empty()))
            .collect(),
        version: first(f, "version").trim().parse().ok(),
    }
}

fn values_of(p: &Partner, org: &Org) -> r::FormValues {
    let date = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    r::FormValues {
        name: p.name.clone(),
        website: p.website.clone(),
        tier: p.tier.clone(),
        status: p.status.as_str().into(),
        owner: p.owner.to_string(),
        region: p.region.clone(),
        categories: p.categories.join(", "),
        tags: p.tags.join(", "),
        contract_start: date(p.contract_start),
        renewal_date: date(p.renewal_date),
        revenue_target: p
            .revenue_target
            .map(|t| org.currency.format_minor(t))
            .unwrap_or_default(),
        contacts: p
            .contacts
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.role.clone(),
                    c.email.clone(),
                    c.phone.clone(),
                ]
            })
            .collect(),
        version: Some(p.version),
    }
}

/// The input a form sends. Pickers (tier, owner) count only when changed, so a value the
/// lists no longer offer (a removed tier, a disabled owner) is never replaced by accident.
fn input_of(v: &r::FormValues, before: Option<&r::FormValues>) -> PartnerInput {
    let picked = |f: fn(&r::FormValues) -> &String| {
        let now = f(v).trim().to_string();
        match before {
            Some(b) if f(b).trim() == now => None,
            _ if now.is_empty() => None,
            _ => Some(now),
        }
    };
    PartnerInput {
        name: Some(v.name.clone()),
        website: Some(v.website.clone()),
        tier: picked(|f| &f.tier),
        status: picked(|f| &f.status),
        owner: picked(|f| &f.owner),
        region: Some(v.region.clone()),
        categories: Some(split_labels(&v.categories)),
        contract_start: Some(v.contract_start.clone()),
        renewal_date: Some(v.renewal_date.clone()),
        contacts: Some(
            v.contacts
                .iter()
                .map(|c| Contact {
                    name: c[0].clone(),
                    role: c[1].clone(),
                    email: c[2].clone(),
                    phone: c[3].clone(),
                })
                .collect(),
        ),
        tags: Some(split_labels(&v.tags)),
        revenue_target: Some(MoneyInput::Text(v.revenue_target.clone())),
        archived: None,
    }
}

fn tier_choices(settings: &PartnerSettings, current: &str) -> Vec<String> {
    let mut t = settings.tiers.clone();
    if !current.is_empty() && !t.iter().any(|x| x == current) {
        t.push(current.to_string());
    }
    t
}

pub async fn new_page(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
) -> AppResult<PartnersPage> {
    new_form(&state, &a, None, None).await
}

async fn new_form(
    state: &AppState,
    a: &Authz<perm::PartnersEdit>,
    values: Option<r::FormValues>,
    error: Option<String>,
) -> AppResult<PartnersPage> {
    let org = a.user().org;
    let me = a.user().id;
    let scope = a.scope;
    let csrf = crate::auth::csrf::token(state.keys.secret(), a.principal.0.session);
    let body = state
        .db(move |s| {
            let (settings, people) =
                s.read(|t| Ok((repo::settings(t, org)?, People::load(t, org))))?;
            let people = people?;
            let mut owners = owner_choices(&people, None);
            owners.retain(|(id, _)| id.parse().is_ok_and(|u| people.in_scope(scope, me, u)));
            let v = values.unwrap_or_else(|| r::FormValues {
                tier: settings.tiers.first().cloned().unwrap_or_default(),
                status: "prospect".into(),
                owner: me.to_string(),
                ..Default::default()
            });
            Ok(r::partner_form(
                &v,
                &r::FormChoices {
                    tiers: tier_choices(&settings, &v.tier),
                    owners: &owners,
                    csrf: &csrf,
                    action: "/partners".into(),
                },
            )
            .into_string())
        })
        .await?;
    Ok(PartnersPage {
        shell: shell(state, &a.principal, "New partner", "/partners").await?,
        heading: "New partner".into(),
        back: Some(("/partners", "Partners")),
        actions: Vec::new(),
        error,
        body: format!("<section class=\"card narrow\">{body}</section>"),
    })
}

pub async fn create(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values = form_values(&f);
    let input = input_of(&values, None);
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org);
    let st = state.clone();
    let made = state
        .db(move |s| svc::create_partner(s, &st.books, &c, &input))
        .await;
    match made {
        Ok(p) => Ok(Redirect::to(&format!("/partners/{}", p.id)).into_response()),
        Err(e) if matches!(e.code, "validation" | "forbidden" | "conflict") => {
            let page = new_form(&state, &a, Some(values), Some(e.message.clone())).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- one partner ----------

async fn detail(
    state: &AppState,
    a: &crate::auth::Principal,
    id: PartnerId,
    values: Option<r::FormValues>,
    error: Option<String>,
) -> AppResult<PartnersPage> {
    let user = a.user().clone();
    let org = org_of(state, user.org).await?;
    let now = state.clock.now();
    let st = state.clone();
    let csrf = crate::auth::csrf::token(state.keys.secret(), a.0.session);
    let (heading, body) = state
        .db(move |s| {
            let (settings, rows) = svc::rows(s, &st.books, &org, now)?;
            let row = rows
                .iter()
                .find(|r| r.partner.id == id)
                .ok_or_else(|| AppError::not_found("Partner"))?;
            let p = &row.partner;
            let people = s.read(|t| Ok(People::load(t, org.id)))??;
            let today = crate::analytics::day_number(org.today(now));
            let (notes, history) = s.read(|t| {
                Ok((
                    repo::notes(t, org.id, id)?,
                    repo::health_history(t, org.id, id, today - 179, today)?,
                ))
            })?;
            let history: Vec<(jiff::civil::Date, u8)> = history
                .into_iter()
                .map(|(d, s)| (crate::analytics::day_date(d), s))
                .collect();
            let edit = user.role.scope_of(Permission::PartnersEdit);
            let editable = edit.is_some_and(|sc| people.in_scope(sc, user.id, p.owner));
            let m = |v: i64| org.currency.display_minor(v);
            let tz = org.tz();
            // Deals the viewer may see (their pipeline.view scope).
            let deals_html = match user.role.scope_of(Permission::PipelineView) {
                None => html! { p.muted { "Your role does not show deals." } },
                Some(scope) => {
                    let book = st.books.get(s, org.id)?;
                    let filter = DealFilter {
                        partner: Some(id),
                        ..Default::default()
                    };
                    let mut rows = crate::pipeline::visible(&book, &people, Viewer { me: user.id, scope }, &filter, None);
                    rows.sort_by_key(|(o, t)| (std::cmp::Reverse(t.close_date), o.id));
                    let stages = book.stages();
                    html! {
                        @if rows.is_empty() { p.muted { "No deal is linked to this partner yet. Pick it as the partner on an opportunity." } } @else {
                            div.table-wrap { table.table.responsive #partner-deals {
                                thead { tr { th scope="col" { "Opportunity" } th scope="col" { "Account" } th scope="col" { "Stage" }
                                    th.num scope="col" { "Amount" } th scope="col" { "Part" } th scope="col" { "Close" } } }
                                tbody { @for (o, t) in rows.iter().take(100) {
                                    @let stage = book.pipeline(t.pipeline).and_then(|p| p.stage(t.stage));
                                    @let kind = stages.kind(t.stage);
                                    tr {
                                        th scope="row" { a href=(format!("/opportunities/{}", o.id)) { (o.name) } }
                                        td data-label="Account" { (o.account) }
                                        td data-label="Stage" { (stage.map(|s| s.name.as_str()).unwrap_or("")) " "
                                            @if kind != StageKind::Open { span class=(format!("badge status-{}", kind.as_str())) { (kind.as_str()) } } }
                                        td.num data-label="Amount" { (m(t.amount)) }
                                        td data-label="Part" { (o.partner.map(|p| p.1.as_str()).unwrap_or("")) }
                                        td data-label="Close" { (t.close_date.to_string()) }
                                    }
                                } }
                            } }
                            @if rows.len() > 100 {
                                p.small { "All " (rows.len()) " deals in the pipeline table: "
                                    @for (i, pipe) in book.pipelines.iter().filter(|p| rows.iter().any(|(_, t)| t.pipeline == p.id)).enumerate() {
                                        @if i > 0 { " · " }
                                        a href=(format!("/pipeline?pipeline={}&partner={id}&view=table", pipe.id)) { (pipe.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            };
            let owners = owner_choices(&people, Some(p.owner));
            let owners: Vec<(String, String)> = owners
                .into_iter()
                .filter(|(oid, _)| {
                    *oid == p.owner.to_string()
                        || oid.parse().is_ok_and(|u| edit.is_some_and(|sc| people.in_scope(sc, user.id, u)))
                })
                .collect();
            let form_values = values.unwrap_or_else(|| values_of(p, &org));
            let body = html! {
                @if p.archived { p.alert.alert-info role="status" { "This partner is archived: it is left out of lists and cannot get new deals. " } }
                div.grid-2 {
                    (r::health(&row.health, &settings, p.at_risk_reason.as_deref()))
                    (r::health_history(&history, settings.at_risk_below))
                }
                div.grid-2 {
                    section.card aria-labelledby="facts-h" {
                        h2 #facts-h { "Partner" }
                        dl.facts #partner-facts {
                            dt { "Status" } dd { (r::status_badge(p.status)) }
                            dt { "Tier" } dd { (p.tier) }
                            dt { "Owner" } dd { (people.name(p.owner)) }
                            @if !p.website.is_empty() { dt { "Website" } dd { a href=(p.website) rel="noopener noreferrer nofollow" target="_blank" { (p.website) } } }
                            @if !p.region.is_empty() { dt { "Region" } dd { (p.region) } }
                            @if !p.categories.is_empty() { dt { "Categories" } dd { (p.categories.join(", ")) } }
                            @if !p.tags.is_empty() { dt { "Tags" } dd { @for t in &p.tags { span.badge { (t) } " " } } }
                            dt { "Contract" } dd { (p.contract_start.map(|d| d.to_string()).unwrap_or_else(|| "–".into())) " → renews "
                                (p.renewal_date.map(|d| d.to_string()).unwrap_or_else(|| "–".into())) }
                            dt { "Last activity" } dd { (p.last_activity.max(row.facts.last_change.unwrap_or(p.last_activity)).display_in(&tz)) }
                            dt { "Created" } dd { (p.created_at.display_in(&tz)) }
                        }
                    }
                    section.card aria-labelledby="rev-h" {
                        h2 #rev-h { "Revenue and pipeline" }
                        ul.tiles #partner-revenue {
                            li.tile { span.tile-label { "Won this year" } span.tile-value { (m(row.won_this_year)) }
                                @if let Some(t) = p.revenue_target { span.small.muted { "target " (m(t)) } } }
                            li.tile { span.tile-label { "Won, all time" } span.tile-value { (m(row.facts.closed.iter().filter(|c| c.2).map(|c| c.1).fold(0i64, i64::saturating_add))) } }
                            li.tile { span.tile-label { "Open pipeline" } span.tile-value { (m(row.facts.open_amount)) }
                                span.small.muted { (crate::render::pipeline::plural(u64::from(row.facts.open_deals), "open deal")) } }
                            li.tile { span.tile-label { "Weighted" } span.tile-value { (m(row.facts.open_weighted)) } span.small.muted { "amount × probability" } }
                        }
                        p.small.muted { "From the deals linked to this partner, sourced or influenced, all owners." }
                    }
                }
                section.card aria-labelledby="deals-h" { h2 #deals-h { "Opportunities" } (deals_html) }
                div.grid-2 {
                    section.card aria-labelledby="contacts-h" {
                        h2 #contacts-h { "Contacts" }
                        @if p.contacts.is_empty() { p.muted { "No contacts yet." } } @else {
                            ul.plain #contacts { @for c in &p.contacts { li {
                                strong { (c.name) } @if !c.role.is_empty() { " · " (c.role) }
                                @if !c.email.is_empty() { br; a href=(format!("mailto:{}", c.email)) { (c.email) } }
                                @if !c.phone.is_empty() { br; a href=(format!("tel:{}", c.phone.replace(' ', ""))) { (c.phone) } }
                            } } }
                        }
                    }
                    (r::notes(&notes, &tz, edit.is_some().then(|| (format!("/partners/{id}/notes"), csrf.clone())).as_ref().map(|(a, c)| (a.as_str(), c.as_str()))))
                }
                @if editable {
                    section.card aria-labelledby="edit-h" {
                        h2 #edit-h { "Change" }
                        (r::partner_form(&form_values, &r::FormChoices {
                            tiers: tier_choices(&settings, &p.tier),
                            owners: &owners,
                            csrf: &csrf,
                            action: format!("/partners/{id}"),
                        }))
                        form.inline-form method="post" action=(format!("/partners/{id}/archive")) {
                            input type="hidden" name="_csrf" value=(csrf);
                            input type="hidden" name="archived" value=(if p.archived { "false" } else { "true" });
                            button.btn.btn-small type="submit" #archive-partner { @if p.archived { "Restore partner" } @else { "Archive partner" } }
                        }
                    }
                }
            };
            Ok((p.name.clone(), body.into_string()))
        })
        .await?;
    Ok(PartnersPage {
        shell: shell(state, a, &heading, "/partners").await?,
        heading,
        back: Some(("/partners", "Partners")),
        actions: Vec::new(),
        error,
        body,
    })
}

fn parse_id(id: &str) -> AppResult<PartnerId> {
    id.parse().map_err(|_| AppError::not_found("Partner"))
}

pub async fn detail_page(
    State(state): State<AppState>,
    a: Authz<perm::PartnersView>,
    Path(id): Path<String>,
) -> AppResult<PartnersPage> {
    detail(&state, &a.principal, parse_id(&id)?, None, None).await
}

/// Apply a change from a page and go back to the partner; a refused change shows the page
/// again with the message (and, unless someone else changed it meanwhile, the typed values).
async fn change(
    state: &AppState,
    a: &Authz<perm::PartnersEdit>,
    id: PartnerId,
    values: Option<r::FormValues>,
    input: impl FnOnce(&Partner, &Org) -> PartnerInput + Send + 'static,
    version: Option<u64>,
) -> AppResult<Response> {
    let org = org_of(state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org.clone());
    let st = state.clone();
    let done = state
        .db(move |s| {
            let p = s
                .read(|t| repo::get(t, org.id, id))?
                .ok_or_else(|| AppError::not_found("Partner"))?;
            svc::update_partner(s, &st.books, &c, id, &input(&p, &org), version)
        })
        .await;
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/partners/{id}")).into_response()),
        Err(e) if matches!(e.code, "validation" | "forbidden" | "conflict") => {
            // After someone else's change the form shows the record as it is now; other
            // refusals (a taken name…) keep what was typed.
            let keep = values.filter(|_| e.field.as_deref() != Some("version"));
            let page = detail(state, &a.principal, id, keep, Some(e.message.clone())).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn update(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let values = form_values(&f);
    let v2 = values.clone();
    let version = values.version;
    change(
        &state,
        &a,
        id,
        Some(values),
        move |p, org| input_of(&v2, Some(&values_of(p, org))),
        version,
    )
    .await
}

pub async fn archive(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let archived = first(&f, "archived") == "true";
    change(
        &state,
        &a,
        id,
        None,
        move |_, _| PartnerInput {
            archived: Some(archived),
            ..Default::default()
        },
        None,
    )
    .await
}

pub async fn add_note(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org);
    let text = first(&f, "text");
    let done = state.db(move |s| svc::add_note(s, &c, id, &text)).await;
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/partners/{id}#notes")).into_response()),
        Err(e) if e.code == "validation" => {
            let page = detail(&state, &a.principal, id, None, Some(e.message.clone())).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- settings ----------

async fn settings_view(
    state: &AppState,
    a: &crate::auth::Principal,
    error: Option<String>,
    notice: Option<&str>,
) -> AppResult<PartnersPage> {
    let org = a.user().org;
    let can = a.user().role.scope_of(Permission::PartnersEdit) == Some(Scope::Org);
    let csrf = crate::auth::csrf::token(state.keys.secret(), a.0.session);
    let s = state
        .db(move |s| Ok(s.read(|t| repo::settings(t, org))?))
        .await?;
    let body = html! {
        @if let Some(n) = notice { p.alert.alert-success role="status" { (n) } }
        section.card.narrow {
            @if !can { p.small.muted { "Only users who edit partners for the whole organization change these settings." } }
            (r::settings_form(&s, can.then_some(csrf.as_str())))
        }
    };
    Ok(PartnersPage {
        shell: shell(state, a, "Partner settings", "/partners").await?,
        heading: "Partner settings".into(),
        back: Some(("/partners", "Partners")),
        actions: Vec::new(),
        error,
        body: body.into_string(),
    })
}

pub async fn settings_page(
    State(state): State<AppState>,
    a: Authz<perm::PartnersView>,
    Query(q): Query<Vec<(String, String)>>,
) -> AppResult<PartnersPage> {
    let saved = q.iter().any(|(k, _)| k == "saved");
    settings_view(
        &state,
        &a.principal,
        None,
        saved.then_some("Settings saved."),
    )
    .await
}

/// The settings form as the operation's input; blank or non-numeric numbers are refused.
fn settings_input(f: &[(String, String)]) -> AppResult<SettingsInput> {
    let mut weights = std::collections::HashMap::new();
    for (k, v) in f {
        if let Some(name) = k.strip_prefix("w_") {
            let w: i64 = v.trim().parse().map_err(|_| {
                AppError::validation(
                    "weights",
                    format!("{name}: must be a whole number from 0 to 100"),
                )
            })?;
            weights.insert(name.to_string(), w);
        }
    }
    let threshold = first(f, "at_risk_below");
    Ok(SettingsInput {
        tiers: Some(first(f, "tiers").lines().map(str::to_string).collect()),
        weights: Some(weights),
        at_risk_below: Some(threshold.trim().parse().map_err(|_| {
            AppError::validation("at_risk_below", "must be a whole number from 0 to 100")
        })?),
    })
}

pub async fn save_settings(
    State(state): State<AppState>,
    a: Authz<perm::PartnersEdit>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let version = first(&f, "version").trim().parse().ok();
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), a.scope, org);
    let done = match settings_input(&f) {
        Ok(input) => {
            state
                .db(move |s| svc::update_settings(s, &c, &input, version))
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Ok(Redirect::to("/partners/settings?saved=1").into_response()),
        Err(e) if matches!(e.code, "validation" | "forbidden" | "conflict") => {
            let page = settings_view(&state, &a.principal, Some(e.message.clone()), None).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}
