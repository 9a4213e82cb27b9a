//! Reading the audit log: the filters people and the API use, old → new field changes, the CSV
//! export, and retention. Writing it is [`crate::store::audit::append`], in the same write
//! transaction as the change it records.

use crate::domain::Ts;
use crate::domain::org::Org;
use crate::error::{AppError, AppResult};
use crate::store::audit::{ActorIs, AuditRecord, Entry, Filter};
use crate::store::{Store, StoreResult, audit, orgs};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters and paging for the audit log (the API and the `/admin/audit` page).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Who did it: a user id, `cli` (the command line) or `system` (salesboard itself).
    pub user: Option<String>,
    /// An action, e.g. `user.create`.
    pub action: Option<String>,
    /// A kind of record, e.g. `user`, `team`, `api_key`.
    pub entity: Option<String>,
    /// One record's id (with `entity`).
    pub entity_id: Option<String>,
    /// First day (in the organization's time zone), e.g. `2026-11-01`.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
    /// Records older than this sequence number (from `next_before` of the previous page).
    pub before: Option<u64>,
    /// Page size, 1–500, default 50.
    pub limit: Option<usize>,
}

/// A set value: absent, or empty text, is no filter.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Params {
    /// The store filter these parameters ask for, with days read in the org's time zone.
    pub fn filter(&self, org: &Org) -> AppResult<Filter> {
        let actor = match given(&self.user) {
            None => None,
            Some("cli") => Some(ActorIs::Cli),
            Some("system") => Some(ActorIs::System),
            Some(id) => Some(ActorIs::User(id.parse().map_err(|_| {
                AppError::validation("user", "is not a user id, `cli` or `system`")
            })?)),
        };
        let tz = org.tz();
        let day = |field: &'static str, v: &str| -> AppResult<jiff::civil::Date> {
            v.parse().map_err(|_| {
                AppError::validation(field, format!("`{v}` is not a date like 2026-11-30"))
            })
        };
        let start = |d: jiff::civil::Date| -> AppResult<Ts> {
            d.to_zoned(tz.clone())
                .map(|z| Ts::from_timestamp(z.timestamp()))
                .map_err(|_| AppError::validation("from", "is out of range"))
        };
        let from = given(&self.from).map(|v| day("from", v)).transpose()?;
        let to = given(&self.to).map(|v| day("to", v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::validation("to", "must not be before `from`"));
        }
        let next_day = |d: jiff::civil::Date| {
            d.tomorrow()
                .map_err(|_| AppError::validation("to", "is out of range"))
        };
        Ok(Filter {
            actor,
            action: given(&self.action).map(str::to_string),
            entity: given(&self.entity).map(str::to_string),
            entity_id: given(&self.entity_id).map(str::to_string),
            from: from.map(start).transpose()?,
            to: to.map(|t| next_day(t).and_then(start)).transpose()?,
        })
    }

    pub fn limit(&self) -> AppResult<usize> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(AppError::validation("limit", "must be between 1 and 500"));
        }
        Ok(limit)
    }

    /// The query string of these filters (paging left out unless given), for links.
    pub fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("user", &self.user),
            ("action", &self.action),
            ("entity", &self.entity),
            ("entity_id", &self.entity_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = given(v) {
                q.append_pair(k, v);
            }
        }
        if let Some(b) = self.before {
            q.append_pair("before", &b.to_string());
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        q.finish()
    }

    /// Whether any filter is set.
    pub fn filtered(&self) -> bool {
        [
            &self.user,
            &self.action,
            &self.entity,
            &self.entity_id,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|v| given(v).is_some())
    }
}

/// One field of a change: its value before and after (JSON text; `None` when absent).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl FieldChange {
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
}

/// The fields a record's old and new values hold, in order, each with both sides: objects are
/// compared field by field, anything else as one `value`.
pub fn field_changes(r: &AuditRecord) -> Vec<FieldChange> {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .map(|s| serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.to_string())))
    };
    let (old, new) = (parse(&r.old), parse(&r.new));
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let fields = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::Object(m)) => Some(m.clone()),
        _ => None,
    };
    match (fields(&old), fields(&new)) {
        (o, n) if (o.is_some() || old.is_none()) && (n.is_some() || new.is_none()) => {
            let (o, n) = (o.unwrap_or_default(), n.unwrap_or_default());
            let mut names: Vec<&String> = o.keys().collect();
            names.extend(n.keys().filter(|k| !o.contains_key(*k)));
            names
                .into_iter()
                .map(|k| FieldChange {
                    field: k.clone(),
                    old: o.get(k).map(text),
                    new: n.get(k).map(text),
                })
                .collect()
        }
        _ => vec![FieldChange {
            field: "value".into(),
            old: old.as_ref().map(text),
            new: new.as_ref().map(text),
        }],
    }
}

