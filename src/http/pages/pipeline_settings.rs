//! `/pipeline/settings`: the org's pipelines and their stages (name, default probability,
//! kind, forecast category, order), lost reasons, archiving, and new pipelines. Removing a
//! stage that holds deals asks where they go (a menu beside each stage). Everyone who sees
//! the pipeline sees this page; changing it needs pipeline.edit for the whole organization.

use super::pipeline::org_of;
use super::{form_all as all, form_first as first, shell};
use crate::app::AppState;
use crate::auth::{Authz, csrf, perm};
use crate::domain::pipeline::{ForecastCategory, Pipeline, StageInput, StageKind};
use crate::domain::{Permission, PipelineId, Scope};
use crate::error::{AppError, AppResult};
use crate::pipeline::{self as deals, PipelineInput};
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use std::collections::HashMap;

use super::SectionPage as SettingsPage;

/// One stage row of the form, as text.
#[derive(Clone, Debug, Default)]
struct Row {
    id: String,
    name: String,
    probability: String,
    kind: String,
    forecast: String,
    remove: bool,
    move_to: String,
}

/// A pipeline's form, as typed (or as stored).
#[derive(Clone, Debug, Default)]
struct Typed {
    name: String,
    rows: Vec<Row>,
    lost_reasons: String,
    archived: bool,
    version: u64,
}

fn stored(p: &Pipeline) -> Typed {
    Typed {
        name: p.name.clone(),
        rows: p
            .active_stages()
            .map(|s| Row {
                id: s.id.to_string(),
                name: s.name.clone(),
                probability: s.probability.to_string(),
                kind: s.kind.as_str().into(),
                forecast: s.forecast.as_str().into(),
                remove: false,
                move_to: String::new(),
            })
            .collect(),
        lost_reasons: p.lost_reasons.join("\n"),
        archived: p.archived,
        version: p.version,
    }
}

