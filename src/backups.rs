//! Scheduled backups (`[backup] every`, `keep`, `dir`): the running server writes a backup
//! every so often into a directory and removes the oldest beyond `keep`. The last result is in
//! `/metrics` and in the log.

use crate::app::AppState;
use crate::store::Store;
use crate::store::backup::{self, BackupError, Written};
use std::path::{Path, PathBuf};

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
            let (store, now) = (state.store.clone(), state.clock.now());
            let dir = state.cfg.backup.dir(&state.cfg.data.dir);
            let keep = state.cfg.backup.keep;
            let started = std::time::Instant::now();
            let r = tokio::task::spawn_blocking(move || run_once(&store, &dir, keep, now)).await;
            let secs = started.elapsed().as_secs_f64();
            match r {
                Ok(Ok((path, w))) => {
                    metrics::gauge!("backup_last_success_timestamp_seconds")
                        .set(now.0 as f64 / 1e6);
                    metrics::gauge!("backup_last_duration_seconds").set(secs);
                    metrics::gauge!("backup_last_bytes").set(w.bytes as f64);
                    tracing::info!(file = %path.display(), bytes = w.bytes, secs, "scheduled backup written");
                }
                Ok(Err(e)) => {
                    metrics::counter!("backup_failures_total").increment(1);
                    tracing::error!(error = %e, "scheduled backup failed");
                }
                Err(e) => {
                    metrics::counter!("backup_failures_total").increment(1);
                    tracing::error!(error = %e, "scheduled backup panicked");
                }
            }
        }
    }))
}
