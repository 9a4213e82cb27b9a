//! The pipeline board (kanban), its table view, opportunity pages and the forecast. One
//! function per component; the page handlers and the live refresh render the same ones.

use crate::domain::UserId;
use crate::domain::forecast::{Figures, Flow, Waterfall};
use crate::domain::money::Currency;
use crate::domain::pipeline::{HistoryRecord, Opportunity, Pipeline, StageKind, Tracked, Value};
use crate::pipeline::{Board, People};
use jiff::civil::Date;
use maud::{Markup, html};

/// What every card and row needs besides the deal.
pub struct Ctx<'a> {
    pub currency: &'a Currency,
    pub people: &'a People,
    pub today: Date,
    pub csrf: &'a str,
    /// The board's canonical query, so a change made here returns to the same view.
    pub back: &'a str,
    /// Whether the viewer may change this deal (never in an "as of" view).
    pub editable: &'a dyn Fn(&Tracked) -> bool,
}

impl Ctx<'_> {
    fn money(&self, minor: i64) -> String {
        self.currency.display_minor(minor)
    }
}

fn close_label(t: &Tracked, open: bool, today: Date) -> Markup {
    let overdue = open && t.close_date < today;
    html! {
        span class={ "close-date" @if overdue { " overdue" } } {
            @if overdue { "Slipped: " }
            time datetime=(t.close_date.to_string()) { (t.close_date.strftime("%b %-d, %Y").to_string()) }
        }
    }
}

/// The hidden fields every change form of a deal carries.
fn change_fields(o: &Opportunity, ctx: &Ctx) -> Markup {
    html! {
        input type="hidden" name="_csrf" value=(ctx.csrf);
        input type="hidden" name="version" value=(o.version);
        input type="hidden" name="back" value=(ctx.back);
    }
}

