//! The redb store. Every key that holds tenant data starts with the org id, and every function
//! that reads or writes tenant data takes the [`OrgId`] it is scoped to, so a scan can never
//! cross into another org. No HTTP types here.

pub mod apikeys;
pub mod audit;
pub mod backup;
pub mod codec;
pub mod event_times;
pub mod integrity;
pub mod migrate;
pub mod orgs;
pub mod partners;
pub mod pipeline;
pub mod sales;
pub mod search;
pub mod sessions;
pub mod tables;
pub mod teams;
pub mod users;

use crate::domain::Invalid;
use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data file {0} is in use by another salesboard process (is the server running?). \
         Stop it first, or use the web UI / API while it runs."
    )]
    AlreadyOpen(PathBuf),
    #[error(
        "the data file {path} has schema version {found}, newer than this salesboard supports \
         ({supported}). Upgrade salesboard, or restore a backup made by this version."
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the data file {path} is damaged or is not a salesboard data file ({detail}). \
         It has not been changed. Restore it from a backup (salesboard restore FILE)."
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("stored value is unreadable: {0}")]
    Codec(#[from] CodecError),
    #[error("storage: {0}")]
    Db(#[from] redb::Error),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A write refused before it started because the disk is (nearly) full.
    #[error(
        "the disk holding {path} has {free} bytes free, less than the {reserve} bytes kept in \
         reserve; nothing was written"
    )]
    Full {
        path: PathBuf,
        free: u64,
        reserve: u64,
    },
    /// The data file is being reopened after a disk error (see [`Store`]).
    #[error("the data file is being reopened after a disk error")]
    Reopening,
}

impl StoreError {
    /// The disk failed under redb (a write or read of the file itself). redb then refuses every
    /// later operation on that open database until it is closed and opened again.
    pub fn is_disk_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// No space was left on the disk (refused by the reserve check, or by the disk itself: full,
    /// over quota, or the file at its size limit).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Full { .. } => true,
            StoreError::Db(redb::Error::Io(e)) => out_of_space(e),
            _ => false,
        }
    }

    /// The data file cannot be used for a moment: it is being reopened after a disk error (or
    /// a read was still running on the database that was closed for that).
    pub fn is_reopening(&self) -> bool {
        matches!(
            self,
            StoreError::Reopening
                | StoreError::Db(redb::Error::PreviousIo | redb::Error::DatabaseClosed)
        )
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type StoreResult<T> = Result<T, StoreError>;

/// Read access shared by read and write transactions, so repo read functions serve both.
pub trait ReadTx {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static>: redb::ReadableTable<K, V>
    where
        Self: 'a;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> StoreResult<Self::Table<'_, K, V>>;
}

impl ReadTx for ReadTransaction {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static> = redb::ReadOnlyTable<K, V>;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> StoreResult<redb::ReadOnlyTable<K, V>> {
        Ok(self.open_table(def)?)
    }
}

impl ReadTx for WriteTransaction {
    type Table<'a, K: redb::Key + 'static, V: redb::Value + 'static> = redb::Table<'a, K, V>;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: redb::TableDefinition<K, V>,
    ) -> StoreResult<redb::Table<'_, K, V>> {
        Ok(self.open_table(def)?)
    }
}

