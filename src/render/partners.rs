//! Partner pages' pieces: the list table, the health explanation and its history chart, the
//! facts, contacts, notes and deals of one partner, and the partner and settings forms.

use super::chart::{self, Line, LineChart};
use crate::domain::money::Currency;
use crate::domain::partner::{Band, Factor, Health, Note, PartnerSettings, PartnerStatus};
use crate::partners::{ListQuery, Row};
use crate::pipeline::People;
use maud::{Markup, html};

pub fn band_badge(score: u8, settings: &PartnerSettings) -> Markup {
    let band = Band::of(score, settings.at_risk_below);
    let class = match band {
        Band::Healthy => "badge badge-ok",
        Band::Watch => "badge badge-warn",
        Band::AtRisk => "badge badge-bad",
    };
    html! { span class=(class) title=(format!("Health {score} of 100: {}", band.label().to_lowercase())) { (score) " · " (band.label()) } }
}

pub fn status_badge(s: PartnerStatus) -> Markup {
    let class = match s {
        PartnerStatus::Active => "badge badge-ok",
        PartnerStatus::AtRisk => "badge badge-bad",
        PartnerStatus::Churned => "badge badge-muted",
        _ => "badge",
    };
    html! { span class=(class) { (s.label()) } }
}

/// The list's URL for `q` (empty values left out).
pub fn list_href(q: &ListQuery) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &q.q),
        ("tier", &q.tier),
        ("status", &q.status),
        ("owner", &q.owner),
        ("health", &q.health),
        ("tag", &q.tag),
        ("sort", &q.sort),
        ("cursor", &q.cursor),
    ] {
        // Sorting by name is the default: left out so the plain list has the plain URL.
        if let Some(v) = v
            .as_deref()
            .filter(|v| !(v.trim().is_empty() || k == "sort" && *v == "name"))
        {
            s.append_pair(k, v);
        }
    }
    if q.archived == Some(true) {
        s.append_pair("archived", "true");
    }
    let qs = s.finish();
    if qs.is_empty() {
        "/partners".into()
    } else {
        format!("/partners?{qs}")
    }
}

/// Everything the list's filter form offers.
pub struct ListOptions<'a> {
    pub settings: &'a PartnerSettings,
    pub owners: Vec<(String, String)>,
}

pub fn filters(o: &ListOptions, q: &ListQuery) -> Markup {
    let v = |x: &Option<String>| x.clone().unwrap_or_default();
    html! {
        form #partner-filters .filters method="get" action="/partners" hx-get="/partners" hx-target="#partner-list"
            hx-select="#partner-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" {
            label.field { span { "Search" }
                input type="search" name="q" value=(v(&q.q)) placeholder="Name, site, tag, contact"
                    hx-get="/partners" hx-include="closest form" hx-target="#partner-list" hx-select="#partner-list"
                    hx-swap="outerHTML" hx-push-url="true" hx-trigger="input changed delay:300ms, search";
            }
            label.field { span { "Tier" }
                select name="tier" {
                    option value="" { "Any tier" }
                    @for t in &o.settings.tiers { option value=(t) selected[q.tier.as_deref() == Some(t.as_str())] { (t) } }
                }
            }
            label.field { span { "Status" }
                select name="status" {
                    option value="" { "Any status" }
                    @for s in PartnerStatus::ALL { option value=(s.as_str()) selected[q.status.as_deref() == Some(s.as_str())] { (s.label()) } }
                }
            }
            label.field { span { "Owner" }
                select name="owner" {
                    option value="" { "Anyone" }
                    option value="me" selected[q.owner.as_deref() == Some("me")] { "Me" }
                    @for (id, name) in &o.owners { option value=(id) selected[q.owner.as_deref() == Some(id.as_str())] { (name) } }
                }
            }
            label.field { span { "Health" }
                select name="health" {
                    option value="" { "Any health" }
                    @for b in [Band::AtRisk, Band::Watch, Band::Healthy] {
                        option value=(b.as_str()) selected[q.health.as_deref() == Some(b.as_str())] { (b.label()) }
                    }
                }
            }
            label.field { span { "Sort" }
                select name="sort" {
                    @for (key, label) in SORT_CHOICES {
                        option value=(key) selected[q.sort.as_deref().unwrap_or("name") == *key] { (label) }
                    }
                    // A column sort the list does not offer (e.g. ascending amounts) stays chosen.
                    @if let Some(other) = q.sort.as_deref().filter(|s| !s.is_empty() && !SORT_CHOICES.iter().any(|c| c.0 == *s)) {
                        option value=(other) selected { (other) }
                    }
                }
            }
            label.inline { input type="checkbox" name="archived" value="true" checked[q.archived == Some(true)]; " Archived too" }
            noscript { button.btn.btn-small type="submit" { "Apply" } }
        }
    }
}