fn card(o: &Opportunity, t: &Tracked, p: &Pipeline, ctx: &Ctx) -> Markup {
    let open = p.stage(t.stage).is_none_or(|s| s.kind == StageKind::Open);
    let editable = (ctx.editable)(t);
    let action = format!("/pipeline/opportunities/{}/move", o.id);
    html! {
        li.deal id=(format!("deal-{}", o.id)) data-id=(o.id.to_string()) draggable=[editable.then_some("true")] {
            a.deal-name href=(format!("/opportunities/{}", o.id)) { (o.name) }
            span.deal-account.muted { (o.account) }
            span.deal-amount { (ctx.money(t.amount)) span.muted.small { " · " (t.probability) "%" } }
            span.deal-meta.small {
                (ctx.people.name(t.owner)) " · " (close_label(t, open, ctx.today))
            }
            @if editable {
                details.move {
                    summary.btn.btn-small.btn-ghost { "Move to…" }
                    form.move-form method="post" action=(action) hx-post=(action)
                        hx-target="#board" hx-select="#board" hx-swap="outerHTML" {
                        (change_fields(o, ctx))
                        ul.plain {
                            @for s in p.active_stages().filter(|s| s.id != t.stage) {
                                li { button.btn.btn-small type="submit" name="stage" value=(s.id.to_string()) { (s.name) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The kanban: a column per stage with its count, total and weighted amount.
pub fn board(b: &Board, ctx: &Ctx) -> Markup {
    html! {
        div.kanban role="list" aria-label=(format!("{} stages", b.pipeline.name)) {
            @for c in &b.columns {
                @let hid = format!("col-{}", c.stage.id);
                section.column role="listitem" aria-labelledby=(hid) data-stage=(c.stage.id.to_string())
                    data-kind=(c.stage.kind.as_str()) {
                    header.column-head {
                        h2 id=(hid) { (c.stage.name) " " span.badge.count { (c.count) } }
                        p.small.column-totals {
                            span.total title="Total amount" { (ctx.money(c.total)) }
                            @if c.stage.kind == StageKind::Open {
                                " · " span.weighted title="Weighted by probability" { (ctx.money(c.weighted)) " weighted" }
                            }
                        }
                    }
                    ol.cards.plain data-drop-stage=(c.stage.id.to_string()) {
                        @for (o, t) in &c.cards {
                            (card(o, t, b.pipeline, ctx))
                        }
                        @if c.cards.is_empty() {
                            li.empty.muted.small { "No deals here." }
                        }
                    }
                    @if (c.count as usize) > c.cards.len() {
                        p.small.muted { "Showing the " (c.cards.len()) " closing soonest of " (c.count) ". "
                            a href=(format!("/pipeline?{}", with_table(ctx.back))) { "See all in the table" } }
                    }
                }
            }
        }
    }
}

fn with_table(query: &str) -> String {
    if query.is_empty() {
        "view=table".into()
    } else {
        format!("{query}&view=table")
    }
}

/// The table view: one row per deal, with inline edits of stage, amount, probability and
/// close date.
pub fn table(
    rows: &[(&Opportunity, &Tracked)],
    pipelines: &[Pipeline],
    ctx: &Ctx,
    pager: Markup,
) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "No opportunities match these filters." }
        } @else {
            div.table-wrap {
                table.table.responsive #deals-table {
                    thead { tr {
                        th scope="col" { "Opportunity" } th scope="col" { "Stage" } th scope="col" { "Amount" }
                        th scope="col" { "Probability" } th scope="col" { "Close date" } th scope="col" { "Owner" }
                        th scope="col" { span.visually-hidden { "Save" } }
                    } }
                    tbody {
                        @for (o, t) in rows {
                            @let p = pipelines.iter().find(|p| p.id == t.pipeline);
                            @let form_id = format!("edit-{}", o.id);
                            @let editable = (ctx.editable)(t);
                            tr id=(format!("row-{}", o.id)) {
                                td data-label="Opportunity" {
                                    a href=(format!("/opportunities/{}", o.id)) { (o.name) } br;
                                    span.small.muted { (o.account) }
                                }
                                @if editable && let Some(p) = p {
                                    td data-label="Stage" {
                                        select name="stage" form=(form_id) aria-label=(format!("Stage of {}", o.name)) {
                                            @for s in p.active_stages() {
                                                option value=(s.id.to_string()) selected[s.id == t.stage] { (s.name) }
                                            }
                                        }
                                    }
                                    td data-label="Amount" {
                                        input.num type="text" inputmode="decimal" name="amount" form=(form_id)
                                            value=(ctx.currency.format_minor(t.amount)) aria-label=(format!("Amount of {}", o.name));
                                    }
                                    td data-label="Probability" {
                                        input.num type="number" min="0" max="100" name="probability" form=(form_id)
                                            value=(t.probability) aria-label=(format!("Probability of {} in percent", o.name));
                                    }
                                    td data-label="Close date" {
                                        input type="date" name="close_date" form=(form_id) value=(t.close_date.to_string())
                                            aria-label=(format!("Close date of {}", o.name));
                                    }
                                } @else {
                                    td data-label="Stage" { (p.and_then(|p| p.stage(t.stage)).map(|s| s.name.as_str()).unwrap_or("")) }
                                    td data-label="Amount" { (ctx.money(t.amount)) }
                                    td data-label="Probability" { (t.probability) "%" }
                                    td data-label="Close date" { (t.close_date.to_string()) }
                                }
                                td data-label="Owner" { (ctx.people.name(t.owner)) }
                                td {
                                    @if editable {
                                        @let action = format!("/pipeline/opportunities/{}/edit", o.id);
                                        form id=(form_id) method="post" action=(action) hx-post=(action)
                                            hx-target="#board" hx-select="#board" hx-swap="outerHTML" {
                                            (change_fields(o, ctx))
                                            button.btn.btn-small type="submit" { "Save" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager)
        }
    }
}

/// Filter choices of the board.
pub struct FilterOptions<'a> {
    pub pipelines: &'a [Pipeline],
    pub owners: Vec<(UserId, &'a str)>,
    /// (id, name) of the org's partners.
    pub partners: Vec<(String, String)>,
}

/// The values the filter form shows.
pub struct FilterValues<'a> {
    pub pipeline: Option<crate::domain::PipelineId>,
    pub owner: &'a str,
    pub partner: &'a str,
    pub close: &'a str,
    pub q: &'a str,
    pub table: bool,
    pub as_of: Option<Date>,
}

pub const CLOSE_CHOICES: &[(&str, &str)] = &[
    ("", "Any close date"),
    ("overdue", "Slipped (past close date)"),
    ("this_month", "Closing this month"),
    ("this_quarter", "Closing this quarter"),
    ("next_quarter", "Closing next quarter"),
];

pub fn filters(opts: &FilterOptions, v: &FilterValues) -> Markup {
    html! {
        form #board-filters .filters method="get" action="/pipeline" hx-get="/pipeline" hx-target="#board"
            hx-select="#board" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" {
            @if opts.pipelines.iter().filter(|p| !p.archived).count() > 1 {
                label.field { span { "Pipeline" }
                    select name="pipeline" {
                        @for p in opts.pipelines.iter().filter(|p| !p.archived) {
                            option value=(p.id.to_string()) selected[Some(p.id) == v.pipeline] { (p.name) }
                        }
                    }
                }
            }
            label.field { span { "Owner" }
                select name="owner" {
                    option value="" selected[v.owner.is_empty()] { "Everyone I can see" }
                    option value="me" selected[v.owner == "me"] { "Me" }
                    @for (id, name) in &opts.owners {
                        option value=(id.to_string()) selected[v.owner == id.to_string()] { (name) }
                    }
                }
            }
            @if !opts.partners.is_empty() {
                label.field { span { "Partner" }
                    select name="partner" {
                        option value="" selected[v.partner.is_empty()] { "Any partner" }
                        @for (id, name) in &opts.partners {
                            option value=(id) selected[v.partner == id] { (name) }
                        }
                    }
                }
            }
            label.field { span { "Close" }
                select name="close" {
                    @for (value, label) in CLOSE_CHOICES {
                        option value=(value) selected[*value == v.close] { (label) }
                    }
                }
            }
            label.field { span { "Search" }
                input type="search" name="q" value=(v.q) placeholder="Name or account"
                    hx-get="/pipeline" hx-include="closest form" hx-target="#board" hx-select="#board"
                    hx-swap="outerHTML" hx-push-url="true" hx-trigger="input changed delay:300ms, search";
            }
            label.field { span { "As of" }
                input type="date" name="as_of" value=[v.as_of.map(|d| d.to_string())];
            }
            fieldset.inline.view-switch {
                legend.visually-hidden { "Show as" }
                label { input type="radio" name="view" value="board" checked[!v.table]; " Board" }
                label { input type="radio" name="view" value="table" checked[v.table]; " Table" }
            }
            noscript { button.btn.btn-small type="submit" { "Apply" } }
        }
    }
}

fn value_text(v: &Value, currency: &Currency, people: &People) -> String {
    match v {
        Value::Pipeline(p) => p.to_string(),
        Value::Stage(_, name) => name.clone(),
        Value::Amount(a) => currency.display_minor(*a),
        Value::Probability(p) => format!("{p}%"),
        Value::Owner(u) => people.name(*u).to_string(),
        Value::CloseDate(d) => d.to_string(),
        Value::Archived(true) => "archived".into(),
        Value::Archived(false) => "active".into(),
    }
}

fn field_label(field: &str) -> &'static str {
    match field {
        "pipeline" => "Pipeline",
        "stage" => "Stage",
        "amount" => "Amount",
        "probability" => "Probability",
        "owner" => "Owner",
        "close_date" => "Close date",
        _ => "Status",
    }
}

/// The history of one deal, newest first.
pub fn timeline(
    history: &[HistoryRecord],
    currency: &Currency,
    people: &People,
    tz: &jiff::tz::TimeZone,
    pipeline_name: &dyn Fn(&Value) -> Option<String>,
) -> Markup {
    html! {
        ol.timeline #timeline {
            @for r in history.iter().rev() {
                li {
                    p.small.muted { time datetime=(r.at.to_string()) { (r.at.display_in(tz)) } " · " (r.by_label) }
                    @if r.is_creation() {
                        p { "Created in " strong { (r.change_of("stage").map(|c| value_text(&c.after, currency, people)).unwrap_or_default()) }
                            " at " (r.change_of("amount").map(|c| value_text(&c.after, currency, people)).unwrap_or_default()) "." }
                    } @else {
                        ul.plain.changes {
                            @for c in &r.changes {
                                @let show = |v: &Value| pipeline_name(v).unwrap_or_else(|| value_text(v, currency, people));
                                li { (field_label(c.after.field())) ": "
                                    @if let Some(b) = &c.before { span.before { (show(b)) } " → " }
                                    strong.after { (show(&c.after)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The forecast figures as tiles.
pub fn forecast_tiles(f: &Figures, target: Option<i64>, currency: &Currency) -> Markup {
    let m = |v| currency.display_minor(v);
    html! {
        ul.tiles #forecast-totals {
            li.tile { span.tile-label { "Closed won" } span.tile-value { (m(f.closed_won)) } span.small.muted { (plural(f.won_deals, "deal")) } }
            li.tile { span.tile-label { "Commit" } span.tile-value { (m(f.commit)) } span.small.muted { "won + commit stages" } }
            li.tile { span.tile-label { "Best case" } span.tile-value { (m(f.best_case)) } span.small.muted { "commit + best-case stages" } }
            li.tile { span.tile-label { "Open pipeline" } span.tile-value { (m(f.pipeline)) } span.small.muted { (plural(f.open_deals, "open deal")) } }
            li.tile { span.tile-label { "Weighted pipeline" } span.tile-value { (m(f.weighted)) } span.small.muted { "amount × probability" } }
            @if let Some(t) = target {
                @let remaining = (t - f.closed_won).max(0);
                li.tile { span.tile-label { "Target" } span.tile-value { (m(t)) }
                    span.small.muted { "gap " (m(remaining))
                        @if remaining > 0 { " · coverage " (format!("{:.1}×", f.pipeline as f64 / remaining as f64)) } } }
            }
        }
    }
}

/// A table of forecast rows (by owner, team, pipeline or partner).
pub fn forecast_rows(title: &str, rows: &[(String, Figures)], currency: &Currency) -> Markup {
    let m = |v| currency.display_minor(v);
    html! {
        section.card {
            h2 { (title) }
            @if rows.is_empty() { p.muted { "No deals close in this period." } } @else {
                div.table-wrap { table.table.responsive {
                    thead { tr { th scope="col" { "" } th scope="col" { "Closed won" } th scope="col" { "Commit" }
                        th scope="col" { "Best case" } th scope="col" { "Pipeline" } th scope="col" { "Weighted" } } }
                    tbody { @for (label, f) in rows { tr {
                        th scope="row" { (label) }
                        td data-label="Closed won" { (m(f.closed_won)) } td data-label="Commit" { (m(f.commit)) }
                        td data-label="Best case" { (m(f.best_case)) } td data-label="Pipeline" { (m(f.pipeline)) }
                        td data-label="Weighted" { (m(f.weighted)) }
                    } } }
                } }
            }
        }
    }
}

/// The waterfall as a table of steps with bars (SVG-free: widths in CSS).
pub fn waterfall(w: &Waterfall, since: &str, currency: &Currency) -> Markup {
    let steps: [(&str, i64, i8); 9] = [
        ("Open pipeline then", w.start, 0),
        ("New deals", w.new, 1),
        ("Moved into the period", w.moved_in, 1),
        ("Amounts raised", w.amount_up, 1),
        ("Amounts lowered", w.amount_down, -1),
        ("Moved out of the period", w.moved_out, -1),
        ("Won (now closed)", w.won, -1),
        ("Lost", w.lost, -1),
        ("Open pipeline now", w.end, 0),
    ];
    let max = steps.iter().map(|s| s.1.abs()).max().unwrap_or(0).max(1);
    html! {
        section.card #waterfall {
            h2 { "What changed since " (since) }
            table.table.waterfall {
                tbody { @for (label, v, sign) in steps {
                    tr class={ "step-" @if sign > 0 { "up" } @else if sign < 0 { "down" } @else { "total" } } {
                        th scope="row" { (label) }
                        td.num { @if sign > 0 { "+" } @else if sign < 0 && v != 0 { "−" } (currency.display_minor(v)) }
                        td.bar-cell aria-hidden="true" {
                            // SVG geometry, not an inline style (the CSP allows no inline styles).
                            svg.bar-track viewBox="0 0 100 10" preserveAspectRatio="none" {
                                rect.wbar width=(format!("{:.1}", v.abs() as f64 * 100.0 / max as f64)) height="10" rx="1" {}
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// Stage flow: reached, conversion to the next stage, average days in stage.
pub fn flow(f: &Flow, pipeline: &str) -> Markup {
    html! {
        section.card #flow {
            h2 { "Stage flow: " (pipeline) }
            p.small.muted {
                "Win rate " (f.win_rate.map_or("–".into(), |r| format!("{:.0}%", r * 100.0)))
                " (" (f.won) " won, " (f.lost) " lost) · average cycle "
                (f.avg_cycle_days.map_or("–".into(), |d| format!("{d:.1} days")))
            }
            div.table-wrap { table.table.responsive {
                thead { tr { th scope="col" { "Stage" } th scope="col" { "Deals reached" } th scope="col" { "Went on" } th scope="col" { "Average days in stage" } } }
                tbody { @for s in &f.stages { tr {
                    th scope="row" { (s.stage) }
                    td data-label="Deals reached" { (s.reached) }
                    td data-label="Went on" { (s.conversion.map_or("–".into(), |c| format!("{:.0}%", c * 100.0))) }
                    td data-label="Average days in stage" { @if s.stays > 0 { (format!("{:.1}", s.avg_days)) } @else { "–" } }
                } } }
            } }
        }
    }
}

/// A list of deals needing attention (slipped or stale): `count` in all, the largest shown.
pub fn attention(
    title: &str,
    id: &str,
    count: usize,
    deals: &[(&Opportunity, &Tracked)],
    currency: &Currency,
    people: &People,
    empty: &str,
) -> Markup {
    html! {
        section.card id=(id) {
            h2 { (title) " " span.badge { (count) } }
            @if deals.is_empty() { p.muted { (empty) } } @else {
                @if count > 1 { p.small.muted { "Largest first." } }
                ul.plain.attention {
                    @for (o, t) in deals.iter().take(20) {
                        li { a href=(format!("/opportunities/{}", o.id)) { (o.name) } " · " (currency.display_minor(t.amount))
                            span.small.muted { " · " (people.name(t.owner)) " · closes " (t.close_date.to_string()) } }
                    }
                }
                @if count > 20 { p.small.muted { "And " (count - 20) " more." } }
            }
        }
    }
}

/// "1 deal", "3 deals".
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
