//! Login sessions: issue access + refresh tokens, rotate refresh tokens (reuse of a rotated
//! token revokes the whole family), log out, and authenticate access tokens.

use super::jwt::{Claims, JwtKeys};
use super::password;
use crate::config::AuthConfig;
use crate::domain::{FamilyId, OrgId, Ts, UserId, user::User, user::parse_email};
use crate::error::{AppError, AppResult};
use crate::store::{Store, sessions, sessions::Family, users};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What a successful login or refresh hands out.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access: String,
    pub access_ttl: Duration,
    /// `None` when a browser race inside the grace window only got a new access token.
    pub refresh: Option<String>,
    pub session: FamilyId,
    pub user: User,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_refresh_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn access_token(
    keys: &JwtKeys,
    cfg: &AuthConfig,
    user: &User,
    session: FamilyId,
    now: Ts,
) -> AppResult<String> {
    let claims = Claims {
        sub: user.id.to_string(),
        org: user.org.0,
        sid: session.to_string(),
        iat: now.seconds(),
        exp: now.plus(cfg.access_token_ttl).seconds(),
    };
    keys.issue(&claims).map_err(AppError::internal)
}

/// Check credentials and open a new session.
pub fn login(
    store: &Store,
    keys: &JwtKeys,
    cfg: &AuthConfig,
    now: Ts,
    email: &str,
    pw: &str,
) -> AppResult<Issued> {
    let user = match parse_email(email) {
        Ok(e) => store.read(|t| users::by_email(t, &e))?,
        Err(_) => None,
    };
    let user = match user {
        Some(u) if !u.disabled && password::verify(pw, &u.password_hash) => u,
        Some(u) if !u.disabled => return Err(AppError::invalid_credentials()),
        _ => {
            password::verify_against_dummy(pw);
            return Err(AppError::invalid_credentials());
        }
    };
    store.try_write(|txn| {
        let mut user =
            users::get(txn, user.org, user.id)?.ok_or_else(AppError::invalid_credentials)?;
        user.last_login_at = Some(now);
        users::update(txn, &user)?;
        open_family(txn, keys, cfg, user, now)
    })
}

/// Start a new token family for `user` inside `txn`. The access token is made before anything
/// is written, so a failure leaves nothing behind.
pub fn open_family(
    txn: &redb::WriteTransaction,
    keys: &JwtKeys,
    cfg: &AuthConfig,
    user: User,
    now: Ts,
) -> AppResult<Issued> {
    let fam = Family {
        id: FamilyId::generate(),
        org: user.org,
        user: user.id,
        epoch: user.session_epoch,
        generation: 0,
        created_at: now,
        rotated_at: now,
        expires_at: now.plus(cfg.refresh_token_ttl),
        revoked_at: None,
        revoked_reason: None,
    };
    let refresh = new_refresh_token();
    let access = access_token(keys, cfg, &user, fam.id, now)?;
    sessions::put(txn, &fam)?;
    sessions::add_token(txn, &token_hash(&refresh), fam.id, 0)?;
    Ok(Issued {
        access,
        access_ttl: cfg.access_token_ttl,
        refresh: Some(refresh),
        session: fam.id,
        user,
    })
}

enum Rotation {
    Rotated(Box<Issued>),
    Reused,
    Invalid,
}

/// Exchange a refresh token for new tokens. `grace`: see `auth.refresh_reuse_grace` (browser only).
pub fn refresh(
    store: &Store,
    keys: &JwtKeys,
    cfg: &AuthConfig,
    now: Ts,
    token: &str,
    grace: Option<Duration>,
) -> AppResult<Issued> {
    let hash = token_hash(token);
    let outcome = store.try_write(|txn| -> AppResult<Rotation> {
        let Some((fid, token_gen)) = sessions::token(txn, &hash)? else {
            return Ok(Rotation::Invalid);
        };
        let Some(mut fam) = sessions::get(txn, fid)? else {
            return Ok(Rotation::Invalid);
        };
        if fam.revoked_at.is_some() || fam.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let user = match users::get(txn, fam.org, fam.user)? {
            Some(u) if !u.disabled && u.session_epoch == fam.epoch => u,
            _ => return Ok(Rotation::Invalid),
        };
        if token_gen != fam.generation {
            let in_grace = token_gen + 1 == fam.generation
                && grace.is_some_and(|g| now < fam.rotated_at.plus(g));
            if in_grace {
                let access = access_token(keys, cfg, &user, fam.id, now)?;
                return Ok(Rotation::Rotated(Box::new(Issued {
                    access,
                    access_ttl: cfg.access_token_ttl,
                    refresh: None,
                    session: fam.id,
                    user,
                })));
            }
            // A rotated-away token came back: someone holds a copy. End the whole session.
            fam.revoked_at = Some(now);
            fam.revoked_reason = Some("refresh token reuse".into());
            sessions::put(txn, &fam)?;
            return Ok(Rotation::Reused);
        }
        // Made first: if it fails, the old token stays current and nothing is written.
        let access = access_token(keys, cfg, &user, fam.id, now)?;
        fam.generation += 1;
        fam.rotated_at = now;
        let next = new_refresh_token();
        sessions::put(txn, &fam)?;
        sessions::add_token(txn, &token_hash(&next), fam.id, fam.generation)?;
        Ok(Rotation::Rotated(Box::new(Issued {
            access,
            access_ttl: cfg.access_token_ttl,
            refresh: Some(next),
            session: fam.id,
            user,
        })))
    })?;
    match outcome {
        Rotation::Rotated(i) => Ok(*i),
        Rotation::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Err(AppError::unauthenticated())
        }
        Rotation::Invalid => Err(AppError::unauthenticated()),
    }
}

/// End one session at once (its access tokens stop working too).
pub fn logout(store: &Store, now: Ts, session: FamilyId) -> AppResult<()> {
    store.write(|txn| {
        if let Some(mut fam) = sessions::get(txn, session)?
            && fam.revoked_at.is_none()
        {
            fam.revoked_at = Some(now);
            fam.revoked_reason = Some("logout".into());
            sessions::put(txn, &fam)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The user and session behind a valid access token whose session is still live.
pub fn authenticate(
    store: &Store,
    keys: &JwtKeys,
    now: Ts,
    token: &str,
) -> AppResult<(User, FamilyId)> {
    let claims = keys
        .verify(token, now)
        .ok_or_else(AppError::unauthenticated)?;
    let (Some(uid), Some(sid)) = (claims.user(), claims.session()) else {
        return Err(AppError::unauthenticated());
    };
    match live_user(store, claims.org(), uid, sid, now)? {
        Some(user) => Ok((user, sid)),
        None => Err(AppError::unauthenticated()),
    }
}

/// The user, if session `sid` is still live for them: not revoked or expired, from the user's
/// current session epoch, and the user not disabled. Long-lived streams ask this again and
/// again, since their access token may have expired meanwhile.
pub fn live_user(
    store: &Store,
    org: OrgId,
    uid: UserId,
    sid: FamilyId,
    now: Ts,
) -> AppResult<Option<User>> {
    let (fam, user) = store.read(|t| Ok((sessions::get(t, sid)?, users::get(t, org, uid)?)))?;
    Ok(match (fam, user) {
        (Some(fam), Some(user))
            if fam.revoked_at.is_none()
                && fam.expires_at > now
                && fam.user == user.id
                && fam.org == user.org
                && fam.epoch == user.session_epoch
                && !user.disabled =>
        {
            Some(user)
        }
        _ => None,
    })
}
