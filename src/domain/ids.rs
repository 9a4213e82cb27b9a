//! Identifiers. Orgs are small sequential numbers (they prefix every storage key); everything
//! else is a time-sortable ULID stored as a `u128` and shown as its 26-character text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(pub u64);

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! ulid_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u128);

        impl $name {
            /// A new id, ordered by creation time.
            pub fn generate() -> Self {
                $name(ulid::Ulid::generate().0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&ulid::Ulid(self.0), f)
            }
        }

        impl FromStr for $name {
            type Err = ulid::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ulid::Ulid::from_string(s).map(|u| $name(u.0))
            }
        }

        // Text in JSON, a plain u128 in the binary storage codec.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    s.serialize_u128(self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(|_| serde::de::Error::custom("not a valid id"))
                } else {
                    u128::deserialize(d).map($name)
                }
            }
        }
    };
}

ulid_id!(
    /// A user account.
    UserId
);
ulid_id!(
    /// A team of users with a manager.
    TeamId
);
ulid_id!(
    /// An org API key (for machine clients that send events).
    ApiKeyId
);
ulid_id!(
    /// A sales pipeline (an ordered list of stages).
    PipelineId
);
ulid_id!(
    /// A stage of a pipeline; stable across renames, so history keeps pointing at it.
    StageId
);
ulid_id!(
    /// A sales opportunity (a deal).
    OpportunityId
);
ulid_id!(
    /// An ISV partner.
    PartnerId
);
ulid_id!(
    /// A note on a partner.
    NoteId
);
ulid_id!(
    /// A refresh-token family: one login session and all its rotations.
    FamilyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_text() {
        let id = UserId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(text.parse::<UserId>().ok(), Some(id));
        assert!("not-an-id".parse::<UserId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = UserId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = UserId::generate();
        assert!(a < b);
    }
}
