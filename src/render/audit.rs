//! The audit log page's pieces: its filters and the list of records with their changes.

use crate::audit::{Params, field_changes};
use crate::store::audit::AuditRecord;
use maud::{Markup, html};

/// What the filter menus offer.
pub struct Choices {
    /// (user id, name and email)
    pub users: Vec<(String, String)>,
    pub actions: Vec<String>,
    pub entities: Vec<String>,
}

/// The page link with these filters (and paging, when set).
pub fn href(p: &Params) -> String {
    let q = p.query_string();
    if q.is_empty() {
        "/admin/audit".into()
    } else {
        format!("/admin/audit?{q}")
    }
}

fn chosen(p: &Option<String>, v: &str) -> bool {
    p.as_deref().map(str::trim) == Some(v)
}

pub fn filters(p: &Params, c: &Choices) -> Markup {
    let v = |x: &Option<String>| x.clone().unwrap_or_default();
    // A value set by a link (a record's history) that the menus do not list stays chosen.
    let extra = |cur: &Option<String>, list: &[String]| {
        cur.as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty() && !list.iter().any(|x| x == c))
            .map(str::to_string)
    };
    html! {
        form #audit-filters .filters method="get" action="/admin/audit" hx-get="/admin/audit" hx-target="#audit-list"
            hx-select="#audit-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" {
            label.field { span { "Who" }
                select name="user" {
                    option value="" { "Anyone" }
                    @for (id, name) in &c.users { option value=(id) selected[chosen(&p.user, id)] { (name) } }
                    option value="cli" selected[chosen(&p.user, "cli")] { "Command line" }
                    option value="system" selected[chosen(&p.user, "system")] { "salesboard (automatic)" }
                }
            }
            label.field { span { "Action" }
                select name="action" {
                    option value="" { "Any action" }
                    @for a in &c.actions { option value=(a) selected[chosen(&p.action, a)] { (a) } }
                    @if let Some(a) = extra(&p.action, &c.actions) { option value=(a) selected { (a) } }
                }
            }
            label.field { span { "Record" }
                select name="entity" {
                    option value="" { "Any kind" }
                    @for e in &c.entities { option value=(e) selected[chosen(&p.entity, e)] { (e) } }
                    @if let Some(e) = extra(&p.entity, &c.entities) { option value=(e) selected { (e) } }
                }
            }
            @if let Some(id) = p.entity_id.as_deref().filter(|s| !s.trim().is_empty()) {
                input type="hidden" name="entity_id" value=(id);
            }
            label.field { span { "From" } input type="date" name="from" value=(v(&p.from)); }
            label.field { span { "To" } input type="date" name="to" value=(v(&p.to)); }
            noscript { button.btn.btn-small type="submit" { "Apply" } }
        }
    }
}

/// The `#audit-list` element: what is shown, the records (or an empty state) and paging.
pub fn list(
    p: &Params,
    records: &[AuditRecord],
    next_before: Option<u64>,
    tz: &jiff::tz::TimeZone,
    error: Option<&str>,
) -> Markup {
    let first = href(&Params {
        before: None,
        ..p.clone()
    });
    let older = next_before.map(|b| {
        href(&Params {
            before: Some(b),
            ..p.clone()
        })
    });
    let export = href(&Params {
        before: None,
        limit: None,
        ..p.clone()
    })
    .replacen("/admin/audit", "/api/v1/audit/export", 1);
    let record_link = |r: &AuditRecord| {
        href(&Params {
            entity: Some(r.entity.clone()),
            entity_id: Some(r.entity_id.clone()),
            ..Params::default()
        })
    };
    html! {
        div #audit-list {
            @if let Some(e) = error { p.alert.alert-error role="alert" #form-error { (e) } }
            p.small.muted #audit-summary {
                @if p.before.is_some() { "Older records" } @else { "Newest first" }
                @if let Some(id) = p.entity_id.as_deref().filter(|s| !s.trim().is_empty()) {
                    " · history of " code { (id) } " · " a href="/admin/audit" { "all records" }
                }
                @if !records.is_empty() { " · " a href=(export) download="audit-log.csv" #export-audit { "Export CSV" } }
            }
            @if records.is_empty() {
                div.empty-state {
                    @if p.filtered() {
                        p { "No record matches these filters." }
                        p { a href="/admin/audit" { "Clear the filters" } }
                    } @else if p.before.is_some() {
                        p { "No older records." }
                        p { a href=(first) { "Back to the newest" } }
                    } @else {
                        p { "Nothing recorded yet." }
                        p.small.muted { "Changes to users, teams, API keys, partners, deals and settings appear here as they happen, with who made them and the values before and after." }
                    }
                }
            } @else {
                div.table-wrap { table.table.responsive #audit-table {
                    thead { tr {
                        th scope="col" { "When" }
                        th scope="col" { "Who" }
                        th scope="col" { "Action" }
                        th scope="col" { "Record" }
                        th scope="col" { "Changes" }
                    } }
                    tbody { @for r in records {
                        tr id=(format!("audit-{}", r.seq)) {
                            td data-label="When" { time datetime=(r.at.to_string()) { (r.at.display_in(tz)) } }
                            td data-label="Who" { (r.actor.label()) }
                            td data-label="Action" { code { (r.action) } }
                            td data-label="Record" {
                                (r.entity)
                                @if !r.entity_id.is_empty() {
                                    " " a href=(record_link(r)) title="Every change to this record" { code { (short(&r.entity_id)) } }
                                }
                            }
                            td data-label="Changes" { (changes(r)) }
                        }
                    } }
                } }
                @if p.before.is_some() || older.is_some() {
                    nav.pager aria-label="Pages" {
                        @if p.before.is_some() { a.btn.btn-small href=(first) { "← Newest" } }
                        @if let Some(o) = &older { a.btn.btn-small href=(o) #audit-older { "Older →" } }
                    }
                }
            }
        }
    }
}

/// Long ids (ULIDs) shortened for the table; the full id is in the link.
fn short(id: &str) -> String {
    if id.chars().count() > 14 {
        format!("{}…", id.chars().take(12).collect::<String>())
    } else {
        id.to_string()
    }
}

/// The fields before → after, changed ones first and marked, in a disclosure.
fn changes(r: &AuditRecord) -> Markup {
    let mut fields = field_changes(r);
    if fields.is_empty() {
        return html! { span.muted { "–" } };
    }
    fields.sort_by_key(|f| !f.changed());
    let n = fields.iter().filter(|f| f.changed()).count();
    let none = || html! { span.muted { "–" } };
    html! {
        details.audit-changes {
            summary { (n) @if n == 1 { " field" } @else { " fields" } }
            table.table.compact {
                thead { tr { th scope="col" { "Field" } th scope="col" { "Before" } th scope="col" { "After" } } }
                tbody { @for f in &fields {
                    tr class=[f.changed().then_some("changed")] {
                        th scope="row" { (f.field) }
                        td { @if let Some(o) = &f.old { (o) } @else { (none()) } }
                        td { @if let Some(n) = &f.new { (n) } @else { (none()) } }
                    }
                } }
            }
        }
    }
}
