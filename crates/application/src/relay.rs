//! The outbox relay: moves what requests promised (the outbox, in the
//! database) onto the job queue. Each entry is enqueued with the idempotency
//! key `outbox:{id}`, so a relay that dies between enqueueing and removing
//! causes no duplicate; an entry whose enqueue fails stays for the next round.

use crate::ports::{Clock, JobQueue, NewJob, Outbox, StoreError};
use std::sync::Arc;
use time::Duration;

const BATCH: u32 = 100;
const LEASE: Duration = Duration::seconds(30);

#[derive(Clone)]
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
}

impl OutboxRelay {
    pub fn new(outbox: Arc<dyn Outbox>, jobs: Arc<dyn JobQueue>, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, jobs, clock }
    }

    /// Relays one batch; returns how many entries reached the queue. Stops at
    /// the first enqueue failure (the queue is down: the rest would fail too).
    pub async fn relay_once(&self) -> Result<usize, StoreError> {
        let claimed = self.outbox.claim(self.clock.now(), BATCH, LEASE).await?;
        let mut relayed = Vec::with_capacity(claimed.len());
        let mut failure = None;
        for entry in &claimed {
            let job = NewJob::new(&entry.message.queue, &entry.message.kind, entry.message.payload.clone())
                .with_idempotency_key(format!("outbox:{}", entry.id));
            match self.jobs.enqueue(job).await {
                Ok(_) => relayed.push(entry.id),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if !relayed.is_empty() {
            self.outbox.remove(&relayed).await?;
        }
        if failure.is_some() {
            // Give the rest back now: the next round retries them at once.
            let rest: Vec<_> = claimed.iter().map(|e| e.id).filter(|id| !relayed.contains(id)).collect();
            self.outbox.release(&rest, self.clock.now()).await?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(relayed.len()),
        }
    }
}
