//! Sign-in and tokens: password login, refresh rotation, logout, and the
//! check of every bearer token.

use super::notices::Notices;
use super::passwords::{Checked, Passwords};
use super::second_factor::SecondFactors;
use super::{Authenticated, Refreshed, SessionIssuer, SignIn, TokenPair};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AccessClaims, Clock, RotateOutcome, TokenError, UserRepository};
use crate::seal::{seal_child, unseal_child};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::password::normalize;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, RotationRules, Session, SignInMethod};
use portcullis_domain::user::User;
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// What sign-in decides by configuration.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub refresh_reuse_grace: Duration,
    /// Refuse password logins until the email is verified (403 EMAIL_NOT_VERIFIED).
    pub require_email_verification: bool,
}

#[derive(Clone)]
pub struct SignInService {
    pub users: Arc<dyn UserRepository>,
    pub passwords: Passwords,
    pub issuer: SessionIssuer,
    /// Asks for a second factor after the password, when the user has one.
    pub second: SecondFactors,
    pub notices: Notices,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    pub settings: SignInSettings,
}

impl SignInService {
    /// Password login. Unknown email and wrong password look the same, in body
    /// and (via a dummy hash verification) in timing.
    pub async fn login(
        &self,
        raw_email: &str,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<SignIn, AppError> {
        let email = Email::parse(raw_email)?;
        // A full hashing pool refuses now, before the account read and the
        // lockout round trips it would otherwise cost (the same for every
        // email, registered or not; nothing is counted).
        if let Some(retry_after) = self.passwords.hasher.saturated() {
            return Err(AppError::Overloaded { retry_after });
        }
        let user = self.users.find_by_email(&email).await?;
        let needs_rehash =
            match self.passwords.counted_check(&email, user.as_ref(), password, "login", ctx).await? {
                (Checked::Match { needs_rehash }, Some(_)) => needs_rehash,
                _ => return Err(AppError::InvalidCredentials),
            };
        let Some(user) = user else { return Err(AppError::InvalidCredentials) };
        if needs_rehash {
            self.rehash(&user, &normalize(password)).await;
        }
        // Only after the password matched: a locked account says so to its
        // owner, never to someone guessing.
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        if self.settings.require_email_verification && user.email_verified_at.is_none() {
            return Err(AppError::EmailNotVerified);
        }
        if let Some(challenge) = self.second.challenge(&user, SignInMethod::Password, ctx).await? {
            return Ok(SignIn::MfaRequired(challenge));
        }
        let tokens = self.issuer.start(&user, SignInMethod::Password, None, ctx).await?;
        self.audit
            .record(AuditAction::LoginSucceeded, Some(user.id), ctx, json!({ "method": "password" }))
            .await;
        Ok(SignIn::Complete(Authenticated { tokens, user }))
    }
    /// Upgrades a hash made with outdated parameters. Best effort: the login
    /// already succeeded, and the next one will try again.
    async fn rehash(&self, user: &User, password: &Secret) {
        let result = match self.passwords.hasher.hash(password, None).await {
            Ok(hash) => self
                .users
                .set_password_hash(user.id, &hash, self.clock.now())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                tracing::info!(user_id = %user.id, "password hash upgraded to current parameters")
            }
            Err(error) => tracing::warn!(user_id = %user.id, %error, "password rehash failed"),
        }
    }
    /// Exchanges a refresh token for a new pair, rotating it. See
    /// `portcullis_domain::session` for the reuse and grace rules.
    pub async fn refresh(&self, presented: &Secret, ctx: &RequestContext) -> Result<Refreshed, AppError> {
        if presented.expose().is_empty() || presented.expose().len() > 256 {
            self.refresh_refused("malformed", ctx).await;
            return Err(AppError::InvalidToken);
        }
        let now = self.clock.now();
        let presented_hash = TokenHash::of(presented);
        let child = self.issuer.token_generator.refresh_token();
        let new = NewRefreshToken {
            hash: TokenHash::of(&child),
            expires_at: now + self.issuer.refresh_token_ttl,
            sealed_for_parent: seal_child(presented, &child),
        };
        let outcome = self
            .issuer
            .sessions
            .rotate(
                &presented_hash,
                &new,
                now,
                &RotationRules { grace: self.settings.refresh_reuse_grace, limits: self.issuer.limits },
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated { session } => {
                let refreshed = self.pair_for(&session, child, false).await?;
                self.audit
                    .record(
                        AuditAction::TokenRefreshed,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id }),
                    )
                    .await;
                Ok(refreshed)
            }
            RotateOutcome::Grace { session, sealed_child } => {
                let Some(current) = unseal_child(presented, &sealed_child) else {
                    return Err(AppError::InvalidToken);
                };
                let refreshed = self.pair_for(&session, current, true).await?;
                self.audit
                    .record(
                        AuditAction::TokenRefreshed,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id, "grace": true }),
                    )
                    .await;
                Ok(refreshed)
            }
            RotateOutcome::Reused { session } => {
                // The store revoked the family; kill its live access tokens too.
                self.issuer.revocations.cache_session(session.id).await;
                self.audit
                    .record(
                        AuditAction::RefreshTokenReuseDetected,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id }),
                    )
                    .await;
                Err(AppError::RefreshTokenReused)
            }
            RotateOutcome::Expired => {
                self.refresh_refused("expired", ctx).await;
                Err(AppError::TokenExpired)
            }
            RotateOutcome::Revoked => {
                self.refresh_refused("session_revoked", ctx).await;
                Err(AppError::InvalidToken)
            }
            RotateOutcome::Unknown => {
                self.refresh_refused("unknown", ctx).await;
                Err(AppError::InvalidToken)
            }
        }
    }
    /// Audits a refused refresh, once a minute per source and reason.
    async fn refresh_refused(&self, reason: &str, ctx: &RequestContext) {
        let key = format!("refresh:{}:{reason}", ctx.ip.as_deref().unwrap_or("-"));
        self.audit
            .record_deduped(&key, AuditAction::RefreshRefused, None, ctx, json!({ "reason": reason }))
            .await;
    }
    async fn pair_for(
        &self,
        session: &Session,
        refresh_token: Secret,
        grace: bool,
    ) -> Result<Refreshed, AppError> {
        // The session row was just locked and found live, and locking an
        // account ends its sessions: the cached row is enough here.
        let user = self.users.find_by_id_cached(session.user_id).await?.ok_or(AppError::InvalidToken)?;
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        let access = self.issuer.access_token(session, self.clock.now())?;
        Ok(Refreshed {
            authenticated: Authenticated {
                tokens: TokenPair {
                    access_token: access.token,
                    expires_in: access.expires_in,
                    refresh_token,
                },
                user,
            },
            grace,
        })
    }
    /// Verifies an access token and checks that neither it nor its session was
    /// revoked.
    /// Refusals are audited (once a minute per source and reason, so a flood
    /// of bad tokens cannot fill the audit table).
    pub async fn authenticate(&self, bearer: &str, ctx: &RequestContext) -> Result<AccessClaims, AppError> {
        let claims = match self.issuer.access_tokens.verify(bearer, self.clock.now()) {
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
        self.admit(claims, ctx).await
    }
    /// The second half of [`Self::authenticate`], for claims whose signature
    /// and expiry were verified already (once per request): refuses a
    /// revoked token or session, audited the same way.
    pub async fn admit(&self, claims: AccessClaims, ctx: &RequestContext) -> Result<AccessClaims, AppError> {
        if self.issuer.revocations.is_revoked(&claims.token_id, claims.session_id).await? {
            self.access_rejected("revoked", Some(claims.user_id), ctx).await;
            return Err(AppError::InvalidToken);
        }
        Ok(claims)
    }
    async fn access_rejected(&self, reason: &str, user_id: Option<UserId>, ctx: &RequestContext) {
        let key = format!("access:{}:{reason}", ctx.ip.as_deref().unwrap_or("-"));
        let details = json!({ "reason": reason, "route": ctx.route });
        self.audit.record_deduped(&key, AuditAction::AccessTokenRejected, user_id, ctx, details).await;
    }
    /// Ends the session of this access token: the token and the session's
    /// refresh token stop working.
    pub async fn logout(&self, claims: &AccessClaims, ctx: &RequestContext) -> Result<(), AppError> {
        let now = self.clock.now();
        self.issuer.sessions.revoke(claims.session_id, now).await?;
        let remaining = (claims.expires_at - now).max(Duration::seconds(1));
        self.issuer.revocations.cache(&claims.token_id, remaining).await;
        self.issuer.revocations.cache_session(claims.session_id).await;
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
}
