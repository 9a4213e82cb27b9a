//! Search results: the header box's grouped suggestions and the full results page's list.

use super::grouped;
use crate::domain::search::Kind;
use crate::search::Status;
use crate::search::ask::link;
use crate::search::query::{Hit, Marked, Results};
use maud::{Markup, html};

/// Text with its matched words in `<mark>` (everything escaped).
pub fn marked(m: &Marked) -> Markup {
    let mut pieces = Vec::new();
    let mut at = 0;
    for &(s, e) in &m.marks {
        if s < at || e > m.text.len() || !m.text.is_char_boundary(s) || !m.text.is_char_boundary(e)
        {
            continue;
        }
        pieces.push((false, &m.text[at..s]));
        pieces.push((true, &m.text[s..e]));
        at = e;
    }
    pieces.push((false, &m.text[at..]));
    html! {
        @for (hit, text) in pieces {
            @if hit { mark { (text) } } @else { (text) }
        }
    }
}

pub fn search_href(q: &str, kind: Option<Kind>, offset: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", q);
    if let Some(k) = kind {
        s.append_pair("kind", k.as_str());
    }
    if offset > 0 {
        s.append_pair("cursor", &offset.to_string());
    }
    format!("/search?{}", s.finish())
}

fn notice(status: Status) -> Markup {
    html! {
        @match status {
            Status::Ready => {},
            Status::Rebuilding => p.search-notice role="status" {
                "Search is being rebuilt from the data: some results may be missing for a moment."
            },
            Status::CatchingUp => p.search-notice role="status" {
                "Search is catching up with recent changes: some results may be missing for a moment."
            },
        }
    }
}

fn hit_body(h: &Hit) -> Markup {
    html! {
        span.search-title { (marked(&h.title)) }
        @if let Some(c) = &h.context {
            span.search-context { (marked(c)) }
        }
        @if !h.line.is_empty() {
            span.search-line.muted { (h.line) }
        }
    }
}

/// Hits per kind in the suggestions.
const PER_GROUP: usize = 4;

/// The header box's suggestions: the best hits grouped by kind, each a link; the first is
/// selected (Enter opens it); the last row leads to every result.
pub fn suggest(q: &str, r: &Results) -> Markup {
    let mut groups: Vec<(Kind, Vec<&Hit>)> = Vec::new();
    for h in &r.hits {
        match groups.iter_mut().find(|(k, _)| *k == h.kind) {
            Some((_, hs)) if hs.len() < PER_GROUP => hs.push(h),
            Some(_) => {}
            None => groups.push((h.kind, vec![h])),
        }
    }
    let mut n = 0;
    html! {
        (notice(r.status))
        @if groups.is_empty() {
            p.search-empty { "Nothing matches " strong { "“" (q) "”" } "." }
        }
        @for (kind, hits) in &groups {
            div.search-group role="group" aria-label=(kind.plural_label()) {
                p.search-kind {
                    (kind.plural_label())
                    span.muted { " " (grouped(r.counts.get(kind).copied().unwrap_or(0))) }
                }
                @for h in hits {
                    @let id = { n += 1; format!("search-opt-{n}") };
                    a.search-option id=(id) role="option" href=(link(h.kind, &h.key))
                        aria-selected=(if n == 1 { "true" } else { "false" }) {
                        (hit_body(h))
                    }
                }
            }
        }
        a.search-all role="option" id="search-opt-all" href=(search_href(q, None, 0)) aria-selected="false" {
            "All results for “" (q) "”"
            @if r.total > 0 { " (" (grouped(r.total)) ")" }
        }
    }
}

/// The full results page: the query box, kind tabs with counts, the hits and pages.
pub fn page(
    q: &str,
    kind: Option<Kind>,
    r: Option<&Results>,
    offset: usize,
    limit: usize,
    error: Option<&str>,
) -> Markup {
    html! {
        form.search-page-form role="search" method="get" action="/search" {
            label for="search-q" { "Search" }
            div.search-row {
                input #search-q type="search" name="q" value=(q) maxlength="200"
                    placeholder="Names, emails, SKUs, notes… kind:partner owner:me stage:negotiation";
                @if let Some(k) = kind { input type="hidden" name="kind" value=(k.as_str()); }
                button.btn.btn-primary type="submit" { "Search" }
            }
            p.small.muted {
                "Quotes match a phrase. Narrow with " code { "kind:partner" } ", " code { "owner:me" }
                ", " code { "stage:negotiation" } " or " code { "tier:gold" } "."
            }
        }
        @if let Some(e) = error {
            p.alert.alert-error role="alert" #search-error { (e) }
        }
        @if let Some(r) = r {
            (notice(r.status))
            nav.search-tabs aria-label="Kinds" {
                a href=(search_href(q, None, 0)) aria-current=[kind.is_none().then_some("page")] {
                    "All " span.count { (grouped(r.counts.values().sum())) }
                }
                @for (k, count) in &r.counts {
                    a href=(search_href(q, Some(*k), 0)) aria-current=[(kind == Some(*k)).then_some("page")] {
                        (k.plural_label()) " " span.count { (grouped(*count)) }
                    }
                }
            }
            @if r.hits.is_empty() {
                div.empty-state #search-empty {
                    p { "Nothing matches " strong { "“" (q) "”" } "." }
                    p.small.muted { "Check the spelling, use fewer words, or remove a " code { "kind:" } " filter." }
                }
            } @else {
                ol.search-results #search-results start=(offset + 1) {
                    @for h in &r.hits {
                        li {
                            span.badge { (h.kind.as_str()) }
                            a href=(link(h.kind, &h.key)) { (hit_body(h)) }
                        }
                    }
                }
                @let end = offset + r.hits.len();
                nav.pager aria-label="Pages" {
                    span.muted { (grouped(offset as u64 + 1)) "–" (grouped(end as u64)) " of " (grouped(r.total)) }
                    @if offset > 0 {
                        a.btn.btn-small rel="prev" href=(search_href(q, kind, offset.saturating_sub(limit))) { "← Previous" }
                    }
                    @if (end as u64) < r.total {
                        a.btn.btn-small rel="next" href=(search_href(q, kind, end)) { "Next →" }
                    }
                }
            }
        }
    }
}
