//! HS256 access tokens. The secret (512 bits) is generated on first run and kept in the data
//! directory; only HS256 is accepted, and expiry is checked against our [`Clock`].

use crate::domain::{FamilyId, OrgId, Ts, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SECRET_FILE: &str = "jwt.secret";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// user id
    pub sub: String,
    pub org: u64,
    /// session (token family) id
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn user(&self) -> Option<UserId> {
        self.sub.parse().ok()
    }
    pub fn org(&self) -> OrgId {
        OrgId(self.org)
    }
    pub fn session(&self) -> Option<FamilyId> {
        self.sid.parse().ok()
    }
}

pub struct JwtKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    /// Raw secret, also the HMAC key for CSRF tokens.
    secret: Vec<u8>,
}

impl JwtKeys {
    pub fn from_secret(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // Expiry is checked against the app clock in `verify`.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        JwtKeys {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
            secret: secret.to_vec(),
        }
    }

    /// Read the secret from the data dir, creating it (mode 0600) on first run.
    pub fn load_or_create(dir: &Path) -> std::io::Result<JwtKeys> {
        let path = dir.join(SECRET_FILE);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => Ok(JwtKeys::from_secret(&bytes)),
            Ok(_) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is shorter than 256 bits; delete it to generate a new one (this signs everyone out)",
                    path.display()
                ),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                let mut secret = vec![0u8; 64];
                rand::rng().fill_bytes(&mut secret);
                let tmp = dir.join(format!("{SECRET_FILE}.tmp"));
                write_private(&tmp, &secret)?;
                std::fs::rename(&tmp, &path)?;
                Ok(JwtKeys::from_secret(&secret))
            }
            Err(e) => Err(e),
        }
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.enc).map_err(|e| e.to_string())
    }

    /// Claims of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: Ts) -> Option<Claims> {
        let data = decode::<Claims>(token, &self.dec, &self.validation).ok()?;
        (data.claims.exp > now.seconds()).then_some(data.claims)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: UserId::generate().to_string(),
            org: 1,
            sid: FamilyId::generate().to_string(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn issue_verify_and_expire() {
        let k = JwtKeys::from_secret(&[7u8; 32]);
        let c = claims(1000);
        let t = k.issue(&c).unwrap();
        assert_eq!(k.verify(&t, Ts(999 * 1_000_000)), Some(c));
        assert_eq!(k.verify(&t, Ts(1000 * 1_000_000)), None);
        let other = JwtKeys::from_secret(&[8u8; 32]);
        assert_eq!(other.verify(&t, Ts(0)), None);
    }

    #[test]
    fn rejects_other_algorithms() {
        // A "none"-algorithm token with otherwise valid claims.
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        let none = format!("{}.{}.", b.encode(br#"{"alg":"none","typ":"JWT"}"#), body);
        let k = JwtKeys::from_secret(&[7u8; 32]);
        assert_eq!(k.verify(&none, Ts(0)), None);
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(i64::MAX),
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(k.verify(&hs512, Ts(0)), None);
    }

    #[test]
    fn secret_is_created_once() {
        let d = tempfile::tempdir().unwrap();
        let a = JwtKeys::load_or_create(d.path()).unwrap();
        let b = JwtKeys::load_or_create(d.path()).unwrap();
        assert_eq!(a.secret(), b.secret());
        assert_eq!(a.secret().len(), 64);
    }
}
