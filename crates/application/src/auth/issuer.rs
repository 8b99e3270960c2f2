//! Sessions and their tokens, shared by every way of signing in: opening a
//! session (first refresh token + access token) and ending a user's sessions
//! (the database first, then the revocation cache).

use super::TokenPair;
use super::notices::Notices;
use crate::error::AppError;
use crate::mail::SecurityEvent;
use crate::ports::{
    AccessGrant, AccessTokenIssuer, AuditLog, Clock, DeviceStore, SessionStore, TokenGenerator, Touched,
};
use crate::revocation::Revocations;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::SessionId;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::session::{NewRefreshToken, Session, SessionLimits, SignInMethod};
use portcullis_domain::trust::{TrustSignals, trust_score};
use portcullis_domain::user::User;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub struct SessionIssuer {
    pub sessions: Arc<dyn SessionStore>,
    pub access_tokens: Arc<dyn AccessTokenIssuer>,
    pub token_generator: Arc<dyn TokenGenerator>,
    pub clock: Arc<dyn Clock>,
    pub revocations: Revocations,
    pub refresh_token_ttl: Duration,
    /// Idle and absolute session timeouts.
    pub limits: SessionLimits,
    /// Recent failed sign-ins, for the trust score.
    pub audit_log: Arc<dyn AuditLog>,
    /// The devices sign-ins come from.
    pub devices: Arc<dyn DeviceStore>,
    /// The security alert a sign-in from a new device or place sends.
    pub notices: Notices,
}

/// Failed sign-ins within this window lower a new session's trust.
const RECENT_FAILURES: Duration = Duration::hours(24);
/// Failures past this many lower the trust no further (the penalty is capped).
const MAX_FAILURES_COUNTED: u32 = 10;

impl SessionIssuer {
    /// What the session about to open is trusted with (0–100). Each signal
    /// that cannot be read counts as absent: less trust, never more.
    async fn trust(
        &self,
        user: &User,
        ctx: &RequestContext,
        now: OffsetDateTime,
        trusted_device: bool,
        second_factor: bool,
    ) -> u8 {
        let known_ip = match ctx.ip.as_deref() {
            Some(ip) => self.sessions.seen_ip(user.id, ip).await.unwrap_or(false),
            None => false,
        };
        // Counted on their own: no amount of other activity (refreshes)
        // hides a failure, and the read costs the same whatever the history.
        let recent_failures = self
            .audit_log
            .count_recent(user.id, AuditAction::LoginFailed, now - RECENT_FAILURES, MAX_FAILURES_COUNTED)
            .await
            .unwrap_or(0);
        let signals = TrustSignals {
            trusted_device,
            known_ip,
            second_factor,
            account_age: now - user.created_at,
            recent_failures,
        };
        trust_score(&signals).value()
    }

    /// Records the device a sign-in comes from. Best effort: a device store
    /// that fails does not stop the sign-in (the session has no device, and
    /// no device trust).
    async fn recognise(&self, user: &User, ctx: &RequestContext, now: OffsetDateTime) -> Option<Touched> {
        let hint = ctx.device.as_ref()?;
        let key = hint.key()?;
        match self.devices.touch(user.id, &key, &hint.name(), ctx.ip.clone(), now).await {
            Ok(touched) => Some(touched),
            Err(error) => {
                tracing::warn!(%error, "could not record the device of a sign-in");
                None
            }
        }
    }

    /// An access token for `session`, never outliving its deadlines.
    pub(crate) fn access_token(
        &self,
        session: &Session,
        now: OffsetDateTime,
    ) -> Result<crate::ports::IssuedAccessToken, AppError> {
        let grant = AccessGrant {
            user_id: session.user_id,
            session_id: session.id,
            not_after: self.limits.token_deadline(session, now),
            trust_score: session.trust_score,
            authentication: session.authentication(),
        };
        self.access_tokens.issue(&grant, now).map_err(|e| AppError::Internal(crate::Cause::new(e)))
    }

    /// Opens a session: first refresh token plus an access token.
    pub async fn start(
        &self,
        user: &User,
        method: SignInMethod,
        second_factor: Option<portcullis_domain::mfa::SecondFactor>,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let new_location = self.notices.is_new_location(user, ctx).await;
        let device = self.recognise(user, ctx, now).await;
        let new_device = device.as_ref().is_some_and(|t| t.new && t.had_others);
        if new_location || new_device {
            self.notices.security_alert(user, SecurityEvent::NewLogin, ctx).await;
        }
        let trusted_device = device.as_ref().is_some_and(|t| t.device.trusted);
        let trust_score = self.trust(user, ctx, now, trusted_device, second_factor.is_some()).await;
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            revoked_at: None,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            sign_in_method: method,
            trust_score,
            device_id: device.map(|t| t.device.id),
            second_factor,
            auth_time: now,
        };
        let refresh_token = self.token_generator.refresh_token();
        let first = NewRefreshToken {
            hash: TokenHash::of(&refresh_token),
            expires_at: now + self.refresh_token_ttl,
            sealed_for_parent: Vec::new(),
        };
        self.sessions.create(&session, &first).await?;
        let access = self.access_token(&session, now)?;
        Ok(TokenPair { access_token: access.token, expires_in: access.expires_in, refresh_token })
    }
    /// Revokes the user's sessions (all, or all but `keep`) and their live
    /// access tokens; returns how many.
    pub(crate) async fn revoke_user_sessions(
        &self,
        user: &User,
        keep: Option<portcullis_domain::ids::SessionId>,
    ) -> Result<usize, AppError> {
        let revoked = self.sessions.revoke_all_for_user(user.id, keep, self.clock.now()).await?;
        for sid in &revoked {
            self.revocations.cache_session(*sid).await;
        }
        Ok(revoked.len())
    }
}
