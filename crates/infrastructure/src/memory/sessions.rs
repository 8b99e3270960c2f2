use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Purged, RotateOutcome, SessionStore, StoreError};
use portcullis_domain::ids::{DeviceId, SessionId, UserId};
use portcullis_domain::secret::TokenHash;
use portcullis_domain::session::{
    NewRefreshToken, RefreshDecision, RefreshTokenRecord, RotationRules, Session, decide_refresh,
};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Session>,
    tokens: HashMap<[u8; 32], RefreshTokenRecord>,
}

/// One mutex over sessions and tokens: `rotate` reads and writes both in a
/// single critical section, which is what makes it atomic.
#[derive(Default)]
pub struct MemorySessionStore(Mutex<State>);

fn record(session_id: SessionId, new: &NewRefreshToken, now: OffsetDateTime) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: new.hash,
        session_id,
        issued_at: now,
        expires_at: new.expires_at,
        rotated_at: None,
        child_hash: None,
        sealed_child: None,
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, session: &Session, first: &NewRefreshToken) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        if state.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("session id"));
        }
        if state.tokens.contains_key(first.hash.as_bytes()) {
            return Err(StoreError::Conflict("refresh token"));
        }
        state.sessions.insert(session.id, session.clone());
        state.tokens.insert(*first.hash.as_bytes(), record(session.id, first, session.created_at));
        Ok(())
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        child: &NewRefreshToken,
        now: OffsetDateTime,
        rules: &RotationRules,
    ) -> Result<RotateOutcome, StoreError> {
        let mut guard = lock(&self.0);
        let state = &mut *guard;
        let Some(token) = state.tokens.get(presented.as_bytes()).cloned() else {
            return Ok(RotateOutcome::Unknown);
        };
        let Some(session) = state.sessions.get(&token.session_id).cloned() else {
            return Ok(RotateOutcome::Unknown);
        };
        let current_child = token.child_hash.and_then(|h| state.tokens.get(h.as_bytes()));
        match decide_refresh(&token, current_child, &session, now, rules) {
            RefreshDecision::Rotate => {
                if state.tokens.contains_key(child.hash.as_bytes()) {
                    return Err(StoreError::Conflict("refresh token"));
                }
                state.tokens.insert(*child.hash.as_bytes(), record(session.id, child, now));
                if let Some(parent) = state.tokens.get_mut(presented.as_bytes()) {
                    parent.rotated_at = Some(now);
                    parent.child_hash = Some(child.hash);
                    parent.sealed_child = Some(child.sealed_for_parent.clone());
                }
                let session = state.sessions.get_mut(&session.id).map(|s| {
                    s.last_used_at = now;
                    s.clone()
                });
                Ok(session.map_or(RotateOutcome::Unknown, |session| RotateOutcome::Rotated { session }))
            }
            RefreshDecision::Grace { sealed_child } => Ok(RotateOutcome::Grace { session, sealed_child }),
            RefreshDecision::Reuse => {
                let session = state.sessions.get_mut(&session.id).map(|s| {
                    s.revoked_at.get_or_insert(now);
                    s.clone()
                });
                Ok(session.map_or(RotateOutcome::Unknown, |session| RotateOutcome::Reused { session }))
            }
            RefreshDecision::Expired => Ok(RotateOutcome::Expired),
            RefreshDecision::Revoked => Ok(RotateOutcome::Revoked),
        }
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.0).sessions.get(&id).cloned())
    }

    async fn list_active(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        let state = lock(&self.0);
        let mut sessions: Vec<Session> = state
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none())
            .cloned()
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sessions)
    }

    async fn revoke_for_device(
        &self,
        user_id: UserId,
        device: DeviceId,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut state = lock(&self.0);
        let mut revoked = Vec::new();
        for s in state.sessions.values_mut() {
            if s.user_id == user_id && s.device_id == Some(device) && s.revoked_at.is_none() {
                s.revoked_at = Some(now);
                revoked.push(s.id);
            }
        }
        Ok(revoked)
    }

    async fn seen_ip(&self, user_id: UserId, ip: &str) -> Result<bool, StoreError> {
        let state = lock(&self.0);
        Ok(state.sessions.values().any(|s| s.user_id == user_id && s.ip.as_deref() == Some(ip)))
    }

    async fn reauthenticated(
        &self,
        id: SessionId,
        second_factor: Option<portcullis_domain::mfa::SecondFactor>,
        at: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let mut state = lock(&self.0);
        match state.sessions.get_mut(&id) {
            Some(s) if s.revoked_at.is_none() => {
                s.auth_time = s.auth_time.max(at);
                s.second_factor = second_factor.or(s.second_factor);
                Ok(Some(s.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn revoke(&self, id: SessionId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        match state.sessions.get_mut(&id) {
            Some(s) if s.revoked_at.is_none() => {
                s.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut state = lock(&self.0);
        let mut revoked: Vec<SessionId> = state
            .sessions
            .values_mut()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && Some(s.id) != keep)
            .map(|s| {
                s.revoked_at = Some(now);
                s.id
            })
            .collect();
        revoked.sort();
        Ok(revoked)
    }

    async fn revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<(SessionId, OffsetDateTime)>, StoreError> {
        let state = lock(&self.0);
        let mut revoked: Vec<(SessionId, OffsetDateTime)> = state
            .sessions
            .values()
            .filter_map(|s| s.revoked_at.filter(|at| *at >= since).map(|at| (s.id, at)))
            .collect();
        revoked.sort();
        Ok(revoked)
    }

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        revoked_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        let mut guard = lock(&self.0);
        let state = &mut *guard;
        let tokens_before = state.tokens.len();
        state.tokens.retain(|_, t| t.expires_at > now);
        let live: std::collections::HashSet<SessionId> =
            state.tokens.values().map(|t| t.session_id).collect();
        let sessions_before = state.sessions.len();
        state.sessions.retain(|id, s| live.contains(id) && s.revoked_at.is_none_or(|at| at > revoked_before));
        // Tokens of removed sessions go with them (the database cascades).
        let sessions = &state.sessions;
        state.tokens.retain(|_, t| sessions.contains_key(&t.session_id));
        Ok(Purged {
            refresh_tokens: (tokens_before - state.tokens.len()) as u64,
            sessions: (sessions_before - state.sessions.len()) as u64,
        })
    }
}
