//! Search with tantivy. The index in `data/search/` is derived data: one indexer thread reads
//! the change log that every record's writer appends to in its own redb transaction
//! ([`crate::store::search`]), rebuilds the changed records' documents from redb and applies
//! them in batched commits, recording in each commit the last change sequence applied. At
//! start an index that is missing, damaged, of another version or file, or behind the log's
//! trimmed part is rebuilt in the background; one merely behind catches up. Queries always
//! carry the caller's org and what the caller may see (see [`query`]).

pub mod ask;
pub mod docs;
pub mod query;
pub mod schema;

use crate::config::SearchConfig;
use crate::store::{Store, StoreError, search as log};
use schema::{Fields, INDEX_VERSION};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tantivy::indexer::LogMergePolicy;
use tantivy::schema::TantivyDocument;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search index directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type SearchResult<T> = Result<T, SearchError>;

/// What an index commit records about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    /// [`INDEX_VERSION`] of the code that wrote it.
    version: u32,
    /// The data file's id (hex).
    file: String,
    /// The last change sequence applied.
    seq: u64,
    /// False while a rebuild is under way (a restart then starts it again).
    complete: bool,
}

impl Stamp {
    /// A stamp written by this version.
    fn new(file: &str, seq: u64, complete: bool) -> Stamp {
        Stamp {
            version: INDEX_VERSION,
            file: file.to_string(),
            seq,
            complete,
        }
    }
}

/// Where search stands, for the "catching up" notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Up to date with the data (within a commit interval).
    Ready,
    /// Rebuilding from the data (how far is not shown: the count covers every org).
    Rebuilding,
    /// Applying changes made while the server was down.
    CatchingUp,
}

struct Shared {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    status: Mutex<Status>,
    /// The last change sequence applied and visible to searches.
    applied: AtomicU64,
    stop: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The search index of one data file. Cheap to clone; the indexer stops when the last clone
/// is dropped or [`Search::stop`] is called.
#[derive(Clone)]
pub struct Search {
    shared: Arc<Shared>,
    _owner: Arc<StopOnDrop>,
}

/// The indexer's owner; `store` tells which data file it indexes.
struct StopOnDrop(Arc<Shared>, Weak<Store>);

/// The indexers running in this process, by index directory.
static RUNNING: Mutex<std::collections::BTreeMap<PathBuf, Weak<StopOnDrop>>> =
    Mutex::new(std::collections::BTreeMap::new());

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        stop(&self.0);
    }
}

fn stop(shared: &Shared) {
    shared.stop.store(true, Ordering::SeqCst);
    let handle = shared.thread.lock().map(|mut t| t.take()).ok().flatten();
    if let Some(h) = handle {
        h.thread().unpark();
        let _ = h.join();
    }
}

