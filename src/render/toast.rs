//! Toast messages (htmx swaps them into `#toasts`).

use maud::{Markup, html};

pub fn error(message: &str) -> Markup {
    html! {
        div.toast.toast-error role="alert" {
            span { (message) }
            button.toast-close type="button" aria-label="Dismiss" { "×" }
        }
    }
}
