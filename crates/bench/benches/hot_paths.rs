//! Hot paths: what every request or every login pays.
//! Run with `make bench` (or `cargo bench -p portcullis-bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_application::ports::{
    AccessTokenIssuer, JobQueue, NewJob, PasswordHasher, RateLimiter, SessionStore, TokenGenerator,
};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::password::PasswordPolicy;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, Session};
use portcullis_infrastructure::clock::SystemClock;
use portcullis_infrastructure::jwt::{JwtIssuer, SigningAlgorithm};
use portcullis_infrastructure::memory::{MemoryJobQueue, MemoryRateLimiter, MemorySessionStore};
use portcullis_infrastructure::password::{Argon2Hasher, Argon2Params, PoolLimits};
use portcullis_infrastructure::random::OsTokenGenerator;
use portcullis_infrastructure::redis::{RedisJobQueue, RedisStore};
use std::hint::black_box;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

const RSA_PEM: &str = include_str!("../../infrastructure/testdata/rsa2048.pem");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn domain(c: &mut Criterion) {
    c.bench_function("email_parse", |b| b.iter(|| Email::parse(black_box("  Ada.Lovelace+x@Example.COM "))));
    let policy = PasswordPolicy::default();
    let pw = Secret::new("Quartz-Lantern-91!");
    c.bench_function("password_rules", |b| b.iter(|| policy.check_rules("password", black_box(&pw))));
    c.bench_function("password_zxcvbn_18_chars", |b| {
        b.iter(|| policy.check_strength("password", black_box(&pw), &["ada@example.com"]))
    });
    let long = Secret::new("Quartz-Lantern-91!".repeat(7));
    c.bench_function("password_zxcvbn_126_chars", |b| {
        b.iter(|| policy.check_strength("password", black_box(&long), &[]))
    });
    c.bench_function("refresh_token_generate_and_hash", |b| {
        b.iter(|| TokenHash::of(&OsTokenGenerator.refresh_token()))
    });
}

fn jwt(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let ed = JwtIssuer::generate_ed25519("portcullis", "portcullis", Duration::minutes(15)).unwrap();
    let rs = JwtIssuer::from_pem(
        SigningAlgorithm::Rs256,
        RSA_PEM.as_bytes(),
        "portcullis",
        "portcullis",
        Duration::minutes(15),
    )
    .unwrap();
    for (name, issuer) in [("eddsa", &ed), ("rs256", &rs)] {
        c.bench_function(&format!("jwt_issue_{name}"), |b| {
            b.iter(|| {
                issuer.issue(
                    &portcullis_application::ports::AccessGrant {
                        user_id: UserId::new(),
                        session_id: SessionId::new(),
                        not_after: now + time::Duration::days(1),
                        trust_score: 20,
                        authentication: password_sign_in(now),
                    },
                    now,
                )
            })
        });
        let token = issuer
            .issue(
                &portcullis_application::ports::AccessGrant {
                    user_id: UserId::new(),
                    session_id: SessionId::new(),
                    not_after: now + time::Duration::days(1),
                    trust_score: 20,
                    authentication: password_sign_in(now),
                },
                now,
            )
            .unwrap()
            .token;
        c.bench_function(&format!("jwt_verify_{name}"), |b| {
            b.iter(|| issuer.verify(black_box(token.expose()), now))
        });
    }
}

fn argon2(c: &mut Criterion) {
    let rt = runtime();
    let hasher = Argon2Hasher::new(Argon2Params::OWASP, PoolLimits { concurrency: 1, queue: 8 }).unwrap();
    let pw = Secret::new("Quartz-Lantern-91!");
    let hash = rt.block_on(hasher.hash(&pw, None)).unwrap();
    let mut group = c.benchmark_group("argon2id_owasp");
    group.sample_size(20);
    group.bench_function("hash", |b| b.iter(|| rt.block_on(hasher.hash(&pw, None)).unwrap()));
    group.bench_function("verify", |b| b.iter(|| rt.block_on(hasher.verify(&pw, &hash)).unwrap()));
    group.finish();
}