/// The records as CSV: sequence, time (UTC), actor, action, record, old and new values (JSON)
/// and the chain hash.
pub fn csv(records: &[AuditRecord]) -> AppResult<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| AppError::internal(format!("csv: {e}"));
    w.write_record([
        "seq",
        "at",
        "actor",
        "actor_id",
        "action",
        "entity",
        "entity_id",
        "old",
        "new",
        "hash",
    ])
    .map_err(err)?;
    for r in records {
        let actor_id = match &r.actor {
            audit::Actor::User { id, .. } => id.to_string(),
            audit::Actor::Cli => "cli".into(),
            audit::Actor::System => "system".into(),
        };
        w.write_record([
            r.seq.to_string(),
            r.at.to_string(),
            crate::export::csv_safe(&r.actor.label()),
            actor_id,
            crate::export::csv_safe(&r.action),
            crate::export::csv_safe(&r.entity),
            crate::export::csv_safe(&r.entity_id),
            crate::export::csv_safe(r.old.as_deref().unwrap_or("")),
            crate::export::csv_safe(r.new.as_deref().unwrap_or("")),
            hex(&r.hash),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::internal(format!("csv: {e}")))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Most records removed per write transaction by retention.
const RETENTION_STEP: usize = 5_000;

/// Remove every org's audit records older than `keep_days` (0 keeps them all). Each org whose
/// log was trimmed gets a record saying so, chained like any other: the chain stays checkable
/// from the last removed record on. Returns how many were removed.
pub fn apply_retention(store: &Store, keep_days: u32, now: Ts) -> StoreResult<u64> {
    if keep_days == 0 {
        return Ok(0);
    }
    let Some(span) = i64::from(keep_days).checked_mul(86_400 * 1_000_000) else {
        return Ok(0); // longer than time can count: keep everything
    };
    let before = Ts(now.0.saturating_sub(span));
    let mut total = 0u64;
    for org in store.read(orgs::list)? {
        let mut removed = 0u64;
        loop {
            // The last step records the whole removal in its own transaction: never one
            // without the other.
            let n = store.write(|t| {
                let n = audit::remove_before(t, org.id, before, RETENTION_STEP)?;
                let all = removed + n as u64;
                if n < RETENTION_STEP && all > 0 {
                    let anchor = audit::anchor(t, org.id)?.map(|a| a.seq);
                    audit::append(
                        t,
                        org.id,
                        now,
                        Entry {
                            actor: audit::Actor::System,
                            action: "audit.retention",
                            entity: "audit",
                            entity_id: String::new(),
                            old: None,
                            new: audit::json(&serde_json::json!({
                                "removed": all,
                                "before": before.to_string(),
                                "keep_days": keep_days,
                                "chain_continues_after": anchor,
                            })),
                        },
                    )?;
                }
                Ok(n)
            })?;
            removed += n as u64;
            if n < RETENTION_STEP {
                break;
            }
        }
        total += removed;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::Actor;

    fn rec(old: Option<&str>, new: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq: 1,
            at: Ts(0),
            actor: Actor::Cli,
            action: "user.update".into(),
            entity: "user".into(),
            entity_id: "u".into(),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn changes_compare_objects_field_by_field() {
        let c = field_changes(&rec(
            Some(r#"{"role":"viewer","name":"Ann"}"#),
            Some(r#"{"role":"admin","name":"Ann","team":"t1"}"#),
        ));
        let got: Vec<_> = c
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.old.as_deref(),
                    c.new.as_deref(),
                    c.changed(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("name", Some("Ann"), Some("Ann"), false),
                ("role", Some("viewer"), Some("admin"), true),
                ("team", None, Some("t1"), true),
            ]
        );
    }

    #[test]
    fn changes_of_a_creation_and_of_plain_values() {
        let c = field_changes(&rec(None, Some(r#"{"email":"a@b.c"}"#)));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].old.as_deref(), c[0].new.as_deref()),
            (None, Some("a@b.c"))
        );
        let c = field_changes(&rec(Some("3"), Some("not json")));
        assert_eq!(c[0].field, "value");
        assert_eq!(
            (c[0].old.as_deref(), c[0].new.as_deref()),
            (Some("3"), Some("not json"))
        );
        assert!(field_changes(&rec(None, None)).is_empty());
    }

    #[test]
    fn csv_keeps_formulas_inert_and_names_the_actor() {
        let mut r = rec(None, Some(r#"{"name":"=HYPERLINK(1)"}"#));
        r.entity_id = "=cmd".into();
        let text = String::from_utf8(csv(&[r]).unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.contains(",command line,cli,"), "{line}");
        assert!(line.contains(",'=cmd,"), "{line}");
    }

    const DAY: i64 = 86_400_000_000;

    /// A store with one org and `n` records, record i made on day i by the command line
    /// (even) or salesboard (odd), alternating `team.create` and `user.create`.
    fn logged(n: i64) -> (tempfile::TempDir, Store, crate::domain::OrgId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let org = store
            .write(|t| {
                orgs::create(
                    t,
                    crate::domain::org::NewOrg::parse("A", "UTC", "USD").unwrap(),
                    Ts(0),
                )
            })
            .unwrap();
        let base = store
            .read(|t| audit::verify_chain(t, org.id))
            .unwrap()
            .unwrap();
        assert_eq!(base, 0, "a bare org starts with an empty log");
        for i in 0..n {
            store
                .write(|t| {
                    audit::append(
                        t,
                        org.id,
                        Ts(i * DAY),
                        Entry {
                            actor: if i % 2 == 0 {
                                Actor::Cli
                            } else {
                                Actor::System
                            },
                            action: if i % 2 == 0 {
                                "team.create"
                            } else {
                                "user.create"
                            },
                            entity: if i % 2 == 0 { "team" } else { "user" },
                            entity_id: format!("e{i}"),
                            old: None,
                            new: audit::json(&serde_json::json!({ "i": i })),
                        },
                    )
                })
                .unwrap();
        }
        (dir, store, org.id)
    }

    #[test]
    fn finding_filters_and_pages_newest_first() {
        let (_d, store, org) = logged(10);
        let find = |f: &Filter, before, limit| {
            store
                .read(|t| audit::find(t, org, f, before, limit))
                .unwrap()
        };
        let seqs = |f: &audit::Found| f.records.iter().map(|r| r.seq).collect::<Vec<_>>();
        let all = find(&Filter::default(), None, 4);
        assert_eq!(seqs(&all), [10, 9, 8, 7]);
        assert_eq!(all.next_before, Some(7));
        let next = find(&Filter::default(), all.next_before, 4);
        assert_eq!(seqs(&next), [6, 5, 4, 3]);
        let last = find(&Filter::default(), Some(3), 4);
        assert_eq!(seqs(&last), [2, 1]);
        assert_eq!(last.next_before, None, "no page after the last");
        let users = Filter {
            action: Some("user.create".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&find(&users, None, 50)), [10, 8, 6, 4, 2]);
        let cli_days = Filter {
            actor: Some(ActorIs::Cli),
            from: Some(Ts(2 * DAY)),
            to: Some(Ts(7 * DAY)),
            ..Filter::default()
        };
        // records of days 2, 4 and 6 (seq = day + 1)
        assert_eq!(seqs(&find(&cli_days, None, 50)), [7, 5, 3]);
        let one = Filter {
            entity: Some("user".into()),
            entity_id: Some("e3".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&find(&one, None, 50)), [4]);
        let (actions, entities) = store.read(|t| audit::recent_kinds(t, org, 100)).unwrap();
        assert_eq!(actions, ["team.create", "user.create"]);
        assert_eq!(entities, ["team", "user"]);
    }

    #[test]
    fn retention_removes_old_records_and_the_chain_still_checks() {
        let (_d, store, org) = logged(10);
        // keep 3 days at day 9.5: records of days 0..=6 go
        let now = Ts(9 * DAY + DAY / 2);
        assert_eq!(apply_retention(&store, 3, now).unwrap(), 7);
        let left = store
            .read(|t| audit::find(t, org, &Filter::default(), None, 50))
            .unwrap();
        let seqs: Vec<u64> = left.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [11, 10, 9, 8], "the removal is recorded as record 11");
        assert_eq!(left.records[0].action, "audit.retention");
        assert!(
            left.records[0]
                .new
                .as_deref()
                .unwrap()
                .contains(r#""removed":7"#)
        );
        assert_eq!(store.read(|t| audit::verify_chain(t, org)).unwrap(), Ok(4));
        // Again later: everything before goes, the chain goes on from the anchor.
        assert_eq!(apply_retention(&store, 1, Ts(30 * DAY)).unwrap(), 4);
        assert_eq!(store.read(|t| audit::verify_chain(t, org)).unwrap(), Ok(1));
        let only = store
            .read(|t| audit::find(t, org, &Filter::default(), None, 50))
            .unwrap();
        assert_eq!(only.records[0].seq, 12);
        // Removing a kept record from the middle breaks the chain, as before.
        for day in [31, 32] {
            store
                .write(|t| {
                    audit::append(
                        t,
                        org,
                        Ts(day * DAY),
                        Entry {
                            actor: Actor::Cli,
                            action: "team.create",
                            entity: "team",
                            entity_id: "x".into(),
                            old: None,
                            new: None,
                        },
                    )
                })
                .unwrap();
        }
        assert_eq!(store.read(|t| audit::verify_chain(t, org)).unwrap(), Ok(3));
        store
            .write(|t| {
                let mut a = t.open_table(crate::store::tables::AUDIT)?;
                a.remove((org.0, 13u64))?;
                Ok(())
            })
            .unwrap();
        assert_eq!(
            store.read(|t| audit::verify_chain(t, org)).unwrap(),
            Err(14)
        );
        // Nothing to remove: nothing recorded.
        assert_eq!(apply_retention(&store, 0, Ts(99 * DAY)).unwrap(), 0);
    }
}
