//! The one place values are encoded. A value is `[format byte][bincode 2 payload]`; old format
//! bytes decode forever, so switching encodings later is a change to this file only.

use serde::{Serialize, de::DeserializeOwned};

/// Format 1: bincode 2, standard config (little-endian, varint integers), via serde.
const FORMAT_BINCODE2: u8 = 1;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The most a decoded value may claim for its strings and lists. No stored record comes near
/// it; without a limit, a damaged length prefix (say 2^62) made the allocator abort the whole
/// process instead of failing the one decode.
const DECODE_LIMIT: usize = 256 << 20;

fn decode_config() -> impl bincode::config::Config {
    config().with_limit::<DECODE_LIMIT>()
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty value")]
    Empty,
    #[error("unknown value format {0} (written by a newer salesboard?)")]
    UnknownFormat(u8),
    #[error("value does not decode: {0}")]
    Decode(String),
    #[error("value does not encode: {0}")]
    Encode(String),
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    encode_to(&mut out, value)?;
    Ok(out)
}

/// [`encode`] into `buf` (cleared first), for loops that encode many values: one buffer
/// instead of an allocation, and its growth, per value.
pub fn encode_to<'b, T: Serialize>(
    buf: &'b mut Vec<u8>,
    value: &T,
) -> Result<&'b [u8], CodecError> {
    buf.clear();
    buf.push(FORMAT_BINCODE2);
    bincode::serde::encode_into_std_write(value, &mut *buf, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(buf)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&format, payload) = bytes.split_first().ok_or(CodecError::Empty)?;
    match format {
        FORMAT_BINCODE2 => {
            let (v, used) = bincode::serde::decode_from_slice(payload, decode_config())
                .map_err(|e| CodecError::Decode(e.to_string()))?;
            if used != payload.len() {
                return Err(CodecError::Decode(format!(
                    "{} trailing bytes",
                    payload.len() - used
                )));
            }
            Ok(v)
        }
        other => Err(CodecError::UnknownFormat(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrgId, Role, Ts, UserId, user::User};
    use proptest::prelude::*;

    fn user(name: String, email: String, disabled: bool, at: i64) -> User {
        User {
            id: UserId::generate(),
            org: OrgId(7),
            email,
            name,
            role: Role::Analyst,
            team: None,
            disabled,
            must_change_password: !disabled,
            password_hash: "$argon2id$x".into(),
            session_epoch: 3,
            created_at: Ts(at),
            updated_at: Ts(at),
            last_login_at: Some(Ts(at + 1)),
        }
    }

    proptest! {
        #[test]
        fn users_round_trip(name in ".{0,40}", email in "[a-z]{1,10}@[a-z]{1,10}\\.com", disabled: bool, at: i64) {
            let u = user(name, email, disabled, at / 2);
            let bytes = encode(&u).unwrap();
            prop_assert_eq!(bytes[0], FORMAT_BINCODE2);
            prop_assert_eq!(decode::<User>(&bytes).unwrap(), u);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<User>(&bytes);
        }
    }

    /// A damaged length prefix is a decode error, not an attempt to allocate exabytes (which
    /// aborts the process: no panic to catch).
    #[test]
    fn a_huge_length_prefix_is_an_error() {
        // varint marker 253: a u64 follows, here 0x5EB6_4F7A_0000_0000.
        let huge = [1u8, 253, 0, 0, 0, 0, 0x7A, 0x4F, 0xB6, 0x5E];
        assert!(matches!(
            decode::<String>(&huge),
            Err(CodecError::Decode(_))
        ));
        assert!(matches!(
            decode::<Vec<u8>>(&huge),
            Err(CodecError::Decode(_))
        ));
        assert!(matches!(
            decode::<Vec<User>>(&huge),
            Err(CodecError::Decode(_))
        ));
    }

    #[test]
    fn unknown_format_and_trailing_bytes_are_errors() {
        assert!(matches!(
            decode::<u32>(&[9, 1]),
            Err(CodecError::UnknownFormat(9))
        ));
        assert!(matches!(decode::<u32>(&[]), Err(CodecError::Empty)));
        let mut b = encode(&5u32).unwrap();
        b.push(0);
        assert!(matches!(decode::<u32>(&b), Err(CodecError::Decode(_))));
    }
}
