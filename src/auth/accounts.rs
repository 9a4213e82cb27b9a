//! Account operations shared by the CLI, the API and the pages. Each validates its input, checks
//! who may do it, writes in one transaction and appends to the audit log in that transaction.

use super::password;
use crate::config::BootstrapConfig;
use crate::domain::org::{NewOrg, Org};
use crate::domain::user::{Team, User, check_password, parse_email, parse_name};
use crate::domain::{OrgId, Role, TeamId, Ts, UserId, required_text};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, Actor, Entry};
use crate::store::{Store, orgs, teams, users};
use serde_json::json;

/// Who is acting, and with which role (`None`: the command line, which may do anything).
#[derive(Clone, Debug)]
pub struct ActingAs {
    pub actor: Actor,
    pub role: Option<Role>,
    pub user: Option<UserId>,
}

impl ActingAs {
    pub fn cli() -> Self {
        ActingAs {
            actor: Actor::Cli,
            role: None,
            user: None,
        }
    }
    pub fn system() -> Self {
        ActingAs {
            actor: Actor::System,
            role: None,
            user: None,
        }
    }
    pub fn user(u: &User) -> Self {
        ActingAs {
            actor: Actor::User {
                id: u.id,
                email: u.email.clone(),
            },
            role: Some(u.role),
            user: Some(u.id),
        }
    }
    fn may_assign(&self, from: Role, to: Role) -> bool {
        self.role.is_none_or(|r| r.may_assign(from, to))
    }
}

fn hash(pw: &str) -> AppResult<String> {
    password::hash(pw).map_err(AppError::internal)
}

pub fn create_org(store: &Store, by: &ActingAs, new: NewOrg, now: Ts) -> AppResult<Org> {
    Ok(store.write(|txn| {
        let org = orgs::create(txn, new, now)?;
        audit::append(
            txn,
            org.id,
            now,
            Entry {
                actor: by.actor.clone(),
                action: "org.create",
                entity: "org",
                entity_id: org.id.to_string(),
                old: None,
                new: audit::json(
                    &json!({"name": org.name, "timezone": org.timezone, "currency": org.currency}),
                ),
            },
        )?;
        Ok(org)
    })?)
}

/// Raw input for a new user, validated by [`create_user`].
#[derive(Clone, Debug, Default)]
pub struct NewUserInput {
    pub email: String,
    pub name: String,
    pub role: String,
    pub team: Option<String>,
    /// `None`: generate a one-time password the user must change at first login.
    pub password: Option<String>,
}

pub fn parse_role(raw: &str) -> AppResult<Role> {
    raw.parse::<Role>()
        .map_err(|m| AppError::validation("role", m))
}

fn parse_team(
    store_txn: &impl crate::store::ReadTx,
    org: OrgId,
    raw: Option<&str>,
) -> AppResult<Option<TeamId>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let id: TeamId = s
                .parse()
                .map_err(|_| AppError::validation("team", "is not a team of this organization"))?;
            match teams::get(store_txn, org, id)? {
                Some(_) => Ok(Some(id)),
                None => Err(AppError::validation(
                    "team",
                    "is not a team of this organization",
                )),
            }
        }
    }
}

/// Returns the user and, when one was generated, the one-time password to hand over.
pub fn create_user(
    store: &Store,
    by: &ActingAs,
    org: OrgId,
    input: NewUserInput,
    now: Ts,
) -> AppResult<(User, Option<String>)> {
    let email = parse_email(&input.email)?;
    let name = if input.name.trim().is_empty() {
        email.split('@').next().unwrap_or("user").to_string()
    } else {
        parse_name(&input.name)?
    };
    let role = parse_role(&input.role)?;
    if !by.may_assign(role, role) {
        return Err(AppError::forbidden(format!(
            "Only an owner can create {} accounts.",
            role.label()
        )));
    }
    let (pw, generated) = match input.password {
        Some(p) => {
            check_password("password", &p, &email)?;
            (p, false)
        }
        None => (password::generate_one_time(), true),
    };
    let password_hash = hash(&pw)?;
    let user = store.try_write(|txn| -> AppResult<User> {
        if orgs::get(txn, org)?.is_none() {
            return Err(AppError::not_found("Organization"));
        }
        let team = parse_team(txn, org, input.team.as_deref())?;
        let user = User {
            id: UserId::generate(),
            org,
            email,
            name,
            role,
            team,
            disabled: false,
            must_change_password: generated,
            password_hash,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        users::insert(txn, &user)?;
        audit::append(txn, org, now, Entry {
            actor: by.actor.clone(),
            action: "user.create",
            entity: "user",
            entity_id: user.id.to_string(),
            old: None,
            new: audit::json(&json!({"email": user.email, "name": user.name, "role": user.role, "team": user.team})),
        })?;
        Ok(user)
    })?;
    Ok((user, generated.then_some(pw)))
}

/// A change to a user's account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<String>,
    /// `Some(None)` or `Some(Some(""))` removes the user from their team.
    pub team: Option<Option<String>>,
    pub disabled: Option<bool>,
}

