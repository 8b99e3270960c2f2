//! Argon2id password hashing on a bounded pool.
//!
//! Argon2 is memory-hard on purpose (19 MiB and ~20 ms per hash at OWASP's
//! minimum), so an unbounded login flood would exhaust memory and starve every
//! other request. Hashing therefore runs on `concurrency` dedicated threads,
//! with at most `queue` more jobs admitted to wait for one; a caller beyond
//! that is turned away at once with `Overloaded`. The threads run at a lower
//! CPU priority (nice 9), so when cores are scarce the request workers — and
//! with them token-authenticated requests — win.

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use portcullis_application::Cause;
use portcullis_application::ports::{HashError, PasswordHasher, StrengthCheck, Verification};
use portcullis_domain::ValidationErrors;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::PasswordHash;
use rand::RngCore;
use rand::rngs::OsRng;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use time::Duration;
use tokio::sync::oneshot;

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
    pub const OWASP: Self = Self { memory_kib: 19_456, iterations: 2, parallelism: 1 };
    /// For tests only: fast, and still a real Argon2id hash.
    pub const TEST: Self = Self { memory_kib: 64, iterations: 1, parallelism: 1 };
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// A secret mixed into every hash (Argon2's secret parameter), kept outside
/// the database: a stolen table alone cannot be cracked. Its `id` (1–8
/// characters) is stored in each hash (`keyid`), so a new pepper can be
/// introduced while hashes made with an older one still verify and are
/// upgraded at the next sign-in.
#[derive(Clone)]
pub struct Pepper {
    pub id: String,
    pub secret: Secret,
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pepper({}, [REDACTED])", self.id)
    }
}

impl Pepper {
    /// Checks the id and the secret's length.
    pub fn new(id: &str, secret: Secret) -> Result<Self, String> {
        if id.is_empty() || id.len() > Params::MAX_KEYID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "pepper id must be 1-{} letters or digits, got {id:?}",
                Params::MAX_KEYID_LEN
            ));
        }
        if secret.expose().len() < 16 {
            return Err("a pepper must be at least 16 bytes".into());
        }
        Ok(Self { id: id.to_owned(), secret })
    }
}

/// The pepper new hashes use, and older ones that still verify.
#[derive(Debug, Clone, Default)]
pub struct Peppers {
    pub current: Option<Pepper>,
    pub previous: Vec<Pepper>,
}

impl Peppers {
    fn by_id(&self, id: &str) -> Option<&Pepper> {
        self.current.iter().chain(self.previous.iter()).find(|p| p.id == id)
    }
}

/// Bounds on concurrent hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Hashing threads.
    pub concurrency: usize,
    /// Jobs allowed to wait for a thread (0: only when a thread is idle).
    pub queue: usize,
}

type Job = Box<dyn FnOnce() + Send>;

const RETRY_AFTER: Duration = Duration::seconds(1);

/// Maps to nice 9 for normal scheduling (the crate's cross-platform scale).
const HASH_THREAD_PRIORITY: u8 = 23;

/// The hashing threads. They exit when the last sender (the last clone of the
/// hasher) is dropped.
struct Pool {
    jobs: Sender<Job>,
    /// Jobs running or waiting.
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

/// Frees an admission slot when the job is done — run, panicked, or dropped
/// unrun.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn worker(jobs: Arc<Mutex<Receiver<Job>>>) {
    let lowered = thread_priority::ThreadPriorityValue::try_from(HASH_THREAD_PRIORITY)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(p))
                .map_err(|e| e.to_string())
        });
    if let Err(error) = lowered {
        tracing::debug!(%error, "could not lower the hashing thread's priority");
    }
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking job drops its result sender (the caller sees an error)
        // and must not take the thread down with it.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

impl Pool {
    fn new(limits: PoolLimits) -> Result<Self, HashError> {
        let (jobs, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let concurrency = limits.concurrency.max(1);
        for i in 0..concurrency {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(receiver))
                .map_err(|e| HashError::Internal(Cause::context("cannot start hashing thread", e)))?;
        }
        Ok(Self { jobs, admitted: Arc::new(AtomicUsize::new(0)), capacity: concurrency + limits.queue })
    }

