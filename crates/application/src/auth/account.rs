//! The account and its profile: registration, profile, password change,
//! the user's own activity.

use super::notices::Notices;
use super::passwords::{Checked, Passwords};
use super::{RegisterInput, SessionIssuer};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::links::LinkPurpose;
use crate::ports::{AccessClaims, AuditLog, Clock, OneTimeTokenStore, StoreError, UserRepository};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{AuditEventId, UserId};
use portcullis_domain::password::normalize;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{DisplayName, ProfileChanges, User};
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One page of a user's security events, newest first.
#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_cursor: Option<AuditEventId>,
}

#[derive(Clone)]
pub struct AccountService {
    pub users: Arc<dyn UserRepository>,
    pub passwords: Passwords,
    pub issuer: SessionIssuer,
    pub notices: Notices,
    pub one_time_tokens: Arc<dyn OneTimeTokenStore>,
    /// The user's own events (activity).
    pub audit_log: Arc<dyn AuditLog>,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    /// A password change needs a sign-in (or step-up) this recent.
    pub reauth_window: time::Duration,
}

impl AccountService {
    /// Creates an account. Every invalid field is reported at once.
    pub async fn register(&self, input: RegisterInput, ctx: &RequestContext) -> Result<User, AppError> {
        let mut errors = ValidationErrors::default();
        let email = Email::parse(&input.email).map_err(|e| errors.extend(e)).ok();
        let display_name = match input.display_name.as_deref() {
            Some(raw) => DisplayName::parse(raw).map_err(|e| errors.extend(e)).ok(),
            None => None,
        };
        let context = super::strength_context(&input.email, display_name.as_ref().map(DisplayName::as_str));
        let password = normalize(&input.password);
        let check = self.passwords.validate_new_password("password", &password, context, errors).await?;
        let Some(email) = email else {
            return Err(AppError::Internal("email parsed without errors yet missing".into()));
        };
        if self.users.find_by_email(&email).await?.is_some() {
            return Err(AppError::EmailTaken);
        }
        let password_hash = self.passwords.hasher.hash(&password, Some(check)).await?;

        let now = self.clock.now();
        let user = User {
            id: UserId::new(),
            email,
            display_name,
            password_hash,
            created_at: now,
            updated_at: now,
            email_verified_at: None,
            locked_at: None,
        };
        // The account and its verification mail (an outbox entry) are written
        // together: a 201 always comes with its mail.
        let verification = self.notices.link_request(LinkPurpose::Verification, &user.email, ctx)?;
        match self.users.insert_promising(&user, &[verification], now).await {
            Ok(()) => {}
            // Lost a race with a concurrent registration of the same email.
            Err(StoreError::Conflict(_)) => return Err(AppError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        self.audit
            .record(AuditAction::UserRegistered, Some(user.id), ctx, json!({ "email": user.email.as_str() }))
            .await;
        Ok(user)
    }
    /// An account whose address someone vouched for (the operator's
    /// bootstrap admin, an accepted invitation): the password meets the
    /// policy, the address counts as verified, no verification mail.
    /// Returns `EmailTaken` when the address has an account.
    pub async fn create_verified(
        &self,
        email: &Email,
        password: &Secret,
        display_name: Option<DisplayName>,
        field: &'static str,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let context = super::strength_context(email.as_str(), display_name.as_ref().map(DisplayName::as_str));
        let password = normalize(password);
        let check = self
            .passwords
            .validate_new_password(field, &password, context, ValidationErrors::default())
            .await?;
        let password_hash = self.passwords.hasher.hash(&password, Some(check)).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::new(),
            email: email.clone(),
            display_name,
            password_hash,
            created_at: now,
            updated_at: now,
            email_verified_at: Some(now),
            locked_at: None,
        };
        match self.users.insert(&user).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AppError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        let details = json!({ "email": user.email.as_str(), "verified": true });
        self.audit.record(AuditAction::UserRegistered, Some(user.id), ctx, details).await;
        Ok(user)
    }

    /// The account as shown to its owner (may come from the user cache).
    pub async fn me(&self, user_id: UserId) -> Result<User, AppError> {
        self.users.find_by_id_cached(user_id).await?.ok_or(AppError::NotFound("user"))
    }
    /// The account as the database holds it, for a decision or an audit.
    async fn current(&self, user_id: UserId) -> Result<User, AppError> {
        self.users.find_by_id(user_id).await?.ok_or(AppError::NotFound("user"))
    }
    /// Applies profile changes; the audit event carries previous and new values.
    pub async fn update_profile(
        &self,
        user_id: UserId,
        changes: ProfileChanges,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let before = self.current(user_id).await?;
        if changes.is_empty() {
            return Ok(before);
        }
        let after = match self.users.update_profile(user_id, &changes, self.clock.now()).await {
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
        // A sensitive operation: a session left open long ago must step up
        // first (`POST /auth/reauthenticate`), whatever it knows.
        super::require_recent(claims, self.clock.now(), self.reauth_window)?;
        let user = self.current(claims.user_id).await?;
        // Counted like a login: the current-password check is a password oracle.
        let (checked, _) =
            self.passwords.counted_check(&user.email, Some(&user), current, "current_password", ctx).await?;
        if checked == Checked::Mismatch {
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
        let check = self.passwords.validate_new_password("new_password", new, context, errors).await?;
        let hash = self.passwords.hasher.hash(new, Some(check)).await?;
        let now = self.clock.now();
        self.users.set_password_hash(user.id, &hash, now).await?;
        super::end_pending_links(self.one_time_tokens.as_ref(), self.clock.now(), &user).await?;
        let revoked = self.issuer.revoke_user_sessions(&user, Some(claims.session_id)).await?;
        self.notices.security_alert(&user, crate::mail::SecurityEvent::PasswordChanged, ctx).await;
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
        let events = self.audit_log.list_for_user(user_id, before, limit + 1).await?;
        let (events, next_cursor) = crate::paging::page_of(events, limit as usize, |e| e.id);
        Ok(ActivityPage { events, next_cursor })
    }
}
