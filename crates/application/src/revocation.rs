//! Is this access token's session revoked? The database answers for sure
//! (a revoked session has `revoked_at`); the revocation cache (Redis, or its
//! in-process twin) answers fast and is rebuilt from the database whenever it
//! cannot be trusted to be complete:
//! - it started empty (a Redis restart without persistence, a flush, a new
//!   process for the in-memory twin) and says `Cold`;
//! - this instance failed to reach it since the last rebuild (a revocation
//!   written meanwhile may be missing from it).
//!
//! While the cache is unreachable the answer comes from the database, so a
//! Redis outage slows authenticated requests down instead of refusing them
//! (ADR 0007). Writes to the cache are best effort for the same reason: the
//! database write has already happened.

use crate::error::AppError;
use crate::ports::{CacheAnswer, Clock, RevocationList, SessionStore, StoreError};
use portcullis_domain::ids::SessionId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use time::Duration;

#[derive(Default)]
struct CacheHealth {
    /// Incremented by every failed cache call.
    failures: AtomicU64,
    /// `failures` as it was when the last successful rebuild started.
    trusted_at: AtomicU64,
    rebuilding: AtomicBool,
    /// Unix seconds of the last warning (at most one every 30 s).
    last_warning: AtomicI64,
}

/// Resets the rebuilding flag even if the rebuilding request is dropped.
struct RebuildGuard<'a>(&'a AtomicBool);

impl Drop for RebuildGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Clone)]
pub struct Revocations {
    cache: Arc<dyn RevocationList>,
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    /// The access-token lifetime: how long a revocation must be remembered.
    token_ttl: Duration,
    health: Arc<CacheHealth>,
}

const WARN_EVERY_SECONDS: i64 = 30;

impl Revocations {
    pub fn new(
        cache: Arc<dyn RevocationList>,
        sessions: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        token_ttl: Duration,
    ) -> Self {
        Self { cache, sessions, clock, token_ttl, health: Arc::default() }
    }

    /// True when the token (`token_id`) or its session is revoked.
    pub async fn is_revoked(&self, token_id: &str, session_id: SessionId) -> Result<bool, AppError> {
        let ids = [token_id.to_owned(), session_id.to_string()];
        match self.cache.check(&ids).await {
            Ok(CacheAnswer::Revoked) => return Ok(true),
            Ok(CacheAnswer::NotRevoked) if self.trusted() => return Ok(false),
            Ok(_) => self.rebuild().await,
            Err(error) => self.failed(&error),
        }
        self.revoked_in_database(session_id).await
    }

    /// Lists `id` in the cache for `ttl`. Best effort: the caller has written
    /// the revocation to the database already; a failure marks the cache as
    /// incomplete, so it is rebuilt before it is trusted again.
    pub async fn cache(&self, id: &str, ttl: Duration) {
        if let Err(error) = self.cache.revoke(id, ttl).await {
            self.failed(&error);
        }
    }

    /// Lists a session for as long as any access token of it can be valid.
    pub async fn cache_session(&self, session_id: SessionId) {
        self.cache(&session_id.to_string(), self.token_ttl).await;
    }

    fn trusted(&self) -> bool {
        self.health.failures.load(Ordering::Acquire) == self.health.trusted_at.load(Ordering::Acquire)
    }

