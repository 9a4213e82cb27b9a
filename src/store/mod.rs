//! The redb store. Every key that holds tenant data starts with the org id, and every function
//! that reads or writes tenant data takes the [`OrgId`] it is scoped to, so a scan can never
//! cross into another org. No HTTP types here.

pub mod apikeys;
pub mod audit;
pub mod backup;
pub mod codec;
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
    _ro: Option<redb::ReadOnlyDatabase>,
    _rw: Option<Database>,
}

/// Open the existing data file at `path` for reading (see [`ReadOnlyFile`]).
pub fn read_only(path: &Path) -> StoreResult<ReadOnlyFile> {
    if !path.is_file() {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no data file here"),
        });
    }
    Ok(match redb::ReadOnlyDatabase::open(path) {
        Ok(d) => ReadOnlyFile {
            txn: d.begin_read()?,
            recovered: false,
            _ro: Some(d),
            _rw: None,
        },
        Err(redb::DatabaseError::RepairAborted) => {
            let d = Database::open(path).map_err(|e| open_error(path, e))?;
            ReadOnlyFile {
                txn: d.begin_read()?,
                recovered: true,
                _ro: None,
                _rw: Some(d),
            }
        }
        Err(e) => return Err(open_error(path, e)),
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

pub struct Store {
    db: Database,
    path: PathBuf,
    /// Called after every committed write transaction (wakes the search indexer).
    on_commit: std::sync::RwLock<Option<CommitHook>>,
}

type CommitHook = Box<dyn Fn() + Send + Sync>;

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
            db,
            path: path.to_path_buf(),
            on_commit: Default::default(),
        };
        migrate::run(&store)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Have `hook` called after every committed write (replacing any earlier hook).
    pub fn on_commit(&self, hook: CommitHook) {
        if let Ok(mut h) = self.on_commit.write() {
            *h = Some(hook);
        }
    }

    /// A read transaction the caller keeps (for long scans such as a search rebuild).
    pub fn begin_read(&self) -> StoreResult<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    pub fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.db.begin_read()?;
        f(&txn)
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
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        match f(&txn) {
            Ok(v) => {
                txn.commit().map_err(StoreError::from)?;
                if let Ok(h) = self.on_commit.read()
                    && let Some(h) = h.as_ref()
                {
                    h();
                }
                Ok(v)
            }
            Err(e) => {
                txn.abort().map_err(StoreError::from)?;
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
