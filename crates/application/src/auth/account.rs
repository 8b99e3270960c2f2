use super::AuthService;
use crate::error::AppError;
use crate::ports::{AccessClaims, StoreError, TokenError};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext};
use portcullis_domain::ids::{AuditEventId, UserId};
use portcullis_domain::password::normalize;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{ProfileChanges, User};
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde_json::{Map, Value, json};
use time::Duration;

/// One page of a user's security events, newest first.
#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_cursor: Option<AuditEventId>,
}

impl AuthService {
    /// Verifies an access token and checks that neither it nor its session was
    /// revoked.
    /// Refusals are audited (once a minute per source and reason, so a flood
    /// of bad tokens cannot fill the audit table).
    pub async fn authenticate(&self, bearer: &str, ctx: &RequestContext) -> Result<AccessClaims, AppError> {
        let claims = match self.ports.access_tokens.verify(bearer, self.ports.clock.now()) {
            Ok(claims) => claims,
            Err(TokenError::Expired) => {
                self.access_rejected("expired", None, ctx).await;
                return Err(AppError::TokenExpired);
            }
            Err(_) => {
                self.access_rejected("invalid", None, ctx).await;
                return Err(AppError::InvalidToken);
            }
        };
        if self.revocations.is_revoked(&claims.token_id, claims.session_id).await? {
            self.access_rejected("revoked", Some(claims.user_id), ctx).await;
            return Err(AppError::InvalidToken);
        }
        Ok(claims)
    }

    async fn access_rejected(&self, reason: &str, user_id: Option<UserId>, ctx: &RequestContext) {
        let key = format!("access:{}:{reason}", ctx.ip.as_deref().unwrap_or("-"));
        let details = json!({ "reason": reason });
        self.audit.record_deduped(&key, AuditAction::AccessTokenRejected, user_id, ctx, details).await;
    }

    /// Ends the session of this access token: the token and the session's
    /// refresh token stop working.
    pub async fn logout(&self, claims: &AccessClaims, ctx: &RequestContext) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        self.ports.sessions.revoke(claims.session_id, now).await?;
        let remaining = (claims.expires_at - now).max(Duration::seconds(1));
        self.revocations.cache(&claims.token_id, remaining).await;
        self.revocations.cache_session(claims.session_id).await;
        self.audit
            .record(
                AuditAction::Logout,
                Some(claims.user_id),
                ctx,
                json!({ "session_id": claims.session_id }),
            )
            .await;
        Ok(())
    }

    pub async fn me(&self, user_id: UserId) -> Result<User, AppError> {
        self.ports.users.find_by_id(user_id).await?.ok_or(AppError::NotFound("user"))
    }

    /// Applies profile changes; the audit event carries previous and new values.
    pub async fn update_profile(
        &self,
        user_id: UserId,
        changes: ProfileChanges,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let before = self.me(user_id).await?;
        if changes.is_empty() {
            return Ok(before);
        }
        let after = match self.ports.users.update_profile(user_id, &changes, self.ports.clock.now()).await {
            Err(StoreError::NotFound) => return Err(AppError::NotFound("user")),
            other => other?,
        };
        let mut previous = Map::new();
        let mut current = Map::new();
        if changes.display_name.is_some() {
            let name = |u: &User| u.display_name.as_ref().map_or(Value::Null, |d| Value::from(d.as_str()));
            previous.insert("display_name".into(), name(&before));
            current.insert("display_name".into(), name(&after));
        }
        self.audit
            .record(
                AuditAction::ProfileUpdated,
                Some(user_id),
                ctx,
                json!({ "previous": previous, "new": current }),
            )
            .await;
        Ok(after)
    }

    /// Changes the password after checking the current one; every other session
    /// of the user is revoked, the calling one survives.
    pub async fn change_password(
        &self,
        claims: &AccessClaims,
        current: &Secret,
        new: &Secret,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let user = self.me(claims.user_id).await?;
        // Counted like a login: the current-password check is a password oracle.
        let (checked, _) =
            self.counted_check(&user.email, Some(&user), current, "current_password", ctx).await?;
        if checked == super::login::Checked::Mismatch {
            return Err(AppError::Validation(ValidationErrors::single(
                "current_password",
                "incorrect",
                "current password is incorrect",
            )));
        }
        let mut errors = ValidationErrors::default();
        let new = &normalize(new);
        if normalize(current) == *new {
            errors.push(FieldViolation::new(
                "new_password",
                "unchanged",
                "must differ from the current password",
            ));
        }
        let context =
            super::strength_context(user.email.as_str(), user.display_name.as_ref().map(|d| d.as_str()));
        let check = self.validate_new_password("new_password", new, context, errors).await?;
        let hash = self.ports.hasher.hash(new, Some(check)).await?;
        let now = self.ports.clock.now();
        self.ports.users.set_password_hash(user.id, &hash, now).await?;
        self.end_pending_links(&user).await?;
        let revoked = self.revoke_user_sessions(&user, Some(claims.session_id)).await?;
        self.security_alert(&user, crate::mail::SecurityEvent::PasswordChanged, ctx).await;
        self.audit
            .record(AuditAction::PasswordChanged, Some(user.id), ctx, json!({ "revoked_sessions": revoked }))
            .await;
        Ok(())
    }

    /// The user's own security events, newest first.
    pub async fn activity(
        &self,
        user_id: UserId,
        before: Option<AuditEventId>,
        limit: u32,
    ) -> Result<ActivityPage, AppError> {
        let limit = limit.clamp(1, 100);
        // One extra row tells whether another page exists.
        let mut events = self.ports.audit.list_for_user(user_id, before, limit + 1).await?;
        let next_cursor = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| e.id)
        } else {
            None
        };
        Ok(ActivityPage { events, next_cursor })
    }
}
