//! Organizations: the tenant boundary.

use super::{Invalid, OrgId, Ts, money::Currency, required_text};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    /// IANA time zone name; decides day and week boundaries for this org's data.
    pub timezone: String,
    pub currency: Currency,
    pub created_at: Ts,
}

/// Validated input for a new organization.
#[derive(Clone, Debug)]
pub struct NewOrg {
    pub name: String,
    pub timezone: String,
    pub currency: Currency,
}

impl NewOrg {
    pub fn parse(name: &str, timezone: &str, currency: &str) -> Result<NewOrg, Invalid> {
        Ok(NewOrg {
            name: required_text("name", name, 100)?,
            timezone: parse_timezone(timezone)?,
            currency: Currency::parse(currency)?,
        })
    }
}

pub fn parse_timezone(tz: &str) -> Result<String, Invalid> {
    let tz = tz.trim();
    jiff::tz::TimeZone::get(tz).map_err(|_| {
        Invalid::new(
            "timezone",
            format!(
                "`{tz}` is not a known IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
            ),
        )
    })?;
    Ok(tz.to_string())
}

impl Org {
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The local date at `now` in this org's time zone (where its days begin and end).
    pub fn today(&self, now: Ts) -> jiff::civil::Date {
        now.timestamp().to_zoned(self.tz()).date()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary carries its own time zone database, for machines without tzdata.
    #[test]
    fn time_zones_are_known_without_the_system_database() {
        let bundled = jiff::tz::TimeZoneDatabase::bundled();
        for name in [
            "Asia/Kathmandu",
            "America/New_York",
            "Europe/Paris",
            "Pacific/Chatham",
        ] {
            assert!(bundled.get(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn new_org_validates_each_field() {
        assert!(NewOrg::parse("Acme", "Europe/Berlin", "eur").is_ok());
        assert_eq!(NewOrg::parse("  ", "UTC", "USD").unwrap_err().field, "name");
        assert_eq!(
            NewOrg::parse("Acme", "Mars/Base", "USD").unwrap_err().field,
            "timezone"
        );
        assert_eq!(
            NewOrg::parse("Acme", "UTC", "ABC").unwrap_err().field,
            "currency"
        );
    }
}
