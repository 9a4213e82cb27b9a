//! redb's integrity check, run without writing the data file.
//!
//! redb verifies the checksum of every page only in [`redb::Database::check_integrity`] (or an
//! open with `set_check_integrity_on_open`), and both need a writable database: the check ends
//! by committing the allocator state it rebuilt, and repairs what it can. `salesboard verify`
//! promises to leave the file as it found it, so the check runs on a [`Scratch`] view of the
//! file: reads come from the file, and whatever redb writes stays in memory and is dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use super::{StoreError, StoreResult};

/// What redb's integrity check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Integrity {
    /// Every page of the committed trees matches its checksum, and the allocator state
    /// redb saved agrees with the pages the trees use.
    Clean,
    /// The check had to repair the file (in the scratch copy only): the newest commit's pages
    /// fail their checksums and redb fell back to the commit before it, or the saved allocator
    /// state disagrees with the trees.
    Repaired,
    /// Pages fail their checksums and no intact commit is left; redb's words.
    Corrupt(String),
}

/// Run redb's integrity check over the data file at `path`, which is not written. The caller
/// holds the file open through redb (read-only), which keeps a server from writing it meanwhile.
pub fn check(path: &Path) -> StoreResult<Integrity> {
    let io_error = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let scratch = Scratch::open(path).map_err(io_error)?;
    // A plain open trusts the allocator state a cleanly closed file recorded, and redb may
    // panic on a file damaged where that state lives; a panic here is a finding too.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut builder = redb::Builder::new();
        // The check walks each tree once; a small cache reuses its buffers (see READ_ONLY_CACHE).
        builder.set_cache_size(super::READ_ONLY_CACHE);
        builder.create_with_backend(scratch)?.check_integrity()
    }));
    match checked {
        Ok(Ok(true)) => Ok(Integrity::Clean),
        Ok(Ok(false)) => Ok(Integrity::Repaired),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)))) => {
            Ok(Integrity::Corrupt(m))
        }
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))) => Err(io_error(e)),
        Ok(Err(e)) => Err(super::open_error(path, e)),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Ok(Integrity::Corrupt(format!("redb failed reading it: {why}")))
        }
    }
}

/// The unit in which [`Scratch`] keeps written bytes (redb writes whole pages of 4 KiB or more,
/// at page-aligned offsets, so nearly every write covers whole blocks).
const BLOCK: u64 = 4096;

/// A writable view of a file that never writes to it: blocks redb writes are kept in memory
/// and read back from there; every other byte comes from the file (or is zero past its end,
/// when redb grows the storage).
#[derive(Debug)]
struct Scratch {
    file: File,
    state: Mutex<Written>,
}

