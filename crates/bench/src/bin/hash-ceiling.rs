//! The Argon2id ceiling for the login scenarios of `deploy/bench/http-load.sh`
//! (issue 13), measured with the server's own hasher (OWASP cost unless
//! ARGON2_MEMORY_KIB / ARGON2_ITERATIONS say otherwise): the time of one
//! verification alone, then how many verifications per second its pool of
//! `THREADS` hashing threads (default: the cores, like MAX_HASH_CONCURRENCY)
//! completes when it is kept full for `SECONDS` (default 5) with nothing else
//! running. That is the most logins per second this machine can answer.

// A measuring tool: a failure stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_application::ports::PasswordHasher;
use portcullis_bench::env_number;
use portcullis_domain::secret::Secret;
use portcullis_infrastructure::password::{Argon2Hasher, Argon2Params, PoolLimits};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cost = |name, default: u32| u32::try_from(env_number(name, default as usize)).unwrap_or(default);
    let params = Argon2Params {
        memory_kib: cost("ARGON2_MEMORY_KIB", Argon2Params::OWASP.memory_kib),
        iterations: cost("ARGON2_ITERATIONS", Argon2Params::OWASP.iterations),
        parallelism: 1,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = env_number("THREADS", cores).max(1);
    let hasher = Arc::new(
        Argon2Hasher::new(params, PoolLimits { concurrency: threads, queue: threads * 4 }).expect("hasher"),
    );
    let password = Secret::new("Quartz-Lantern-91!".to_owned());
    let hash = hasher.hash(&password, None).await.expect("hash");
    let mut times: Vec<f64> = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        hasher.verify(&password, &hash).await.expect("verify");
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let single = times[times.len() / 2];
    let seconds = env_number("SECONDS", 5);
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..threads * 2 {
        let (hasher, password, hash, done) = (hasher.clone(), password.clone(), hash.clone(), done.clone());
        clients.spawn(async move {
            while Instant::now() < deadline {
                hasher.verify(&password, &hash).await.expect("verify");
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    clients.join_all().await;
    let ceiling = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "Argon2id m={} KiB t={}: one verify alone {:.1} ms; ceiling, {} hashing thread(s) kept busy on {} core(s): {:.0} logins/s",
        params.memory_kib,
        params.iterations,
        single * 1000.0,
        threads,
        cores,
        ceiling
    );
}
