//! Helpers shared by the CSV exports.

/// Text a spreadsheet will not run as a formula (a leading `=`, `+`, `-` or `@` is quoted
/// with an apostrophe).
pub fn csv_safe(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    }
}
