//! The rate-limit check on Redis (part of `make bench`; issue 13): what one
//! request's check costs in time and in Redis CPU. `CLIENTS` tasks (default
//! 32, like the bearer scenario's connections) each call
//! `RedisRateLimiter::hit_all` with two budgets (the source's and the
//! user's, as the middleware does) `CALLS` times in all (default 100,000).
//! Prints p50/p90/p99 of one call and Redis' CPU seconds per 10,000 checks.

// A measuring tool: a failure stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_application::ports::{RateLimitKey, RateLimiter};
use portcullis_bench::{env_number, redis_cpu};
use portcullis_infrastructure::redis::{RedisRateLimiter, RedisStore};
use std::sync::Arc;
use std::time::Instant;
use time::Duration;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let clients = env_number("CLIENTS", 32).max(1);
    let calls = env_number("CALLS", 100_000);
    let prefix = format!("limiter-bench:{}:", std::process::id());
    let limiter = Arc::new(RedisRateLimiter::new(RedisStore::new(&url, &prefix, 8).expect("REDIS_URL")));
    let cpu_before = redis_cpu(&url).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let limiter = limiter.clone();
        let share = calls / clients;
        tasks.spawn(async move {
            let (ip, user) = (format!("general:ip:203.0.113.{c}"), format!("general:user:{c}"));
            let keys = [
                RateLimitKey { key: &ip, limit: 1_000_000_000, window: Duration::minutes(1) },
                RateLimitKey { key: &user, limit: 1_000_000_000, window: Duration::minutes(1) },
            ];
            let mut took = Vec::with_capacity(share);
            for _ in 0..share {
                let t = Instant::now();
                let decisions = limiter.hit_all(&keys).await.expect("hit_all");
                assert!(decisions.iter().all(|d| d.allowed));
                took.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            took
        });
    }
    let mut took: Vec<f64> = tasks.join_all().await.into_iter().flatten().collect();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = redis_cpu(&url).await - cpu_before;
    took.sort_by(f64::total_cmp);
    let at = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    println!(
        "| {clients} clients, two budgets per check | {:.0} checks/s | {:.3} / {:.3} / {:.3} ms | {:.2} s Redis CPU per 10k checks |",
        took.len() as f64 / elapsed,
        at(0.50),
        at(0.90),
        at(0.99),
        cpu / took.len() as f64 * 10_000.0
    );
}
