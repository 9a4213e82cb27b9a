//! What each kind of record puts in the index. A record's document is rebuilt from redb each
//! time it changes (never patched), so the index can only be as wrong as a missed change, and
//! the change log rules that out.

use crate::domain::partner::Partner;
use crate::domain::pipeline::{Opportunity, Pipeline};
use crate::domain::search::{Change, Kind, slug};
use crate::domain::user::User;
use crate::domain::{OrgId, PartnerId, PipelineId, Ts, UserId};
use crate::store::sales::{CustomerAgg, ProductAgg};
use crate::store::search::Logged;
use crate::store::{ReadTx, StoreResult, orgs, partners, pipeline, sales, users};
use std::collections::HashMap;

/// One record as the index sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub org: OrgId,
    pub kind: Kind,
    pub key: String,
    pub title: String,
    /// Every searchable word, title first.
    pub text: String,
    /// Whole values found exactly (SKU, email, id, domain).
    pub exact: Vec<String>,
    pub line: String,
    pub owner: Option<UserId>,
    pub stage: Option<String>,
    pub tier: Option<String>,
    pub updated: Ts,
    pub weight: u64,
}

pub fn uid(org: OrgId, kind: Kind, key: &str) -> String {
    format!("{}/{}/{key}", org.0, kind as u8)
}

/// Join the non-empty pieces with `sep`.
fn join<'a>(pieces: impl IntoIterator<Item = &'a str>, sep: &str) -> String {
    let mut out = String::new();
    for p in pieces.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push_str(p);
    }
    out
}

fn host(website: &str) -> Option<String> {
    url::Url::parse(website).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_string())
    })
}

pub fn partner(p: &Partner, notes: &[crate::domain::partner::Note]) -> Option<Doc> {
    if p.archived {
        return None;
    }
    let mut exact: Vec<String> = p
        .contacts
        .iter()
        .map(|c| c.email.clone())
        .filter(|e| !e.is_empty())
        .collect();
    exact.extend(host(&p.website));
    exact.push(p.id.to_string().to_lowercase());
    let contacts = p.contacts.iter().map(|c| {
        join(
            [
                c.name.as_str(),
                c.role.as_str(),
                c.email.as_str(),
                c.phone.as_str(),
            ],
            " ",
        )
    });
    let contacts: Vec<String> = contacts.collect();
    let mut pieces: Vec<&str> = vec![&p.name, &p.website, &p.tier, p.status.label(), &p.region];
    pieces.extend(p.categories.iter().map(String::as_str));
    pieces.extend(p.tags.iter().map(String::as_str));
    pieces.extend(contacts.iter().map(String::as_str));
    pieces.extend(notes.iter().map(|n| n.text.as_str()));
    Some(Doc {
        org: p.org,
        kind: Kind::Partner,
        key: p.id.to_string(),
        title: p.name.clone(),
        text: join(pieces, "\n"),
        exact,
        line: join(
            [p.tier.as_str(), p.status.label(), p.region.as_str()],
            " · ",
        ),
        owner: Some(p.owner),
        stage: None,
        tier: Some(slug(&p.tier)).filter(|t| !t.is_empty()),
        updated: p.updated_at.max(p.last_activity),
        weight: p.revenue_target.unwrap_or(0).max(0).unsigned_abs(),
    })
}

pub fn opportunity(o: &Opportunity, pipelines: &HashMap<PipelineId, Pipeline>) -> Option<Doc> {
    if o.state.archived {
        return None;
    }
    let stage = pipelines
        .get(&o.state.pipeline)
        .and_then(|p| p.stage(o.state.stage))
        .map_or("", |s| s.name.as_str());
    let close = o.state.close_date.to_string();
    Some(Doc {
        org: o.org,
        kind: Kind::Opportunity,
        key: o.id.to_string(),
        title: o.name.clone(),
        text: join(
            [
                o.name.as_str(),
                o.account.as_str(),
                stage,
                o.next_step.as_str(),
                o.source.as_str(),
                o.notes.as_str(),
                o.lost_reason.as_deref().unwrap_or(""),
            ],
            "\n",
        ),
        exact: vec![o.id.to_string().to_lowercase()],
        line: join(
            [stage, o.account.as_str(), &format!("closes {close}")],
            " · ",
        ),
        owner: Some(o.state.owner),
        stage: Some(slug(stage)).filter(|s| !s.is_empty()),
        tier: None,
        updated: o.updated_at,
        weight: o.state.amount.max(0).unsigned_abs(),
    })
}

pub fn customer(org: OrgId, id: &str, c: &CustomerAgg) -> Doc {
    let name = c.name.as_deref().unwrap_or("");
    let email = c.email.as_deref().unwrap_or("");
    let title = [name, email, id]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .unwrap_or(id)
        .to_string();
    let mut exact = vec![id.to_lowercase()];
    if !email.is_empty() {
        exact.push(email.to_lowercase());
    }
    Doc {
        org,
        kind: Kind::Customer,
        key: id.to_string(),
        title,
        text: join([name, email, id, c.region.as_deref().unwrap_or("")], "\n"),
        exact,
        // (figures such as orders would go stale: a customer is re-indexed when its text
        // changes, not on every sale)
        line: join([id, c.region.as_deref().unwrap_or("")], " · "),
        owner: None,
        stage: None,
        tier: None,
        updated: c.last_purchase.or(c.created_at).unwrap_or(Ts(0)),
        weight: c.revenue.max(0).unsigned_abs(),
    }
}