fn stores(c: &mut Criterion) {
    let rt = runtime();
    let limiter = MemoryRateLimiter::new(Arc::new(SystemClock));
    c.bench_function("memory_rate_limit_hit", |b| {
        b.iter(|| rt.block_on(limiter.hit("ip:203.0.113.7", u32::MAX, Duration::minutes(1))).unwrap())
    });

    let store = MemorySessionStore::default();
    let now = OffsetDateTime::now_utc();
    let session = Session {
        id: SessionId::new(),
        user_id: UserId::new(),
        created_at: now,
        last_used_at: now,
        revoked_at: None,
        ip: None,
        user_agent: None,
        sign_in_method: portcullis_domain::session::SignInMethod::Password,
        trust_score: 20,
        device_id: None,
        second_factor: None,
        auth_time: now,
    };
    let rules = portcullis_domain::session::RotationRules {
        grace: Duration::seconds(10),
        limits: portcullis_domain::session::SessionLimits {
            idle: Duration::days(7),
            absolute: Duration::days(30),
        },
    };
    let new = |s: &Secret| NewRefreshToken {
        hash: TokenHash::of(s),
        expires_at: now + Duration::days(7),
        sealed_for_parent: vec![0; 60],
    };
    let mut current = OsTokenGenerator.refresh_token();
    rt.block_on(store.create(&session, &new(&current))).unwrap();
    c.bench_function("memory_session_rotate", |b| {
        b.iter(|| {
            let child = OsTokenGenerator.refresh_token();
            rt.block_on(store.rotate(&TokenHash::of(&current), &new(&child), now, &rules)).unwrap();
            current = child;
        })
    });
}

/// One job's whole life: enqueue, reserve, ack.
fn job_cycle(rt: &tokio::runtime::Runtime, queue: &dyn JobQueue) {
    rt.block_on(async {
        queue.enqueue(NewJob::new("bench", "bench.job", serde_json::json!({ "n": 1 }))).await.unwrap();
        let reserved = queue.reserve("bench", Duration::seconds(30)).await.unwrap().unwrap();
        queue.ack(&reserved).await.unwrap();
    });
}

fn jobs(c: &mut Criterion) {
    let rt = runtime();
    let memory = MemoryJobQueue::new(Arc::new(SystemClock));
    c.bench_function("memory_job_enqueue_reserve_ack", |b| b.iter(|| job_cycle(&rt, &memory)));
    // Against a real Redis when REDIS_URL is set (a benchmark, not a test:
    // without Redis it reports that it did not run).
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let prefix = format!("bench:{}:", std::process::id());
            let redis = RedisJobQueue::new(RedisStore::new(&url, &prefix, 4).unwrap());
            c.bench_function("redis_job_enqueue_reserve_ack", |b| b.iter(|| job_cycle(&rt, &redis)));
        }
        Err(_) => eprintln!("REDIS_URL not set: redis_job_enqueue_reserve_ack not measured"),
    }
}

/// File intake, per byte: the type sniffer (every byte checked for text),
/// SHA-256, and the in-memory scanner, each over 10 MiB in 64 KiB chunks, the
/// way an upload streams. (clamd's own INSTREAM rate is measured by the
/// upload scenario once it exists.)
fn files(c: &mut Criterion) {
    use portcullis_application::ports::{ByteStream, VirusScanner};
    use portcullis_domain::files::Sniffer;
    use portcullis_infrastructure::memory::MemoryVirusScanner;
    use sha2::{Digest, Sha256};

    const SIZE: usize = 10 * 1024 * 1024;
    let csv: Vec<u8> =
        b"2026-11-26,ACME Bank,credit card,1234.56,current\n".iter().copied().cycle().take(SIZE).collect();
    let chunks: Vec<bytes::Bytes> = csv.chunks(64 * 1024).map(bytes::Bytes::copy_from_slice).collect();
    let mut group = c.benchmark_group("files");
    group.throughput(criterion::Throughput::Bytes(SIZE as u64));
    group.sample_size(20);
    group.bench_function("sniff_csv_10MiB", |b| {
        b.iter(|| {
            let mut sniffer = Sniffer::new();
            chunks.iter().for_each(|chunk| sniffer.feed(chunk));
            black_box(sniffer.finish())
        })
    });
    group.bench_function("sha256_10MiB", |b| {
        b.iter(|| {
            let mut hasher = Sha256::new();
            chunks.iter().for_each(|chunk| hasher.update(chunk));
            black_box(hasher.finalize())
        })
    });
    let rt = runtime();
    let scanner = MemoryVirusScanner::default();
    group.bench_function("memory_scanner_10MiB", |b| {
        b.iter(|| {
            let stream: ByteStream = Box::pin(futures_util::stream::iter(chunks.clone().into_iter().map(Ok)));
            rt.block_on(scanner.scan(stream)).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, domain, jwt, argon2, stores, jobs, files);
criterion_main!(benches);

fn password_sign_in(at: time::OffsetDateTime) -> portcullis_domain::session::Authentication {
    portcullis_domain::session::Authentication {
        method: portcullis_domain::session::SignInMethod::Password,
        second_factor: None,
        at,
    }
}
