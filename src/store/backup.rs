//! Backups: one consistent snapshot of every table, taken from one read transaction (writers
//! go on meanwhile), written as
//!
//! ```text
//! "SALESBOARD BACKUP\n"  u32 LE header length  header (JSON)  body
//! ```
//!
//! The header names the format, the schema version, when it was made, the number of records
//! per table and the SHA-256 of the body as stored; the body (zstd-compressed unless asked
//! otherwise) holds, per table, its name, its record count and each record's key and value
//! bytes as redb stores them. A backup is written to a temporary name, synced and renamed, so
//! a file with the final name is always whole. Restoring builds a new data file from it.

use super::tables::{self, Visit};
use super::{Store, StoreError, migrate};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8] = b"SALESBOARD BACKUP\n";
pub const FORMAT: u32 = 1;
/// zstd level 1 on a worker thread: compression keeps up with the table scan (level 3 in
/// line compressed a little better but made the backup slower).
const ZSTD_LEVEL: i32 = 1;
const HASH_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a salesboard backup ({detail})")]
    NotABackup { path: PathBuf, detail: String },
    #[error("{path} is damaged: {detail}. Use another backup.")]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "{path} was made by a newer salesboard (schema {found}; this one reads up to {supported}). Upgrade salesboard to restore it."
    )]
    Newer {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path} already has a data file. Restore into an empty directory, or add --force to \
         replace it (the current file is kept beside it)."
    )]
    NotEmpty { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    Zstd,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub schema_version: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The salesboard version that made it.
    pub salesboard: String,
    pub compression: Compression,
    /// Records per table.
    pub tables: BTreeMap<String, u64>,
    /// SHA-256 of the body as stored (hex).
    pub body_sha256: String,
}

impl Header {
    pub fn records(&self) -> u64 {
        self.tables.values().sum()
    }
}

/// What a backup run wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub header: Header,
    /// Size of the backup file.
    pub bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counts the bytes and hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

struct Count<'a> {
    txn: &'a redb::ReadTransaction,
    out: BTreeMap<String, u64>,
}

impl Visit for Count<'_> {
    type Error = StoreError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), StoreError> {
        // (a table the file does not have is not listed)
        let Some(t) = super::open_existing(self.txn, def)? else {
            return Ok(());
        };
        let n = t.len()?;
        self.out
            .insert(redb::TableHandle::name(&def).to_string(), n);
        Ok(())
    }
}

struct Dump<'a, W: Write> {
    txn: &'a redb::ReadTransaction,
    out: W,
    path: &'a Path,
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w.write_all(&(b.len() as u32).to_le_bytes())?;
    w.write_all(b)
}

impl<W: Write> Visit for Dump<'_, W> {
    type Error = BackupError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), BackupError> {
        let Some(t) = super::open_existing(self.txn, def)? else {
            return Ok(());
        };
        let name = redb::TableHandle::name(&def);
        let w = &mut self.out;
        let path = self.path;
        w.write_all(b"T").map_err(io(path))?;
        w.write_all(&(name.len() as u16).to_le_bytes())
            .map_err(io(path))?;
        w.write_all(name.as_bytes()).map_err(io(path))?;
        w.write_all(&t.len().map_err(StoreError::from)?.to_le_bytes())
            .map_err(io(path))?;
        for row in t.iter().map_err(StoreError::from)? {
            let (k, v) = row.map_err(StoreError::from)?;
            put_bytes(w, K::as_bytes(&k.value()).as_ref()).map_err(io(path))?;
            put_bytes(w, V::as_bytes(&v.value()).as_ref()).map_err(io(path))?;
        }
        Ok(())
    }
}

/// Write a backup of `store` to `path` from one read transaction. `now` is its creation time.
pub fn write(
    store: &Store,
    path: &Path,
    compress: bool,
    now: crate::domain::Ts,
) -> Result<Written, BackupError> {
    write_from(&store.begin_read()?, store.path(), path, compress, now)
}

/// Refuse targets that would replace the data file or the files beside it.
fn check_target(db: &Path, path: &Path) -> Result<(), BackupError> {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let dir = db.parent().map(canon);
    let target_dir = path.parent().map(canon);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let reserved = ["salesboard.redb", "jwt.secret", "control.sock", "search"];
    let inside_search = dir
        .as_ref()
        .is_some_and(|d| canon(path).starts_with(d.join("search")));
    if (dir.is_some() && dir == target_dir && reserved.contains(&name))
        || canon(path) == canon(db)
        || inside_search
        || path.is_dir()
    {
        return Err(BackupError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "choose a new file outside the data files (this would replace one of them)",
            ),
        });
    }
    Ok(())
}