fn typed(f: &[(String, String)]) -> Typed {
    let orders = all(f, "stage_order");
    let (ids, names, probs, kinds, cats) = (
        all(f, "stage_id"),
        all(f, "stage_name"),
        all(f, "stage_probability"),
        all(f, "stage_kind"),
        all(f, "stage_forecast"),
    );
    let removed = all(f, "remove");
    let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
    // Rows go by their order numbers: a row numbered n lands at place n (before the row
    // there when moving up, after it when moving down). A new row without a number goes
    // before the first won or lost stage; another blank or unreadable number keeps its place.
    let first_closed = (0..names.len())
        .find(|i| !at(&ids, *i).is_empty() && at(&kinds, *i) != "open")
        .map_or(names.len() as f64 + 1.0, |i| i as f64 + 1.0);
    let mut order: Vec<(f64, usize)> = (0..names.len())
        .map(|i| {
            let place = i as f64 + 1.0;
            let n = at(&orders, i)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite());
            let key = match n {
                Some(n) if n < place => n - 0.5,
                Some(n) if n > place => n + 0.5,
                Some(n) => n,
                None if at(&ids, i).is_empty() => first_closed - 0.5,
                None => place,
            };
            (key, i)
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Typed {
        name: first(f, "name"),
        rows: order
            .into_iter()
            .map(|(_, i)| i)
            .map(|i| {
                let id = at(&ids, i);
                Row {
                    remove: !id.is_empty() && removed.contains(&id),
                    move_to: first(f, &format!("move_{id}")),
                    id,
                    name: at(&names, i),
                    probability: at(&probs, i),
                    kind: at(&kinds, i),
                    forecast: at(&cats, i),
                }
            })
            // Blank new rows are left out.
            .filter(|r| !(r.id.is_empty() && r.name.trim().is_empty()))
            .collect(),
        lost_reasons: first(f, "lost_reasons"),
        archived: first(f, "archived") == "true",
        version: first(f, "version").trim().parse().unwrap_or(0),
    }
}

fn input_of(t: &Typed) -> AppResult<PipelineInput> {
    let mut stages = Vec::new();
    let mut move_to = HashMap::new();
    for r in &t.rows {
        if r.remove {
            if !r.move_to.is_empty() {
                move_to.insert(r.id.clone(), r.move_to.clone());
            }
            continue;
        }
        let probability = match r.probability.trim() {
            "" => None,
            p => Some(p.parse::<u8>().ok().filter(|p| *p <= 100).ok_or_else(|| {
                AppError::validation(
                    "stages",
                    format!("{}: the probability must be from 0 to 100", r.name.trim()),
                )
            })?),
        };
        stages.push(StageInput {
            id: (!r.id.is_empty()).then(|| r.id.clone()),
            name: r.name.clone(),
            probability,
            kind: Some(r.kind.clone()),
            forecast: Some(r.forecast.clone()),
        });
    }
    Ok(PipelineInput {
        name: Some(t.name.clone()),
        stages: Some(stages),
        lost_reasons: Some(
            t.lost_reasons
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        archived: Some(t.archived),
        move_to,
    })
}

/// The form of one pipeline: its stages in order (two blank rows add stages), each with a
/// "remove" box and where its deals go then.
fn pipeline_form(
    p: &Pipeline,
    t: &Typed,
    deals: &HashMap<String, usize>,
    csrf: Option<&str>,
) -> Markup {
    let blank = Row {
        kind: "open".into(),
        forecast: "pipeline".into(),
        ..Row::default()
    };
    let rows: Vec<&Row> = t.rows.iter().chain([&blank, &blank]).collect();
    let targets: Vec<(String, String)> = p
        .active_stages()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let kinds = [StageKind::Open, StageKind::Won, StageKind::Lost];
    let cats = [
        ForecastCategory::Pipeline,
        ForecastCategory::BestCase,
        ForecastCategory::Commit,
        ForecastCategory::Omitted,
    ];
    let pid = p.id.to_string();
    html! {
        section.card id=(format!("pipe-{pid}")) aria-labelledby=(format!("pipe-h-{pid}")) {
            h2 id=(format!("pipe-h-{pid}")) { (p.name) @if p.archived { " " span.badge.badge-muted { "archived" } } }
            form.stack method="post" action=(format!("/pipeline/settings/{pid}")) {
                @if let Some(c) = csrf { input type="hidden" name="_csrf" value=(c); }
                input type="hidden" name="version" value=(t.version);
                fieldset.stack disabled[csrf.is_none()] {
                    label for=(format!("n-{pid}")) { "Name" }
                    input id=(format!("n-{pid}")) name="name" type="text" maxlength="60" required value=(t.name);
                    div.table-wrap { table.table.responsive.stage-table {
                        caption.small.muted { "Stages in board order (change the numbers to reorder). Renaming or reordering keeps a stage's history; a blank row adds a stage." }
                        thead { tr { th scope="col" { "Order" } th scope="col" { "Stage" } th scope="col" { "Probability %" } th scope="col" { "Kind" }
                            th scope="col" { "Forecast" } th scope="col" { "Remove" } } }
                        tbody { @for (i, r) in rows.iter().enumerate() {
                            tr {
                                @let label = if r.name.is_empty() { format!("new stage {}", i + 1) } else { r.name.clone() };
                                td data-label="Order" { input.num name="stage_order" type="number" min="1" step="any"
                                    value=[(!r.id.is_empty()).then_some(i + 1)] placeholder=[r.id.is_empty().then_some("auto")] aria-label=(format!("Position of {label}")); }
                                td data-label="Stage" {
                                    input type="hidden" name="stage_id" value=(r.id);
                                    label.visually-hidden for=(format!("s-{pid}-{i}")) { "Stage " (i + 1) " name" }
                                    input id=(format!("s-{pid}-{i}")) name="stage_name" type="text" maxlength="40" value=(r.name) placeholder=[r.id.is_empty().then_some("New stage")];
                                }
                                td data-label="Probability %" { input.num name="stage_probability" type="number" min="0" max="100" value=(r.probability) aria-label=(format!("Probability of {label}")); }
                                td data-label="Kind" {
                                    // A stage's kind is fixed once it exists (history depends on it).
                                    @if r.id.is_empty() {
                                        select name="stage_kind" aria-label=(format!("Kind of {label}")) {
                                            @for k in kinds { option value=(k.as_str()) selected[r.kind == k.as_str()] { (k.as_str()) } } }
                                    } @else {
                                        input type="hidden" name="stage_kind" value=(r.kind);
                                        (r.kind)
                                    }
                                }
                                td data-label="Forecast" { select name="stage_forecast" aria-label=(format!("Forecast category of {label}")) {
                                    @for c in cats { option value=(c.as_str()) selected[r.forecast == c.as_str()] { (c.as_str().replace('_', " ")) } } } }
                                td data-label="Remove" {
                                    @if !r.id.is_empty() {
                                        @let n = deals.get(&r.id).copied().unwrap_or(0);
                                        label.inline { input type="checkbox" name="remove" value=(r.id) checked[r.remove] aria-label=(format!("Remove {label}")); " remove" }
                                        @if n > 0 {
                                            label.small { " and move its " (n) " deals to "
                                                select name=(format!("move_{}", r.id)) aria-label=(format!("Where the deals of {label} go")) {
                                                    option value="" selected[r.move_to.is_empty()] { "Choose a stage…" }
                                                    @for (id, name) in targets.iter().filter(|(id, _)| *id != r.id) {
                                                        option value=(id) selected[r.move_to == *id] { (name) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                    } }
                    label for=(format!("l-{pid}")) { "Lost reasons " small.muted { "(one per line)" } }
                    textarea id=(format!("l-{pid}")) name="lost_reasons" rows="4" { (t.lost_reasons) }
                    label.inline { input type="checkbox" name="archived" value="true" checked[t.archived]; " Archived (only without open deals)" }
                    @if csrf.is_some() { button.btn.btn-primary type="submit" { "Save " (p.name) } }
                }
            }
        }
    }
}

/// The page; `typed` replaces one pipeline's stored form (after a refused change).
async fn page(
    state: &AppState,
    a: &crate::auth::Principal,
    typed_form: Option<(PipelineId, Typed)>,
    error: Option<String>,
) -> AppResult<SettingsPage> {
    let org = org_of(state, a.user().org).await?;
    let can = a.user().role.scope_of(Permission::PipelineEdit) == Some(Scope::Org);
    let token = csrf::token(state.keys.secret(), a.0.session);
    let st = state.clone();
    let body = state
        .db(move |s| {
            let book = st.books.get(s, org.id)?;
            // Counts over the whole org, for those who may change it only.
            let mut deals: HashMap<String, usize> = HashMap::new();
            for o in book.opps.iter().filter(|o| can && !o.state.archived) {
                *deals.entry(o.state.stage.to_string()).or_default() += 1;
            }
            let mut pipes: Vec<&Pipeline> = book.pipelines.iter().collect();
            pipes.sort_by_key(|p| p.archived);
            let csrf = can.then_some(token.as_str());
            Ok(html! {
                @if !can { p.small.muted { "Only users who edit the pipeline for the whole organization (VPs, admins, owners) change pipelines and stages." } }
                @for p in &pipes {
                    @let t = match &typed_form { Some((id, t)) if *id == p.id => t.clone(), _ => stored(p) };
                    (pipeline_form(p, &t, &deals, csrf))
                }
                @if let Some(c) = csrf {
                    section.card aria-labelledby="new-pipe-h" {
                        h2 #new-pipe-h { "New pipeline" }
                        form.inline-form method="post" action="/pipeline/settings" {
                            input type="hidden" name="_csrf" value=(c);
                            label for="new-pipe" { "Name" }
                            input #new-pipe name="name" type="text" maxlength="60" required placeholder="e.g. Renewals";
                            button.btn.btn-small type="submit" { "Add pipeline" }
                        }
                        p.small.muted { "It starts with the default stages; change them here afterwards." }
                    }
                }
            }
            .into_string())
        })
        .await?;
    Ok(SettingsPage {
        shell: shell(state, a, "Pipelines and stages", "/pipeline").await?,
        heading: "Pipelines and stages".into(),
        back: Some(("/pipeline", "Pipeline")),
        actions: Vec::new(),
        error,
        body,
    })
}

pub async fn settings_page(
    State(state): State<AppState>,
    a: Authz<perm::PipelineView>,
) -> AppResult<SettingsPage> {
    page(&state, &a.principal, None, None).await
}

pub async fn create(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    deals::org_wide(a.scope)?;
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), Scope::Org, org.clone());
    let input = PipelineInput {
        name: Some(first(&f, "name")),
        ..Default::default()
    };
    let done = state
        .db_pipeline(org.id, move |s| deals::create_pipeline(s, &c, &input))
        .await;
    match done {
        Ok(p) => Ok(Redirect::to(&format!("/pipeline/settings#pipe-{}", p.id)).into_response()),
        Err(e) if matches!(e.code, "validation" | "conflict") => {
            let page = page(&state, &a.principal, None, Some(e.message.clone())).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn update(
    State(state): State<AppState>,
    a: Authz<perm::PipelineEdit>,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    deals::org_wide(a.scope)?;
    let id: PipelineId = id.parse().map_err(|_| AppError::not_found("Pipeline"))?;
    let t = typed(&f);
    let org = org_of(&state, a.user().org).await?;
    let c = state.caller(a.user(), Scope::Org, org.clone());
    let version = Some(t.version);
    let done = match input_of(&t) {
        Ok(input) => {
            state
                .db_pipeline(org.id, move |s| {
                    deals::update_pipeline(s, &c, id, &input, version)
                })
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(p) => Ok(Redirect::to(&format!("/pipeline/settings#pipe-{}", p.id)).into_response()),
        Err(e) if matches!(e.code, "validation" | "conflict") => {
            // After someone else's change the stored form shows; otherwise what was typed.
            let keep = (e.field.as_deref() != Some("version")).then_some((id, t));
            let page = page(&state, &a.principal, keep, Some(e.message.clone())).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e),
    }
}