pub fn product(org: OrgId, sku: &str, p: &ProductAgg) -> Doc {
    Doc {
        org,
        kind: Kind::Product,
        key: sku.to_string(),
        title: if p.name.trim().is_empty() {
            sku.to_string()
        } else {
            p.name.clone()
        },
        text: join([p.name.as_str(), sku, p.category.as_str()], "\n"),
        exact: vec![sku.to_lowercase()],
        line: join([sku, p.category.as_str()], " · "),
        owner: None,
        stage: None,
        tier: None,
        updated: Ts(0),
        weight: p.figures.revenue.max(0).unsigned_abs(),
    }
}

pub fn user(u: &User) -> Doc {
    let status = if u.disabled { "disabled" } else { "" };
    Doc {
        org: u.org,
        kind: Kind::User,
        key: u.id.to_string(),
        title: if u.name.trim().is_empty() {
            u.email.clone()
        } else {
            u.name.clone()
        },
        text: join([u.name.as_str(), u.email.as_str(), u.role.label()], "\n"),
        exact: vec![u.email.to_lowercase(), u.id.to_string().to_lowercase()],
        line: join([u.email.as_str(), u.role.label(), status], " · "),
        owner: None,
        stage: None,
        tier: None,
        updated: u.updated_at,
        weight: 0,
    }
}

fn pipelines_of(txn: &impl ReadTx, org: OrgId) -> StoreResult<HashMap<PipelineId, Pipeline>> {
    Ok(pipeline::pipelines(txn, org)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect())
}

/// The documents a logged change asks for: `(uid, Some(doc))` to add or replace, `(uid,
/// None)` to remove. Read in the same transaction as the log, so each is at least as new as
/// its change.
pub fn for_change(
    txn: &impl ReadTx,
    c: &Logged,
    pipelines: &mut HashMap<OrgId, HashMap<PipelineId, Pipeline>>,
    out: &mut Vec<(String, Option<Doc>)>,
) -> StoreResult<()> {
    let org = c.org;
    match c.kind {
        Change::Partner => {
            let Ok(id) = c.key.parse::<PartnerId>() else {
                return Ok(());
            };
            let doc = match partners::get(txn, org, id)? {
                Some(p) => partner(&p, &partners::notes(txn, org, id)?),
                None => None,
            };
            out.push((uid(org, Kind::Partner, &c.key), doc));
        }
        Change::Opportunity => {
            let Ok(id) = c.key.parse() else {
                return Ok(());
            };
            let ps = match pipelines.entry(org) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(pipelines_of(txn, org)?),
            };
            let doc = pipeline::get_opportunity(txn, org, id)?.and_then(|o| opportunity(&o, ps));
            out.push((uid(org, Kind::Opportunity, &c.key), doc));
        }
        Change::Pipeline => {
            let Ok(id) = c.key.parse::<PipelineId>() else {
                return Ok(());
            };
            let ps = pipelines_of(txn, org)?;
            pipeline::each_opportunity(txn, org, |o| {
                if o.state.pipeline == id {
                    out.push((
                        uid(org, Kind::Opportunity, &o.id.to_string()),
                        opportunity(&o, &ps),
                    ));
                }
            })?;
            pipelines.insert(org, ps);
        }
        Change::Customer => {
            let doc = sales::customer(txn, org, &c.key)?.map(|a| customer(org, &c.key, &a));
            out.push((uid(org, Kind::Customer, &c.key), doc));
        }
        Change::Product => {
            let doc = sales::product(txn, org, &c.key)?.map(|a| product(org, &c.key, &a));
            out.push((uid(org, Kind::Product, &c.key), doc));
        }
        Change::User => {
            let Ok(id) = c.key.parse::<UserId>() else {
                return Ok(());
            };
            let doc = users::get(txn, org, id)?.map(|u| user(&u));
            out.push((uid(org, Kind::User, &c.key), doc));
        }
    }
    Ok(())
}

/// Every document of every org (for a rebuild), one by one.
pub fn each(txn: &impl ReadTx, mut f: impl FnMut(Doc)) -> StoreResult<()> {
    for org in orgs::list(txn)? {
        let org = org.id;
        for u in users::list(txn, org)? {
            f(user(&u));
        }
        for p in partners::list(txn, org)? {
            if let Some(d) = partner(&p, &partners::notes(txn, org, p.id)?) {
                f(d);
            }
        }
        let ps = pipelines_of(txn, org)?;
        pipeline::each_opportunity(txn, org, |o| {
            if let Some(d) = opportunity(&o, &ps) {
                f(d);
            }
        })?;
        sales::each_customer(txn, org, |id, c| f(customer(org, id, c)))?;
        sales::each_product(txn, org, |sku, p| f(product(org, sku, p)))?;
    }
    Ok(())
}
