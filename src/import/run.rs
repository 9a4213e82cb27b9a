//! Importing a file straight into the data file (the `import` command): each chunk is stored
//! in one transaction together with a checkpoint, so an interrupted import resumes where it
//! stopped, and re-running a finished import adds nothing (events are idempotent as well).

use super::{Chunk, ErrorFile, Format, read};
use crate::domain::org::Org;
use crate::store::{Store, codec, sales, tables::IMPORTS};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// How far an import of one file has come (stored per org and file content).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub rows_done: u64,
    pub rows: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub skipped: u64,
    pub complete: bool,
}

/// Events per write transaction (and per resumable checkpoint, about a second of work) of a
/// command-line import. On 1M rows (`cargo bench --bench import`, SB_BENCH_CHUNK) 20,000,
/// 50,000 and 100,000 measured alike within this machine's run-to-run spread (87k-112k
/// rows/s); fewer commits mean fewer fsyncs on slower disks.
pub const CHUNK_EVENTS: usize = 50_000;

pub struct Options {
    /// `None`: guess from the first line.
    pub format: Option<Format>,
    pub dry_run: bool,
    /// Where row errors are written as CSV (line, column, code, message).
    pub errors_path: PathBuf,
    pub chunk_events: usize,
    /// Exchange rates for amounts in other currencies.
    pub rates: crate::domain::money::Rates,
    /// Events before this are refused (raw-event retention).
    pub oldest: Option<crate::domain::Ts>,
}

pub struct Report {
    pub format: Format,
    /// Rows skipped because an earlier run had stored them already.
    pub resumed_at: u64,
    /// The whole file's totals (including earlier runs).
    pub total: Progress,
    /// The file had been imported completely before: nothing was read.
    pub already_done: bool,
    /// Set when this run found row errors.
    pub errors_file: Option<PathBuf>,
    pub seconds: f64,
}

/// The first line of a file (for guessing its format).
pub fn first_line(path: &Path) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut line = String::new();
    BufReader::new(f)
        .take(64 * 1024)
        .read_line(&mut line)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(line)
}

fn fingerprint(path: &Path, format: Format) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    let d = h.finalize();
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{hex}:{}", format.name()))
}

fn load(store: &Store, org: &Org, key: &str) -> anyhow::Result<Option<Progress>> {
    Ok(store.read(|t| {
        let table = t.open_table(IMPORTS)?;
        let found = table.get((org.id.0, key))?;
        Ok(found.map(|v| codec::decode(v.value())).transpose()?)
    })?)
}

/// Store one chunk and its checkpoint, and add its row errors to the report; `total` becomes
/// the totals after it.
///
/// The report rows are durable before the commit, so a stored chunk's errors are never
/// missing from the report: a failed commit cuts them off again at once, and after a crash
/// in between, the resumed run drops them before the chunk is read again.
fn store_chunk(
    store: &Store,
    org: &Org,
    key: &str,
    opts: &Options,
    errors: &mut ErrorFile,
    total: &mut Progress,
    c: &Chunk,
) -> anyhow::Result<()> {
    if let Some(line) = c.resumed_at_line {
        errors.drop_from_line(line)?;
    }
    let mut next = total.clone();
    next.rows_done = c.rows_done;
    next.rows += c.rows;
    next.errors += c.errors.len() as u64;
    next.skipped += c.skipped;
    let mark = errors.len()?;
    errors.write(&c.errors)?;
    if opts.dry_run {
        next.accepted += c.events.len() as u64;
        *total = next;
        return Ok(());
    }
    if !c.errors.is_empty() {
        errors.sync()?;
    }
    let stored = store.write_bulk(|txn| {
        let applied = sales::apply(txn, org, &c.events)?;
        let accepted = sales::accepted(&applied) as u64;
        next.accepted += accepted;
        next.duplicates += applied.len() as u64 - accepted;
        txn.open_table(IMPORTS)?
            .insert((org.id.0, key), codec::encode(&next)?.as_slice())?;
        Ok(())
    });
    match stored {
        Ok(()) => {
            *total = next;
            Ok(())
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            match errors.truncate(mark) {
                Ok(()) => Err(e),
                Err(t) => Err(e.context(format!("{t:#}"))),
            }
        }
    }
}