/// The index directory beside the data file.
pub fn dir_for(store: &Store) -> PathBuf {
    store
        .path()
        .parent()
        .map_or_else(|| PathBuf::from("search"), |d| d.join("search"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Open the index in `dir`, or make an empty one when it is missing or unreadable. Returns
/// the index and its last complete stamp.
fn open_or_create(dir: &Path) -> SearchResult<(Index, Option<Stamp>)> {
    let (schema, _) = schema::build();
    if let Ok(index) = Index::open_in_dir(dir) {
        schema::register(&index);
        let usable = index.schema() == schema && index.reader().is_ok();
        if usable {
            let stamp = index
                .load_metas()
                .ok()
                .and_then(|m| m.payload)
                .and_then(|p| serde_json::from_str::<Stamp>(&p).ok());
            return Ok((index, stamp));
        }
        tracing::warn!(dir = %dir.display(), "search index unreadable or of another schema; rebuilding");
    }
    Ok((create_empty(dir)?, None))
}

/// A new empty index in `dir` (whatever was there is removed).
fn create_empty(dir: &Path) -> SearchResult<Index> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let index = Index::create_in_dir(dir, schema::build().0)?;
    schema::register(&index);
    Ok(index)
}

fn writer(index: &Index, cfg: &SearchConfig) -> SearchResult<IndexWriter<TantivyDocument>> {
    const PER_THREAD_MIN: usize = 15_000_000;
    let budget = usize::try_from(cfg.writer_mb << 20)
        .unwrap_or(usize::MAX)
        .max(PER_THREAD_MIN);
    let threads = (budget / PER_THREAD_MIN).clamp(1, 2);
    let w = index.writer_with_num_threads(threads, budget)?;
    w.set_merge_policy(merge_policy());
    Ok(w)
}

/// Few, larger segments: merge as soon as 4 segments of a size class exist, so a steady trickle
/// of small commits keeps the segment count low (it stays well under 30).
fn merge_policy() -> Box<LogMergePolicy> {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(4);
    policy.set_del_docs_ratio_before_merge(0.3);
    Box::new(policy)
}

/// Whether an index stamped `stamp` can catch up with the data from its sequence.
fn can_catch_up(stamp: &Stamp, file: &str, last: u64, trimmed: u64) -> bool {
    stamp.complete
        && stamp.version == INDEX_VERSION
        && stamp.file == file
        && stamp.seq <= last
        && stamp.seq >= trimmed
}

fn file_hex(store: &Store) -> SearchResult<(String, u64, u64)> {
    Ok(store.read(|t| {
        let id = log::file_id(t)?.unwrap_or(0);
        Ok((
            format!("{id:032x}"),
            log::last_seq(t)?,
            log::trimmed_through(t)?,
        ))
    })?)
}

fn commit(w: &mut IndexWriter<TantivyDocument>, stamp: &Stamp) -> SearchResult<()> {
    let mut prepared = w.prepare_commit()?;
    prepared.set_payload(&serde_json::to_string(stamp).unwrap_or_default());
    prepared.commit()?;
    Ok(())
}

fn to_tantivy(f: &Fields, d: &docs::Doc) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.uid, docs::uid(d.org, d.kind, &d.key));
    doc.add_u64(f.org, d.org.0);
    doc.add_u64(f.kind, d.kind as u64);
    doc.add_text(f.key, &d.key);
    doc.add_text(f.title, &d.title);
    doc.add_text(f.text, &d.text);
    for e in &d.exact {
        doc.add_text(f.exact, e);
    }
    doc.add_text(f.line, &d.line);
    if let Some(o) = d.owner {
        doc.add_text(f.owner, o.to_string());
    }
    if let Some(s) = &d.stage {
        doc.add_text(f.stage, s);
    }
    if let Some(t) = &d.tier {
        doc.add_text(f.tier, t);
    }
    doc.add_i64(f.updated, d.updated.0);
    doc.add_u64(f.weight, d.weight);
    doc
}

