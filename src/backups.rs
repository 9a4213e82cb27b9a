//! Backups the running server writes into its backups directory (`[backup] dir`): on a
//! schedule (`every`, `keep`) and on demand from the Backups page. Each new backup is read back
//! and checked at once; the last result and the last check are on the page, in `/metrics` and
//! in the log. A backup holds every organization, so only the installation's operators (the
//! owners of the first organization) may make or download one.

use crate::app::AppState;
use crate::domain::Ts;
use crate::domain::user::User;
use crate::store::backup::{self, BackupError, Written};
use crate::store::{ReadTx, Store, StoreResult, orgs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Whether `user` operates this installation: an owner of its first organization (the one
/// made at first run).
pub fn is_operator(txn: &impl ReadTx, user: &User) -> StoreResult<bool> {
    if user.role != crate::domain::Role::Owner {
        return Ok(false);
    }
    Ok(orgs::first_id(txn)? == Some(user.org))
}

/// Record in the operator's organization's audit log what they did with a backup.
pub fn record(
    store: &Store,
    user: &User,
    action: &'static str,
    file: String,
    now: Ts,
) -> StoreResult<()> {
    use crate::store::audit::{self, Actor, Entry};
    store.write(|t| {
        audit::append(
            t,
            user.org,
            now,
            Entry {
                actor: Actor::User {
                    id: user.id,
                    email: user.email.clone(),
                },
                action,
                entity: "backup",
                entity_id: file,
                old: None,
                new: None,
            },
        )
        .map(|_| ())
    })
}

/// How the last backup went.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub at: Ts,
    pub scheduled: bool,
    pub secs: f64,
    /// The file and its size, or why it failed.
    pub result: Result<(String, u64), String>,
    /// It failed for lack of disk space.
    pub disk_full: bool,
    /// The check of the new backup.
    pub check: Option<Checked>,
}

/// The last check of a backup file (read back whole: signature, header, checksum, records).
#[derive(Clone, Debug)]
pub struct Checked {
    pub at: Ts,
    pub file: String,
    pub passed: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Default)]
struct Inner {
    running: bool,
    last: Option<Outcome>,
    last_check: Option<Checked>,
}

/// The backups made and checked while this server runs (shared, cheap to clone).
#[derive(Clone, Default)]
pub struct Tracker(Arc<Mutex<Inner>>);

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub fn last(&self) -> Option<Outcome> {
        self.lock().last.clone()
    }
    pub fn last_check(&self) -> Option<Checked> {
        self.lock().last_check.clone()
    }
    pub fn running(&self) -> bool {
        self.lock().running
    }
}

/// A backup is already being written.
#[derive(Debug)]
pub struct Busy;

/// The right to write a backup (one at a time); clears the running flag when dropped, however
/// the backup ends (panics included).
pub struct Slot(Tracker);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.lock().running = false;
    }
}

impl Tracker {
    /// Claim the one backup slot (so that a page read right after shows it running).
    pub fn claim(&self) -> Result<Slot, Busy> {
        let mut t = self.lock();
        if t.running {
            return Err(Busy);
        }
        t.running = true;
        Ok(Slot(self.clone()))
    }
}

