use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{
    Clock, DeadJob, Enqueued, Failed, Job, JobQueue, NewJob, QueueStats, Reserved, StoreError,
};
use portcullis_domain::jobs::JobId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

struct Stored {
    job: Job,
    lease: Option<String>,
    died_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<JobId>,
    scheduled: BTreeSet<(OffsetDateTime, JobId)>,
    /// (visibility deadline, job)
    running: BTreeSet<(OffsetDateTime, JobId)>,
    dead: BTreeSet<(OffsetDateTime, JobId)>,
    completed: u64,
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Stored>,
    queues: BTreeMap<String, Queue>,
    /// (queue, key) -> (job, key expiry)
    idempotency: HashMap<(String, String), (JobId, OffsetDateTime)>,
}

/// The Redis queue's twin: same structures (ready list, scheduled and running
/// sets ordered by time, dead-letter set), one mutex for atomic steps.
pub struct MemoryJobQueue {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

const IDEMPOTENCY_TTL: Duration = Duration::days(1);

impl MemoryJobQueue {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Mutex::new(State::default()) }
    }
}

impl State {
    /// Moves due scheduled jobs to pending and timed-out running jobs back to
    /// the front of pending (they were first in line before).
    fn promote(&mut self, queue: &str, now: OffsetDateTime) {
        let Some(q) = self.queues.get_mut(queue) else { return };
        while let Some(&(at, id)) = q.scheduled.first() {
            if at > now {
                break;
            }
            q.scheduled.pop_first();
            q.pending.push_back(id);
        }
        while let Some(&(deadline, id)) = q.running.first() {
            if deadline > now {
                break;
            }
            q.running.pop_first();
            q.pending.push_front(id);
        }
    }

    /// Takes the job out of running (or out of pending, if its visibility
    /// expired and it was put back) when `lease` still holds it.
    fn take_leased(&mut self, reserved: &Reserved) -> bool {
        let id = reserved.job.id;
        let Some(stored) = self.jobs.get_mut(&id) else { return false };
        if stored.lease.as_deref() != Some(reserved.lease.as_str()) {
            return false;
        }
        stored.lease = None;
        if let Some(q) = self.queues.get_mut(&reserved.job.queue) {
            let before = q.running.len();
            q.running.retain(|(_, j)| *j != id);
            if q.running.len() == before {
                q.pending.retain(|j| *j != id);
            }
        }
        true
    }
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(&self, new: NewJob) -> Result<Enqueued, StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let id = JobId::new();
        if let Some(key) = &new.idempotency_key {
            let slot = (new.queue.clone(), key.clone());
            match state.idempotency.get(&slot) {
                Some((existing, until)) if *until > now => return Ok(Enqueued::Duplicate(*existing)),
                _ => {
                    state.idempotency.insert(slot, (id, now + IDEMPOTENCY_TTL));
                }
            }
        }
        let job = Job {
            id,
            queue: new.queue.clone(),
            kind: new.kind,
            payload: new.payload,
            attempt: 0,
            max_retries: new.max_retries,
            enqueued_at: now,
            last_error: None,
        };
        state.jobs.insert(id, Stored { job, lease: None, died_at: None });
        let q = state.queues.entry(new.queue).or_default();
        if new.delay > Duration::ZERO {
            q.scheduled.insert((now + new.delay, id));
        } else {
            q.pending.push_back(id);
        }
        Ok(Enqueued::Created(id))
    }

    async fn reserve(&self, queue: &str, visibility: Duration) -> Result<Option<Reserved>, StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        state.promote(queue, now);
        loop {
            let Some(id) = state.queues.get_mut(queue).and_then(|q| q.pending.pop_front()) else {
                return Ok(None);
            };
            let lease = uuid::Uuid::new_v4().to_string();
            let Some(stored) = state.jobs.get_mut(&id) else { continue };
            stored.job.attempt += 1;
            stored.lease = Some(lease.clone());
            let job = stored.job.clone();
            if let Some(q) = state.queues.get_mut(queue) {
                q.running.insert((now + visibility, id));
            }
            return Ok(Some(Reserved { job, lease }));
        }
    }

    async fn ack(&self, reserved: &Reserved) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if !state.take_leased(reserved) {
            return Ok(false);
        }
        state.jobs.remove(&reserved.job.id);
        if let Some(q) = state.queues.get_mut(&reserved.job.queue) {
            q.completed += 1;
        }
        Ok(true)
    }

    async fn fail(
        &self,
        reserved: &Reserved,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failed, StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if !state.take_leased(reserved) {
            return Ok(Failed::LeaseLost);
        }
        let id = reserved.job.id;
        if let Some(stored) = state.jobs.get_mut(&id) {
            stored.job.last_error = Some(error.to_owned());
            if retry_in.is_none() {
                stored.died_at = Some(now);
            }
        }
        let q = state.queues.entry(reserved.job.queue.clone()).or_default();
        Ok(match retry_in {
            Some(delay) => {
                q.scheduled.insert((now + delay, id));
                Failed::RetryScheduled
            }
            None => {
                q.dead.insert((now, id));
                Failed::Dead
            }
        })
    }

    async fn release(&self, reserved: &Reserved) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if !state.take_leased(reserved) {
            return Ok(false);
        }
        let id = reserved.job.id;
        if let Some(stored) = state.jobs.get_mut(&id) {
            // An interrupted run does not use up a retry.
            stored.job.attempt = stored.job.attempt.saturating_sub(1);
        }
        state.queues.entry(reserved.job.queue.clone()).or_default().pending.push_front(id);
        Ok(true)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, StoreError> {
        let state = lock(&self.state);
        Ok(state.queues.get(queue).map_or_else(QueueStats::default, |q| QueueStats {
            pending: q.pending.len() as u64,
            scheduled: q.scheduled.len() as u64,
            running: q.running.len() as u64,
            completed: q.completed,
            dead: q.dead.len() as u64,
        }))
    }

    async fn queues(&self) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.state).queues.keys().cloned().collect())
    }

    async fn dead_jobs(&self, queue: &str, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        let state = lock(&self.state);
        let Some(q) = state.queues.get(queue) else { return Ok(Vec::new()) };
        Ok(q.dead
            .iter()
            .rev()
            .take(limit as usize)
            .filter_map(|(died_at, id)| {
                state.jobs.get(id).map(|s| DeadJob { job: s.job.clone(), died_at: *died_at })
            })
            .collect())
    }

    async fn retry_dead(&self, queue: &str, id: JobId) -> Result<bool, StoreError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let Some(died_at) = state.jobs.get(&id).and_then(|s| s.died_at) else { return Ok(false) };
        let Some(q) = state.queues.get_mut(queue) else { return Ok(false) };
        if !q.dead.remove(&(died_at, id)) {
            return Ok(false);
        }
        q.pending.push_back(id);
        if let Some(stored) = state.jobs.get_mut(&id) {
            stored.job.attempt = 0;
            stored.died_at = None;
        }
        Ok(true)
    }
}
