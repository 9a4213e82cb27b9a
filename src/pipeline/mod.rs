//! Pipelines and opportunities as the API, the pages and the demo use them. Each operation
//! validates its input, checks the caller's scope, writes the record, its history and the
//! audit entry in one transaction, or nothing at all.
//!
//! Reads go through [`Books`]: every opportunity of an org decoded once per pipeline data
//! version and shared by all readers until the next change.

pub mod demo;
mod ops;
mod read;

pub use ops::*;
pub use read::*;

/// Fill an org's first pipeline with `deals` generated deals (with their histories), owned
/// by its active users; nothing when the org already has opportunities. Returns how many.
pub fn load_demo(
    store: &crate::store::Store,
    org: &crate::domain::org::Org,
    deals: usize,
    now: crate::domain::Ts,
) -> crate::error::AppResult<usize> {
    use crate::store::pipeline as repo;
    store.try_write(|txn| -> crate::error::AppResult<usize> {
        if repo::has_opportunities(txn, org.id)? {
            return Ok(0);
        }
        let Some(p) = repo::pipelines(txn, org.id)?
            .into_iter()
            .find(|p| !p.archived)
        else {
            return Ok(0);
        };
        let owners: Vec<_> = crate::store::users::list(txn, org.id)?
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.id, u.email))
            .collect();
        let user_ids: Vec<_> = owners.iter().map(|o| o.0).collect();
        let partners = crate::partners::demo_partners(txn, org, &user_ids, now)?;
        let spec = demo::Spec {
            deals,
            changes: 6,
            days: 180,
            seed: 7,
            now,
        };
        let mut n = 0;
        demo::generate(&spec, org.id, &p, &owners, &org.tz(), 1_000, |mut batch| {
            // Partner referrals are sourced by a partner; every fifth other deal influenced.
            // The churned last partner gets no new deals.
            let live = partners.len().saturating_sub(1).max(1);
            for (o, _) in &mut batch {
                let pick = partners.get((n + o.name.len()) % live).copied();
                o.partner = match (pick, o.source.as_str()) {
                    (Some(pid), "Partner referral") => {
                        Some((pid, crate::domain::pipeline::PartnerRole::Sourced))
                    }
                    (Some(pid), _) if n % 5 == 0 => {
                        Some((pid, crate::domain::pipeline::PartnerRole::Influenced))
                    }
                    _ => None,
                };
                n += 1;
            }
            repo::import_opportunities(txn, org.id, &batch)
        })?;
        Ok(n)
    })
}