/// Why the data file at `path` could not be opened, in the store's terms.
fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen(path.to_path_buf()),
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() != std::io::ErrorKind::InvalidData =>
        {
            StoreError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
        other => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// A data file opened for reading only, by the command line while the server is stopped
/// (backup, verify): nothing is created or upgraded.
pub struct ReadOnlyFile {
    // declared first: dropped before the database it reads
    pub txn: ReadTransaction,
    /// The file had been left by a killed process: redb's crash recovery ran first (as at every
    /// start), which writes to it.
    pub recovered: bool,
    db: OpenedFile,
}

/// How a [`ReadOnlyFile`] was opened.
enum OpenedFile {
    ReadOnly(redb::ReadOnlyDatabase),
    /// After crash recovery (which needs write access).
    Recovered(Database),
}

impl OpenedFile {
    fn begin_read(&self) -> StoreResult<ReadTransaction> {
        use redb::ReadableDatabase;
        Ok(match self {
            OpenedFile::ReadOnly(d) => d.begin_read()?,
            OpenedFile::Recovered(d) => d.begin_read()?,
        })
    }
}

impl ReadOnlyFile {
    /// Another read transaction of the file (the same snapshot: nothing else writes it).
    pub fn begin_read(&self) -> StoreResult<ReadTransaction> {
        self.db.begin_read()
    }
}

/// redb's page cache for read-only opens. Their readers go through the tables in order
/// (verify also looks each event up once, by key), so a cache the size of the file (redb's
/// default is 1 GiB) mostly costs fresh memory for every page; a small one reuses its buffers
/// and reads every table about twice as fast (measured on a 1.1 GB file already in the OS
/// page cache: 1.75 s vs 3.8 s). Pages it drops come back from the OS page cache.
const READ_ONLY_CACHE: usize = 64 << 20;

/// Open the existing data file at `path` for reading (see [`ReadOnlyFile`]).
pub fn read_only(path: &Path) -> StoreResult<ReadOnlyFile> {
    if !path.is_file() {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no data file here"),
        });
    }
    let mut builder = redb::Builder::new();
    builder.set_cache_size(READ_ONLY_CACHE);
    let db = match builder.open_read_only(path) {
        Ok(d) => OpenedFile::ReadOnly(d),
        Err(redb::DatabaseError::RepairAborted) => {
            OpenedFile::Recovered(builder.open(path).map_err(|e| open_error(path, e))?)
        }
        Err(e) => return Err(open_error(path, e)),
    };
    Ok(ReadOnlyFile {
        txn: db.begin_read()?,
        recovered: matches!(db, OpenedFile::Recovered(_)),
        db,
    })
}

/// A table of a read transaction; `None` when the file does not have it (an older schema).
pub fn open_existing<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> StoreResult<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An I/O error that means no more bytes fit: the disk is full, the quota used up, or the
/// file at its size limit.
pub fn out_of_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge
    )
}

/// Free bytes for this user on the file system holding `path` (`None` when it cannot say).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The open data file.
///
/// A disk error under redb (typically the disk filling up mid-commit) makes redb refuse every
/// later operation on that open database, reads included. The store notices such an error, and
/// the next access closes the file and opens it again (redb's crash recovery runs, as after a
/// kill): until then, and while it cannot be reopened, operations fail with
/// [`StoreError::Reopening`]. Writes are refused up front with [`StoreError::Full`] while the
/// disk has less free space than the configured reserve, so that normally the disk never fills
/// under redb at all and reads go on undisturbed.
pub struct Store {
    /// `None` only between closing a failed database and opening it again.
    db: std::sync::RwLock<Option<std::sync::Arc<Database>>>,
    path: PathBuf,
    cache_bytes: usize,
    /// Called after every committed write transaction (wakes the search indexer).
    on_commit: std::sync::RwLock<Option<CommitHook>>,
    /// Bulk writes (sales ingest) are refused while the disk has less free than this; other
    /// writes while it has less than a quarter of it. 0 turns the check off.
    min_free: AtomicU64,
    /// A disk error failed the open database: the next access reopens it.
    failed: AtomicBool,
    /// Held by the one thread reopening the file; the time of the last try.
    reopening: std::sync::Mutex<Option<std::time::Instant>>,
}

type CommitHook = Box<dyn Fn() + Send + Sync>;

/// Reopening a failed data file is tried at most this often.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Which free-space reserve a write needs (see [`Store::set_min_free`]).
#[derive(Clone, Copy)]
enum Reserve {
    Bulk,
    Small,
}

impl Store {
    /// Open (or create) the data file, upgrading its schema if it is older, with the default
    /// page cache (256 MiB).
    pub fn open(path: &Path) -> StoreResult<Store> {
        Store::open_with_cache(path, 256 << 20)
    }