fn active_owners(txn: &impl crate::store::ReadTx, org: OrgId) -> AppResult<usize> {
    Ok(users::list(txn, org)?
        .iter()
        .filter(|u| u.role == Role::Owner && !u.disabled)
        .count())
}

pub fn update_user(
    store: &Store,
    by: &ActingAs,
    org: OrgId,
    id: UserId,
    patch: UserPatch,
    now: Ts,
) -> AppResult<User> {
    let name = patch.name.as_deref().map(parse_name).transpose()?;
    let role = patch.role.as_deref().map(parse_role).transpose()?;
    store.try_write(|txn| {
        let before = users::get(txn, org, id)?.ok_or_else(|| AppError::not_found("User"))?;
        let mut after = before.clone();
        let touches_access = role.is_some_and(|r| r != before.role)
            || patch.disabled.is_some_and(|d| d != before.disabled);
        if touches_access && by.user == Some(id) {
            return Err(AppError::forbidden(
                "You cannot change your own role or disable your own account.",
            ));
        }
        if let Some(n) = name {
            after.name = n;
        }
        if let Some(r) = role {
            if !by.may_assign(before.role, r) {
                return Err(AppError::forbidden(
                    "Only an owner can give or take away the owner and admin roles.",
                ));
            }
            after.role = r;
        }
        if let Some(d) = patch.disabled {
            if !by.may_assign(before.role, before.role) {
                return Err(AppError::forbidden(
                    "Only an owner can disable owners and admins.",
                ));
            }
            if d && !before.disabled {
                after.session_epoch += 1;
            }
            after.disabled = d;
        }
        if let Some(t) = &patch.team {
            after.team = parse_team(txn, org, t.as_deref())?;
        }
        let was_active_owner = before.role == Role::Owner && !before.disabled;
        let still_active_owner = after.role == Role::Owner && !after.disabled;
        if was_active_owner && !still_active_owner && active_owners(txn, org)? <= 1 {
            return Err(AppError::conflict(
                Some("role"),
                "The organization must keep at least one active owner.",
            ));
        }
        if after == before {
            return Ok(after);
        }
        after.updated_at = now;
        users::update(txn, &after)?;
        let (mut old, mut new) = (serde_json::Map::new(), serde_json::Map::new());
        let mut diff = |k: &str, a: serde_json::Value, b: serde_json::Value| {
            if a != b {
                old.insert(k.into(), a);
                new.insert(k.into(), b);
            }
        };
        diff("name", json!(before.name), json!(after.name));
        diff("role", json!(before.role), json!(after.role));
        diff("team", json!(before.team), json!(after.team));
        diff("disabled", json!(before.disabled), json!(after.disabled));
        let action = if before.role != after.role {
            "user.role_change"
        } else if before.disabled != after.disabled {
            if after.disabled {
                "user.disable"
            } else {
                "user.enable"
            }
        } else {
            "user.update"
        };
        audit::append(
            txn,
            org,
            now,
            Entry {
                actor: by.actor.clone(),
                action,
                entity: "user",
                entity_id: id.to_string(),
                old: audit::json(&old),
                new: audit::json(&new),
            },
        )?;
        Ok(after)
    })
}

