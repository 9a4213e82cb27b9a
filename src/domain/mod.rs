//! Plain types and business rules. No web, no storage, no I/O.

pub mod apikey;
pub mod customers;
pub mod events;
pub mod forecast;
pub mod ids;
pub mod money;
pub mod org;
pub mod partner;
pub mod pipeline;
pub mod roles;
pub mod rollup;
pub mod search;
pub mod time;
pub mod user;

pub use ids::{
    ApiKeyId, FamilyId, NoteId, OpportunityId, OrgId, PartnerId, PipelineId, StageId, TeamId,
    UserId,
};
pub use roles::{Permission, Role, Scope};
pub use time::Ts;

/// A rule violation on one named input field: the domain's only error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Trim a required text field and check its length in characters.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}
