//! Recurring clean-ups, run as jobs.

use crate::jobs::{JobError, JobHandler};
use crate::ports::{Clock, Job, SessionStore};
use async_trait::async_trait;
use std::sync::Arc;
use time::Duration;

/// How long revoked sessions stay visible (e.g. to a "your sessions" page).
pub const KEEP_REVOKED_SESSIONS: Duration = Duration::days(1);

/// Runs `maintenance.purge_sessions`: deletes expired refresh tokens and dead
/// sessions.
pub struct PurgeSessions {
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
}

impl PurgeSessions {
    pub fn new(sessions: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) -> Self {
        Self { sessions, clock }
    }
}

#[async_trait]
impl JobHandler for PurgeSessions {
    fn kind(&self) -> crate::jobs::JobKind {
        crate::jobs::kinds::PURGE_SESSIONS
    }

    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let now = self.clock.now();
        let purged =
            self.sessions.purge_expired(now, now - KEEP_REVOKED_SESSIONS).await.map_err(JobError::retry)?;
        tracing::info!(
            refresh_tokens = purged.refresh_tokens,
            sessions = purged.sessions,
            "purged expired sessions"
        );
        Ok(())
    }
}

/// Runs `maintenance.purge_devices`: forgets devices nobody signed in from
/// for `DEVICE_RETENTION`.
pub struct PurgeDevices {
    devices: Arc<dyn crate::ports::DeviceStore>,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl PurgeDevices {
    pub fn new(
        devices: Arc<dyn crate::ports::DeviceStore>,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> Self {
        Self { devices, clock, retention }
    }
}

#[async_trait]
impl JobHandler for PurgeDevices {
    fn kind(&self) -> crate::jobs::JobKind {
        crate::jobs::kinds::PURGE_DEVICES
    }

    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let before = self.clock.now() - self.retention;
        let purged = self.devices.purge_unused(before).await.map_err(JobError::retry)?;
        tracing::info!(devices = purged, "purged unused devices");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockSessionStore, Purged, StoreError};
    use portcullis_domain::jobs::JobId;
    use time::OffsetDateTime;

    fn job() -> Job {
        Job {
            id: JobId::new(),
            queue: "maintenance".into(),
            kind: "maintenance.purge_sessions".into(),
            payload: serde_json::json!({}),
            attempt: 1,
            max_retries: 3,
            enqueued_at: OffsetDateTime::UNIX_EPOCH,
            last_error: None,
        }
    }

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH + Duration::days(100));
        Arc::new(clock)
    }

    #[tokio::test]
    async fn purges_with_a_day_of_revoked_history_kept() {
        let mut sessions = MockSessionStore::new();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        sessions
            .expect_purge_expired()
            .withf(move |at, revoked_before| *at == now && *revoked_before == now - Duration::days(1))
            .times(1)
            .returning(|_, _| Ok(Purged { refresh_tokens: 3, sessions: 1 }));
        PurgeSessions::new(Arc::new(sessions), clock()).handle(&job()).await.unwrap();
    }

    #[tokio::test]
    async fn a_store_outage_is_retried() {
        let mut sessions = MockSessionStore::new();
        sessions.expect_purge_expired().returning(|_, _| Err(StoreError::Unavailable("db down".into())));
        let err = PurgeSessions::new(Arc::new(sessions), clock()).handle(&job()).await.unwrap_err();
        assert!(matches!(err, JobError::Retry(_)));
    }
}