    fn full(&self) -> bool {
        self.admitted.load(Ordering::Acquire) >= self.capacity
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Overloaded { retry_after: RETRY_AFTER });
        }
        let admission = Admission(self.admitted.clone());
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let value = job();
            // Freed before the caller hears back, so a caller that immediately
            // hashes again finds its slot free. (A panic frees it on unwind.)
            drop(admission);
            let _ = done.send(value);
        });
        self.jobs.send(job).map_err(|_| HashError::Internal("hash pool stopped".into()))?;
        result.await.map_err(|_| HashError::Internal("hash job failed".into()))
    }
}

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Argon2Params,
    peppers: Arc<Peppers>,
    pool: Arc<Pool>,
    dummy: Arc<String>,
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string().into())
}

fn hash_now(params: Argon2Params, pepper: Option<&Pepper>, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(internal)?;
    let mut builder = argon2::ParamsBuilder::new();
    builder.m_cost(params.memory_kib).t_cost(params.iterations).p_cost(params.parallelism);
    if let Some(pepper) = pepper {
        builder.keyid(argon2::KeyId::new(pepper.id.as_bytes()).map_err(internal)?);
    }
    let p =
        builder.build().map_err(|e| HashError::Internal(format!("invalid argon2 parameters: {e}").into()))?;
    let argon = match pepper {
        Some(pepper) => {
            Argon2::new_with_secret(pepper.secret.expose().as_bytes(), Algorithm::Argon2id, Version::V0x13, p)
                .map_err(internal)?
        }
        None => Argon2::new(Algorithm::Argon2id, Version::V0x13, p),
    };
    argon.hash_password(password, &salt).map(|h| h.to_string()).map_err(internal)
}

/// The pepper id a stored hash was made with (`keyid`), if any.
fn pepper_id(phc: &Phc<'_>) -> Option<String> {
    let keyid = Params::try_from(phc).ok()?.keyid().to_vec();
    (!keyid.is_empty()).then(|| String::from_utf8_lossy(&keyid).into_owned())
}