/// An admin sets (or generates) a new password for someone; their sessions end at once.
/// Returns the generated one-time password, if one was generated.
pub fn reset_password(
    store: &Store,
    by: &ActingAs,
    org: OrgId,
    id: UserId,
    new_password: Option<String>,
    now: Ts,
) -> AppResult<Option<String>> {
    let target = store
        .read(|t| users::get(t, org, id))?
        .ok_or_else(|| AppError::not_found("User"))?;
    let (pw, generated) = match new_password {
        Some(p) => {
            check_password("password", &p, &target.email)?;
            (p, false)
        }
        None => (password::generate_one_time(), true),
    };
    // Hash outside the transaction (it is slow), then check who may do this against the state
    // inside it: the target's role may have changed meanwhile.
    let h = hash(&pw)?;
    store.try_write(|txn| {
        let mut u = users::get(txn, org, id)?.ok_or_else(|| AppError::not_found("User"))?;
        if !by.may_assign(u.role, u.role) {
            return Err(AppError::forbidden(
                "Only an owner can reset the password of owners and admins.",
            ));
        }
        u.password_hash = h;
        u.must_change_password = generated;
        u.session_epoch += 1;
        u.updated_at = now;
        users::update(txn, &u)?;
        audit::append(
            txn,
            org,
            now,
            Entry {
                actor: by.actor.clone(),
                action: "user.password_reset",
                entity: "user",
                entity_id: id.to_string(),
                old: None,
                new: audit::json(&json!({"must_change_password": generated})),
            },
        )?;
        Ok(())
    })?;
    Ok(generated.then_some(pw))
}

/// A user replaces their own password; all their sessions end. `then` runs in the same
/// transaction with the updated user (to open the new session), so either both happen or
/// neither does.
pub fn change_own_password<T>(
    store: &Store,
    user: &User,
    current: &str,
    new: &str,
    now: Ts,
    then: impl FnOnce(&redb::WriteTransaction, User) -> AppResult<T>,
) -> AppResult<T> {
    if !password::verify(current, &user.password_hash) {
        return Err(AppError::validation(
            "current_password",
            "is not your current password",
        ));
    }
    check_password("new_password", new, &user.email)?;
    if current == new {
        return Err(AppError::validation(
            "new_password",
            "must differ from the current password",
        ));
    }
    let h = hash(new)?;
    store.try_write(|txn| {
        let mut u =
            users::get(txn, user.org, user.id)?.ok_or_else(|| AppError::not_found("User"))?;
        u.password_hash = h;
        u.must_change_password = false;
        u.session_epoch += 1;
        u.updated_at = now;
        users::update(txn, &u)?;
        audit::append(
            txn,
            u.org,
            now,
            Entry {
                actor: Actor::User {
                    id: u.id,
                    email: u.email.clone(),
                },
                action: "user.password_change",
                entity: "user",
                entity_id: u.id.to_string(),
                old: None,
                new: None,
            },
        )?;
        then(txn, u)
    })
}

pub fn create_team(
    store: &Store,
    by: &ActingAs,
    org: OrgId,
    name: &str,
    manager: Option<&str>,
    now: Ts,
) -> AppResult<Team> {
    let name = required_text("name", name, 100)?;
    store.try_write(|txn| {
        let manager = match manager.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(m) => {
                let id: UserId = m.parse().map_err(|_| {
                    AppError::validation("manager", "is not a user of this organization")
                })?;
                users::get(txn, org, id)?.ok_or_else(|| {
                    AppError::validation("manager", "is not a user of this organization")
                })?;
                Some(id)
            }
        };
        let team = Team {
            id: TeamId::generate(),
            org,
            name: name.clone(),
            manager,
            created_at: now,
        };
        teams::insert(txn, &team)?;
        audit::append(
            txn,
            org,
            now,
            Entry {
                actor: by.actor.clone(),
                action: "team.create",
                entity: "team",
                entity_id: team.id.to_string(),
                old: None,
                new: audit::json(&json!({"name": team.name, "manager": team.manager})),
            },
        )?;
        Ok(team)
    })
}

/// What first-run bootstrap created; print it once.
pub struct Bootstrapped {
    pub org: Org,
    pub owner: User,
    pub one_time_password: String,
}

/// On a file with no accounts, create the first organization (unless one exists) and an owner
/// with a generated one-time password.
pub fn bootstrap_if_empty(
    store: &Store,
    cfg: &BootstrapConfig,
    now: Ts,
) -> AppResult<Option<Bootstrapped>> {
    if store.read(users::count_all)? > 0 {
        return Ok(None);
    }
    let existing = store.read(orgs::list)?.into_iter().next();
    let org = match existing {
        Some(o) => o,
        None => create_org(
            store,
            &ActingAs::system(),
            NewOrg::parse(&cfg.org_name, &cfg.timezone, &cfg.currency)?,
            now,
        )?,
    };
    let (owner, pw) = create_user(
        store,
        &ActingAs::system(),
        org.id,
        NewUserInput {
            email: cfg.owner_email.clone(),
            name: "Owner".into(),
            role: "owner".into(),
            team: None,
            password: None,
        },
        now,
    )?;
    Ok(Some(Bootstrapped {
        org,
        owner,
        one_time_password: pw.unwrap_or_default(),
    }))
}
