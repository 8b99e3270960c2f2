use super::StoreError;
use async_trait::async_trait;
use time::Duration;

/// When failed logins lock an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window` that lock the account.
    pub threshold: u32,
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptGate {
    /// The attempt may check the password; `attempt` is its number in the window.
    Allowed {
        attempt: u32,
    },
    Locked {
        retry_after: Duration,
    },
}

/// Counts password attempts per account key. An attempt is counted *before*
/// the password is checked, atomically, so N parallel guesses can never get
/// more than `threshold` password checks through. An attempt that ends without
/// a verdict (a backend failed, the hashing pool was full) is given back with
/// [`LoginAttempts::release`]: only a verified mismatch may count toward a lock.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    async fn begin(&self, key: &str, policy: &LockoutPolicy) -> Result<AttemptGate, StoreError>;
    /// Gives back one attempt counted by `begin` that reached no verdict. Never
    /// takes the count below zero; a lock stays.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
    /// Locks the account for `lock_for` (the caller decides when: a failure
    /// numbered at or above the threshold) and clears the count.
    async fn lock(&self, key: &str, lock_for: Duration) -> Result<(), StoreError>;
    /// A success clears the count (a lock cannot be in force: `begin` let it in).
    async fn succeed(&self, key: &str) -> Result<(), StoreError>;
    /// The owner proved control of the account another way (a password reset):
    /// clears the count and lifts a lock.
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}
