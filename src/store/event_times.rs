//! The events of an org in time order, for the live ticker (the newest sales) and for raw-event
//! retention (the oldest events).
//!
//! A row (a block) holds the events one batch stored for one ten-minute slot (UTC), sorted. A
//! batch of 20,000 events a second apart writes 34 rows instead of 20,000: every B-tree row
//! costs a descent and a leaf write, and the row per event was about a seventh of the ingest
//! writer's time. Reading in time order decodes the blocks of a slot together and sorts them;
//! a slot is short, so even a busy shop's newest one is quick to read for the ticker.

use super::{StoreResult, codec, tables::EVENT_BLOCKS};
use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

/// The span of one slot, in microseconds: ten minutes.
const SLOT: i64 = 600_000_000;

/// One event in the index. Ordered by time, then kind, then id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// When it occurred (UTC microseconds).
    pub at: i64,
    /// `events::Kind` as stored in the events table's key.
    pub kind: u8,
    pub id: String,
}

fn slot_of(at: i64) -> i64 {
    at.div_euclid(SLOT)
}

type Blocks<'t> = Table<'t, (u64, i64, u64), &'static [u8]>;
type Key = (u64, i64, u64);

fn org_range(org: u64) -> std::ops::RangeInclusive<Key> {
    (org, i64::MIN, 0)..=(org, i64::MAX, u64::MAX)
}

/// Index a batch's newly stored events of `org` (in any order): one block per slot they fall
/// in, numbered `batch`. A batch number names one batch of the org (ingest uses the org's new
/// data version); should a block with the number exist, the events are added to it.
pub fn add(t: &mut Blocks<'_>, org: u64, batch: u64, mut entries: Vec<Entry>) -> StoreResult<()> {
    entries.sort_unstable();
    let mut buf = Vec::new();
    for block in entries.chunk_by(|a, b| slot_of(a.at) == slot_of(b.at)) {
        let key = (org, slot_of(block[0].at), batch);
        let old = t
            .insert(key, codec::encode_to(&mut buf, &block)?)?
            .map(|v| codec::decode::<Vec<Entry>>(v.value()))
            .transpose()?;
        if let Some(mut merged) = old {
            merged.extend_from_slice(block);
            merged.sort_unstable();
            t.insert(key, codec::encode_to(&mut buf, &merged)?)?;
        }
    }
    Ok(())
}

/// The indexed events of `org`, newest first (ties in reverse kind and id order), until
/// `each` answers false.
pub fn newest_first<T>(
    t: &T,
    org: u64,
    mut each: impl FnMut(Entry) -> StoreResult<bool>,
) -> StoreResult<()>
where
    T: ReadableTable<Key, &'static [u8]>,
{
    let mut rows = t.range(org_range(org))?.rev();
    // The events of the slot being read: its blocks come newest batch first, but the events
    // of one slot are only in time order once all its blocks are merged.
    let mut slot: Option<i64> = None;
    let mut events: Vec<Entry> = Vec::new();
    loop {
        let row = rows.next().transpose()?;
        let next = row.as_ref().map(|(k, _)| k.value().1);
        if next != slot {
            events.sort_unstable_by(|a, b| b.cmp(a));
            for e in events.drain(..) {
                if !each(e)? {
                    return Ok(());
                }
            }
            slot = next;
        }
        match row {
            Some((_, v)) => events.extend(codec::decode::<Vec<Entry>>(v.value())?),
            None => return Ok(()),
        }
    }
}

/// Every indexed event of every org, block by block (`each(org, entry)`); for checks.
pub fn each<T>(t: &T, mut each: impl FnMut(u64, &Entry)) -> StoreResult<()>
where
    T: ReadableTable<Key, &'static [u8]>,
{
    for row in t.iter()? {
        let (k, v) = row?;
        for e in codec::decode::<Vec<Entry>>(v.value())? {
            each(k.value().0, &e);
        }
    }
    Ok(())
}