const SORT_CHOICES: &[(&str, &str)] = &[
    ("name", "Name"),
    ("health", "Health, weakest first"),
    ("-health", "Health, strongest first"),
    ("renewal_date", "Renewal, soonest first"),
    ("-open_pipeline", "Open pipeline, largest first"),
    ("-won", "Won this year, most first"),
    ("tier", "Tier"),
    ("status", "Status"),
    ("owner", "Owner"),
    ("-updated_at", "Recently changed"),
];

/// A sortable column heading: a link that sorts by `key` (again: the other way round).
fn sort_head(label: &str, key: &str, q: &ListQuery, num: bool) -> Markup {
    let cur = q.sort.as_deref().unwrap_or("name");
    let (active, desc) = match cur.strip_prefix('-') {
        Some(k) => (k == key, true),
        None => (cur == key, false),
    };
    let next = if active && !desc {
        format!("-{key}")
    } else {
        key.to_string()
    };
    let href = list_href(&ListQuery {
        sort: Some(next),
        cursor: None,
        ..q.clone()
    });
    let aria = match (active, desc) {
        (true, false) => "ascending",
        (true, true) => "descending",
        _ => "none",
    };
    html! {
        th scope="col" class=[num.then_some("num")] aria-sort=(aria) {
            // A plain link: the whole page follows, so the Sort menu above shows the order too.
            a href=(href) {
                (label) @if active { span aria-hidden="true" { @if desc { " ↓" } @else { " ↑" } } }
            }
        }
    }
}

pub struct ListCtx<'a> {
    pub currency: &'a Currency,
    pub people: &'a People,
    pub settings: &'a PartnerSettings,
    /// Whether the org has any partner at all (else the list shows how to start).
    pub any_partner: bool,
    /// Whether the viewer may download the CSV (reports.export).
    pub can_export: bool,
}

/// The `#partner-list` element: summary, table (or empty state) and pager.
pub fn list(
    c: &ListCtx,
    q: &ListQuery,
    shown: &[&Row],
    total: usize,
    offset: usize,
    page_size: usize,
) -> Markup {
    let (any_partner, can_export) = (c.any_partner, c.can_export);
    let m = |v: i64| c.currency.display_minor(v);
    let link = |off: usize| {
        list_href(&ListQuery {
            cursor: (off > 0).then(|| off.to_string()),
            ..q.clone()
        })
    };
    let export = list_href(&ListQuery {
        cursor: None,
        ..q.clone()
    })
    .replacen("/partners", "/api/v1/partners/export", 1);
    html! {
        div #partner-list {
            p.small.muted #partner-summary {
                (super::pipeline::plural(total as u64, "partner"))
                @if any_partner && can_export { " · " a href=(export) download="partners.csv" #export-partners { "Export CSV" } }
            }
            @if !any_partner {
                div.empty-state {
                    p { "No partners yet." }
                    p.small.muted { "Add the ISV partners your team works with: their tier, owner, contacts and contract dates. Link deals to them on the pipeline and their health score follows." }
                }
            } @else if shown.is_empty() && offset > 0 && total > 0 {
                div.empty-state { p { "This page is past the end of the list." } p { a href=(link(0)) { "Back to the first page" } } }
            } @else if shown.is_empty() {
                div.empty-state {
                    p { "No partner matches these filters." }
                    @if q.archived != Some(true) { p.small.muted { "Archived partners are hidden; tick " em { "Archived too" } " to include them." } }
                    p { a href="/partners" { "Clear the filters" } }
                }
            } @else {
                div.table-wrap { table.table.responsive #partners-table {
                    thead { tr {
                        (sort_head("Name", "name", q, false))
                        (sort_head("Tier", "tier", q, false))
                        (sort_head("Status", "status", q, false))
                        (sort_head("Owner", "owner", q, false))
                        (sort_head("Health", "health", q, false))
                        (sort_head("Open pipeline", "open_pipeline", q, true))
                        (sort_head("Won this year", "won", q, true))
                        (sort_head("Renewal", "renewal_date", q, false))
                    } }
                    tbody { @for r in shown {
                        @let p = &r.partner;
                        tr {
                            th scope="row" { a href=(format!("/partners/{}", p.id)) { (p.name) }
                                @if p.archived { " " span.badge.badge-muted { "archived" } } }
                            td data-label="Tier" { (p.tier) }
                            td data-label="Status" { (status_badge(p.status)) }
                            td data-label="Owner" { (c.people.name(p.owner)) }
                            td data-label="Health" { (band_badge(r.health.score, c.settings)) }
                            td.num data-label="Open pipeline" { (m(r.facts.open_amount)) }
                            td.num data-label="Won this year" { (m(r.won_this_year)) }
                            td data-label="Renewal" { (p.renewal_date.map(|d| d.to_string()).unwrap_or_else(|| "–".into())) }
                        }
                    } }
                } }
                @let pages = total.div_ceil(page_size).max(1);
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if offset > 0 { a.btn.btn-small href=(link(offset.saturating_sub(page_size))) { "← Previous" } }
                        span.small.muted { " Page " (offset / page_size + 1) " of " (pages) " " }
                        @if offset + page_size < total { a.btn.btn-small href=(link(offset + page_size)) { "Next →" } }
                    }
                }
            }
        }
    }
}