#[derive(Debug)]
struct Written {
    /// The storage's length as redb sees it.
    len: u64,
    /// The file's bytes are used below this offset only: the storage was cut shorter once,
    /// and what grew back reads as zero.
    file_end: u64,
    /// Block number → the block's bytes, as written.
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl Scratch {
    fn open(path: &Path) -> io::Result<Scratch> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        Ok(Scratch {
            file,
            state: Mutex::new(Written {
                len: file_len,
                file_end: file_len,
                blocks: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, Written>> {
        self.state
            .lock()
            .map_err(|_| io::Error::other("scratch storage poisoned by a panic"))
    }

    /// Bytes of the file itself at `offset`: zero from `file_end` on.
    fn read_file(&self, file_end: u64, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let in_file = file_end.saturating_sub(offset).min(out.len() as u64) as usize;
        self.file.read_exact_at(&mut out[..in_file], offset)?;
        out[in_file..].fill(0);
        Ok(())
    }

    /// A block as it is now: written, or from the file.
    fn block(&self, written: &Written, n: u64) -> io::Result<Box<[u8]>> {
        if let Some(b) = written.blocks.get(&n) {
            return Ok(b.clone());
        }
        let mut b = vec![0u8; BLOCK as usize].into_boxed_slice();
        if n * BLOCK < written.len {
            self.read_file(written.file_end, n * BLOCK, &mut b)?;
        }
        Ok(b)
    }
}

impl redb::StorageBackend for Scratch {
    fn len(&self) -> io::Result<u64> {
        Ok(self.lock()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let written = self.lock()?;
        let end = offset + out.len() as u64;
        if end > written.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {end} bytes past the end ({})", written.len),
            ));
        }
        let (first, last) = (offset / BLOCK, end.div_ceil(BLOCK));
        if written.blocks.range(first..last).next().is_none() {
            return self.read_file(written.file_end, offset, out);
        }
        let mut at = offset;
        let mut rest = out;
        while !rest.is_empty() {
            let start = (at % BLOCK) as usize;
            let take = rest.len().min(BLOCK as usize - start);
            let (piece, tail) = rest.split_at_mut(take);
            match written.blocks.get(&(at / BLOCK)) {
                Some(b) => piece.copy_from_slice(&b[start..start + take]),
                None => self.read_file(written.file_end, at, piece)?,
            }
            at += take as u64;
            rest = tail;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut written = self.lock()?;
        if len < written.len {
            // Bytes past the new end read as zero if the storage grows again.
            let keep = len.div_ceil(BLOCK);
            written.blocks.split_off(&keep);
            if !len.is_multiple_of(BLOCK) {
                let n = len / BLOCK;
                let mut b = self.block(&written, n)?;
                b[(len % BLOCK) as usize..].fill(0);
                written.blocks.insert(n, b);
            }
            // The file's own bytes past `len` must not come back either.
            written.file_end = written.file_end.min(len);
        }
        written.len = len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut written = self.lock()?;
        let end = offset + data.len() as u64;
        if end > written.len {
            written.len = end;
        }
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let n = at / BLOCK;
            let start = (at % BLOCK) as usize;
            let take = rest.len().min(BLOCK as usize - start);
            let mut b = if start == 0 && take == BLOCK as usize {
                vec![0u8; BLOCK as usize].into_boxed_slice()
            } else {
                self.block(&written, n)?
            };
            b[start..start + take].copy_from_slice(&rest[..take]);
            written.blocks.insert(n, b);
            at += take as u64;
            rest = &rest[take..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::StorageBackend;

    fn scratch_of(bytes: &[u8]) -> (tempfile::TempDir, Scratch) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        let s = Scratch::open(&p).unwrap();
        (dir, s)
    }

    fn read(s: &Scratch, offset: u64, n: usize) -> Vec<u8> {
        let mut out = vec![0xAA; n];
        s.read(offset, &mut out).unwrap();
        out
    }

    /// The scratch view behaves like a plain file that was written, and the file is not.
    #[test]
    fn scratch_reads_back_what_was_written_and_leaves_the_file_alone() {
        let original: Vec<u8> = (0..3 * BLOCK as usize + 100).map(|i| i as u8).collect();
        let (dir, s) = scratch_of(&original);
        let mut model = original.clone();
        let mut write = |s: &Scratch, at: usize, data: &[u8]| {
            s.write(at as u64, data).unwrap();
            if model.len() < at + data.len() {
                model.resize(at + data.len(), 0);
            }
            model[at..at + data.len()].copy_from_slice(data);
        };
        write(&s, 10, &[1, 2, 3]); // inside a block
        write(&s, BLOCK as usize - 2, &[9; 5]); // across a block edge
        write(&s, BLOCK as usize * 2, &[7; BLOCK as usize]); // a whole block
        write(&s, original.len() + 50, &[5; 20]); // past the end: the gap reads as zero
        assert_eq!(s.len().unwrap(), model.len() as u64);
        assert_eq!(read(&s, 0, model.len()), model);
        assert_eq!(read(&s, 5, 20), model[5..25]);
        assert_eq!(read(&s, BLOCK * 3, 150), model[3 * 4096..3 * 4096 + 150]);
        assert!(s.read(model.len() as u64 - 1, &mut [0; 2]).is_err());

        // Shrinking forgets what was past the end, the file's own bytes included.
        s.set_len(BLOCK + 7).unwrap();
        s.set_len(2 * BLOCK).unwrap();
        let mut shrunk = model[..BLOCK as usize + 7].to_vec();
        shrunk.resize(2 * BLOCK as usize, 0);
        assert_eq!(read(&s, 0, shrunk.len()), shrunk);

        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), original);
    }
}