/// [`write`] from a read transaction of the data file at `db`.
pub fn write_from(
    txn: &redb::ReadTransaction,
    db: &Path,
    path: &Path,
    compress: bool,
    now: crate::domain::Ts,
) -> Result<Written, BackupError> {
    check_target(db, path)?;
    let mut counts = Count {
        txn,
        out: BTreeMap::new(),
    };
    tables::for_each(&mut counts)?;
    let schema_version = migrate::schema_version(txn)?.unwrap_or(migrate::SCHEMA_VERSION);
    let header = Header {
        format: FORMAT,
        schema_version,
        created_at: now.timestamp().to_string(),
        salesboard: env!("CARGO_PKG_VERSION").to_string(),
        compression: if compress {
            Compression::Zstd
        } else {
            Compression::None
        },
        tables: counts.out,
        body_sha256: HASH_PLACEHOLDER.to_string(),
    };
    let json = serde_json::to_vec(&header).expect("a header serializes");
    let at = json
        .windows(HASH_PLACEHOLDER.len())
        .position(|w| w == HASH_PLACEHOLDER.as_bytes())
        .expect("the placeholder is in the header");
    let tmp = partial_name(path);
    let file = create_private(&tmp)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        w.write_all(MAGIC).map_err(io(&tmp))?;
        w.write_all(&(json.len() as u32).to_le_bytes())
            .map_err(io(&tmp))?;
        w.write_all(&json).map_err(io(&tmp))?;
        let hash_at = (MAGIC.len() + 4 + at) as u64;
        let body = Hashing {
            inner: w,
            hash: Sha256::new(),
            bytes: 0,
        };
        let body = if compress {
            let mut enc = zstd::stream::Encoder::new(body, ZSTD_LEVEL).map_err(io(&tmp))?;
            // compress on a worker thread while this one reads the tables
            enc.multithread(1).map_err(io(&tmp))?;
            let mut d = Dump {
                txn,
                out: &mut enc,
                path: &tmp,
            };
            tables::for_each(&mut d)?;
            enc.write_all(b"E").map_err(io(&tmp))?;
            enc.finish().map_err(io(&tmp))?
        } else {
            let mut body = body;
            let mut d = Dump {
                txn,
                out: &mut body,
                path: &tmp,
            };
            tables::for_each(&mut d)?;
            body.write_all(b"E").map_err(io(&tmp))?;
            body
        };
        let hex = hex(&body.hash.finalize());
        let mut w = body.inner;
        w.flush().map_err(io(&tmp))?;
        drop(w);
        let mut f = &file;
        f.seek(SeekFrom::Start(hash_at)).map_err(io(&tmp))?;
        f.write_all(hex.as_bytes()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        Ok::<_, BackupError>(hex)
    })();
    let hex = match result {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path);
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(Written {
        header: Header {
            body_sha256: hex,
            ..header
        },
        bytes,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A temporary name beside `path`, unique to this run.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{:016x}.partial", rand::random::<u64>()));
    path.with_file_name(name)
}

/// A new file readable by its owner only (a backup holds every password hash and customer).
fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(io(path))
}

/// Make a rename in `path`'s directory durable (best effort where directories cannot be
/// opened).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Read a backup's header; returns it and the body's offset.
pub fn read_header(path: &Path) -> Result<(Header, u64), BackupError> {
    let not = |detail: &str| BackupError::NotABackup {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let mut f = File::open(path).map_err(io(path))?;
    let mut magic = vec![0u8; MAGIC.len()];
    f.read_exact(&mut magic).map_err(|_| not("too short"))?;
    if magic != MAGIC {
        return Err(not("it does not start with the backup signature"));
    }
    let mut len = [0u8; 4];
    f.read_exact(&mut len).map_err(|_| not("no header"))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(not("the header is too long"));
    }
    let mut json = vec![0u8; len];
    f.read_exact(&mut json)
        .map_err(|_| not("the header is cut short"))?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|e| not(&format!("unreadable header: {e}")))?;
    if header.format != FORMAT {
        return Err(not(&format!("backup format {} is unknown", header.format)));
    }
    if header.schema_version > migrate::SCHEMA_VERSION {
        return Err(BackupError::Newer {
            path: path.to_path_buf(),
            found: header.schema_version,
            supported: migrate::SCHEMA_VERSION,
        });
    }
    Ok((header, (MAGIC.len() + 4 + len) as u64))
}

