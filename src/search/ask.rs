//! Asking the index on behalf of a signed-in user: reading the request's parameters, working
//! out what the user may see, and where each hit links to.

use super::query::{Reach, Results, Viewer};
use crate::app::AppState;
use crate::domain::search::{self as rules, Kind};
use crate::domain::user::User;
use crate::domain::{Permission, Scope};
use crate::error::{AppError, AppResult};
use crate::store::users;

/// Hits per page at most.
pub const MAX_LIMIT: usize = 100;
/// How deep pages go (the index gathers every hit up to the page asked for).
pub const MAX_OFFSET: usize = 10_000;

/// A search as asked.
#[derive(Clone, Debug)]
pub struct Ask {
    pub text: String,
    pub query: rules::Query,
    pub offset: usize,
    pub limit: usize,
}

/// Read the parameters: `q` (required), `kind` (one kind; adds to `kind:` in the text),
/// `cursor` (from a previous page) and `limit` (1–100, default `default_limit`).
pub fn read(
    q: Option<&str>,
    kind: Option<&str>,
    cursor: Option<&str>,
    limit: Option<usize>,
    default_limit: usize,
) -> AppResult<Ask> {
    let text = q.unwrap_or("").trim().to_string();
    let mut query = rules::parse(&text)?;
    if query.is_empty() {
        return Err(AppError::validation("q", "type something to search for"));
    }
    if let Some(k) = kind.map(str::trim).filter(|k| !k.is_empty()) {
        // The `kind` parameter (a tab of the results page) narrows to one kind.
        query.kinds = vec![Kind::parse(k)?];
    }
    let offset = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|o| *o <= MAX_OFFSET)
            .ok_or_else(|| {
                AppError::validation(
                    "cursor",
                    format!(
                        "must be a cursor from a previous page (pages end after {MAX_OFFSET} results: narrow the search)"
                    ),
                )
            })?,
    };
    let limit = limit.unwrap_or(default_limit);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}"),
        ));
    }
    Ok(Ask {
        text,
        query,
        offset,
        limit,
    })
}

/// The permission that shows each kind of record.
fn permission(kind: Kind) -> Permission {
    match kind {
        Kind::Partner => Permission::PartnersView,
        Kind::Opportunity => Permission::PipelineView,
        Kind::Customer | Kind::Product => Permission::SalesView,
        Kind::User => Permission::UsersManage,
    }
}

/// What `user` may find: each kind their role shows, limited to the owners their scope
/// reaches for partners and opportunities (customers, products and users have no owner).
pub fn viewer(store: &crate::store::Store, user: &User) -> AppResult<Viewer> {
    let mut reach = Vec::new();
    let mut team: Option<Vec<crate::domain::UserId>> = None;
    for kind in Kind::ALL {
        let Some(scope) = user.role.scope_of(permission(kind)) else {
            continue;
        };
        let owned = matches!(kind, Kind::Partner | Kind::Opportunity);
        let r = match scope {
            _ if !owned => Reach::All,
            Scope::Org => Reach::All,
            Scope::Own => Reach::Owners(vec![user.id]),
            Scope::Team => {
                if team.is_none() {
                    let everyone = store.read(|t| users::list(t, user.org))?;
                    let mut mine: Vec<_> = everyone
                        .iter()
                        .filter(|u| u.id == user.id || (user.team.is_some() && u.team == user.team))
                        .map(|u| u.id)
                        .collect();
                    mine.sort_unstable();
                    team = Some(mine);
                }
                Reach::Owners(team.clone().unwrap_or_default())
            }
        };
        reach.push((kind, r));
    }
    Ok(Viewer {
        org: user.org,
        me: user.id,
        reach,
    })
}

/// Run `ask` for `user`.
pub async fn run(state: &AppState, user: &User, ask: &Ask) -> AppResult<Results> {
    let (search, user, ask, now) = (
        state.search.clone(),
        user.clone(),
        ask.clone(),
        state.clock.now(),
    );
    state
        .db(move |store| {
            let v = viewer(store, &user)?;
            search
                .query(&v, &ask.query, ask.offset, ask.limit, now)
                .map_err(AppError::internal)
        })
        .await
}

/// The page of a found record.
pub fn link(kind: Kind, key: &str) -> String {
    let esc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    match kind {
        Kind::Partner => format!("/partners/{key}"),
        Kind::Opportunity => format!("/opportunities/{key}"),
        Kind::Customer => format!("/customers/{}", esc(key).replace('+', "%20")),
        Kind::Product => format!("/products/{}", esc(key).replace('+', "%20")),
        Kind::User => format!("/admin/users#user-{key}"),
    }
}