/// Take the events of `org` that occurred before `before` out of the index, oldest blocks
/// first, until at least `limit` are taken or none are left (whole blocks, so a call may take
/// up to one block more than `limit`). Returns them, for their events to be deleted.
pub fn take_before(
    t: &mut Blocks<'_>,
    org: u64,
    before: i64,
    limit: usize,
) -> StoreResult<Vec<Entry>> {
    // Blocks of earlier slots hold only older events; those of `before`'s own slot may hold
    // newer ones too, which stay.
    let mut found: Vec<(Key, Vec<Entry>)> = Vec::new();
    let mut n = 0;
    for row in t.range((org, i64::MIN, 0)..=(org, slot_of(before), u64::MAX))? {
        let (k, v) = row?;
        let entries: Vec<Entry> = codec::decode(v.value())?;
        let old = entries.iter().filter(|e| e.at < before).count();
        if old == 0 {
            continue;
        }
        n += old;
        found.push((k.value(), entries));
        if n >= limit {
            break;
        }
    }
    let mut taken = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for (key, entries) in found {
        let (old, kept): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| e.at < before);
        if kept.is_empty() {
            t.remove(key)?;
        } else {
            t.insert(key, codec::encode_to(&mut buf, &kept)?)?;
        }
        taken.extend(old);
    }
    Ok(taken)
}

/// Schema version 9: the per-event index rows of `old` (org, time, kind, id) become blocks,
/// and `old` is deleted. A file that never had `old` only gets the (empty) new table.
pub fn upgrade_from_rows(
    txn: &WriteTransaction,
    old: TableDefinition<(u64, i64, u8, &str), ()>,
) -> StoreResult<()> {
    // At most this many rows are moved in one `add`, so memory stays bounded.
    move_rows(txn, old, 100_000)
}

