//! Imports running inside the server (the Import page, "Load demo data"): a background thread
//! reads the source and sends each chunk through the ingest writer (group commit, live
//! updates), while the page polls the job's progress.

use super::{Chunk, RowError};
use crate::domain::OrgId;
use crate::ingest::Writer;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Row errors kept in memory for the page (all of them go to the report file).
const SHOWN_ERRORS: usize = 200;
/// Jobs remembered per org (oldest forgotten first).
const KEPT_JOBS: usize = 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Running,
    Done,
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct JobState {
    pub id: String,
    pub org: OrgId,
    pub title: String,
    pub dry_run: bool,
    /// Progress units: bytes of the file, or events for demo data.
    pub total: u64,
    pub done: u64,
    pub rows: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub skipped: u64,
    pub shown_errors: Vec<RowError>,
    pub errors_file: Option<PathBuf>,
    pub status: Status,
    pub started: std::time::Instant,
    pub seconds: f64,
}

impl JobState {
    pub fn percent(&self) -> u64 {
        match self.status {
            Status::Running if self.total > 0 => (self.done * 100 / self.total).min(99),
            Status::Running => 0,
            _ => 100,
        }
    }
}

type Shared = Arc<Mutex<JobState>>;

/// What a new job is about.
pub struct NewJob {
    pub org: OrgId,
    pub title: String,
    /// Progress units to expect (bytes of a file, events of demo data).
    pub total: u64,
    pub dry_run: bool,
    /// Where its row errors go (CSV).
    pub errors_file: PathBuf,
}

#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<Vec<Shared>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking job thread must not make every later page view fail.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Jobs {
    /// A snapshot of one job of `org`.
    pub fn get(&self, org: OrgId, id: &str) -> Option<JobState> {
        lock(&self.inner)
            .iter()
            .map(|j| lock(j).clone())
            .find(|j| j.org == org && j.id == id)
    }

    /// The org's jobs, newest first.
    pub fn list(&self, org: OrgId) -> Vec<JobState> {
        let mut v: Vec<JobState> = lock(&self.inner)
            .iter()
            .map(|j| lock(j).clone())
            .filter(|j| j.org == org)
            .collect();
        v.reverse();
        v
    }

    /// Start a job on its own thread. `source` feeds chunks to the sink it is given; each chunk
    /// is stored through `writer` (unless `dry_run`) before the next is read.
    pub fn start(
        &self,
        spec: NewJob,
        writer: Writer,
        source: impl FnOnce(&mut dyn FnMut(Chunk) -> anyhow::Result<()>) -> anyhow::Result<()>
        + Send
        + 'static,
    ) -> String {
        let NewJob {
            org,
            title,
            total,
            dry_run,
            errors_file,
        } = spec;
        let id = ulid::Ulid::generate().to_string();
        let state = Arc::new(Mutex::new(JobState {
            id: id.clone(),
            org,
            title,
            dry_run,
            total,
            done: 0,
            rows: 0,
            accepted: 0,
            duplicates: 0,
            errors: 0,
            skipped: 0,
            shown_errors: Vec::new(),
            errors_file: None,
            status: Status::Running,
            started: std::time::Instant::now(),
            seconds: 0.0,
        }));
        {
            let mut all = lock(&self.inner);
            all.push(state.clone());
            let mine: Vec<usize> = all
                .iter()
                .enumerate()
                .filter(|(_, j)| lock(j).org == org)
                .map(|(i, _)| i)
                .collect();
            if mine.len() > KEPT_JOBS {
                let drop = all.remove(mine[0]);
                if let Some(p) = lock(&drop).errors_file.take() {
                    std::fs::remove_file(p).ok();
                }
            }
        }
        std::thread::Builder::new()
            .name("import-job".into())
            .spawn(move || {
                let mut report = super::ErrorFile::new(errors_file, false);
                let mut sink = |c: Chunk| -> anyhow::Result<()> {
                    let (accepted, duplicates) = if dry_run || c.events.is_empty() {
                        (c.events.len() as u64, 0)
                    } else {
                        let n = c.events.len() as u64;
                        let outcome = writer
                            .submit_blocking(org, c.events)
                            .map_err(|e| anyhow::anyhow!("storing events failed: {e}"))?;
                        let accepted = crate::store::sales::accepted(&outcome) as u64;
                        (accepted, n - accepted)
                    };
                    report.write(&c.errors)?;
                    let mut s = lock(&state);
                    s.done = c.bytes;
                    s.rows += c.rows;
                    s.accepted += accepted;
                    s.duplicates += duplicates;
                    s.skipped += c.skipped;
                    s.errors += c.errors.len() as u64;
                    let room = SHOWN_ERRORS.saturating_sub(s.shown_errors.len());
                    s.shown_errors.extend(c.errors.into_iter().take(room));
                    s.errors_file = report.path_if_written();
                    s.seconds = s.started.elapsed().as_secs_f64();
                    Ok(())
                };
                let result = source(&mut sink);
                let mut s = lock(&state);
                s.seconds = s.started.elapsed().as_secs_f64();
                s.status = match result {
                    Ok(()) => Status::Done,
                    Err(e) => {
                        tracing::warn!(error = %e, "import job failed");
                        Status::Failed(format!("{e:#}"))
                    }
                };
            })
            .expect("spawn an import job thread");
        id
    }
}
