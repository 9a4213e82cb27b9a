//! A deterministic generator of a realistic pipeline: deals created over a span of days, each
//! moving forward through the stages (sometimes back), with amounts revised and close dates
//! slipping, ending open, won or lost. Every change is a history record, exactly as if made
//! through the API, so "as of" views, the flow figures and the waterfall have real history to
//! work with. The same seed gives the same deals (ids aside).

use crate::domain::pipeline::{HistoryRecord, Opportunity, Pipeline, StageKind, Tracked, diff};
use crate::domain::{OpportunityId, OrgId, Ts, UserId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ACCOUNTS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Vandelay",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
    "Monarch",
    "Nakatomi",
    "Blue Sun",
    "Virtucon",
    "Gekko",
    "Prestige",
];
const PRODUCTS: [&str; 8] = [
    "rollout",
    "renewal",
    "expansion",
    "pilot",
    "platform deal",
    "add-on",
    "migration",
    "support plan",
];
const SOURCES: [&str; 5] = [
    "Inbound",
    "Outbound",
    "Partner referral",
    "Event",
    "Existing customer",
];

pub struct Spec {
    pub deals: usize,
    /// Average number of changes after creation (each one history record).
    pub changes: usize,
    /// Deals are created over the `days` before `now`; close dates fall up to 120 days after.
    pub days: i64,
    pub seed: u64,
    /// The generated history ends here.
    pub now: Ts,
}

const DAY: i64 = 86_400_000_000;

