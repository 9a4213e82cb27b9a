//! The Backups page: what the schedule does, the last backup and check, and the backup files.

use crate::backups::{Checked, Listed, Outcome};
use maud::{Markup, html};

/// Everything the page shows.
pub struct View<'a> {
    pub csrf: &'a str,
    pub dir: String,
    /// `None`: no schedule.
    pub every: Option<String>,
    pub keep: usize,
    pub running: bool,
    pub last: Option<Outcome>,
    pub last_check: Option<Checked>,
    pub files: Vec<Listed>,
    pub free: Option<u64>,
    pub tz: jiff::tz::TimeZone,
}

/// `1536` → `1.5 KB` (decimal units, as disks are sold).
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

pub fn page(v: &View) -> Markup {
    html! {
        p.small.muted { "A backup holds every organization's data, so only the owners of the first organization see this page. Restore one with "
            code { "salesboard restore FILE" } " while the server is stopped." }
        // While a backup is being written this refreshes itself every second; the finished one
        // comes without the trigger, so that stops.
        div #backups
            hx-get=[v.running.then_some("/admin/backups")] hx-trigger=[v.running.then_some("every 1s")]
            hx-select=[v.running.then_some("#backups")] hx-swap=[v.running.then_some("outerHTML")]
            aria-busy=[v.running.then_some("true")] {
            section.card #backup-status aria-labelledby="backup-status-h" {
                h2 #backup-status-h { "Status" }
                dl.facts {
                    dt { "Schedule" }
                    dd #backup-schedule {
                        @if let Some(e) = &v.every { "Every " (e) ", keeping the last " (v.keep) }
                        @else { "Off. Set " code { "[backup] every = \"6h\"" } " in the config to back up on a schedule." }
                    }
                    dt { "Folder" } dd { code { (v.dir) } @if let Some(f) = v.free { span.small.muted { " · " (size(f)) " free" } } }
                    dt { "Last backup" }
                    dd #backup-last {
                        @match &v.last {
                            None => { span.muted { "None since the server started." } }
                            Some(o) => {
                                @match &o.result {
                                    Ok((file, bytes)) => {
                                        span.badge.badge-ok { "written" } " " (o.at.display_in(&v.tz)) ": " code { (file) }
                                        ", " (size(*bytes)) " in " (format!("{:.1}", o.secs)) " s"
                                        @if o.scheduled { span.small.muted { " (scheduled)" } }
                                    }
                                    Err(e) => { span.badge.badge-bad { "failed" } " " (o.at.display_in(&v.tz)) ": " (e) }
                                }
                            }
                        }
                    }
                    dt { "Last check" }
                    dd #backup-check {
                        @match &v.last_check {
                            None => { span.muted { "None since the server started." } }
                            Some(c) => {
                                @if c.problems.is_empty() { span.badge.badge-ok { "passed" } } @else { span.badge.badge-bad { "failed" } }
                                " " (c.at.display_in(&v.tz)) ": " code { (c.file) }
                                ul.small {
                                    @for p in &c.problems { li.text-bad { (p) } }
                                    @for p in &c.passed { li { (p) } }
                                }
                            }
                        }
                    }
                }
                form.backup-now method="post" action="/admin/backups" {
                    input type="hidden" name="_csrf" value=(v.csrf);
                    @if v.running {
                        button.btn.btn-primary type="submit" disabled { "A backup is being written…" }
                    } @else {
                        button.btn.btn-primary type="submit" #backup-now { "Back up now" }
                    }
                    span.small.muted { " Serving and saving go on while it runs; it is checked right after." }
                }
            }
        section.card #backup-files aria-labelledby="backup-files-h" {
            h2 #backup-files-h { "Backups" }
            @if v.files.is_empty() {
                div.empty-state {
                    p { "No backups in this folder yet." }
                    p.small.muted { "Back up now, or set a schedule. " code { "salesboard backup FILE" } " writes one anywhere else." }
                }
            } @else {
                div.table-wrap { table.table.responsive #backups-table {
                    thead { tr {
                        th scope="col" { "File" } th scope="col" { "Made" } th.num scope="col" { "Size" }
                        th.num scope="col" { "Records" } th scope="col" { "Schema" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody { @for f in &v.files {
                        tr {
                            th scope="row" { code { (f.name) } }
                            @match &f.header {
                                Some(h) => {
                                    td data-label="Made" { (made(&h.created_at, &v.tz)) }
                                    td.num data-label="Size" { (size(f.bytes)) }
                                    td.num data-label="Records" { (super::grouped(h.records())) }
                                    td data-label="Schema" { (h.schema_version) " · salesboard " (h.salesboard) }
                                }
                                None => {
                                    td data-label="Made" colspan="1" { span.badge.badge-bad { "unreadable" } }
                                    td.num data-label="Size" { (size(f.bytes)) }
                                    td {} td {}
                                }
                            }
                            td.actions {
                                a.btn.btn-small href=(format!("/admin/backups/{}", f.name)) download=(f.name) { "Download" }
                                " "
                                form.inline method="post" action=(format!("/admin/backups/{}/check", f.name)) {
                                    input type="hidden" name="_csrf" value=(v.csrf);
                                    button.btn.btn-small type="submit" { "Check" }
                                }
                            }
                        }
                    } }
                } }
            }
        }
        }
    }
}

fn made(created_at: &str, tz: &jiff::tz::TimeZone) -> String {
    created_at
        .parse::<jiff::Timestamp>()
        .map(|t| crate::domain::Ts::from_timestamp(t).display_in(tz))
        .unwrap_or_else(|_| created_at.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1_536), "1.5 KB");
        assert_eq!(super::size(262_000_000), "262.0 MB");
        assert_eq!(super::size(2_140_000_000), "2.14 GB");
    }
}
