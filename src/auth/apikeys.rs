//! Org API keys: create (secret shown once), list, revoke, authenticate. Each change is
//! audited in its own transaction.

use super::accounts::ActingAs;
use crate::domain::apikey::{ApiKey, KEY_PREFIX};
use crate::domain::{ApiKeyId, OrgId, Ts, required_text};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, Entry};
use crate::store::{Store, apikeys, orgs};
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Most active keys one org may hold (a typo loop in a script should not mint thousands).
pub const MAX_ACTIVE: usize = 50;

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Does this bearer credential look like an API key (rather than a JWT)?
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_PREFIX)
}

/// Create a key named `name`; returns it with its secret (never stored, shown once).
pub fn create(
    store: &Store,
    by: &ActingAs,
    org: OrgId,
    name: &str,
    now: Ts,
) -> AppResult<(ApiKey, String)> {
    let name = required_text("name", name, 100)?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let secret = format!("{KEY_PREFIX}{body}");
    let key = ApiKey {
        id: ApiKeyId::generate(),
        org,
        name,
        hint: body.chars().take(6).collect(),
        created_at: now,
        created_by: by.actor.label(),
        revoked_at: None,
    };
    store.try_write(|txn| {
        orgs::get(txn, org)?.ok_or_else(|| AppError::not_found("Organization"))?;
        let existing = apikeys::list(txn, org)?;
        if existing.iter().filter(|k| k.active()).count() >= MAX_ACTIVE {
            return Err(AppError::validation(
                "name",
                format!("an organization may hold at most {MAX_ACTIVE} active keys; revoke unused ones first"),
            ));
        }
        if existing
            .iter()
            .any(|k| k.active() && k.name.eq_ignore_ascii_case(&key.name))
        {
            return Err(AppError::conflict(
                Some("name"),
                format!("an active key named `{}` already exists", key.name),
            ));
        }
        apikeys::insert(txn, &key, &hash(&secret))?;
        audit::append(
            txn,
            org,
            now,
            Entry {
                actor: by.actor.clone(),
                action: "api_key.create",
                entity: "api_key",
                entity_id: key.id.to_string(),
                old: None,
                new: audit::json(&json!({"name": key.name, "hint": key.hint})),
            },
        )?;
        Ok(())
    })?;
    Ok((key, secret))
}

/// Revoke a key at once: the next request using it is refused.
pub fn revoke(store: &Store, by: &ActingAs, org: OrgId, id: &str, now: Ts) -> AppResult<ApiKey> {
    let id: ApiKeyId = id.parse().map_err(|_| AppError::not_found("API key"))?;
    store.try_write(|txn| {
        let mut key = apikeys::get(txn, org, id)?.ok_or_else(|| AppError::not_found("API key"))?;
        if !key.active() {
            return Ok(key);
        }
        key.revoked_at = Some(now);
        apikeys::revoke(txn, &key)?;
        audit::append(
            txn,
            org,
            now,
            Entry {
                actor: by.actor.clone(),
                action: "api_key.revoke",
                entity: "api_key",
                entity_id: key.id.to_string(),
                old: audit::json(&json!({"active": true})),
                new: audit::json(&json!({"active": false})),
            },
        )?;
        Ok(key)
    })
}

/// The active key for `secret`, or the same `unauthenticated` error whatever was wrong.
pub fn authenticate(store: &Store, secret: &str) -> AppResult<ApiKey> {
    let h = hash(secret.trim());
    store
        .read(|t| apikeys::by_hash(t, &h))?
        .ok_or_else(AppError::unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::NewOrg;

    #[test]
    fn a_key_authenticates_until_revoked_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.redb")).unwrap();
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("K", "UTC", "USD").unwrap(), Ts(0)))
            .unwrap();
        let (key, secret) = create(&store, &ActingAs::cli(), org.id, " Shopify ", Ts(1)).unwrap();
        assert!(is_api_key(&secret) && secret.len() > 40);
        assert_eq!(key.name, "Shopify");
        assert_eq!(authenticate(&store, &secret).unwrap().id, key.id);
        assert!(authenticate(&store, &format!("{secret}x")).is_err());
        // The secret appears nowhere in the file.
        drop(store);
        let bytes = std::fs::read(dir.path().join("k.redb")).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        let store = Store::open(&dir.path().join("k.redb")).unwrap();
        // Same name twice is refused while the first is active.
        let e = create(&store, &ActingAs::cli(), org.id, "shopify", Ts(2)).unwrap_err();
        assert_eq!(e.code, "conflict");
        let k = revoke(&store, &ActingAs::cli(), org.id, &key.id.to_string(), Ts(3)).unwrap();
        assert_eq!(k.revoked_at, Some(Ts(3)));
        assert_eq!(
            authenticate(&store, &secret).unwrap_err().code,
            "unauthenticated"
        );
        create(&store, &ActingAs::cli(), org.id, "shopify", Ts(4)).unwrap();
        let e = create(&store, &ActingAs::cli(), org.id, "  ", Ts(5)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
    }
}
