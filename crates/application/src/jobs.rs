//! Job handlers: the use-case side of background work. The worker runtime
//! (in the binary) reserves jobs and calls the handler registered for the
//! job's kind; delivery is at-least-once, so handlers must be idempotent.

use crate::ports::Job;
use async_trait::async_trait;

/// Queue names.
pub mod queues {
    pub const MAIL: &str = "mail";
    pub const MAINTENANCE: &str = "maintenance";
}

/// Job kinds.
pub mod kinds {
    pub const EMAIL_SEND: &str = "email.send";
    /// Look the account up, mint a single-use token, mail the link.
    pub const SEND_LINK: &str = "account.send_link";
    pub const PURGE_SESSIONS: &str = "maintenance.purge_sessions";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another try (timeouts, a backend briefly down).
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (bad payload); goes straight to the dead-letter set.
    #[error("{0}")]
    Fatal(String),
}

#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}