/// Import `path` into `org`. `progress` is called after each chunk with (bytes read, rows).
pub fn import_file(
    store: &Store,
    org: &Org,
    path: &Path,
    opts: &Options,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let format = match opts.format {
        Some(f) => f,
        None => Format::guess(&first_line(path)?),
    };
    let key = fingerprint(path, format)?;
    let before = if opts.dry_run {
        None
    } else {
        load(store, org, &key)?
    };
    if let Some(p) = before.as_ref().filter(|p| p.complete) {
        return Ok(Report {
            format,
            resumed_at: p.rows_done,
            total: p.clone(),
            already_done: true,
            errors_file: None,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let resuming = before.is_some();
    let mut total = before.unwrap_or_default();
    let resumed_at = total.rows_done;
    if !resuming && opts.errors_path.exists() {
        // A report left by an earlier, unrelated run would mislead.
        std::fs::remove_file(&opts.errors_path).ok();
    }
    let mut errors = ErrorFile::new(opts.errors_path.clone(), resuming);
    let mut found_errors = false;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let intake = crate::domain::events::Intake {
        currency: &org.currency,
        rates: &opts.rates,
        oldest: opts.oldest,
    };
    // The file is parsed on a thread of its own while the chunk before is written (parsing
    // is about a fifth of the work; on two cores it costs no time then). One chunk waits at
    // most: memory stays at about three chunks.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(1);
        let intake = &intake;
        let reader = std::thread::Builder::new()
            .name("import-read".into())
            .spawn_scoped(scope, move || {
                read(format, file, intake, resumed_at, opts.chunk_events, |c| {
                    tx.send(c)
                        .map_err(|_| anyhow::anyhow!("the import stopped writing"))
                })
            })
            .context("starting the import's reader thread")?;
        let mut failed = None;
        for c in rx.iter() {
            if let Err(e) = store_chunk(store, org, &key, opts, &mut errors, &mut total, &c) {
                failed = Some(e);
                break;
            }
            found_errors |= !c.errors.is_empty();
            progress(c.bytes, total.rows);
        }
        // Stops the reader at its next chunk, if it is still reading.
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(e) => Err(e),
            None => Ok(read?),
        }
    })?;
    total.complete = true;
    if !opts.dry_run {
        store.write(|txn| {
            txn.open_table(IMPORTS)?
                .insert((org.id.0, key.as_str()), codec::encode(&total)?.as_slice())?;
            Ok(())
        })?;
    }
    let errors_file =
        (found_errors || (resuming && total.errors > 0)).then(|| opts.errors_path.clone());
    Ok(Report {
        format,
        resumed_at,
        total,
        already_done: false,
        errors_file,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ts;
    use crate::domain::org::NewOrg;
    use crate::store::orgs;

    /// A store with one org, an orders CSV of 100 orders with `lines` lines each, and import
    /// options for chunks of 10 events.
    fn setup(lines: usize) -> (tempfile::TempDir, Store, Org, PathBuf, Options) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("i.redb")).unwrap();
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("I", "UTC", "USD").unwrap(), Ts(0)))
            .unwrap();
        let file = dir.path().join("o.csv");
        let mut text = String::from("order_id,occurred_at,sku,quantity,unit_price\n");
        for i in 0..100 {
            for l in 1..=lines {
                text.push_str(&format!("O{i},2026-11-02T10:00:00Z,S{l},1,{l}.00\n"));
            }
        }
        std::fs::write(&file, &text).unwrap();
        let opts = Options {
            format: None,
            dry_run: false,
            errors_path: dir.path().join("o.errors.csv"),
            chunk_events: 10,
            rates: Default::default(),
            oldest: None,
        };
        (dir, store, org, file, opts)
    }

    /// Import with the disk "full" after `chunks` chunks: the next commit fails. Returns the
    /// outcome and how many chunks were stored.
    fn import_failing_after(
        chunks: usize,
        store: &Store,
        org: &Org,
        file: &Path,
        opts: &Options,
    ) -> (anyhow::Result<Report>, usize) {
        let mut written = 0;
        let outcome = import_file(store, org, file, opts, |_, _| {
            written += 1;
            if written == chunks {
                store.set_min_free(u64::MAX);
            }
        });
        (outcome, written)
    }

    /// Orders in the org's daily rollups.
    fn orders(store: &Store, org: &Org) -> i64 {
        store
            .read(|t| sales::day_rollups(t, org.id))
            .unwrap()
            .iter()
            .map(|r| r.2.orders)
            .sum()
    }

    /// A write that fails part way (here: the disk is "full") stops the import, and its reader
    /// with it; what was committed stays, with its checkpoint, and a new run resumes there.
    #[test]
    fn a_failed_write_stops_the_import_and_a_new_run_resumes_after_the_last_commit() {
        let (_dir, store, org, file, opts) = setup(1);
        let (failed, written) = import_failing_after(3, &store, &org, &file, &opts);
        assert!(failed.is_err());
        assert_eq!(written, 3);
        assert_eq!(orders(&store, &org), 30);

        store.set_min_free(0);
        let resumed = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert_eq!(resumed.resumed_at, 30);
        assert_eq!((resumed.total.accepted, resumed.total.duplicates), (100, 0));
        assert_eq!(orders(&store, &org), 100);
    }

    /// An import cut off after some chunks (its checkpoint says so) continues from there,
    /// stores nothing twice, and ends with the same data as an uninterrupted one.
    #[test]
    fn an_interrupted_import_resumes_from_its_checkpoint() {
        let (_dir, store, org, file, opts) = setup(2);
        let full = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert_eq!(full.total.accepted, 100);
        assert_eq!(full.total.rows, 200);
        // Pretend the run stopped after the chunk that ended at row 60 (30 orders).
        let key = fingerprint(&file, Format::OrdersCsv).unwrap();
        let cut = Progress {
            rows_done: 60,
            rows: 60,
            accepted: 30,
            ..Default::default()
        };
        put_checkpoint(&store, &org, &key, &cut);
        let mut calls = 0;
        let resumed = import_file(&store, &org, &file, &opts, |_, _| calls += 1).unwrap();
        assert_eq!(resumed.resumed_at, 60);
        assert_eq!(resumed.total.rows, 200);
        // The remaining 70 orders were already stored by the full run: duplicates, not new.
        assert_eq!((resumed.total.accepted, resumed.total.duplicates), (30, 70));
        assert_eq!(calls, 7, "only the rest of the file was read");
        let again = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert!(again.already_done);
        assert_eq!(orders(&store, &org), 100);
    }

    /// Make every seventh order's price unreadable (a row error in most chunks).
    fn spoil_some_rows(file: &Path) {
        let text = std::fs::read_to_string(file).unwrap();
        let spoilt: Vec<String> = text
            .lines()
            .map(|l| {
                let order: Option<usize> = l.split(',').next().and_then(|o| o[1..].parse().ok());
                match order {
                    Some(i) if i % 7 == 3 => l.replace(".00", ".0x"),
                    _ => l.to_string(),
                }
            })
            .collect();
        std::fs::write(file, spoilt.join("\n") + "\n").unwrap();
    }

    /// The report of an import of the same file, run once without interruption.
    fn whole_report(lines: usize) -> String {
        let (_dir, store, org, file, opts) = setup(lines);
        spoil_some_rows(&file);
        let r = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert_eq!(r.total.errors, 14, "one error per spoilt order");
        std::fs::read_to_string(&opts.errors_path).unwrap()
    }

    /// Set the stored checkpoint of the import of `key` (as a run that stopped there left it).
    fn put_checkpoint(store: &Store, org: &Org, key: &str, p: &Progress) {
        store
            .write(|t| {
                t.open_table(IMPORTS)?
                    .insert((org.id.0, key), codec::encode(p)?.as_slice())?;
                Ok(())
            })
            .unwrap();
    }

    fn stored(store: &Store, org: &Org, file: &Path) -> Progress {
        let key = fingerprint(file, Format::OrdersCsv).unwrap();
        load(store, org, &key).unwrap().unwrap()
    }

    /// A chunk whose commit fails takes its rows out of the report again: the report lists
    /// exactly the errors of the stored chunks, and the resumed run completes it.
    #[test]
    fn a_failed_commit_leaves_the_report_as_the_stored_chunks_had_it() {
        let whole = whole_report(2);
        let (_dir, store, org, file, opts) = setup(2);
        spoil_some_rows(&file);
        let (failed, _) = import_failing_after(4, &store, &org, &file, &opts);
        assert!(failed.is_err());
        let kept = stored(&store, &org, &file);
        let report = std::fs::read_to_string(&opts.errors_path).unwrap();
        assert!(kept.errors > 0);
        assert_eq!(
            kept.rows, kept.rows_done,
            "the checkpoint counts the rows it covers"
        );
        assert_eq!(report.lines().count() as u64, 1 + kept.errors, "{report}");
        assert!(whole.starts_with(&report));

        // A resumed run whose first chunk (with a bad row) cannot be stored either leaves the
        // report as it was (the disk is still "full").
        assert!(import_file(&store, &org, &file, &opts, |_, _| {}).is_err());
        assert_eq!(stored(&store, &org, &file), kept);
        assert_eq!(std::fs::read_to_string(&opts.errors_path).unwrap(), report);

        store.set_min_free(0);
        let resumed = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert_eq!(resumed.total.errors, 14);
        assert_eq!(
            resumed.total.rows, 200,
            "every row counted once over both runs"
        );
        assert_eq!(std::fs::read_to_string(&opts.errors_path).unwrap(), whole);
    }

    /// A run that stopped after writing a chunk's report rows but before committing the chunk
    /// (here: the checkpoint is put back, and the last row is cut short as a crash would)
    /// leaves rows the resumed run drops before it reads that chunk again: no row is reported
    /// twice or lost.
    #[test]
    fn rows_reported_for_a_chunk_never_committed_are_not_reported_twice() {
        let whole = whole_report(2);
        let (_dir, store, org, file, opts) = setup(2);
        spoil_some_rows(&file);
        import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        // Back to the checkpoint after row 60 (30 orders), with the report as it would be if
        // the run had crashed while writing the next chunk's rows.
        let key = fingerprint(&file, Format::OrdersCsv).unwrap();
        let errors_before = whole
            .lines()
            .skip(1)
            .filter(|l| l.split(',').next().unwrap().parse::<u64>().unwrap() <= 61)
            .count() as u64;
        let cut = Progress {
            rows_done: 60,
            rows: 60,
            accepted: 26,
            errors: errors_before,
            ..Default::default()
        };
        put_checkpoint(&store, &org, &key, &cut);
        let torn = &whole[..whole.len() - 9];
        std::fs::write(&opts.errors_path, torn).unwrap();

        let resumed = import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        assert_eq!(resumed.resumed_at, 60);
        assert_eq!(resumed.total.errors, 14);
        assert_eq!(std::fs::read_to_string(&opts.errors_path).unwrap(), whole);

        // A report cut inside its header starts again with one.
        let (_dir, store, org, file, opts) = setup(2);
        spoil_some_rows(&file);
        import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        put_checkpoint(&store, &org, &key, &cut);
        std::fs::write(&opts.errors_path, "line,col").unwrap();
        import_file(&store, &org, &file, &opts, |_, _| {}).unwrap();
        let rest: String = whole
            .lines()
            .filter(|l| {
                l.split(',')
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .is_ok_and(|l| l > 61)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            std::fs::read_to_string(&opts.errors_path).unwrap(),
            format!("line,column,code,message\n{rest}")
        );
    }
}