/// The score, its band and each factor's part.
pub fn health(h: &Health, settings: &PartnerSettings, reason: Option<&str>) -> Markup {
    html! {
        section.card #health aria-labelledby="health-h" {
            h2 #health-h { "Relationship health" }
            p.health-score { span.tile-value #health-score { (h.score) } " of 100 " (band_badge(h.score, settings)) }
            @if let Some(r) = reason { p.alert.alert-error role="status" #at-risk-reason { (r) } }
            div.table-wrap { table.table.responsive #health-factors {
                caption.small.muted { "A weighted mean: each factor scores 0–100; factors that do not apply give their weight to the others. Below "
                    (settings.at_risk_below) " an active partner is marked at risk." }
                thead { tr { th scope="col" { "Factor" } th scope="col" { "Fact" } th.num scope="col" { "Score" }
                    th.num scope="col" { "Weight" } th.num scope="col" { "Points" } } }
                tbody { @for f in &h.factors { tr {
                    th scope="row" { (f.factor.label()) }
                    td data-label="Fact" { (f.detail) }
                    td.num data-label="Score" { @if let Some(s) = f.score { (s) } @else { span.muted { "n/a" } } }
                    td.num data-label="Weight" { (f.weight) }
                    td.num data-label="Points" { @if f.score.is_some() { (format!("{:.1}", f.contribution)) } @else { "–" } }
                } } }
            } }
        }
    }
}

/// The stored daily scores as a line chart (with the threshold as a second line).
pub fn health_history(days: &[(jiff::civil::Date, u8)], threshold: u8) -> Markup {
    let labels: Vec<String> = days
        .iter()
        .map(|(d, _)| d.strftime("%b %-d").to_string())
        .collect();
    let scores: Vec<f64> = days.iter().map(|(_, s)| f64::from(*s)).collect();
    let line = vec![f64::from(threshold); days.len()];
    let lines = [
        Line {
            name: "Health",
            values: &scores,
        },
        Line {
            name: "At-risk threshold",
            values: &line,
        },
    ];
    let fmt = |v: f64| format!("{v:.0}");
    html! {
        section.card #health-history aria-labelledby="hh-h" {
            h2 #hh-h { "Health over time" }
            (chart::line_chart(&LineChart {
                title: "Daily health score, last 180 days",
                x_labels: &labels,
                lines: &lines,
                format: &fmt,
                axis: &fmt,
                empty: "No score recorded yet: salesboard records one every day.",
                x_links: None,
            }))
        }
    }
}

/// The notes, newest first, with the form to add one.
pub fn notes(notes: &[Note], tz: &jiff::tz::TimeZone, form: Option<(&str, &str)>) -> Markup {
    html! {
        section.card #notes aria-labelledby="notes-h" {
            h2 #notes-h { "Notes" }
            @if let Some((action, csrf)) = form {
                form.stack method="post" action=(action) #note-form {
                    input type="hidden" name="_csrf" value=(csrf);
                    label for="note-text" { "Add a note" }
                    textarea #note-text name="text" rows="3" maxlength="10000" required placeholder="What happened, what was agreed, what comes next" {}
                    button.btn.btn-small.btn-primary type="submit" { "Add note" }
                }
            }
            @if notes.is_empty() { p.muted { "No notes yet." } } @else {
                ol.timeline #note-list {
                    @for n in notes { li {
                        p.small.muted { time datetime=(n.at.to_string()) { (n.at.display_in(tz)) } " · " (n.by_label) }
                        p.note-text { (n.text) }
                    } }
                }
            }
        }
    }
}

/// The partner form's values, as text.
#[derive(Clone, Debug, Default)]
pub struct FormValues {
    pub name: String,
    pub website: String,
    pub tier: String,
    pub status: String,
    pub owner: String,
    pub region: String,
    pub categories: String,
    pub tags: String,
    pub contract_start: String,
    pub renewal_date: String,
    pub revenue_target: String,
    /// (name, role, email, phone)
    pub contacts: Vec<[String; 4]>,
    pub version: Option<u64>,
}

pub struct FormChoices<'a> {
    pub tiers: Vec<String>,
    pub owners: &'a [(String, String)],
    pub csrf: &'a str,
    pub action: String,
}

