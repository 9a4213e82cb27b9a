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
                    // The chunk's bad rows go into the report before its events are stored
                    // (and out again if storing fails), as in the command-line import.
                    let mark = report.len()?;
                    report.write(&c.errors)?;
                    let (accepted, duplicates) = if dry_run || c.events.is_empty() {
                        (c.events.len() as u64, 0)
                    } else {
                        let n = c.events.len() as u64;
                        let outcome = match writer.submit_blocking(org, c.events) {
                            Ok(outcome) => outcome,
                            Err(e) => {
                                report.truncate(mark)?;
                                anyhow::bail!("storing events failed: {e}");
                            }
                        };
                        let accepted = crate::store::sales::accepted(&outcome) as u64;
                        (accepted, n - accepted)
                    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Ts;
    use crate::domain::org::NewOrg;
    use crate::store::{Store, orgs};

    /// A chunk the writer cannot store (here the disk is "full") fails the job, and its bad
    /// rows do not stay in the report: the report lists the stored chunks' rows, no more.
    #[test]
    fn a_chunk_that_cannot_be_stored_leaves_no_rows_in_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("j.redb")).unwrap());
        let org = store
            .write(|t| orgs::create(t, NewOrg::parse("J", "UTC", "USD").unwrap(), Ts(0)))
            .unwrap();
        let writer = Writer::start(store.clone(), 16, 1000);
        let text: String = (1..=60)
            .map(|i| match i % 7 {
                3 => format!("{{\"type\":\"sale_completed\",\"id\":\"s-{i}\"}}\n"),
                _ => format!(
                    "{{\"type\":\"sale_completed\",\"id\":\"s-{i}\",\"occurred_at\":\"2026-11-02T10:00:00Z\",\"lines\":[{{\"sku\":\"A\",\"quantity\":1,\"unit_price\":\"5.00\"}}]}}\n"
                ),
            })
            .collect();
        let report = dir.path().join("job.errors.csv");
        let jobs = Jobs::default();
        let full = store.clone();
        let currency = org.currency.clone();
        let id = jobs.start(
            NewJob {
                org: org.id,
                title: "events.jsonl".into(),
                total: text.len() as u64,
                dry_run: false,
                errors_file: report.clone(),
            },
            writer,
            move |sink| {
                let rates = Default::default();
                let intake = crate::domain::events::Intake {
                    currency: &currency,
                    rates: &rates,
                    oldest: None,
                };
                let mut chunks = 0;
                let read = super::super::read(
                    super::super::Format::EventsJsonl,
                    text.as_bytes(),
                    &intake,
                    0,
                    10,
                    |c| {
                        chunks += 1;
                        if chunks == 2 {
                            full.set_min_free(u64::MAX);
                        }
                        sink(c)
                    },
                );
                Ok(read?)
            },
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let job = loop {
            let job = jobs.get(org.id, &id).unwrap();
            if job.status != Status::Running {
                break job;
            }
            assert!(std::time::Instant::now() < deadline, "the job never ended");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(matches!(job.status, Status::Failed(_)), "{:?}", job.status);
        assert!(job.accepted > 0 && job.errors > 0, "{job:?}");
        let rows = std::fs::read_to_string(&report).unwrap().lines().count() as u64;
        assert_eq!(rows, 1 + job.errors, "only the stored chunk's rows");
        assert!(job.errors < 8, "the failed chunk's rows were left out");
    }
}
