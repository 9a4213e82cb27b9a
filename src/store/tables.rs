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

// ---- sales analytics (schema version 2) ----

/// (org, kind, event id) -> Event; the idempotency check and the raw record.
pub const EVENTS: TableDefinition<(u64, u8, &str), &[u8]> = TableDefinition::new("events");
/// (org, occurred_at micros, kind, event id) -> (): the time index up to schema version 8,
/// one row per event. Version 9 moved it into [`EVENT_BLOCKS`]; only the upgrade reads it.
pub const EVENT_TIME: TableDefinition<(u64, i64, u8, &str), ()> =
    TableDefinition::new("event_time");
/// (org, ten-minute slot, batch number) -> the (occurred_at, kind, id) of the events one batch
/// stored for that slot: the events in time order, a row per batch and slot instead of a row
/// per event (see `store::event_times`).
pub const EVENT_BLOCKS: TableDefinition<(u64, i64, u64), &[u8]> =
    TableDefinition::new("event_time_blocks");
/// (org, local hour start as UTC micros, "channel\x1fregion\x1fcategory") -> Metrics
pub const ROLLUP_HOUR: TableDefinition<(u64, i64, &str), &[u8]> =
    TableDefinition::new("rollup_hour");
/// (org, local civil day number, "channel\x1fregion\x1fcategory") -> Metrics
pub const ROLLUP_DAY: TableDefinition<(u64, i32, &str), &[u8]> = TableDefinition::new("rollup_day");
/// (org, customer id) -> CustomerAgg
pub const CUSTOMERS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("customers");
/// (org, sku) -> ProductAgg
pub const PRODUCTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("products");
/// (org, order id, refund id) -> Refund whose order has not arrived yet
pub const PENDING_REFUNDS: TableDefinition<(u64, &str, &str), &[u8]> =
    TableDefinition::new("pending_refunds");
/// org -> data version, bumped by every committed change to its sales data (cache key)
pub const DATA_VERSION: TableDefinition<u64, u64> = TableDefinition::new("data_version");

// ---- schema version 3 ----

/// (org, local hour start as UTC micros) -> Metrics summed over every dimension
pub const TOTAL_HOUR: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("total_hour");
/// (org, local civil day number) -> Metrics summed over every dimension
pub const TOTAL_DAY: TableDefinition<(u64, i32), &[u8]> = TableDefinition::new("total_day");
/// (org, dimension, local hour start as UTC micros, value) -> Metrics summed over the other
/// dimensions. Dimension 0 = channel, 1 = region, 2 = category (category rows only).
pub const PART_HOUR: TableDefinition<(u64, u8, i64, &str), &[u8]> =
    TableDefinition::new("part_hour");
/// (org, dimension, local civil day number, value) -> Metrics, as `PART_HOUR`
pub const PART_DAY: TableDefinition<(u64, u8, i32, &str), &[u8]> = TableDefinition::new("part_day");

// ---- schema version 4 ----

/// (org, key id) -> ApiKey
pub const API_KEYS: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("api_keys");
/// SHA-256 of an active key's secret -> (org, key id); removed when the key is revoked
pub const API_KEY_HASHES: TableDefinition<&[u8], (u64, u128)> =
    TableDefinition::new("api_key_hashes");
/// (org, SHA-256 of an import file, hex) -> ImportProgress: how far an import has committed
pub const IMPORTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("imports");
/// (org, local civil day number, sku) -> Figures of that day
pub const PRODUCT_DAY: TableDefinition<(u64, i32, &str), &[u8]> =
    TableDefinition::new("product_day");
/// (org, year * 12 + month - 1, sku) -> Figures of that local month
pub const PRODUCT_MONTH: TableDefinition<(u64, i32, &str), &[u8]> =
    TableDefinition::new("product_month");

// ---- schema version 5 ----

/// (org, local civil day number, customer id, channel SEP region) -> Figures of that customer's
/// orders and refunds that day through that channel and region (for customer rankings over a
/// date range). Kept when raw events expire, like the other rollups.
pub const CUSTOMER_DAY: TableDefinition<(u64, i32, &str, &str), &[u8]> =
    TableDefinition::new("customer_day");

// ---- schema version 6: pipelines and opportunities ----

/// (org, pipeline) -> Pipeline (its stages inside, removed ones kept for history)
pub const PIPELINES: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("pipelines");
/// (org, opportunity) -> Opportunity (its current state)
pub const OPPORTUNITIES: TableDefinition<(u64, u128), &[u8]> =
    TableDefinition::new("opportunities");
/// (org, at micros, opportunity, seq) -> HistoryRecord; append-only, in time order, so "as
/// of" views read the records after a date in one sequential scan
pub const OPP_HISTORY: TableDefinition<(u64, i64, u128, u32), &[u8]> =
    TableDefinition::new("opportunity_history");
