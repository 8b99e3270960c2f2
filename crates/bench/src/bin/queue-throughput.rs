//! Job-queue throughput on Redis (part of `make bench`; issue 13): P
//! producers enqueue no-op jobs while C consumers reserve and ack them, all
//! through `RedisJobQueue`, as the worker does with `WORKER_CONCURRENCY`
//! slots. Prints jobs/s end to end (first enqueue → last ack) and the Redis
//! CPU time spent per 10,000 jobs (from `INFO cpu`).
//!
//! `REDIS_URL` (default the local Redis), `JOBS` (default 50,000),
//! `PRODUCERS` and `CONSUMERS` (default 4 and 4), `POOL` (default 8).

// A measuring tool: a failure stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_application::ports::{JobQueue, NewJob};
use portcullis_bench::{env_number, redis_cpu};
use portcullis_infrastructure::redis::{RedisJobQueue, RedisStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use time::Duration as TimeDuration;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let jobs = env_number("JOBS", 50_000);
    let producers = env_number("PRODUCERS", 4).max(1);
    let consumers = env_number("CONSUMERS", 4).max(1);
    let pool = env_number("POOL", 8).max(1);
    let prefix = format!("queue-bench:{}:", std::process::id());
    let queue = Arc::new(RedisJobQueue::new(RedisStore::new(&url, &prefix, pool).expect("REDIS_URL")));
    let done = Arc::new(AtomicUsize::new(0));
    let cpu_before = redis_cpu(&url).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..producers {
        let queue = queue.clone();
        let share = jobs / producers + usize::from(p < jobs % producers);
        tasks.spawn(async move {
            for _ in 0..share {
                let job = NewJob {
                    queue: "bench".into(),
                    kind: "noop".into(),
                    payload: serde_json::Value::Null,
                    delay: TimeDuration::ZERO,
                    idempotency_key: None,
                    max_retries: 0,
                };
                queue.enqueue(job).await.expect("enqueue");
            }
        });
    }
    for _ in 0..consumers {
        let (queue, done) = (queue.clone(), done.clone());
        tasks.spawn(async move {
            while done.load(Ordering::Relaxed) < jobs {
                match queue.reserve("bench", TimeDuration::seconds(30)).await.expect("reserve") {
                    Some(reserved) => {
                        assert!(queue.ack(&reserved).await.expect("ack"), "lease held");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    // Nothing ready: the producers are behind; try again shortly.
                    None => tokio::time::sleep(Duration::from_micros(200)).await,
                }
            }
        });
    }
    tasks.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = redis_cpu(&url).await - cpu_before;
    let stats = queue.stats("bench").await.expect("stats");
    assert_eq!(stats.completed, jobs as u64, "every job acked once");
    println!(
        "| {producers} producers, {consumers} consumers, pool {pool} | {jobs} | {:.0} jobs/s | {:.2} s Redis CPU per 10k jobs |",
        jobs as f64 / elapsed,
        cpu / jobs as f64 * 10_000.0
    );
}
