//! The batching writer. Requests queue jobs on a bounded channel; the writer thread takes
//! every job waiting (up to `max_events_per_commit`), applies them all in one write
//! transaction, commits once (one fsync for the lot), then answers each job. A full queue is
//! refused at once (the API answers 503 with Retry-After); nothing accepted is ever dropped.

use crate::domain::OrgId;
use crate::domain::events::Event;
use crate::error::AppError;
use crate::store::sales::{self, Applied};
use crate::store::{Store, StoreError, orgs};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use tokio::sync::oneshot;

/// A job's outcomes, and the events it handed over (see [`Job::reply`]).
type Done = (Vec<Applied>, Vec<Event>);

struct Job {
    org: OrgId,
    events: Vec<Event>,
    /// The outcomes, and (to one job of each org in the commit) the applied events: they are
    /// dropped by whoever waits for the answer, not by the writer, whose time is the limit of
    /// ingest (freeing a commit's events is thousands of deallocations).
    reply: oneshot::Sender<Result<Done, AppError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the ingest queue is full")]
    QueueFull,
    #[error("the ingest writer has stopped")]
    Stopped,
    /// Storing failed; nothing of the job was stored (e.g. `storage_full`).
    #[error("{}", .0.message)]
    Storage(AppError),
}

#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    /// Orgs whose data changed, after each commit (for caches and live views).
    changed: tokio::sync::broadcast::Sender<OrgId>,
}

impl Writer {
    pub fn start(store: Arc<Store>, queue_jobs: usize, max_events_per_commit: usize) -> Writer {
        let (tx, rx) = sync_channel::<Job>(queue_jobs.max(1));
        let (changed, _) = tokio::sync::broadcast::channel(1024);
        let notify = changed.clone();
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || run(store, rx, max_events_per_commit.max(1), notify))
            .expect("spawn the ingest writer thread");
        Writer { tx, changed }
    }

    /// Queue events for durable storage; resolves after they are committed.
    pub async fn submit(
        &self,
        org: OrgId,
        events: Vec<Event>,
    ) -> Result<Vec<Applied>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { org, events, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(SubmitError::QueueFull),
            Err(TrySendError::Disconnected(_)) => return Err(SubmitError::Stopped),
        }
        match rx.await {
            Ok(Ok((r, spent))) => {
                drop(spent);
                Ok(r)
            }
            Ok(Err(e)) => Err(SubmitError::Storage(e)),
            Err(_) => Err(SubmitError::Stopped),
        }
    }

    /// [`Writer::submit`] for blocking threads (bulk imports): waits for room in the queue
    /// instead of refusing, then for the commit.
    pub fn submit_blocking(
        &self,
        org: OrgId,
        events: Vec<Event>,
    ) -> Result<Vec<Applied>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { org, events, reply })
            .map_err(|_| SubmitError::Stopped)?;
        match rx.blocking_recv() {
            Ok(Ok((r, spent))) => {
                drop(spent);
                Ok(r)
            }
            Ok(Err(e)) => Err(SubmitError::Storage(e)),
            Err(_) => Err(SubmitError::Stopped),
        }
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<OrgId> {
        self.changed.subscribe()
    }
}

fn run(
    store: Arc<Store>,
    rx: Receiver<Job>,
    max_events: usize,
    changed: tokio::sync::broadcast::Sender<OrgId>,
) {
    // Ends when every sender is gone (the server has shut down) and the queue is drained.
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut n = jobs[0].events.len();
        while n < max_events {
            match rx.try_recv() {
                Ok(j) => {
                    n += j.events.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let started = crate::clock::monotonic();
        // A bug that panics while applying a batch must not kill the writer (ingest would stop
        // for every org): the transaction is dropped (nothing of it is stored) and each job of
        // the batch gets an error.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.try_write_bulk(|txn| {
                // All events of one org in this commit go through one `apply` (one pass over
                // the rollups and aggregates), then the outcomes are handed back per job.
                let mut by_org: Vec<(OrgId, Vec<usize>)> = Vec::new();
                for (i, j) in jobs.iter().enumerate() {
                    match by_org.iter_mut().find(|(o, _)| *o == j.org) {
                        Some((_, idx)) => idx.push(i),
                        None => by_org.push((j.org, vec![i])),
                    }
                }
                let mut results: Vec<Done> = vec![Default::default(); jobs.len()];
                for (org_id, idx) in by_org {
                    let org =
                        orgs::get(txn, org_id)?.ok_or(StoreError::NotFound("Organization"))?;
                    // The events move out of the jobs: a failed commit answers every job with
                    // an error and keeps nothing.
                    let lens: Vec<usize> = idx.iter().map(|i| jobs[*i].events.len()).collect();
                    let mut events: Vec<Event> = Vec::with_capacity(lens.iter().sum());
                    for i in &idx {
                        events.append(&mut jobs[*i].events);
                    }
                    let mut outcome = sales::apply(txn, &org, &events)?.into_iter();
                    results[idx[0]].1 = events;
                    for (i, len) in idx.into_iter().zip(lens) {
                        results[i].0 = outcome.by_ref().take(len).collect();
                    }
                }
                Ok(results)
            })
        }))
        .unwrap_or_else(|_| {
            Err(StoreError::Invalid(crate::domain::Invalid::new(
                "events",
                "applying the batch failed unexpectedly",
            )))
        })
        .map_err(|e| match e {
            StoreError::Invalid(_) => AppError::internal(e),
            e => AppError::from(e),
        });
        metrics::histogram!("ingest_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("ingest_events_total").increment(n as u64);
        match result {
            Ok(results) => {
                let mut orgs_changed: Vec<OrgId> = Vec::new();
                for (j, r) in jobs.into_iter().zip(results) {
                    if r.0.contains(&Applied::Accepted) && !orgs_changed.contains(&j.org) {
                        orgs_changed.push(j.org);
                    }
                    let _ = j.reply.send(Ok(r));
                }
                for o in orgs_changed {
                    let _ = changed.send(o);
                }
            }
            Err(e) => {
                tracing::error!(
                    code = e.code,
                    "ingest batch failed; nothing of it was stored"
                );
                for j in jobs {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