/// [`upgrade_from_rows`], `part_len` rows at a time (`add` merges a slot that two parts share).
fn move_rows(
    txn: &WriteTransaction,
    old: TableDefinition<(u64, i64, u8, &str), ()>,
    part_len: usize,
) -> StoreResult<()> {
    use redb::TableHandle;
    let mut blocks = txn.open_table(EVENT_BLOCKS)?;
    let had_old = txn.list_tables()?.any(|h| h.name() == old.name());
    if !had_old {
        return Ok(());
    }
    {
        // Rows come org by org; each org's are added as one batch, number 0 (ingest's start
        // at 1).
        let rows = txn.open_table(old)?;
        let mut part_org: Option<u64> = None;
        let mut part: Vec<Entry> = Vec::new();
        for row in rows.iter()? {
            let (k, _) = row?;
            let (org, at, kind, id) = k.value();
            if let Some(o) = part_org
                && (o != org || part.len() == part_len)
            {
                add(&mut blocks, o, 0, std::mem::take(&mut part))?;
            }
            part_org = Some(org);
            part.push(Entry {
                at,
                kind,
                id: id.to_string(),
            });
        }
        if let Some(o) = part_org {
            add(&mut blocks, o, 0, part)?;
        }
    }
    txn.delete_table(old)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, tables::EVENT_TIME};

    fn entry(at: i64, id: &str) -> Entry {
        Entry {
            at,
            kind: 0,
            id: id.into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        (dir, store)
    }

    fn newest(store: &Store, org: u64) -> Vec<Entry> {
        store
            .read(|t| {
                let mut v = Vec::new();
                newest_first(&t.open_table(EVENT_BLOCKS)?, org, |e| {
                    v.push(e);
                    Ok(true)
                })?;
                Ok(v)
            })
            .unwrap()
    }

    fn blocks(store: &Store) -> Vec<(Key, usize)> {
        store
            .read(|t| {
                let mut v = Vec::new();
                for row in t.open_table(EVENT_BLOCKS)?.iter()? {
                    let (k, e) = row?;
                    v.push((k.value(), codec::decode::<Vec<Entry>>(e.value())?.len()));
                }
                Ok(v)
            })
            .unwrap()
    }

    /// Batches add blocks per slot, numbered by batch; reading merges a slot's blocks into
    /// one time order, newest first, and keeps orgs apart.
    #[test]
    fn blocks_read_back_newest_first_across_batches() {
        let (_d, store) = store();
        let m = SLOT;
        let batches = [
            vec![entry(m + 5, "b"), entry(2 * m + 1, "c"), entry(m + 1, "a")],
            vec![entry(m + 3, "late"), entry(-m + 7, "before 1970")],
            vec![entry(m + 5, "b2"), entry(2 * m + 1, "c")],
        ];
        for (n, b) in batches.into_iter().enumerate() {
            store
                .write(|t| add(&mut t.open_table(EVENT_BLOCKS)?, 7, n as u64 + 1, b))
                .unwrap();
        }
        let other = vec![entry(m, "x")];
        store
            .write(|t| add(&mut t.open_table(EVENT_BLOCKS)?, 8, 1, other))
            .unwrap();
        // A batch number used again adds to its blocks.
        let again = vec![entry(m + 4, "again")];
        store
            .write(|t| add(&mut t.open_table(EVENT_BLOCKS)?, 7, 3, again))
            .unwrap();
        assert_eq!(
            blocks(&store),
            vec![
                ((7, -1, 2), 1),
                ((7, 1, 1), 2),
                ((7, 1, 2), 1),
                ((7, 1, 3), 2),
                ((7, 2, 1), 1),
                ((7, 2, 3), 1),
                ((8, 1, 1), 1),
            ]
        );
        let ids: Vec<String> = newest(&store, 7).into_iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            ["c", "c", "b2", "b", "again", "late", "a", "before 1970"].map(String::from)
        );
        assert_eq!(newest(&store, 8), vec![entry(m, "x")]);
        assert!(newest(&store, 9).is_empty());
    }

    /// Expiry takes whole blocks of older slots and the older part of the block that holds
    /// `before`, at least `limit` a call, and keeps the rest readable.
    #[test]
    fn taking_old_events_keeps_the_newer_part_of_a_block() {
        let (_d, store) = store();
        let m = SLOT;
        let mut all = Vec::new();
        for slot in 0..5 {
            for s in 0..3 {
                all.push(entry(slot * m + s * 10_000_000, &format!("e{slot}-{s}")));
            }
        }
        store
            .write(|t| add(&mut t.open_table(EVENT_BLOCKS)?, 1, 1, all.clone()))
            .unwrap();
        // Before the second event of slot 3: 3 + 3 + 3 + 1 events.
        let before = 3 * m + 10_000_000;
        let take = |limit| {
            store
                .write(|t| take_before(&mut t.open_table(EVENT_BLOCKS)?, 1, before, limit))
                .unwrap()
        };
        let first = take(4);
        assert_eq!(first.len(), 6, "two whole blocks reach the limit of 4");
        assert_eq!(first, all[..6].to_vec());
        let rest = take(100);
        assert_eq!(rest, all[6..10].to_vec());
        assert!(take(100).is_empty());
        let mut left = newest(&store, 1);
        left.reverse();
        assert_eq!(left, all[10..].to_vec());
        assert_eq!(blocks(&store).len(), 2);
    }

    /// A version-8 file's per-event rows become blocks with the same events, and the old
    /// table goes; a file without it only gains the new table.
    #[test]
    fn per_event_rows_are_moved_into_blocks() {
        for part_len in [100_000, 2] {
            per_event_rows_move(part_len);
        }
    }

    /// [`per_event_rows_are_moved_into_blocks`] with `part_len` rows moved at a time (2: the
    /// first slot's three rows are split between two parts).
    fn per_event_rows_move(part_len: usize) {
        let (_d, store) = store();
        let m = SLOT;
        let rows = [
            (1u64, m + 2, 0u8, "a"),
            (1, m + 2, 2, "a"),
            (1, m + 9, 0, "b"),
            (1, 3 * m, 1, "c"),
            (2, m + 1, 0, "z"),
        ];
        store
            .write(|t| {
                t.delete_table(EVENT_BLOCKS)?;
                let mut old = t.open_table(EVENT_TIME)?;
                for r in rows {
                    old.insert(r, ())?;
                }
                Ok(())
            })
            .unwrap();
        store.write(|t| move_rows(t, EVENT_TIME, part_len)).unwrap();
        assert_eq!(
            blocks(&store),
            vec![((1, 1, 0), 3), ((1, 3, 0), 1), ((2, 1, 0), 1)]
        );
        let mut got = newest(&store, 1);
        got.reverse();
        let want: Vec<Entry> = rows[..4]
            .iter()
            .map(|(_, at, kind, id)| Entry {
                at: *at,
                kind: *kind,
                id: id.to_string(),
            })
            .collect();
        assert_eq!(got, want);
        let names: Vec<String> = store
            .read(|t| {
                use redb::TableHandle;
                Ok(t.list_tables()?.map(|h| h.name().to_string()).collect())
            })
            .unwrap();
        assert!(!names.iter().any(|n| n == "event_time"), "{names:?}");
        // Again (as a file upgraded from version 1 would): nothing to move, nothing changes.
        store.write(|t| upgrade_from_rows(t, EVENT_TIME)).unwrap();
        assert_eq!(blocks(&store).len(), 3);
    }
}
