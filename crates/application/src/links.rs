//! Mailed links (email verification, password reset, magic link). A request
//! only records `{purpose, email, where from}` in the outbox; this job looks
//! the account up, mints the single-use token and sends the mail. So the
//! request does the same work whether or not the address has an account (no
//! timing difference to enumerate accounts by), and no raw link ever sits in
//! the queue: the token exists only in the mail and, hashed, in the database.

use crate::audit_trail::AuditTrail;
use crate::jobs::{JobError, JobHandler};
use crate::mail::MailTemplate;
use crate::ports::{Clock, Job, Mailer, OneTimeTokenStore, TokenGenerator, UserRepository};
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::user::User;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    Verification,
    PasswordReset,
    MagicLink,
}

/// The payload of an `account.send_link` job: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub purpose: LinkPurpose,
    pub email: String,
    #[serde(flatten)]
    pub origin: crate::jobs::Origin,
}

impl LinkRequest {
    pub fn new(purpose: LinkPurpose, email: &Email, ctx: &RequestContext) -> Self {
        Self { purpose, email: email.as_str().to_owned(), origin: crate::jobs::Origin::of(ctx) }
    }
}

/// Runs `account.send_link` jobs: the ports it uses, and its settings.
pub struct SendLink {
    pub users: Arc<dyn UserRepository>,
    pub one_time_tokens: Arc<dyn OneTimeTokenStore>,
    pub token_generator: Arc<dyn TokenGenerator>,
    pub clock: Arc<dyn Clock>,
    pub mailer: Arc<dyn Mailer>,
    pub audit: AuditTrail,
    pub settings: LinkSettings,
}

/// Where links point and how long magic links live.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `{base}/reset-password?token=…`
    pub app_base_url: String,
    pub magic_link_ttl: time::Duration,
}

impl SendLink {
    fn lifetime(&self, purpose: TokenPurpose) -> time::Duration {
        match purpose {
            TokenPurpose::MagicLink => self.settings.magic_link_ttl,
            other => other.lifetime(),
        }
    }

    /// Issues a token for `purpose` (superseding older ones) and mails the link.
    async fn send(
        &self,
        user: &User,
        purpose: TokenPurpose,
        path: &str,
        template: fn(Option<String>, String, i64) -> MailTemplate,
    ) -> Result<(), JobError> {
        let token = self.token_generator.refresh_token();
        let now = self.clock.now();
        let lifetime = self.lifetime(purpose);
        self.one_time_tokens
            .issue(purpose, user.id, &TokenHash::of(&token), now, now + lifetime)
            .await
            .map_err(JobError::retry)?;
        let link =
            format!("{}/{path}?token={}", self.settings.app_base_url.trim_end_matches('/'), token.expose());
        let name = user.name_for_mail().map(str::to_owned);
        let template = template(name, link, lifetime.whole_minutes());
        crate::mail::deliver(self.mailer.as_ref(), user.email.as_str().to_owned(), &template).await
    }
}

#[async_trait]
impl JobHandler for SendLink {
    fn kind(&self) -> crate::jobs::JobKind {
        crate::jobs::kinds::SEND_LINK
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let request: LinkRequest = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(crate::Cause::context("unreadable link request", e)))?;
        let email = Email::parse(&request.email)
            .map_err(|_| JobError::Fatal("link request for an invalid email".into()))?;
        let ctx = request.origin.context();
        let user = self.users.find_by_email(&email).await.map_err(JobError::retry)?;
        match request.purpose {
            LinkPurpose::Verification => {
                // Only an unverified account gets a (new) verification link.
                let Some(user) = user.filter(|u| u.email_verified_at.is_none()) else { return Ok(()) };
                self.send(&user, TokenPurpose::EmailVerification, "verify-email", |name, link, _| {
                    MailTemplate::VerifyEmail { name, link }
                })
                .await?;
                self.audit
                    .record(AuditAction::EmailVerificationRequested, Some(user.id), &ctx, json!({}))
                    .await;
            }
            LinkPurpose::PasswordReset | LinkPurpose::MagicLink => {
                let (action, purpose, path, template): (
                    _,
                    _,
                    _,
                    fn(Option<String>, String, i64) -> MailTemplate,
                ) = match request.purpose {
                    LinkPurpose::PasswordReset => (
                        AuditAction::PasswordResetRequested,
                        TokenPurpose::PasswordReset,
                        "reset-password",
                        |name, link, _| MailTemplate::PasswordReset { name, link },
                    ),
                    _ => (
                        AuditAction::MagicLinkRequested,
                        TokenPurpose::MagicLink,
                        "magic-link",
                        |name, link, expires_in_minutes| MailTemplate::MagicLink {
                            name,
                            link,
                            expires_in_minutes,
                        },
                    ),
                };
                if let Some(user) = &user {
                    self.send(user, purpose, path, template).await?;
                }
                let details = json!({ "email": email.as_str(), "account_exists": user.is_some() });
                self.audit.record(action, user.as_ref().map(|u| u.id), &ctx, details).await;
            }
        }
        Ok(())
    }
}
