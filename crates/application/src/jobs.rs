//! Job handlers: the use-case side of background work. The worker runtime
//! (in the binary) reserves jobs and calls the handler registered for the
//! job's kind; delivery is at-least-once, so handlers must be idempotent.

use crate::ports::{Job, NewJob, OutboxMessage};
use async_trait::async_trait;
use serde_json::Value;

/// Where a request that promised a job came from: carried in the job's
/// payload (flattened: `ip`, `user_agent`, `request_id`) so the job audits
/// what it does against the request that asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn of(ctx: &portcullis_domain::audit::RequestContext) -> Self {
        Self { ip: ctx.ip.clone(), user_agent: ctx.user_agent.clone(), request_id: ctx.request_id.clone() }
    }

    /// The context the job's audit events are recorded with.
    pub fn context(&self) -> portcullis_domain::audit::RequestContext {
        portcullis_domain::audit::RequestContext {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
            route: None,
            device: None,
        }
    }
}

/// A queue, by name. Workers poll the queues of the handlers registered with
/// them, so a queue exists by having a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Queue(&'static str);

impl Queue {
    pub const MAIL: Queue = Queue("mail");
    pub const MAINTENANCE: Queue = Queue("maintenance");
    pub const FILES: Queue = Queue("files");
    /// Text messages: a provider outage does not hold mail back.
    pub const SMS: Queue = Queue("sms");

    pub const fn named(name: &'static str) -> Self {
        Self(name)
    }

    pub fn name(self) -> &'static str {
        self.0
    }
}

/// A kind of job and the queue it runs on. Each handler owns its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobKind {
    pub name: &'static str,
    pub queue: Queue,
}

impl JobKind {
    /// A job of this kind, for the queue.
    pub fn job(self, payload: Value) -> NewJob {
        NewJob::new(self.queue.name(), self.name, payload)
    }

    /// A job of this kind, for the outbox.
    pub fn message(self, payload: Value) -> OutboxMessage {
        OutboxMessage::new(self.queue.name(), self.name, payload)
    }
}

/// The job kinds of this crate's handlers.
pub mod kinds {
    use super::{JobKind, Queue};

    /// Render and send one mail (`mail::SendEmail`).
    pub const EMAIL_SEND: JobKind = JobKind { name: "email.send", queue: Queue::MAIL };
    /// Look the account up, mint a single-use token, mail the link (`links::SendLink`).
    pub const SEND_LINK: JobKind = JobKind { name: "account.send_link", queue: Queue::MAIL };
    /// Mints an invitation's token and mails it.
    pub const SEND_INVITATION: JobKind = JobKind { name: "account.send_invitation", queue: Queue::MAIL };
    /// Mint a code, keep its hash, text it (`auth::SendSmsCode`).
    pub const SEND_SMS_CODE: JobKind = JobKind { name: "mfa.send_sms_code", queue: Queue::SMS };
    /// Delete what can no longer be used (`maintenance::PurgeSessions`).
    pub const PURGE_SESSIONS: JobKind =
        JobKind { name: "maintenance.purge_sessions", queue: Queue::MAINTENANCE };
    /// Forget devices unused for `DEVICE_RETENTION` (`maintenance::PurgeDevices`).
    pub const PURGE_DEVICES: JobKind =
        JobKind { name: "maintenance.purge_devices", queue: Queue::MAINTENANCE };
    /// Virus-scan a stored file (`files::pipeline::ScanFile`).
    pub const FILE_SCAN: JobKind = JobKind { name: "file.scan", queue: Queue::FILES };
    /// Inspect a clean file and keep its summary (`files::pipeline::ProcessFile`).
    pub const FILE_PROCESS: JobKind = JobKind { name: "file.process", queue: Queue::FILES };
    /// Remove quarantined bytes past `QUARANTINE_RETENTION` (`files::pipeline::PurgeQuarantine`).
    pub const PURGE_QUARANTINE: JobKind =
        JobKind { name: "maintenance.purge_quarantine", queue: Queue::MAINTENANCE };
    /// Remove presigned uploads never confirmed (`files::pipeline::PurgeAbandonedUploads`).
    pub const PURGE_ABANDONED_UPLOADS: JobKind =
        JobKind { name: "maintenance.purge_abandoned_uploads", queue: Queue::MAINTENANCE };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another try (timeouts, a backend briefly down).
    #[error(transparent)]
    Retry(crate::cause::Cause),
    /// Will never succeed (bad payload); goes straight to the dead-letter set.
    #[error(transparent)]
    Fatal(crate::cause::Cause),
}

impl JobError {
    /// A backend failure, worth another try.
    pub fn retry(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Retry(crate::cause::Cause::new(e))
    }
}

#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// The kind of job this handler runs (and so the queue it needs polled).
    fn kind(&self) -> JobKind;
    async fn handle(&self, job: &Job) -> Result<(), JobError>;
}