/// The create / change form (contacts: the current ones and two blank rows).
pub fn partner_form(v: &FormValues, c: &FormChoices) -> Markup {
    let blank = [String::new(), String::new(), String::new(), String::new()];
    let contacts: Vec<&[String; 4]> = v.contacts.iter().chain([&blank, &blank]).collect();
    html! {
        form.stack method="post" action=(c.action) #partner-form {
            input type="hidden" name="_csrf" value=(c.csrf);
            @if let Some(ver) = v.version { input type="hidden" name="version" value=(ver); }
            label for="p-name" { "Name" }
            input #p-name name="name" type="text" maxlength="200" required value=(v.name);
            label for="p-website" { "Website" }
            input #p-website name="website" type="text" inputmode="url" maxlength="300" value=(v.website) placeholder="example.com";
            div.grid-2 {
                div.stack {
                    label for="p-tier" { "Tier" }
                    select #p-tier name="tier" { @for t in &c.tiers { option value=(t) selected[*t == v.tier] { (t) } } }
                }
                div.stack {
                    label for="p-status" { "Status" }
                    select #p-status name="status" { @for s in PartnerStatus::ALL { option value=(s.as_str()) selected[s.as_str() == v.status] { (s.label()) } } }
                }
            }
            label for="p-owner" { "Owner" }
            select #p-owner name="owner" { @for (id, n) in c.owners { option value=(id) selected[*id == v.owner] { (n) } } }
            label for="p-region" { "Region" }
            input #p-region name="region" type="text" maxlength="60" value=(v.region) placeholder="e.g. EMEA";
            label for="p-categories" { "Categories " small.muted { "(comma separated)" } }
            input #p-categories name="categories" type="text" value=(v.categories) placeholder="e.g. Security, Analytics";
            label for="p-tags" { "Tags " small.muted { "(comma separated)" } }
            input #p-tags name="tags" type="text" value=(v.tags);
            div.grid-2 {
                div.stack { label for="p-start" { "Contract start" } input #p-start name="contract_start" type="date" value=(v.contract_start); }
                div.stack { label for="p-renewal" { "Renewal date" } input #p-renewal name="renewal_date" type="date" value=(v.renewal_date); }
            }
            label for="p-target" { "Yearly revenue target " small.muted { "(won deals it sources or influences; empty: none)" } }
            input #p-target name="revenue_target" type="text" inputmode="decimal" value=(v.revenue_target) placeholder="250000.00";
            fieldset.contacts {
                legend { "Contacts " small.muted { "(clear every field of a contact to remove it)" } }
                @for (i, ct) in contacts.iter().enumerate() {
                    div.contact-row {
                        label { span.visually-hidden { "Contact " (i + 1) " name" } input name="contact_name" type="text" maxlength="120" value=(ct[0]) placeholder="Name"; }
                        label { span.visually-hidden { "Contact " (i + 1) " role" } input name="contact_role" type="text" maxlength="120" value=(ct[1]) placeholder="Role"; }
                        label { span.visually-hidden { "Contact " (i + 1) " email" } input name="contact_email" type="email" maxlength="200" value=(ct[2]) placeholder="Email"; }
                        label { span.visually-hidden { "Contact " (i + 1) " phone" } input name="contact_phone" type="tel" maxlength="40" value=(ct[3]) placeholder="Phone"; }
                    }
                }
            }
            button.btn.btn-primary type="submit" #save-partner { @if v.version.is_some() { "Save changes" } @else { "Create partner" } }
        }
    }
}

/// The settings form (read-only text for those who may not change them).
pub fn settings_form(s: &PartnerSettings, csrf: Option<&str>) -> Markup {
    html! {
        form.stack method="post" action="/partners/settings" #settings-form {
            @if let Some(t) = csrf { input type="hidden" name="_csrf" value=(t); }
            input type="hidden" name="version" value=(s.version);
            fieldset disabled[csrf.is_none()] {
                legend { "Health weights" }
                p.small.muted { "Relative weights, 0–100 each: a factor with weight 0 is ignored." }
                div.grid-2 {
                    @for f in Factor::ALL {
                        label.field { span { (f.label()) }
                            input.num type="number" min="0" max="100" name=(format!("w_{}", f.as_str())) value=(s.weights.get(f)); }
                    }
                }
                label for="s-threshold" { "Mark active partners at risk below" }
                input #s-threshold name="at_risk_below" type="number" min="0" max="100" value=(s.at_risk_below);
                label for="s-tiers" { "Tiers " small.muted { "(one per line, lowest first)" } }
                textarea #s-tiers name="tiers" rows="5" { (s.tiers.join("\n")) }
                @if csrf.is_some() { button.btn.btn-primary type="submit" #save-settings { "Save settings" } }
            }
        }
    }
}
