//! The Argon2id ceiling for the login scenarios of `deploy/bench/http-load.sh`
//! (issue 13): times verifications with the server's own hasher (OWASP cost
//! unless ARGON2_MEMORY_KIB / ARGON2_ITERATIONS say otherwise), one at a time,
//! and prints the logins per second that `THREADS` hashing threads can verify
//! at most on this machine: min(THREADS, cores) / the median verify time.

// A measuring tool: a failure stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use portcullis_application::ports::PasswordHasher;
use portcullis_domain::secret::Secret;
use portcullis_infrastructure::password::{Argon2Hasher, Argon2Params, PoolLimits};
use std::time::Instant;

fn env(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let params = Argon2Params {
        memory_kib: env("ARGON2_MEMORY_KIB").unwrap_or(Argon2Params::OWASP.memory_kib),
        iterations: env("ARGON2_ITERATIONS").unwrap_or(Argon2Params::OWASP.iterations),
        parallelism: 1,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = env("THREADS").map_or(cores, |t| t as usize).max(1);
    let hasher = Argon2Hasher::new(params, PoolLimits { concurrency: 1, queue: 4 }).expect("hasher");
    let password = Secret::new("Quartz-Lantern-91!".to_owned());
    let hash = hasher.hash(&password, None).await.expect("hash");
    let mut times: Vec<f64> = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        hasher.verify(&password, &hash).await.expect("verify");
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let ceiling = threads.min(cores) as f64 / median;
    println!(
        "Argon2id m={} KiB t={}: one verify {:.1} ms (median of 30); ceiling with {} hashing thread(s) on {} core(s): {:.0} logins/s",
        params.memory_kib,
        params.iterations,
        median * 1000.0,
        threads,
        cores,
        ceiling
    );
}
