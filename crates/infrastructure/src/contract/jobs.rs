use portcullis_application::ports::{Enqueued, Failed, JobQueue, NewJob, QueueStats};
use portcullis_domain::jobs::JobId;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use time::Duration;

const VISIBILITY: Duration = Duration::seconds(30);

fn job(queue: &str, n: u32) -> NewJob {
    NewJob::new(queue, "test.kind", json!({ "n": n, "nested": { "ok": true } }))
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

contract_suite! { $ job_queue_contract for jobs;

pub async fn enqueue_reserve_ack(q: Arc<dyn JobQueue>) {
    let id = q.enqueue(job("mail", 1)).await.unwrap();
    assert!(matches!(id, Enqueued::Created(_)));
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { pending: 1, ..Default::default() });

    let r = q.reserve("mail", VISIBILITY).await.unwrap().expect("a job");
    assert_eq!(r.job.id, id.id());
    assert_eq!((r.job.queue.as_str(), r.job.kind.as_str()), ("mail", "test.kind"));
    assert_eq!(r.job.payload, json!({ "n": 1, "nested": { "ok": true } }));
    assert_eq!((r.job.attempt, r.job.max_retries, r.job.last_error.clone()), (1, 3, None));
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { running: 1, ..Default::default() });

    assert!(q.ack(&r).await.unwrap());
    assert!(!q.ack(&r).await.unwrap(), "a second ack is a no-op");
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { completed: 1, ..Default::default() });
    assert!(q.reserve("mail", VISIBILITY).await.unwrap().is_none());
    assert!(q.reserve("other", VISIBILITY).await.unwrap().is_none());
}

pub async fn first_in_first_out(q: Arc<dyn JobQueue>) {
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(q.enqueue(job("mail", n)).await.unwrap().id());
    }
    for expected in ids {
        let r = q.reserve("mail", VISIBILITY).await.unwrap().unwrap();
        assert_eq!(r.job.id, expected);
    }
}

pub async fn delayed_jobs_wait_their_turn(q: Arc<dyn JobQueue>) {
    let now = time::OffsetDateTime::now_utc();
    q.enqueue(job("mail", 1).run_at(now + Duration::seconds(1), now)).await.unwrap();
    q.enqueue(job("mail", 2).run_at(now - Duration::hours(1), now)).await.unwrap();
    let past = q.reserve("mail", VISIBILITY).await.unwrap().expect("a run-at in the past runs at once");
    assert_eq!(past.job.payload["n"], 2);
    assert!(q.reserve("mail", VISIBILITY).await.unwrap().is_none());
    assert_eq!(q.stats("mail").await.unwrap().scheduled, 1);
    sleep_ms(1300).await;
    assert!(q.reserve("mail", VISIBILITY).await.unwrap().is_some());
}

pub async fn idempotency_keys_deduplicate(q: Arc<dyn JobQueue>) {
    let keyed = |queue: &str| job(queue, 1).with_idempotency_key("purge:2026-11-25T18");
    let first = q.enqueue(keyed("mail")).await.unwrap();
    let second = q.enqueue(keyed("mail")).await.unwrap();
    assert!(matches!(first, Enqueued::Created(_)));
    assert_eq!(second, Enqueued::Duplicate(first.id()));
    assert_eq!(q.stats("mail").await.unwrap().pending, 1);
    assert!(matches!(q.enqueue(keyed("files")).await.unwrap(), Enqueued::Created(_)), "keys are per queue");
}

pub async fn visibility_timeout_redelivers(q: Arc<dyn JobQueue>) {
    let id = q.enqueue(job("mail", 1)).await.unwrap().id();
    // A worker reserves the job and dies without acknowledging it.
    let lost = q.reserve("mail", Duration::seconds(1)).await.unwrap().unwrap();
    assert!(q.reserve("mail", VISIBILITY).await.unwrap().is_none(), "invisible while leased");
    sleep_ms(1300).await;
    let again = q.reserve("mail", VISIBILITY).await.unwrap().expect("redelivered");
    assert_eq!(again.job.id, id);
    assert_eq!(again.job.attempt, 2);
    assert!(!q.ack(&lost).await.unwrap(), "the dead worker's lease is void");
    assert_eq!(q.fail(&lost, "late", None).await.unwrap(), Failed::LeaseLost);
    assert!(q.ack(&again).await.unwrap());
}

pub async fn failures_retry_then_die(q: Arc<dyn JobQueue>) {
    let id = q.enqueue(job("mail", 1)).await.unwrap().id();
    let r = q.reserve("mail", VISIBILITY).await.unwrap().unwrap();
    assert_eq!(
        q.fail(&r, "smtp timeout", Some(Duration::milliseconds(150))).await.unwrap(),
        Failed::RetryScheduled
    );
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { scheduled: 1, ..Default::default() });
    sleep_ms(500).await;
    let r = q.reserve("mail", VISIBILITY).await.unwrap().expect("retried");
    assert_eq!((r.job.id, r.job.attempt), (id, 2));
    assert_eq!(r.job.last_error.as_deref(), Some("smtp timeout"));

    assert_eq!(q.fail(&r, "mailbox full", None).await.unwrap(), Failed::Dead);
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { dead: 1, ..Default::default() });
    let dead = q.dead_jobs("mail", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].job.id, dead[0].job.last_error.as_deref()), (id, Some("mailbox full")));

    assert!(!q.retry_dead("mail", JobId::new()).await.unwrap());
    assert!(!q.retry_dead("files", id).await.unwrap());
    assert!(q.retry_dead("mail", id).await.unwrap());
    assert!(!q.retry_dead("mail", id).await.unwrap(), "no longer dead");
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { pending: 1, ..Default::default() });
    let r = q.reserve("mail", VISIBILITY).await.unwrap().unwrap();
    assert_eq!((r.job.id, r.job.attempt), (id, 1), "a fresh retry budget");
}

pub async fn release_returns_the_job_at_once(q: Arc<dyn JobQueue>) {
    let first = q.enqueue(job("mail", 1)).await.unwrap().id();
    q.enqueue(job("mail", 2)).await.unwrap();
    let r = q.reserve("mail", VISIBILITY).await.unwrap().unwrap();
    assert!(q.release(&r).await.unwrap());
    assert!(!q.release(&r).await.unwrap());
    let again = q.reserve("mail", VISIBILITY).await.unwrap().unwrap();
    assert_eq!((again.job.id, again.job.attempt), (first, 1), "first in line again, attempt not used up");
}

pub async fn concurrent_workers_get_each_job_once(q: Arc<dyn JobQueue>) {
    for n in 0..30 {
        q.enqueue(job("mail", n)).await.unwrap();
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let q = q.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            while let Some(r) = q.reserve("mail", VISIBILITY).await.unwrap() {
                assert!(q.ack(&r).await.unwrap());
                done.push(r.job.id);
            }
            done
        });
    }
    let all: Vec<JobId> = workers.join_all().await.into_iter().flatten().collect();
    assert_eq!(all.len(), 30);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30);
    assert_eq!(q.stats("mail").await.unwrap(), QueueStats { completed: 30, ..Default::default() });
}

pub async fn queues_are_listed(q: Arc<dyn JobQueue>) {
    assert!(q.queues().await.unwrap().is_empty());
    q.enqueue(job("mail", 1)).await.unwrap();
    q.enqueue(job("files", 1)).await.unwrap();
    assert_eq!(q.queues().await.unwrap(), vec!["files".to_owned(), "mail".to_owned()]);
}
}