/// (org, opportunity, seq) -> at micros; finds one deal's records in `OPP_HISTORY`
pub const OPP_HISTORY_BY_DEAL: TableDefinition<(u64, u128, u32), i64> =
    TableDefinition::new("opportunity_history_by_deal");
/// (org, version) -> what that version changed: an opportunity id, 0 for anything (pipelines,
/// imports), u128::MAX for nothing the deals depend on (targets). The last 4,096 per org are
/// kept, so readers holding an older version can catch up without reloading everything.
pub const PIPELINE_CHANGES: TableDefinition<(u64, u64), u128> =
    TableDefinition::new("pipeline_changes");
/// (org, year * 12 + month - 1, owner or 0 for the whole org) -> target amount (minor units)
pub const FORECAST_TARGETS: TableDefinition<(u64, i32, u128), i64> =
    TableDefinition::new("forecast_targets");
/// org -> version, bumped by every committed change to its pipelines or opportunities
pub const PIPELINE_VERSION: TableDefinition<u64, u64> = TableDefinition::new("pipeline_version");

// ---- schema version 7: ISV partners ----

/// (org, partner) -> Partner
pub const PARTNERS: TableDefinition<(u64, u128), &[u8]> = TableDefinition::new("partners");
/// (org, partner, note id) -> Note; append-only, in time order (ULIDs sort by time)
pub const PARTNER_NOTES: TableDefinition<(u64, u128, u128), &[u8]> =
    TableDefinition::new("partner_notes");
/// (org, partner, local civil day number) -> health score 0–100 that day (the day's last)
pub const PARTNER_HEALTH: TableDefinition<(u64, u128, i32), u8> =
    TableDefinition::new("partner_health");
/// org -> PartnerSettings (tiers, health weights, at-risk threshold); absent: the defaults
pub const PARTNER_SETTINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("partner_settings");

// ---- schema version 8: search ----

/// change sequence -> (org, kind, key): a record that search must re-read, written in the same
/// transaction as the record. The indexer applies them in order and the applied ones are
/// trimmed; `META["search_trimmed"]` keeps the last trimmed sequence.
pub const SEARCH_CHANGES: TableDefinition<u64, (u64, u8, &str)> =
    TableDefinition::new("search_changes");

/// Something done to every table of the file, each with its own key and value types (backup,
/// restore, checks). [`for_each`] is the one list of tables; a visitor skips the tables a
/// file does not have (a file of an older version lacks newer ones, and has retired ones).
pub trait Visit {
    type Error;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), Self::Error>;
}

pub fn for_each<T: Visit>(v: &mut T) -> Result<(), T::Error> {
    v.table(META)?;
    v.table(ORGS)?;
    v.table(ORG_NAMES)?;
    v.table(USERS)?;
    v.table(USER_EMAILS)?;
    v.table(TEAMS)?;
    v.table(FAMILIES)?;
    v.table(REFRESH_TOKENS)?;
    v.table(AUDIT)?;
    v.table(EVENTS)?;
    // Retired in schema version 9, so only in older files: listed for the backup taken before
    // such a file is upgraded and for restoring a backup of one (the upgrade then moves it).
    v.table(EVENT_TIME)?;
    v.table(EVENT_BLOCKS)?;
    v.table(ROLLUP_HOUR)?;
    v.table(ROLLUP_DAY)?;
    v.table(CUSTOMERS)?;
    v.table(PRODUCTS)?;
    v.table(PENDING_REFUNDS)?;
    v.table(DATA_VERSION)?;
    v.table(TOTAL_HOUR)?;
    v.table(TOTAL_DAY)?;
    v.table(PART_HOUR)?;
    v.table(PART_DAY)?;
    v.table(API_KEYS)?;
    v.table(API_KEY_HASHES)?;
    v.table(IMPORTS)?;
    v.table(PRODUCT_DAY)?;
    v.table(PRODUCT_MONTH)?;
    v.table(CUSTOMER_DAY)?;
    v.table(PIPELINES)?;
    v.table(OPPORTUNITIES)?;
    v.table(OPP_HISTORY)?;
    v.table(OPP_HISTORY_BY_DEAL)?;
    v.table(PIPELINE_CHANGES)?;
    v.table(FORECAST_TARGETS)?;
    v.table(PIPELINE_VERSION)?;
    v.table(PARTNERS)?;
    v.table(PARTNER_NOTES)?;
    v.table(PARTNER_HEALTH)?;
    v.table(PARTNER_SETTINGS)?;
    v.table(SEARCH_CHANGES)
}