/// The records of a backup body, table by table.
struct Records<R> {
    r: R,
    path: PathBuf,
}

impl<R: Read> Records<R> {
    fn damaged(&self, detail: impl Into<String>) -> BackupError {
        BackupError::Damaged {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }
    fn exact<const N: usize>(&mut self) -> Result<[u8; N], BackupError> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|e| self.damaged(format!("cut short ({e})")))?;
        Ok(b)
    }
    fn bytes(&mut self, buf: &mut Vec<u8>) -> Result<(), BackupError> {
        let n = u32::from_le_bytes(self.exact::<4>()?) as usize;
        if n > 1 << 28 {
            return Err(self.damaged("a record longer than any salesboard writes"));
        }
        buf.resize(n, 0);
        self.r
            .read_exact(buf)
            .map_err(|e| self.damaged(format!("cut short ({e})")))
    }
    /// The next table's (name, record count), or `None` at the end.
    fn next_table(&mut self) -> Result<Option<(String, u64)>, BackupError> {
        match self.exact::<1>()? {
            [b'E'] => Ok(None),
            [b'T'] => {
                let n = u16::from_le_bytes(self.exact::<2>()?) as usize;
                let mut name = vec![0u8; n];
                self.r
                    .read_exact(&mut name)
                    .map_err(|e| self.damaged(format!("cut short ({e})")))?;
                let name = String::from_utf8(name).map_err(|_| self.damaged("a bad table name"))?;
                let count = u64::from_le_bytes(self.exact::<8>()?);
                Ok(Some((name, count)))
            }
            [other] => Err(self.damaged(format!("unexpected byte {other:#x} between tables"))),
        }
    }
}

/// The stored body of the backup at `path`, from `offset` (hashed as it is read).
fn body_reader(path: &Path, offset: u64) -> Result<Hashing<BufReader<File>>, BackupError> {
    let mut f = File::open(path).map_err(io(path))?;
    f.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    Ok(Hashing {
        inner: BufReader::with_capacity(1 << 20, f),
        hash: Sha256::new(),
        bytes: 0,
    })
}

/// Read a whole backup: check its signature and header, then its checksum over the stored
/// body (before anything in it is decoded), then every table's records against the header's
/// counts. Returns the header.
pub fn check(path: &Path) -> Result<Header, BackupError> {
    let (header, offset) = read_header(path)?;
    let mut body = body_reader(path, offset)?;
    std::io::copy(&mut body, &mut std::io::sink()).map_err(io(path))?;
    if hex(&body.hash.finalize()) != header.body_sha256 {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            detail: "its checksum does not match its contents".into(),
        });
    }
    let tables = {
        let mut records = records_of(body_reader(path, offset)?, &header, path)?;
        let mut seen = BTreeMap::new();
        let mut buf = Vec::new();
        while let Some((name, count)) = records.next_table()? {
            for _ in 0..count {
                records.bytes(&mut buf)?;
                records.bytes(&mut buf)?;
            }
            seen.insert(name, count);
        }
        seen
    };
    let expected: BTreeMap<String, u64> = header
        .tables
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let found: BTreeMap<String, u64> = tables.into_iter().filter(|(_, n)| *n > 0).collect();
    if found != expected {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            detail: "its tables do not match its header".into(),
        });
    }
    Ok(header)
}

fn records_of<'a, R: Read + 'a>(
    body: R,
    header: &Header,
    path: &Path,
) -> Result<Records<Box<dyn Read + 'a>>, BackupError> {
    let r: Box<dyn Read + 'a> = match header.compression {
        Compression::Zstd => Box::new(zstd::stream::Decoder::new(body).map_err(io(path))?),
        Compression::None => Box::new(body),
    };
    Ok(Records {
        r,
        path: path.to_path_buf(),
    })
}

struct Load<'a, R: Read> {
    txn: &'a redb::WriteTransaction,
    records: Records<R>,
    /// The next table section read but not yet loaded.
    pending: Option<(String, u64)>,
    buf: (Vec<u8>, Vec<u8>),
}

impl<R: Read> Visit for Load<'_, R> {
    type Error = BackupError;
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<(), BackupError> {
        let name = redb::TableHandle::name(&def);
        if self.pending.is_none() {
            self.pending = self.records.next_table()?;
        }
        let count = match &self.pending {
            Some((n, c)) if n == name => *c,
            // a table the backup's version did not have yet
            _ => return Ok(()),
        };
        self.pending = None;
        let mut t = self.txn.open_table(def).map_err(StoreError::from)?;
        for _ in 0..count {
            self.records.bytes(&mut self.buf.0)?;
            self.records.bytes(&mut self.buf.1)?;
            t.insert(K::from_bytes(&self.buf.0), V::from_bytes(&self.buf.1))
                .map_err(StoreError::from)?;
        }
        Ok(())
    }
}

