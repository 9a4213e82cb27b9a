//! User accounts and teams.

use super::{Invalid, OrgId, Role, TeamId, Ts, UserId, required_text};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub org: OrgId,
    /// Lower-cased; unique across the whole installation (it is the login name).
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team: Option<TeamId>,
    pub disabled: bool,
    /// Set for generated one-time passwords: the user must choose a new one before anything else.
    pub must_change_password: bool,
    pub password_hash: String,
    /// Bumped by a password change, reset or disable: every session from an older epoch
    /// stops working at once.
    pub session_epoch: u32,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub last_login_at: Option<Ts>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub org: OrgId,
    pub name: String,
    pub manager: Option<UserId>,
    pub created_at: Ts,
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Normalise and check an email address (the login name).
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let e = raw.trim().to_lowercase();
    let bad = || Invalid::new("email", "must be an email address like name@example.com");
    if e.is_empty() {
        return Err(Invalid::new("email", "is required"));
    }
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || !domain.contains('.')
    {
        return Err(bad());
    }
    Ok(e)
}

pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    required_text("name", raw, 100)
}

/// Password policy (NIST 800-63B style): length matters, composition rules do not.
pub fn check_password(field: &'static str, password: &str, email: &str) -> Result<(), Invalid> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password.trim().to_lowercase() == email.trim().to_lowercase() {
        return Err(Invalid::new(field, "must not be your email address"));
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err(Invalid::new(field, "must not be one repeated character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            parse_email(" Ann@Example.COM "),
            Ok("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "ann@localhost",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password("password", "correct horse", "a@b.co").is_ok());
        assert_eq!(
            check_password("password", "short", "a@b.co")
                .unwrap_err()
                .field,
            "password"
        );
        assert!(check_password("password", "aaaaaaaaaaaa", "a@b.co").is_err());
        assert!(check_password("password", "ann@example.com", "ann@example.com").is_err());
    }
}