/// Generate the deals with their histories, handing them to `sink` in batches of `batch`.
pub fn generate<E>(
    spec: &Spec,
    org: OrgId,
    pipeline: &Pipeline,
    owners: &[(UserId, String)],
    tz: &jiff::tz::TimeZone,
    batch: usize,
    mut sink: impl FnMut(Vec<(Opportunity, Vec<HistoryRecord>)>) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let now = spec.now;
    let stages: Vec<_> = pipeline.active_stages().cloned().collect();
    let open: Vec<_> = stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .collect();
    let (Some(won), Some(lost)) = (
        stages.iter().find(|s| s.kind == StageKind::Won),
        stages.iter().find(|s| s.kind == StageKind::Lost),
    ) else {
        return Ok(());
    };
    if open.is_empty() || owners.is_empty() {
        return Ok(());
    }
    let name_of = |s| {
        stages
            .iter()
            .find(|x| x.id == s)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    let mut out = Vec::with_capacity(batch);
    for n in 0..spec.deals {
        let created = Ts(now.0 - rng.random_range(0..spec.days.max(1) * DAY));
        let (owner, owner_name) = &owners[rng.random_range(0..owners.len())];
        let account = ACCOUNTS[rng.random_range(0..ACCOUNTS.len())];
        let day_of = |t: Ts| t.timestamp().to_zoned(tz.clone()).date();
        let mut t = Tracked {
            pipeline: pipeline.id,
            stage: open[0].id,
            amount: rng.random_range(20..2_000) * 50_000,
            probability: open[0].probability,
            owner: *owner,
            close_date: day_of(Ts(created.0 + rng.random_range(20..120) * DAY)),
            archived: false,
        };
        let id =
            OpportunityId(ulid::Ulid::from_parts(created.0.max(0) as u64 / 1000, rng.random()).0);
        let mut records = vec![HistoryRecord {
            opportunity: id,
            seq: 1,
            at: created,
            by: Some(*owner),
            by_label: owner_name.clone(),
            changes: diff(None, &t, &name_of),
        }];
        let mut at = created;
        let mut stage_ix = 0usize;
        let mut closed_at = None;
        let changes = rng.random_range(0..=spec.changes * 2);
        for _ in 0..changes {
            if closed_at.is_some() {
                break;
            }
            let step = rng.random_range(DAY / 4..6 * DAY);
            if at.0 + step > now.0 {
                break;
            }
            at = Ts(at.0 + step);
            let before = t.clone();
            // Deals close after about `spec.changes` changes.
            let close_pct = (100 / spec.changes.max(1)).clamp(2, 50) as u32;
            let pick = rng.random_range(0..100u32);
            let kind = if pick < close_pct {
                9
            } else {
                (pick - close_pct) * 9 / (100 - close_pct)
            };
            match kind {
                // forward (mostly), sometimes back
                // at the last open stage, the owner revises the probability instead
                0..=4 if stage_ix + 1 == open.len() => {
                    let p = open[stage_ix].probability;
                    t.probability =
                        rng.random_range(p.saturating_sub(20)..=p.saturating_add(15).min(99));
                }
                0..=4 => {
                    stage_ix = (stage_ix + 1).min(open.len() - 1);
                    if rng.random_bool(0.1) {
                        stage_ix = stage_ix.saturating_sub(1);
                    }
                    t.stage = open[stage_ix].id;
                    t.probability = open[stage_ix].probability;
                }
                5 | 6 => {
                    let pct: i64 = rng.random_range(-25..30);
                    t.amount = (t.amount + t.amount * pct / 100).max(50_000) / 100 * 100;
                }
                7 | 8 => {
                    t.close_date = t
                        .close_date
                        .saturating_add(jiff::Span::new().days(rng.random_range(7..45)))
                }
                _ => {
                    // closing: likelier from later stages
                    let win = rng.random_bool((0.25 + 0.15 * stage_ix as f64).min(0.95));
                    let s = if win { won } else { lost };
                    t.stage = s.id;
                    t.probability = s.probability;
                    t.close_date = day_of(at);
                    closed_at = Some((at, s.kind));
                }
            }
            let changes = diff(Some(&before), &t, &name_of);
            if changes.is_empty() {
                continue;
            }
            records.push(HistoryRecord {
                opportunity: id,
                seq: records.len() as u32 + 1,
                at,
                by: Some(*owner),
                by_label: owner_name.clone(),
                changes,
            });
        }
        let stage_since = records
            .iter()
            .rev()
            .find(|r| r.change_of("stage").is_some())
            .map_or(created, |r| r.at);
        let opp = Opportunity {
            id,
            org,
            name: format!("{account} {}", PRODUCTS[n % PRODUCTS.len()]),
            account: account.to_string(),
            partner: None,
            next_step: if closed_at.is_none() {
                "Follow up with the buyer".into()
            } else {
                String::new()
            },
            source: SOURCES[rng.random_range(0..SOURCES.len())].to_string(),
            notes: String::new(),
            lost_reason: match closed_at {
                Some((_, StageKind::Lost)) => pipeline.lost_reasons.first().cloned(),
                _ => None,
            },
            state: t,
            created_at: created,
            updated_at: at,
            closed_at: closed_at.map(|c| c.0),
            stage_since,
            version: records.len() as u64,
            history_seq: records.len() as u32,
        };
        out.push((opp, records));
        if out.len() >= batch {
            sink(std::mem::take(&mut out))?;
        }
    }
    if !out.is_empty() {
        sink(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::replay;

    #[test]
    fn every_generated_deal_is_its_history_replayed() {
        let p = Pipeline::default_for(OrgId(1), "Sales", Ts(0));
        let owners = vec![
            (UserId(1), "a@example.com".to_string()),
            (UserId(2), "b@example.com".to_string()),
        ];
        let now = Ts(1_795_000_000_000_000);
        let spec = Spec {
            deals: 300,
            changes: 8,
            days: 90,
            seed: 3,
            now,
        };
        let mut all = Vec::new();
        generate(
            &spec,
            OrgId(1),
            &p,
            &owners,
            &jiff::tz::TimeZone::UTC,
            64,
            |b| {
                all.extend(b);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        assert_eq!(all.len(), 300);
        let (mut won, mut lost, mut records) = (0, 0, 0);
        for (o, h) in &all {
            assert_eq!(replay(h, now).as_ref(), Some(&o.state), "{}", o.name);
            assert!(
                h.windows(2)
                    .all(|w| w[0].at <= w[1].at && w[0].seq + 1 == w[1].seq)
            );
            assert_eq!(o.history_seq as usize, h.len());
            records += h.len();
            match p.stage(o.state.stage).map(|s| s.kind) {
                Some(StageKind::Won) => won += 1,
                Some(StageKind::Lost) => lost += 1,
                _ => {}
            }
        }
        assert!(
            won > 10 && lost > 10 && won + lost < 290,
            "{won} won, {lost} lost"
        );
        assert!(records > 300 * 3, "{records}");
    }
}
