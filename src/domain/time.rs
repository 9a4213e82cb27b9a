//! Instants are stored as UTC microseconds; the org's time zone decides calendar boundaries.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant in microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ts(pub i64);

impl Ts {
    pub fn from_timestamp(t: jiff::Timestamp) -> Ts {
        Ts(t.as_microsecond())
    }

    pub fn timestamp(self) -> jiff::Timestamp {
        jiff::Timestamp::from_microsecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn plus(self, d: std::time::Duration) -> Ts {
        Ts(self
            .0
            .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
    }

    /// Text for people, in the given zone: `2026-11-20 14:03`.
    pub fn display_in(self, tz: &jiff::tz::TimeZone) -> String {
        self.timestamp()
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.timestamp())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&self.timestamp())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse::<jiff::Timestamp>()
                .map(Ts::from_timestamp)
                .map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(Ts)
        }
    }
}
