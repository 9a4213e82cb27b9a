//! Org API keys: long random secrets for machines that send events. Only a SHA-256 of the
//! secret is stored; the secret itself is shown once, when the key is created.

use super::{ApiKeyId, OrgId, Ts};
use serde::{Deserialize, Serialize};

/// Every key starts with this, so a leaked key is recognisable (and secret scanners can find
/// it), and so the API can tell a key from a JWT.
pub const KEY_PREFIX: &str = "sbk_";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org: OrgId,
    pub name: String,
    /// The first characters of the secret (after the prefix), to tell keys apart in lists.
    pub hint: String,
    pub created_at: Ts,
    /// Email (or "command line") of whoever created it.
    pub created_by: String,
    pub revoked_at: Option<Ts>,
}

impl ApiKey {
    pub fn active(&self) -> bool {
        self.revoked_at.is_none()
    }
}