fn needs_rehash(phc: &Phc<'_>, current: Argon2Params, current_pepper: Option<&Pepper>) -> bool {
    if phc.algorithm.as_str() != "argon2id" {
        return true;
    }
    if pepper_id(phc) != current_pepper.map(|p| p.id.clone()) {
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
        Self::with_peppers(params, limits, Peppers::default())
    }

    /// With a pepper (`PASSWORD_PEPPER`) and the older ones being rotated out.
    pub fn with_peppers(
        params: Argon2Params,
        limits: PoolLimits,
        peppers: Peppers,
    ) -> Result<Self, HashError> {
        let dummy = hash_now(params, peppers.current.as_ref(), b"portcullis-dummy-password")?;
        Ok(Self {
            params,
            peppers: Arc::new(peppers),
            pool: Arc::new(Pool::new(limits)?),
            dummy: Arc::new(dummy),
        })
    }

    fn verify_blocking(
        password: &Secret,
        stored: &str,
        params: Argon2Params,
        peppers: &Peppers,
    ) -> Result<Verification, HashError> {
        let phc = Phc::new(stored)
            .map_err(|e| HashError::Internal(format!("stored hash unreadable: {e}").into()))?;
        // Verification takes the parameters from the stored hash itself, and
        // the pepper it names.
        let verified = match pepper_id(&phc) {
            None => Argon2::default().verify_password(password.expose().as_bytes(), &phc),
            Some(id) => {
                let pepper = peppers.by_id(&id).ok_or_else(|| {
                    HashError::Internal(
                        format!("hash made with pepper {id:?}, which is not configured").into(),
                    )
                })?;
                Argon2::new_with_secret(
                    pepper.secret.expose().as_bytes(),
                    Algorithm::Argon2id,
                    Version::V0x13,
                    Params::default(),
                )
                .map_err(internal)?
                .verify_password(password.expose().as_bytes(), &phc)
            }
        };
        match verified {
            Ok(()) => {
                Ok(Verification::Match { needs_rehash: needs_rehash(&phc, params, peppers.current.as_ref()) })
            }
            Err(argon2::password_hash::Error::Password) => Ok(Verification::Mismatch),
            Err(e) => Err(HashError::Internal(e.to_string().into())),
        }
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    fn saturated(&self) -> Option<Duration> {
        self.pool.full().then_some(RETRY_AFTER)
    }

    async fn hash(&self, password: &Secret, check: Option<StrengthCheck>) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        let params = self.params;
        let peppers = self.peppers.clone();
        self.pool
            .run(move || {
                if let Some(check) = check {
                    let context: Vec<&str> = check.context.iter().map(String::as_str).collect();
                    let errors = check.policy.check_strength(check.field, &password, &context);
                    if !errors.is_empty() {
                        return Err(HashError::Rejected(errors));
                    }
                }
                hash_now(params, peppers.current.as_ref(), password.expose().as_bytes()).map(PasswordHash)
            })
            .await?
    }

    async fn estimate(&self, password: &Secret, check: StrengthCheck) -> Result<ValidationErrors, HashError> {
        let password = password.clone();
        self.pool
            .run(move || {
                let context: Vec<&str> = check.context.iter().map(String::as_str).collect();
                check.policy.check_strength(check.field, &password, &context)
            })
            .await
    }

    async fn verify(&self, password: &Secret, hash: &PasswordHash) -> Result<Verification, HashError> {
        let password = password.clone();
        let stored = hash.0.clone();
        let params = self.params;
        let peppers = self.peppers.clone();
        self.pool.run(move || Self::verify_blocking(&password, &stored, params, &peppers)).await?
    }

    async fn verify_dummy(&self, password: &Secret) -> Result<(), HashError> {
        let password = password.clone();
        let dummy = self.dummy.clone();
        let params = self.params;
        let peppers = self.peppers.clone();
        self.pool.run(move || Self::verify_blocking(&password, &dummy, params, &peppers).map(|_| ())).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(limits: PoolLimits) -> Argon2Hasher {
        Argon2Hasher::new(Argon2Params::TEST, limits).unwrap()
    }

    const ROOMY: PoolLimits = PoolLimits { concurrency: 2, queue: 8 };

    #[tokio::test]
    async fn hashes_verify_and_mismatch() {
        let h = hasher(ROOMY);
        let hash = h.hash(&Secret::new("pw"), None).await.unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify(&Secret::new("pw"), &hash).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(h.verify(&Secret::new("px"), &hash).await.unwrap(), Verification::Mismatch);
        h.verify_dummy(&Secret::new("pw")).await.unwrap();
    }

    #[tokio::test]
    async fn outdated_parameters_need_rehash() {
        let old = hasher(ROOMY).hash(&Secret::new("pw"), None).await.unwrap();
        let stronger =
            Argon2Hasher::new(Argon2Params { memory_kib: 128, iterations: 1, parallelism: 1 }, ROOMY)
                .unwrap();
        assert_eq!(
            stronger.verify(&Secret::new("pw"), &old).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    fn pepper(id: &str, secret: &str) -> Pepper {
        Pepper::new(id, Secret::new(secret)).unwrap()
    }

    /// ASVS review #7: a pepper is mixed in and named by id; rotating it keeps
    /// old hashes verifying (flagged for rehash), and without the pepper a
    /// stolen hash does not verify.
    #[tokio::test]
    async fn peppers_verify_by_id_and_rotate() {
        let p1 = Peppers { current: Some(pepper("p1", "first-pepper-0123456789")), previous: vec![] };
        let h1 = Argon2Hasher::with_peppers(Argon2Params::TEST, ROOMY, p1).unwrap();
        let hash = h1.hash(&Secret::new("pw"), None).await.unwrap();
        assert!(hash.0.contains("keyid="), "{}", hash.0);
        assert_eq!(
            h1.verify(&Secret::new("pw"), &hash).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(h1.verify(&Secret::new("px"), &hash).await.unwrap(), Verification::Mismatch);

        // The same id with another secret: nothing verifies.
        let wrong = Peppers { current: Some(pepper("p1", "not-the-pepper-0123456789")), previous: vec![] };
        let hw = Argon2Hasher::with_peppers(Argon2Params::TEST, ROOMY, wrong).unwrap();
        assert_eq!(hw.verify(&Secret::new("pw"), &hash).await.unwrap(), Verification::Mismatch);
        // Without any pepper configured, a peppered hash is an error, not a match.
        assert!(hasher(ROOMY).verify(&Secret::new("pw"), &hash).await.is_err());

        // Rotation: p2 signs new hashes, p1 still verifies and asks for a rehash.
        let rotated = Peppers {
            current: Some(pepper("p2", "second-pepper-0123456789")),
            previous: vec![pepper("p1", "first-pepper-0123456789")],
        };
        let h2 = Argon2Hasher::with_peppers(Argon2Params::TEST, ROOMY, rotated).unwrap();
        assert_eq!(
            h2.verify(&Secret::new("pw"), &hash).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
        // An unpeppered hash upgrades too.
        let plain = hasher(ROOMY).hash(&Secret::new("pw"), None).await.unwrap();
        assert_eq!(
            h2.verify(&Secret::new("pw"), &plain).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
        let fresh = h2.hash(&Secret::new("pw"), None).await.unwrap();
        assert_eq!(
            h2.verify(&Secret::new("pw"), &fresh).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert!(Pepper::new("toolongid9", Secret::new("x".repeat(32))).is_err());
        assert!(Pepper::new("p3", Secret::new("short")).is_err());
    }

    #[tokio::test]
    async fn strength_check_runs_before_hashing() {
        let check = StrengthCheck { policy: Default::default(), field: "password", context: vec![] };
        let err = hasher(ROOMY).hash(&Secret::new("password1"), Some(check)).await.unwrap_err();
        assert!(matches!(err, HashError::Rejected(_)));
    }

    /// Occupies the pool's one thread until the returned sender fires.
    async fn occupy(
        h: &Argon2Hasher,
    ) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<Result<bool, HashError>>) {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = oneshot::channel();
        let pool = h.pool.clone();
        let running = tokio::spawn(async move {
            pool.run(move || {
                let _ = started_tx.send(());
                blocked.recv().is_ok()
            })
            .await
        });
        started.await.unwrap();
        (release, running)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_pool_turns_callers_away() {
        // One thread, no queue: while it works, the next caller is refused.
        let h = hasher(PoolLimits { concurrency: 1, queue: 0 });
        assert_eq!(h.saturated(), None);
        let (release, running) = occupy(&h).await;
        assert_eq!(h.saturated(), Some(RETRY_AFTER), "a caller can tell before submitting");
        let refused = h.verify_dummy(&Secret::new("pw")).await;
        assert!(matches!(refused, Err(HashError::Overloaded { .. })), "{refused:?}");
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert_eq!(h.saturated(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_callers_wait_for_a_thread() {
        // One thread, one queue slot: the second caller waits, the third is refused.
        let h = hasher(PoolLimits { concurrency: 1, queue: 1 });
        let (release, running) = occupy(&h).await;
        let pw = Secret::new("pw");
        let mut waiting = Box::pin(h.hash(&pw, None));
        // One poll queues the job (it cannot finish while the thread is busy).
        let polled = tokio::time::timeout(std::time::Duration::from_millis(1), &mut waiting).await;
        assert!(polled.is_err(), "the queued job cannot have run yet");
        let refused = h.verify_dummy(&Secret::new("pw")).await;
        assert!(matches!(refused, Err(HashError::Overloaded { .. })), "{refused:?}");
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert!(waiting.await.is_ok());
        assert_eq!(h.pool.admitted.load(Ordering::Acquire), 0, "slots are free again");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let h = hasher(PoolLimits { concurrency: 1, queue: 0 });
        let result: Result<(), HashError> = h.pool.run(|| panic!("boom")).await;
        assert!(matches!(result, Err(HashError::Internal(_))));
        assert!(h.verify_dummy(&Secret::new("pw")).await.is_ok(), "the thread survived");
    }
}
