//! Email verification, password reset and magic links: single-use tokens sent
//! by mail. Requests never reveal whether an email has an account: they answer
//! the same way after the same work (an outbox entry), and the `links` job
//! mails only real accounts.

use super::notices::Notices;
use super::passwords::Passwords;
use super::second_factor::SecondFactors;
use super::{Authenticated, SessionIssuer, SignIn};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::links::LinkPurpose;
use crate::mail::SecurityEvent;
use crate::ports::{Clock, Consumed, OneTimeTokenStore, UserRepository};
use portcullis_domain::ValidationErrors;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::user::{PasswordHash, User};
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct MailedLinkService {
    pub users: Arc<dyn UserRepository>,
    pub passwords: Passwords,
    pub issuer: SessionIssuer,
    /// Asks for a second factor after the link, when the user has one.
    pub second: SecondFactors,
    pub notices: Notices,
    pub one_time_tokens: Arc<dyn OneTimeTokenStore>,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
}

impl MailedLinkService {
    /// Resend the verification link, mail a reset link or a sign-in link:
    /// one implementation for the three. The request is recorded in the
    /// outbox — the same work whether or not the address has an account —
    /// and the `links` job decides what to mail. Answers the same either way.
    pub async fn request_mailed_link(
        &self,
        purpose: LinkPurpose,
        raw_email: &str,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let message = self.notices.link_request(purpose, &Email::parse(raw_email)?, ctx)?;
        self.notices.outbox.add(&message, self.clock.now()).await?;
        Ok(())
    }
    async fn consume(
        &self,
        purpose: TokenPurpose,
        token: &Secret,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        self.redeem(purpose, token, true, ctx).await
    }
    /// The token's user; `spend` uses the token up, otherwise it only looks.
    /// A failure is audited (once a minute per source and purpose).
    async fn redeem(
        &self,
        purpose: TokenPurpose,
        token: &Secret,
        spend: bool,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let result = self.redeem_quietly(purpose, token, spend).await;
        if let Err(error @ (AppError::InvalidToken | AppError::TokenExpired)) = &result {
            let reason = if matches!(error, AppError::TokenExpired) { "expired" } else { "invalid" };
            let key = format!("link:{}:{}", ctx.ip.as_deref().unwrap_or("-"), purpose.as_str());
            let details = json!({ "purpose": purpose.as_str(), "reason": reason });
            self.audit.record_deduped(&key, AuditAction::LinkRedemptionFailed, None, ctx, details).await;
        }
        result
    }
    async fn redeem_quietly(
        &self,
        purpose: TokenPurpose,
        token: &Secret,
        spend: bool,
    ) -> Result<User, AppError> {
        if token.expose().is_empty() || token.expose().len() > 256 {
            return Err(AppError::InvalidToken);
        }
        let now = self.clock.now();
        let hash = TokenHash::of(token);
        let answer = if spend {
            self.one_time_tokens.consume(purpose, &hash, now).await?
        } else {
            self.one_time_tokens.peek(purpose, &hash, now).await?
        };
        match answer {
            Consumed::Valid(user_id) => self.users.find_by_id(user_id).await?.ok_or(AppError::InvalidToken),
            Consumed::Expired => Err(AppError::TokenExpired),
            Consumed::Invalid => Err(AppError::InvalidToken),
        }
    }
    pub async fn verify_email(&self, token: &Secret, ctx: &RequestContext) -> Result<User, AppError> {
        let user = self.consume(TokenPurpose::EmailVerification, token, ctx).await?;
        let user = self.users.mark_email_verified(user.id, self.clock.now()).await?;
        self.audit.record(AuditAction::EmailVerified, Some(user.id), ctx, json!({ "method": "link" })).await;
        Ok(user)
    }
    /// Sets a new password with a reset token: the policy is checked before the
    /// token is used up, every session is revoked, the lockout is lifted and a
    /// security alert goes out.
    pub async fn reset_password(
        &self,
        token: &Secret,
        new: &Secret,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        // The policy is checked with the account's own words (as at register
        // and change), so the token's user is looked up first, without
        // spending the token; so is the hash made: a refused password or a
        // full hashing pool (503) leaves the link usable.
        let new = &portcullis_domain::password::normalize(new);
        let owner = self.redeem(TokenPurpose::PasswordReset, token, false, ctx).await?;
        let context =
            super::strength_context(owner.email.as_str(), owner.display_name.as_ref().map(|d| d.as_str()));
        let check = self
            .passwords
            .validate_new_password("new_password", new, context, ValidationErrors::default())
            .await?;
        let hash = self.passwords.hasher.hash(new, Some(check)).await?;
        let user = self.consume(TokenPurpose::PasswordReset, token, ctx).await?;
        let now = self.clock.now();
        self.users.set_password_hash(user.id, &hash, now).await?;
        super::end_pending_links(self.one_time_tokens.as_ref(), self.clock.now(), &user).await?;
        let revoked = self.issuer.revoke_user_sessions(&user, None).await?;
        // The owner proved control of the mailbox: a lockout is lifted.
        self.passwords.lift_lockout(&user.email, ctx).await?;
        // Following the link proved control of the mailbox.
        self.users.mark_email_verified(user.id, now).await?;
        self.notices.security_alert(&user, SecurityEvent::PasswordReset, ctx).await;
        self.audit
            .record(AuditAction::PasswordReset, Some(user.id), ctx, json!({ "revoked_sessions": revoked }))
            .await;
        Ok(())
    }
    /// Signs in with a magic-link token; same answer as a password login.
    pub async fn verify_magic_link(&self, token: &Secret, ctx: &RequestContext) -> Result<SignIn, AppError> {
        let user = self.consume(TokenPurpose::MagicLink, token, ctx).await?;
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        if user.email_verified_at.is_none() {
            self.end_unverified_past(&user, ctx).await?;
        }
        let user = self.users.mark_email_verified(user.id, self.clock.now()).await?;
        self.passwords.lift_lockout(&user.email, ctx).await?;
        // A first factor like any other: a second one is asked for when on.
        let method = portcullis_domain::session::SignInMethod::MagicLink;
        if let Some(challenge) = self.second.challenge(&user, method, ctx).await? {
            return Ok(SignIn::MfaRequired(challenge));
        }
        // A sign-in like any other: a new place or device gets the alert (`SessionIssuer::start`).
        let tokens = self.issuer.start(&user, method, None, ctx).await?;
        self.audit
            .record(AuditAction::LoginSucceeded, Some(user.id), ctx, json!({ "method": "magic_link" }))
            .await;
        Ok(SignIn::Complete(Authenticated { tokens, user }))
    }
    /// The first proof of the address by a mailed sign-in link ends what the
    /// unverified past set up: whoever registered the address (perhaps not its
    /// owner) chose the password and opened the sessions. Every session is
    /// revoked and the password discarded; the owner sets one by reset.
    async fn end_unverified_past(&self, user: &User, ctx: &RequestContext) -> Result<(), AppError> {
        let revoked = self.issuer.revoke_user_sessions(user, None).await?;
        super::end_pending_links(self.one_time_tokens.as_ref(), self.clock.now(), user).await?;
        let had_password = user.password_hash.is_usable();
        self.users.set_password_hash(user.id, &PasswordHash::unusable(), self.clock.now()).await?;
        self.audit
            .record(
                AuditAction::UnverifiedSetupDiscarded,
                Some(user.id),
                ctx,
                json!({ "revoked_sessions": revoked, "password_discarded": had_password }),
            )
            .await;
        Ok(())
    }
}