/// Write a backup into the backups directory now (removing the oldest beyond `keep`; manual
/// and scheduled backups share the folder and the count), then check it; blocking. Records
/// both in the tracker and the metrics.
pub fn make(state: &AppState, slot: Slot, scheduled: bool) -> Outcome {
    let _slot = slot;
    let now = state.clock.now();
    let dir = state.cfg.backups_dir();
    let started = std::time::Instant::now();
    let r = run_once(&state.store, &dir, state.cfg.backup.keep, now);
    let secs = started.elapsed().as_secs_f64();
    let mut disk_full = false;
    let result = match &r {
        Ok((path, w)) => {
            metrics::gauge!("backup_last_success_timestamp_seconds").set(now.0 as f64 / 1e6);
            metrics::gauge!("backup_last_duration_seconds").set(secs);
            metrics::gauge!("backup_last_bytes").set(w.bytes as f64);
            tracing::info!(file = %path.display(), bytes = w.bytes, secs, scheduled, "backup written");
            Ok((file_name(path), w.bytes))
        }
        Err(e) => {
            disk_full = match e {
                BackupError::Store(s) => s.is_disk_full(),
                BackupError::Io { source, .. } => crate::store::out_of_space(source),
                _ => false,
            };
            metrics::counter!("backup_failures_total").increment(1);
            tracing::error!(error = %e, scheduled, "backup failed");
            Err(e.to_string())
        }
    };
    let mut outcome = Outcome {
        at: now,
        scheduled,
        secs,
        result,
        disk_full,
        check: None,
    };
    state.backups.lock().last = Some(outcome.clone());
    if let Ok((path, _)) = &r {
        outcome.check = Some(check(state, path));
    }
    outcome
}

/// Check one backup file (blocking) and remember the result.
pub fn check(state: &AppState, path: &Path) -> Checked {
    let r = crate::verify::backup_file(path);
    if !r.problems.is_empty() {
        metrics::counter!("backup_check_failures_total").increment(1);
        tracing::error!(file = %path.display(), problems = ?r.problems, "a backup failed its check");
    }
    let c = Checked {
        at: state.clock.now(),
        file: file_name(path),
        passed: r.passed,
        problems: r.problems,
    };
    state.backups.lock().last_check = Some(c.clone());
    c
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A backup in the backups directory.
pub struct Listed {
    pub name: String,
    pub bytes: u64,
    /// `None` when its header cannot be read (the check says why).
    pub header: Option<backup::Header>,
}

/// The backups in `dir`, newest first, with their headers.
pub fn listing(dir: &Path) -> Vec<Listed> {
    let mut out: Vec<Listed> = list(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| Listed {
            name: file_name(&p),
            bytes: std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
            header: backup::read_header(&p).ok().map(|(h, _)| h),
        })
        .collect();
    out.reverse();
    out
}

/// The backup named `name` in `dir`, if it is one of the listed ones (never a path elsewhere).
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    list(dir)
        .ok()?
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()) == Some(name))
}

const PREFIX: &str = "salesboard-";
const SUFFIX: &str = ".sbbackup";

/// The scheduled backups in `dir`, oldest first.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    // the names carry the UTC time, so name order is time order
    out.sort();
    Ok(out)
}

/// Write one scheduled backup into `dir` and remove the oldest beyond `keep`.
pub fn run_once(
    store: &Store,
    dir: &Path,
    keep: usize,
    now: crate::domain::Ts,
) -> Result<(PathBuf, Written), BackupError> {
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // A backup on the data disk must not eat the space kept for the data.
    if same_disk(dir, store.path()) {
        store.check_room()?;
    }
    let stamp = now.timestamp().strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
    let path = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let w = backup::write(store, &path, true, now)?;
    let all = list(dir).map_err(|source| BackupError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for old in all.iter().take(all.len().saturating_sub(keep)) {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(error = %e, file = %old.display(), "could not remove an old backup");
        }
    }
    Ok((path, w))
}

/// Whether `dir` is on the same file system as the file `file`.
fn same_disk(dir: &Path, file: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), std::fs::metadata(file)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => true,
    }
}

/// Start the schedule (nothing when `backup.every` is 0).
pub fn spawn(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.cfg.backup.every;
    if every.is_zero() {
        return None;
    }
    let state = state.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(slot) = state.backups.claim() else {
                tracing::info!("scheduled backup skipped: one is being written");
                continue;
            };
            let st = state.clone();
            match tokio::task::spawn_blocking(move || make(&st, slot, true)).await {
                Ok(_) => {}
                Err(e) => {
                    metrics::counter!("backup_failures_total").increment(1);
                    tracing::error!(error = %e, "scheduled backup panicked");
                }
            }
        }
    }))
}
