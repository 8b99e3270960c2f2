//! Argon2id password hashing on a bounded pool.
//!
//! Argon2 is memory-hard on purpose (19 MiB and ~20 ms per hash at OWASP's
//! minimum), so an unbounded login flood would exhaust memory and starve every
//! other request. Hashing therefore runs on Tokio's blocking threads behind a
//! semaphore of `concurrency` permits, with at most `queue` callers waiting;
//! anyone beyond that is turned away at once with `Overloaded`.

use argon2::password_hash::{
    PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use portcullis_application::ports::{HashError, PasswordHasher, StrengthCheck, Verification};
use portcullis_domain::secret::Secret;
use portcullis_domain::user::PasswordHash;
use rand::RngCore;
use rand::rngs::OsRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::Duration;
use tokio::sync::Semaphore;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's minimum recommendation for Argon2id.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
    /// For tests only: fast, and still a real Argon2id hash.
    pub const TEST: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Bounds on concurrent hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    pub concurrency: usize,
    pub queue: usize,
}

struct Pool {
    permits: Semaphore,
    admitted: AtomicUsize,
    capacity: usize,
}

/// Releases an admission slot however the caller's future ends (even dropped).
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

const RETRY_AFTER: Duration = Duration::seconds(1);

impl Pool {
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Overloaded {
                retry_after: RETRY_AFTER,
            });
        }
        let _admission = Admission(&self.admitted);
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Internal("hash pool closed".into()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| HashError::Internal(format!("hash task failed: {e}")))
    }
}

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Argon2Params,
    pool: Arc<Pool>,
    dummy: Arc<String>,
}

fn argon2(params: Argon2Params) -> Result<Argon2<'static>, HashError> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError::Internal(format!("invalid argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

fn hash_now(params: Argon2Params, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Internal(e.to_string()))?;
    argon2(params)?
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Internal(e.to_string()))
}

fn needs_rehash(phc: &Phc<'_>, current: Argon2Params) -> bool {
    if phc.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(phc) {
        Ok(p) => {
            p.m_cost() != current.memory_kib
                || p.t_cost() != current.iterations
                || p.p_cost() != current.parallelism
        }
        Err(_) => true,
    }
}

impl Argon2Hasher {
    /// Validates the parameters and precomputes the dummy hash used for
    /// unknown accounts (one hash at start-up).
    pub fn new(params: Argon2Params, limits: PoolLimits) -> Result<Self, HashError> {
        let concurrency = limits.concurrency.max(1);
        let dummy = hash_now(params, b"portcullis-dummy-password")?;
        Ok(Self {
            params,
            pool: Arc::new(Pool {
                permits: Semaphore::new(concurrency),
                admitted: AtomicUsize::new(0),
                capacity: concurrency + limits.queue,
            }),
            dummy: Arc::new(dummy),
        })
    }

    fn verify_blocking(
        password: &Secret,
        stored: &str,
        params: Argon2Params,
    ) -> Result<Verification, HashError> {
        let phc = Phc::new(stored)
            .map_err(|e| HashError::Internal(format!("stored hash unreadable: {e}")))?;
        // Verification takes the parameters from the stored hash itself.
        match Argon2::default().verify_password(password.expose().as_bytes(), &phc) {
            Ok(()) => Ok(Verification::Match {
                needs_rehash: needs_rehash(&phc, params),
            }),
            Err(argon2::password_hash::Error::Password) => Ok(Verification::Mismatch),
            Err(e) => Err(HashError::Internal(e.to_string())),
        }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(
        &self,
        password: &Secret,
        check: Option<StrengthCheck>,
    ) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        let params = self.params;
        self.pool
            .run(move || {
                if let Some(check) = check {
                    let context: Vec<&str> = check.context.iter().map(String::as_str).collect();
                    let errors = check
                        .policy
                        .check_strength(check.field, &password, &context);
                    if !errors.is_empty() {
                        return Err(HashError::Rejected(errors));
                    }
                }
                hash_now(params, password.expose().as_bytes()).map(PasswordHash)
            })
            .await?
    }

    async fn verify(
        &self,
        password: &Secret,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let password = password.clone();
        let stored = hash.0.clone();
        let params = self.params;
        self.pool
            .run(move || Self::verify_blocking(&password, &stored, params))
            .await?
    }

    async fn verify_dummy(&self, password: &Secret) -> Result<(), HashError> {
        let password = password.clone();
        let dummy = self.dummy.clone();
        let params = self.params;
        self.pool
            .run(move || Self::verify_blocking(&password, &dummy, params).map(|_| ()))
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(limits: PoolLimits) -> Argon2Hasher {
        Argon2Hasher::new(Argon2Params::TEST, limits).unwrap()
    }

    const ROOMY: PoolLimits = PoolLimits {
        concurrency: 2,
        queue: 8,
    };

    #[tokio::test]
    async fn hashes_verify_and_mismatch() {
        let h = hasher(ROOMY);
        let hash = h.hash(&Secret::new("pw"), None).await.unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify(&Secret::new("pw"), &hash).await.unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(&Secret::new("px"), &hash).await.unwrap(),
            Verification::Mismatch
        );
        h.verify_dummy(&Secret::new("pw")).await.unwrap();
    }

    #[tokio::test]
    async fn outdated_parameters_need_rehash() {
        let old = hasher(ROOMY).hash(&Secret::new("pw"), None).await.unwrap();
        let stronger = Argon2Hasher::new(
            Argon2Params {
                memory_kib: 128,
                iterations: 1,
                parallelism: 1,
            },
            ROOMY,
        )
        .unwrap();
        assert_eq!(
            stronger.verify(&Secret::new("pw"), &old).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn strength_check_runs_before_hashing() {
        let check = StrengthCheck {
            policy: Default::default(),
            field: "password",
            context: vec![],
        };
        let err = hasher(ROOMY)
            .hash(&Secret::new("password1"), Some(check))
            .await
            .unwrap_err();
        assert!(matches!(err, HashError::Rejected(_)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_pool_turns_callers_away() {
        // concurrency 1 + queue 1: one job runs, one waits, the third is refused.
        let h = hasher(PoolLimits {
            concurrency: 1,
            queue: 1,
        });
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let pool = h.pool.clone();
        let running = tokio::spawn(async move { pool.run(move || blocked.recv().is_ok()).await });
        while h.pool.admitted.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(&Secret::new("pw"), None).await })
        };
        while h.pool.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = h.verify_dummy(&Secret::new("pw")).await;
        assert!(
            matches!(refused, Err(HashError::Overloaded { .. })),
            "{refused:?}"
        );

        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert!(waiting.await.unwrap().is_ok());
        // Every slot is free again.
        assert_eq!(h.pool.admitted.load(Ordering::Acquire), 0);
        assert!(h.verify_dummy(&Secret::new("pw")).await.is_ok());
    }
}
