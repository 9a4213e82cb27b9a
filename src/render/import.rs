//! The progress panel of an import job: polled by htmx while the job runs.

use crate::import::job::{JobState, Status};
use maud::{Markup, html};

use super::grouped as n;

/// The job's progress, counts, outcome and first row errors.
pub fn progress(j: &JobState) -> Markup {
    let running = j.status == Status::Running;
    let rate = if j.seconds > 0.0 {
        (j.rows as f64 / j.seconds) as u64
    } else {
        0
    };
    html! {
        section.card #job
            hx-get=[running.then(|| format!("/import/jobs/{}/progress", j.id))]
            hx-trigger=[running.then_some("every 500ms")]
            hx-swap=[running.then_some("outerHTML")]
            aria-live="polite"
        {
            h2 { (j.title) @if j.dry_run { " " span.badge.badge-muted { "Dry run: nothing is stored" } } }
            progress #job-progress max="100" value=(j.percent()) aria-label="Import progress" { (j.percent()) "%" }
            p #job-status {
                @match &j.status {
                    Status::Running => { "Working… " (j.percent()) "%" },
                    Status::Done => { span.badge.badge-ok { "Finished" } " in " (format!("{:.1}", j.seconds)) " s" },
                    Status::Failed(why) => { span.badge.badge-warn { "Stopped" } " " (why) },
                }
            }
            dl.counts {
                div { dt { "Rows read" } dd #job-rows { (n(j.rows)) } }
                div { dt { @if j.dry_run { "Valid events" } @else { "New events" } } dd #job-accepted { (n(j.accepted)) } }
                div { dt { "Already stored" } dd #job-duplicates { (n(j.duplicates)) } }
                div { dt { "Skipped" } dd { (n(j.skipped)) } }
                div { dt { "Refused rows" } dd #job-errors { (n(j.errors)) } }
                div { dt { "Rows per second" } dd { (n(rate)) } }
            }
            @if !j.shown_errors.is_empty() {
                h3 { "Refused rows" }
                @if j.errors_file.is_some() {
                    p { a.btn.btn-small href=(format!("/import/jobs/{}/errors.csv", j.id)) download { "Download the full error report (CSV)" } }
                }
                div.table-wrap {
                    table.table.responsive #job-error-rows {
                        thead { tr { th scope="col" { "Line" } th scope="col" { "Column" } th scope="col" { "Problem" } } }
                        tbody {
                            @for e in &j.shown_errors {
                                tr {
                                    td data-label="Line" { (e.line) }
                                    td data-label="Column" { code { (e.column) } }
                                    td data-label="Problem" { (e.message) }
                                }
                            }
                        }
                    }
                }
                @if j.errors > j.shown_errors.len() as u64 {
                    p.muted { "Showing the first " (j.shown_errors.len()) " of " (n(j.errors)) "." }
                }
            }
            @if !running {
                p { a.btn.btn-primary href="/dashboard" { "Go to the dashboard" } " " a.btn href="/import" { "Import another file" } }
            }
        }
    }
}
