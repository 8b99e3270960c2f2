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
    async fn handle(&self, _job: &Job) -> Result<(), JobError> {
        let now = self.clock.now();
        let purged = self
            .sessions
            .purge_expired(now, now - KEEP_REVOKED_SESSIONS)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(
            refresh_tokens = purged.refresh_tokens,
            sessions = purged.sessions,
            "purged expired sessions"
        );
        Ok(())
    }
}