/// Build a new data file at `db` (which must not exist) from the backup at `path`, checked
/// first. The new file is upgraded to this version's schema if it is older.
pub fn restore_file(path: &Path, db: &Path) -> Result<Header, BackupError> {
    let header = check(path)?;
    build(path, &header, db)?;
    Ok(header)
}

/// Build the data file `db` from a checked backup.
fn build(path: &Path, header: &Header, db: &Path) -> Result<(), BackupError> {
    let (_, offset) = read_header(path)?;
    let body = body_reader(path, offset)?;
    {
        let database = redb::Database::create(db).map_err(|e| StoreError::Corrupt {
            path: db.to_path_buf(),
            detail: e.to_string(),
        })?;
        let txn = database.begin_write().map_err(StoreError::from)?;
        let mut load = Load {
            txn: &txn,
            records: records_of(body, header, path)?,
            pending: None,
            buf: (Vec::new(), Vec::new()),
        };
        tables::for_each(&mut load)?;
        if let Some((name, _)) = load.pending.take().or(load.records.next_table()?) {
            return Err(BackupError::Damaged {
                path: path.to_path_buf(),
                detail: format!("it has a table this version does not know (`{name}`)"),
            });
        }
        drop(load);
        txn.commit().map_err(StoreError::from)?;
    }
    // Upgrade (and check) the new file by opening it the normal way; it is a new file, so it
    // gets its own id.
    let store = Store::open(db)?;
    store.write(super::search::new_file_id)?;
    Ok(())
}

/// The data file's name in a data directory.
pub const DATA_FILE: &str = "salesboard.redb";

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    pub header: Header,
    /// Where the data file that was replaced now is (with `force`).
    pub kept: Option<PathBuf>,
}

/// Restore the backup at `path` into the data directory `dir`. The backup is checked and
/// built into a new data file inside `dir` (same file system), then swapped in: the current
/// file (with `force`) first gets a second name, `salesboard.redb.before-restore-<time>`, then
/// the new file replaces it in one rename, so the directory always has a whole data file. The
/// current file stays locked meanwhile, so a server cannot start on it. The restored file gets
/// a new file id, so any search index is rebuilt at the next start.
pub fn restore(
    path: &Path,
    dir: &Path,
    force: bool,
    now: crate::domain::Ts,
) -> Result<Restored, BackupError> {
    let db = dir.join(DATA_FILE);
    let lock = if db.exists() {
        if !force {
            return Err(BackupError::NotEmpty {
                path: dir.to_path_buf(),
            });
        }
        match redb::Database::open(&db) {
            Ok(d) => Some(d),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::AlreadyOpen(db).into());
            }
            // a damaged current file is what a restore is for
            Err(_) => None,
        }
    } else {
        None
    };
    // Nothing is created before the backup has been read through and found whole.
    let header = check(path)?;
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let work = dir.join(".restoring");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io(&work))?;
    }
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let built = work.join(DATA_FILE);
    let cleanup = |e: BackupError| {
        let _ = std::fs::remove_dir_all(&work);
        if created {
            let _ = std::fs::remove_dir(dir);
        }
        e
    };
    build(path, &header, &built).map_err(cleanup)?;
    let mut kept = None;
    if db.exists() {
        let stamp = now.timestamp().strftime("%Y%m%dT%H%M%SZ").to_string();
        let aside = (0..)
            .map(|n| {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("-{n}")
                };
                dir.join(format!("{DATA_FILE}.before-restore-{stamp}{suffix}"))
            })
            .find(|p| !p.exists())
            .expect("some name is free");
        std::fs::hard_link(&db, &aside)
            .map_err(io(&aside))
            .map_err(cleanup)?;
        kept = Some(aside);
    }
    if let Err(e) = std::fs::rename(&built, &db) {
        // the current file is untouched: drop its second name
        if let Some(k) = &kept {
            let _ = std::fs::remove_file(k);
        }
        return Err(cleanup(io(&db)(e)));
    }
    drop(lock);
    let _ = std::fs::remove_dir_all(&work);
    sync_dir(&db);
    // The old index belongs to the file that was replaced (the new file id rules it out anyway).
    let _ = std::fs::remove_dir_all(dir.join("search"));
    Ok(Restored { header, kept })
}