    /// [`Store::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> StoreResult<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        let store = Store {
            db: std::sync::RwLock::new(Some(std::sync::Arc::new(db))),
            path: path.to_path_buf(),
            cache_bytes,
            on_commit: Default::default(),
            min_free: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            reopening: Default::default(),
        };
        migrate::run(&store)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuse sales ingest while the disk holding the file has less than `bytes` free, and
    /// every other write below a quarter of it (sign-ins and settings keep working a little
    /// longer than bulk data). 0 turns the check off.
    pub fn set_min_free(&self, bytes: u64) {
        self.min_free.store(bytes, Ordering::Relaxed);
    }

    /// Have `hook` called after every committed write (replacing any earlier hook).
    pub fn on_commit(&self, hook: CommitHook) {
        if let Ok(mut h) = self.on_commit.write() {
            *h = Some(hook);
        }
    }

    /// The open database, reopening it first when a disk error failed it.
    fn db(&self) -> StoreResult<std::sync::Arc<Database>> {
        if self.failed.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let slot = self
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.clone().ok_or(StoreError::Reopening)
    }

    /// Remember a disk failure seen in `r`, so that the next access reopens the file.
    fn noting<T>(&self, r: StoreResult<T>) -> StoreResult<T> {
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }

    fn note(&self, e: &StoreError) {
        if e.is_disk_failure() && !self.failed.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, path = %self.path.display(),
                "disk error on the data file; it will be reopened");
        }
    }

    /// Close the failed database and open the file again. One thread does it; the others (and
    /// everyone while redb recovers the file) get [`StoreError::Reopening`] at once.
    fn reopen(&self) -> StoreResult<()> {
        let Ok(mut last) = self.reopening.try_lock() else {
            return Err(StoreError::Reopening);
        };
        if !self.failed.load(Ordering::Acquire) {
            return Ok(()); // another thread has just reopened it
        }
        if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
            return Err(StoreError::Reopening);
        }
        *last = Some(std::time::Instant::now());
        // Closing waits for a write transaction still alive on the failed database; reads on it
        // fail from then on.
        let old = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(old);
        match redb::Builder::new()
            .set_cache_size(self.cache_bytes)
            .open(&self.path)
        {
            Ok(db) => {
                *self
                    .db
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(std::sync::Arc::new(db));
                self.failed.store(false, Ordering::Release);
                tracing::warn!(path = %self.path.display(), "data file reopened after a disk error");
                Ok(())
            }
            Err(e) => {
                let e = open_error(&self.path, e);
                match &e {
                    StoreError::AlreadyOpen(_) | StoreError::Io { .. } => {
                        tracing::warn!(error = %e,
                        "reopening the data file failed; trying again shortly")
                    }
                    _ => tracing::error!(error = %e,
                        "reopening the data file failed; the server cannot read or write it"),
                }
                Err(StoreError::Reopening)
            }
        }
    }

    /// Close the data file cleanly, so that the next start needs no recovery. Waits (up to 5 s)
    /// for a transaction being begun elsewhere to let go of the database; a write transaction
    /// still running finishes first. Every later operation fails with
    /// [`StoreError::Reopening`].
    pub fn close(&self) {
        let _reopening = self
            .reopening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(mut db) = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match std::sync::Arc::try_unwrap(db) {
                Ok(d) => {
                    drop(d);
                    return;
                }
                Err(shared) if std::time::Instant::now() < until => {
                    db = shared;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(_) => {
                    tracing::warn!("the data file is still in use; it closes when that ends");
                    return;
                }
            }
        }
    }

    /// After an error from code that converted it to its own type: check whether the open
    /// database has failed under a disk error, so that the next access reopens it.
    pub fn probe(&self) {
        let Ok(db) = self.db() else { return };
        if let Err(redb::TransactionError::Storage(e)) = db.try_begin_write() {
            self.note(&StoreError::from(e));
        }
    }

    /// Free bytes on the disk holding the data file (`None` when the file system cannot say);
    /// also the `data_disk_free_bytes` gauge.
    pub fn free_space(&self) -> Option<u64> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        let free = free_bytes(dir.unwrap_or(Path::new(".")))?;
        metrics::gauge!("data_disk_free_bytes").set(free as f64);
        Some(free)
    }

    /// [`StoreError::Full`] when the disk has less free than the bulk-data reserve: for other
    /// writers to the data disk (backups, uploads) to check before they start.
    pub fn check_room(&self) -> StoreResult<()> {
        self.check_space(Reserve::Bulk)
    }

    /// Refuse a write up front when the disk has less free space than its reserve.
    fn check_space(&self, reserve: Reserve) -> StoreResult<()> {
        let min = match reserve {
            Reserve::Bulk => self.min_free.load(Ordering::Relaxed),
            Reserve::Small => self.min_free.load(Ordering::Relaxed) / 4,
        };
        if min == 0 {
            return Ok(());
        }
        // A file system that cannot say how much is free is not checked.
        let Some(free) = self.free_space() else {
            return Ok(());
        };
        if free < min {
            return Err(StoreError::Full {
                path: self.path.clone(),
                free,
                reserve: min,
            });
        }
        Ok(())
    }

    /// A read transaction the caller keeps (for long scans such as a search rebuild).
    pub fn begin_read(&self) -> StoreResult<ReadTransaction> {
        let db = self.db()?;
        self.noting(db.begin_read().map_err(StoreError::from))
    }

    pub fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.begin_read()?;
        self.noting(f(&txn))
    }

    /// Run `f` in one write transaction: committed durably if it returns `Ok`, rolled back
    /// entirely if it returns `Err`.
    pub fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<T> {
        self.try_write(f)
    }

    /// [`Store::write`] for callers with their own error type (e.g. a validation error found
    /// half-way through aborts the transaction just the same).
    pub fn try_write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_needing(Reserve::Small, f)
    }

    /// [`Store::write`] for bulk data (see [`Store::try_write_bulk`]).
    pub fn write_bulk<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.write_needing(Reserve::Bulk, f)
    }

    /// [`Store::try_write`] for bulk data (sales ingest, imports), which stops first when the
    /// disk runs low (see [`Store::set_min_free`]).
    pub fn try_write_bulk<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_needing(Reserve::Bulk, f)
    }

    fn write_needing<T, E: From<StoreError>>(
        &self,
        reserve: Reserve,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.check_space(reserve)?;
        let mut txn = self.noting(self.db()?.begin_write().map_err(StoreError::from))?;
        // Each commit also saves redb's allocator state, so that opening the file after a crash
        // loads it instead of walking the whole file (seconds per GB) to rebuild it.
        txn.set_quick_repair(true);
        match f(&txn) {
            Ok(v) => {
                self.noting(txn.commit().map_err(StoreError::from))?;
                if let Ok(h) = self.on_commit.read()
                    && let Some(h) = h.as_ref()
                {
                    h();
                }
                Ok(v)
            }
            Err(e) => {
                // `f` failed on its own terms, or on a disk error: then rolling back fails too,
                // and that is the error that marks the file for reopening.
                if let Err(a) = txn.abort() {
                    let a = StoreError::from(a);
                    if !a.is_disk_failure() {
                        tracing::warn!(error = %a, "rolling back a write transaction failed");
                    }
                    self.note(&a);
                }
                Err(e)
            }
        }
    }

    /// Cheap check that the file answers (for `/readyz`).
    pub fn ping(&self) -> StoreResult<()> {
        self.read(|t| {
            let meta = t.table(tables::META)?;
            redb::ReadableTable::get(&meta, migrate::SCHEMA_KEY)?;
            Ok(())
        })
    }
}

/// Decode the value behind a key, if present.
pub(crate) fn get_rec<'k, K, T>(
    table: &impl redb::ReadableTable<K, &'static [u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
) -> StoreResult<Option<T>>
where
    K: redb::Key + 'static,
    T: serde::de::DeserializeOwned,
{
    match table.get(key)? {
        Some(v) => Ok(Some(codec::decode(v.value())?)),
        None => Ok(None),
    }
}