/// Index every record of the data file from scratch into `w` (emptied first), committing as it
/// goes; `progress(done, total)` is told about every 10,000 records. Returns the sequence the
/// index is complete up to.
fn rebuild(
    store: &Store,
    fields: &Fields,
    w: &mut IndexWriter<TantivyDocument>,
    file: &str,
    stop: &AtomicBool,
    mut progress: impl FnMut(u64, u64),
) -> SearchResult<u64> {
    w.delete_all_documents()?;
    let txn_result: Result<u64, SearchError> = (|| {
        let txn = store.begin_read()?;
        let seq = log::last_seq(&txn)?;
        let total = count_records(&txn)?;
        progress(0, total);
        let mut done = 0u64;
        let mut failed: Option<SearchError> = None;
        docs::each(&txn, |d| {
            if failed.is_some() {
                return;
            }
            if stop.load(Ordering::Relaxed) {
                failed = Some(
                    tantivy::TantivyError::InternalError(
                        "stopped before the rebuild finished".into(),
                    )
                    .into(),
                );
                return;
            }
            if let Err(e) = w.add_document(to_tantivy(fields, &d)) {
                failed = Some(e.into());
            }
            done += 1;
            if done.is_multiple_of(PARTIAL_COMMIT) {
                // What is indexed so far becomes searchable (stamped incomplete: a restart
                // starts the rebuild again).
                if let Err(e) = commit(w, &Stamp::new(file, 0, false)) {
                    failed = Some(e);
                }
            }
            if done.is_multiple_of(10_000) {
                progress(done, total);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        progress(done, total);
        Ok(seq)
    })();
    let seq = txn_result?;
    commit(w, &Stamp::new(file, seq, true))?;
    Ok(seq)
}

/// How many records a rebuild indexes (for progress).
fn count_records(txn: &redb::ReadTransaction) -> SearchResult<u64> {
    use crate::store::tables::*;
    fn len<K: redb::Key + 'static, V: redb::Value + 'static>(
        txn: &redb::ReadTransaction,
        def: redb::TableDefinition<K, V>,
    ) -> SearchResult<u64> {
        use redb::ReadableTableMetadata;
        match crate::store::open_existing(txn, def)? {
            Some(t) => Ok(t.len().map_err(StoreError::from)?),
            None => Ok(0),
        }
    }
    Ok(len(txn, USERS)?
        + len(txn, PARTNERS)?
        + len(txn, OPPORTUNITIES)?
        + len(txn, CUSTOMERS)?
        + len(txn, PRODUCTS)?)
}

/// Rebuild the index of `store` offline (`salesboard reindex`): the directory is emptied and
/// every record indexed. Returns the number of records read.
pub fn reindex(
    store: &Store,
    cfg: &SearchConfig,
    mut progress: impl FnMut(u64, u64),
) -> SearchResult<u64> {
    let index = create_empty(&dir_for(store))?;
    let (_, fields) = schema::build();
    let mut w = writer(&index, cfg)?;
    let (file, _, _) = file_hex(store)?;
    let mut total = 0;
    rebuild(
        store,
        &fields,
        &mut w,
        &file,
        &AtomicBool::new(false),
        |d, t| {
            total = t;
            progress(d, t)
        },
    )?;
    w.wait_merging_threads()?;
    Ok(total)
}

impl Search {
    /// Open the index beside `store`'s file and start the indexer thread (which rebuilds or
    /// catches up in the background as needed). Every committed write of `store` wakes it.
    pub fn start(store: &Arc<Store>, cfg: &SearchConfig) -> SearchResult<Search> {
        let dir = dir_for(store);
        // One indexer per index: a second state on the same data (benchmarks build several)
        // shares the running one.
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, w| w.strong_count() > 0);
        if let Some(owner) = running.get(&dir).and_then(Weak::upgrade) {
            if !owner.0.stop.load(Ordering::SeqCst)
                && Weak::ptr_eq(&owner.1, &Arc::downgrade(store))
            {
                return Ok(Search {
                    shared: owner.0.clone(),
                    _owner: owner,
                });
            }
            // an indexer of a store that was closed and opened again: stop it first
            stop(&owner.0);
        }
        let (mut index, stamp) = open_or_create(&dir)?;
        let (_, fields) = schema::build();
        let (file, last, trimmed) = file_hex(store)?;
        let from = stamp
            .as_ref()
            .filter(|s| can_catch_up(s, &file, last, trimmed))
            .map(|s| s.seq);
        if from.is_none() && stamp.is_some() {
            // An index of another file, version or moment must not answer even while the
            // rebuild runs (its org ids may be another file's orgs): start from empty.
            tracing::info!(dir = %dir.display(), ?stamp, "search index does not match the data file; rebuilding");
            drop(index);
            index = create_empty(&dir)?;
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let status = match from {
            None => Status::Rebuilding,
            Some(seq) if seq < last => Status::CatchingUp,
            Some(_) => Status::Ready,
        };
        let shared = Arc::new(Shared {
            index,
            reader,
            fields,
            status: Mutex::new(status),
            applied: AtomicU64::new(from.unwrap_or(0)),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        // Made here, so at this thread's priority, not the indexer's.
        let trimmer = Trimmer::spawn(Arc::downgrade(store)).map_err(io(&dir))?;
        let (task_shared, task_store, task_cfg, rebuild) = (
            shared.clone(),
            Arc::downgrade(store),
            cfg.clone(),
            from.is_none(),
        );
        // The writer is made on the indexer's own thread, after it lowered its priority, so
        // that tantivy's indexing and merging threads (started by the writer) inherit it; a
        // failure (the index locked by another process) is still this call's error.
        let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || {
                background_priority();
                let w = match writer(&task_shared.index, &task_cfg) {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let _ = opened_tx.send(Ok(()));
                Indexer {
                    shared: task_shared,
                    store: task_store,
                    writer: w,
                    lock_lost: false,
                    interval: task_cfg.commit_interval,
                    cfg: task_cfg,
                    file,
                    rebuild,
                    last_trim: Instant::now(),
                    trimmer,
                }
                .run();
            })
            .map_err(io(&dir))?;
        opened_rx.recv().unwrap_or_else(|_| {
            Err(SearchError::Io {
                path: dir.clone(),
                source: std::io::Error::other("the search indexer thread ended at start"),
            })
        })?;
        let wake = handle.thread().clone();
        store.on_commit(Box::new(move || wake.unpark()));
        *shared.thread.lock().expect("not poisoned") = Some(handle);
        let owner = Arc::new(StopOnDrop(shared.clone(), Arc::downgrade(store)));
        running.insert(dir, Arc::downgrade(&owner));
        Ok(Search {
            _owner: owner,
            shared,
        })
    }

    pub fn status(&self) -> Status {
        *self.shared.status.lock().expect("not poisoned")
    }

    /// The last change sequence whose documents searches see.
    pub fn applied(&self) -> u64 {
        self.shared.applied.load(Ordering::SeqCst)
    }

    /// Stop the indexer (what is committed stays; the rest is applied at the next start).
    pub fn stop(&self) {
        stop(&self.shared);
    }

    /// Number of index segments (kept bounded by the merge policy).
    pub fn segments(&self) -> usize {
        self.shared
            .index
            .searchable_segment_ids()
            .map_or(0, |s| s.len())
    }
}

fn set_status(shared: &Shared, s: Status) {
    if let Ok(mut g) = shared.status.lock() {
        *g = s;
    }
}

/// Lower the calling thread's scheduling priority (Linux nice values are per thread, and
/// threads it starts inherit it): indexing and merging then take the CPU the request
/// handlers and the live fan-out leave idle instead of competing with them. On a 2-core
/// machine a commit of even one sale costs tens of milliseconds of CPU (tantivy starts a
/// fresh segment writer), which otherwise lands in the middle of a dashboard update.
fn background_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!(error = %e, "could not lower the search indexer's priority");
    }
}

/// Trims the change log of what the index has applied, on a thread of normal priority: a trim
/// is a write transaction, and a low-priority thread holding the data file's write lock on a
/// busy machine would hold up ingest. Dropping it waits for a trim in progress.
struct Trimmer {
    tx: Option<std::sync::mpsc::Sender<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trimmer {
    fn spawn(store: std::sync::Weak<Store>) -> std::io::Result<Trimmer> {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let thread = std::thread::Builder::new()
            .name("search-log-trim".into())
            .spawn(move || {
                while let Ok(mut through) = rx.recv() {
                    // Only the latest matters.
                    while let Ok(later) = rx.try_recv() {
                        through = through.max(later);
                    }
                    let Some(store) = store.upgrade() else {
                        return;
                    };
                    if let Err(e) = store.write(|t| log::trim_through(t, through)) {
                        tracing::warn!(error = %e, "trimming the search change log failed; it is tried again later");
                    }
                }
            })?;
        Ok(Trimmer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn trim_through(&self, seq: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(seq);
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The indexer thread.
struct Indexer {
    shared: Arc<Shared>,
    store: Weak<Store>,
    writer: IndexWriter<TantivyDocument>,
    /// The writer gave up its directory lock in a failed rollback.
    lock_lost: bool,
    cfg: SearchConfig,
    file: String,
    interval: Duration,
    rebuild: bool,
    last_trim: Instant,
    trimmer: Trimmer,
}

/// A rebuild commits (and shows) what it has indexed every this many records.
const PARTIAL_COMMIT: u64 = 200_000;

/// Changes read per commit at most.
const BATCH: usize = 20_000;
/// The log is trimmed when this many applied changes are in it, or this often.
const TRIM_AFTER: u64 = 50_000;
const TRIM_EVERY: Duration = Duration::from_secs(60);

impl Indexer {
    fn run(mut self) {
        let stopping = |s: &Shared| s.stop.load(Ordering::SeqCst);
        while self.rebuild && !stopping(&self.shared) {
            let Some(store) = self.store.upgrade() else {
                return;
            };
            let shared = self.shared.clone();
            let started = Instant::now();
            match rebuild(
                &store,
                &shared.fields,
                &mut self.writer,
                &self.file,
                &shared.stop,
                |_, _| {
                    // shows a partial commit once there is one (a no-op otherwise)
                    let _ = shared.reader.reload();
                },
            ) {
                Ok(seq) => {
                    self.shared.applied.store(seq, Ordering::SeqCst);
                    let _ = self.shared.reader.reload();
                    tracing::info!(
                        seq,
                        took_ms = started.elapsed().as_millis() as u64,
                        "search index rebuilt"
                    );
                    self.rebuild = false;
                    set_status(&self.shared, Status::CatchingUp);
                }
                Err(e) => {
                    drop(store);
                    self.reset_writer(&e);
                    if !stopping(&self.shared) {
                        tracing::error!(error = %e, "search index rebuild failed; trying again in 10 s");
                        std::thread::park_timeout(Duration::from_secs(10));
                    }
                }
            }
        }
        while !stopping(&self.shared) {
            let Some(store) = self.store.upgrade() else {
                break;
            };
            match self.step(&store) {
                Ok(0) => {
                    set_status(&self.shared, Status::Ready);
                    drop(store);
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                Ok(_) => {
                    drop(store);
                    // Changes arriving meanwhile go in the next commit together: wait out the
                    // interval (commits wake this thread; those wake-ups do not end the wait).
                    let until = Instant::now() + self.interval;
                    while !stopping(&self.shared) {
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        std::thread::park_timeout(left);
                    }
                }
                Err(e) => {
                    drop(store);
                    self.reset_writer(&e);
                    // Searches go on from the last commit; the notice says they may lag.
                    set_status(&self.shared, Status::CatchingUp);
                    tracing::error!(error = %e, "search indexer step failed; retrying (a restart rebuilds a damaged index)");
                    std::thread::park_timeout(Duration::from_secs(1));
                }
            }
        }
        let _ = self.writer.wait_merging_threads();
    }

    /// After a failed step on the index (not on the data file): drop what was added since the
    /// last commit. A writer whose worker failed (the disk filled up) refuses everything from
    /// then on; rolling back replaces it with a fresh one on the last commit, so indexing
    /// resumes once the disk has room.
    fn reset_writer(&mut self, e: &SearchError) {
        if matches!(e, SearchError::Store(_)) {
            return;
        }
        if !self.lock_lost {
            match self.writer.rollback() {
                // a rolled-back writer has tantivy's default merge policy
                Ok(_) => return self.writer.set_merge_policy(merge_policy()),
                Err(e) => {
                    // The failed rollback gave up the directory lock (rolling back again would
                    // panic): a new writer takes it.
                    tracing::warn!(error = %e, "resetting the search index writer failed; opening a new one");
                    self.lock_lost = true;
                }
            }
        }
        match writer(&self.writer.index().clone(), &self.cfg) {
            Ok(w) => {
                self.writer = w;
                self.lock_lost = false;
            }
            Err(e) => {
                tracing::error!(error = %e, "opening a new search index writer failed; trying again")
            }
        }
    }

    /// Apply the next batch of changes. Returns how many were applied.
    fn step(&mut self, store: &Store) -> SearchResult<usize> {
        let applied = self.shared.applied.load(Ordering::SeqCst);
        let (changes, read, trimmed, work) = store.read(|t| {
            let (changes, read) = log::changes_after(t, applied, BATCH)?;
            let mut seen = std::collections::HashSet::new();
            let mut pipelines = Default::default();
            let mut work = Vec::new();
            for c in &changes {
                if seen.insert((c.org, c.kind, c.key.as_str())) {
                    docs::for_change(t, c, &mut pipelines, &mut work)?;
                }
            }
            Ok((changes, read, log::trimmed_through(t)?, work))
        })?;
        if read == applied {
            return Ok(0);
        }
        let last = read;
        let f = self.shared.fields;
        for (uid, doc) in &work {
            self.writer.delete_term(Term::from_field_text(f.uid, uid));
            if let Some(d) = doc {
                self.writer.add_document(to_tantivy(&f, d))?;
            }
        }
        commit(&mut self.writer, &Stamp::new(&self.file, last, true))?;
        self.shared.reader.reload()?;
        self.shared.applied.store(last, Ordering::SeqCst);
        metrics::counter!("salesboard_search_documents_applied_total").increment(work.len() as u64);
        if last - trimmed >= TRIM_AFTER || self.last_trim.elapsed() >= TRIM_EVERY {
            self.trimmer.trim_through(last);
            self.last_trim = Instant::now();
        }
        Ok(changes.len().max(1))
    }
}
