//! Table definitions. Tenant tables are keyed `(org, ...)`.

use redb::TableDefinition;

/// `schema_version` -> u32 LE; other installation-wide facts.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// org id -> Org
pub const ORGS: TableDefinition<u64, &[u8]> = TableDefinition::new("orgs");
/// lower-cased org name -> org id (names are unique)
pub const ORG_NAMES: TableDefinition<&str, u64> = TableDefinition::new("org_names");
/// (org, user) -> User
pub const USERS: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("users");
/// lower-cased email -> (org, user); emails are unique across the installation (login name)
pub const USER_EMAILS: TableDefinition<&str, (u64, u128)> = TableDefinition::new("user_emails");
/// (org, team) -> Team
pub const TEAMS: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("teams");
/// family id -> Family (one login session and its refresh-token rotations)
pub const FAMILIES: TableDefinition<u128, &[u8]> = TableDefinition::new("token_families");
/// SHA-256 of a refresh token -> (family id, generation)
pub const REFRESH_TOKENS: TableDefinition<&[u8], (u128, u32)> =
    TableDefinition::new("refresh_tokens");
/// (org, sequence) -> AuditRecord; append-only, hash-chained per org
pub const AUDIT: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("audit");