    fn failed(&self, error: &StoreError) {
        self.health.failures.fetch_add(1, Ordering::AcqRel);
        let now = self.clock.now().unix_timestamp();
        let last = self.health.last_warning.load(Ordering::Relaxed);
        if now - last >= WARN_EVERY_SECONDS
            && self
                .health
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %error,
                "revocation cache unavailable: revocations are checked in the database until it is rebuilt"
            );
        }
    }

    /// Loads the sessions revoked within one token lifetime into the cache
    /// and marks it complete. One rebuild at a time per instance; the others
    /// ask the database meanwhile.
    async fn rebuild(&self) {
        if self.health.rebuilding.swap(true, Ordering::AcqRel) {
            return;
        }
        let _guard = RebuildGuard(&self.health.rebuilding);
        let generation = self.health.failures.load(Ordering::Acquire);
        let now = self.clock.now();
        let revoked = match self.sessions.revoked_since(now - self.token_ttl).await {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::warn!(%error, "could not read revoked sessions to rebuild the revocation cache");
                return;
            }
        };
        let entries: Vec<(String, Duration)> =
            revoked.iter().map(|(id, at)| (id.to_string(), *at + self.token_ttl - now)).collect();
        match self.cache.warm(&entries).await {
            Ok(()) => {
                self.health.trusted_at.store(generation, Ordering::Release);
                tracing::info!(entries = entries.len(), "revocation cache rebuilt from the database");
            }
            Err(error) => self.failed(&error),
        }
    }

    /// A session that is gone (purged) is as good as revoked.
    async fn revoked_in_database(&self, session_id: SessionId) -> Result<bool, AppError> {
        let session = self.sessions.get(session_id).await?;
        Ok(session.is_none_or(|s| s.revoked_at.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockRevocationList, MockSessionStore};
    use portcullis_domain::session::Session;
    use std::sync::Mutex;
    use time::OffsetDateTime;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn clock() -> Arc<dyn Clock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| NOW + Duration::days(1));
        Arc::new(clock)
    }

    fn live_session() -> Session {
        Session {
            id: SessionId::new(),
            user_id: portcullis_domain::ids::UserId::new(),
            created_at: NOW,
            last_used_at: NOW,
            revoked_at: None,
            ip: None,
            user_agent: None,
            sign_in_method: portcullis_domain::session::SignInMethod::Password,
            trust_score: 20,
            device_id: None,
            second_factor: None,
            auth_time: NOW,
        }
    }

    /// A cold cache (Redis restarted empty) is rebuilt from the sessions
    /// revoked within one token lifetime; this request asks the database.
    #[tokio::test]
    async fn a_cold_cache_is_rebuilt_from_the_database() {
        let revoked = SessionId::new();
        let now = NOW + Duration::days(1);
        let mut sessions = MockSessionStore::new();
        sessions
            .expect_revoked_since()
            .withf(move |since| *since == now - Duration::minutes(15))
            .times(1)
            .returning(move |_| Ok(vec![(revoked, now - Duration::minutes(5))]));
        sessions.expect_get().times(1).returning(|_| Ok(Some(live_session())));
        let mut cache = MockRevocationList::new();
        cache.expect_check().times(1).returning(|_| Ok(CacheAnswer::Cold));
        cache
            .expect_warm()
            .withf(move |entries| entries == [(revoked.to_string(), Duration::minutes(10))])
            .times(1)
            .returning(|_| Ok(()));
        let r = Revocations::new(Arc::new(cache), Arc::new(sessions), clock(), Duration::minutes(15));
        assert!(!r.is_revoked("jti", SessionId::new()).await.unwrap());
    }

    /// After a failed cache write the cache is not trusted until rebuilt:
    /// "not listed" is then checked in the database.
    #[tokio::test]
    async fn a_failed_write_distrusts_the_cache_until_a_rebuild() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut cache = MockRevocationList::new();
        cache.expect_revoke().times(1).returning(|_, _| Err(StoreError::Unavailable("down".into())));
        cache.expect_check().returning(|_| Ok(CacheAnswer::NotRevoked));
        let log = calls.clone();
        cache.expect_warm().times(1).returning(move |_| {
            log.lock().unwrap().push("warm");
            Ok(())
        });
        let mut sessions = MockSessionStore::new();
        sessions.expect_revoked_since().times(1).returning(|_| Ok(Vec::new()));
        let revoked = live_session();
        let mut revoked = Session { revoked_at: Some(NOW), ..revoked };
        revoked.id = SessionId::new();
        let sid = revoked.id;
        sessions.expect_get().times(1).returning(move |_| Ok(Some(revoked.clone())));
        let r = Revocations::new(Arc::new(cache), Arc::new(sessions), clock(), Duration::minutes(15));
        r.cache_session(sid).await;
        // The cache says "not listed" but missed the write: the database is asked.
        assert!(r.is_revoked("jti", sid).await.unwrap());
        // Rebuilt: trusted again, no more database reads (get expected once).
        assert!(!r.is_revoked("jti", sid).await.unwrap());
        assert_eq!(*calls.lock().unwrap(), vec!["warm"]);
    }
}
