//! Invitations: an admin invites an address with roles; the mail carries a
//! single-use token (seven days, kept only as a hash); accepting it creates
//! the account with those roles and signs it in — or, when the address has
//! an account already, adds the roles once that account's owner, signed in,
//! accepts.
//!
//! As with the other mailed links, the request only promises the mail (an
//! outbox entry naming the invitation); the [`SendInvitation`] job mints the
//! token it mails, so no raw token waits in a queue.

use crate::access::{AccessControl, Principal, permissions};
use crate::audit_trail::AuditTrail;
use crate::auth::{AccountService, Authenticated, SessionIssuer};
use crate::error::AppError;
use crate::jobs::{JobError, JobHandler, kinds};
use crate::mail::MailTemplate;
use crate::ports::{Clock, InvitationStore, Job, Mailer, StoreError, TokenGenerator, UserRepository};
use crate::roles::RoleService;
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{InvitationId, UserId};
use portcullis_domain::invitation::{INVITATION_TTL, Invitation, InvitationMismatch, InvitationState};
use portcullis_domain::role::{RoleName, SystemRole};
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::SignInMethod;
use portcullis_domain::user::{DisplayName, User};
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// At most this many invitations are listed.
pub const MAX_LISTED: u32 = 200;

/// What an admin writes to invite someone.
#[derive(Debug, Clone)]
pub struct InvitationInput {
    pub email: String,
    /// Role names; every account holds `user` anyway.
    pub roles: Vec<String>,
}

/// What accepting needs: the token, and for a new account its password and
/// display name.
#[derive(Debug, Clone)]
pub struct Acceptance {
    pub token: Secret,
    pub password: Option<Secret>,
    pub display_name: Option<String>,
    /// The signed-in caller, if any.
    pub signed_in: Option<UserId>,
}

/// How an invitation was accepted.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// A new account, signed in.
    NewAccount { signed_in: Authenticated, roles: Vec<RoleName> },
    /// The roles were added to the signed-in account of the address.
    ExistingAccount { user: User, roles: Vec<RoleName> },
}

/// The payload of an `account.send_invitation` job: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationMail {
    pub invitation_id: InvitationId,
}

#[derive(Clone)]
pub struct InvitationService {
    invitations: Arc<dyn InvitationStore>,
    users: Arc<dyn UserRepository>,
    roles: RoleService,
    accounts: AccountService,
    issuer: SessionIssuer,
    access: AccessControl,
    tokens: Arc<dyn TokenGenerator>,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

fn names(invitation: &Invitation) -> Vec<&str> {
    invitation.roles.iter().map(RoleName::as_str).collect()
}

impl InvitationService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        invitations: Arc<dyn InvitationStore>,
        users: Arc<dyn UserRepository>,
        roles: RoleService,
        accounts: AccountService,
        issuer: SessionIssuer,
        access: AccessControl,
        tokens: Arc<dyn TokenGenerator>,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { invitations, users, roles, accounts, issuer, access, tokens, audit, clock }
    }

    /// Invites an address with roles (needs `invitations:write`, and
    /// `roles:assign` for any role beyond `user`) and promises the mail.
    pub async fn invite(
        &self,
        caller: &Principal,
        input: &InvitationInput,
        ctx: &RequestContext,
    ) -> Result<Invitation, AppError> {
        self.access.require(caller, &permissions::INVITATIONS_WRITE, ctx).await?;
        let email = Email::parse(input.email.trim());
        let roles = self.roles.resolve(&input.roles, "roles").await;
        let (email, ids) = match (email, roles) {
            (Ok(email), Ok(ids)) => (email, ids),
            (email, roles) => {
                let mut errors = ValidationErrors::default();
                if let Err(e) = email {
                    errors.extend(e);
                }
                match roles {
                    Err(AppError::Validation(e)) => errors.0.extend(e.0),
                    Err(other) => return Err(other),
                    Ok(_) => {}
                }
                return Err(errors.into());
            }
        };
        let user_role = SystemRole::User.id();
        if ids.iter().any(|id| *id != user_role) {
            self.access.require(caller, &permissions::ROLES_ASSIGN, ctx).await?;
        }
        let mut roles: Vec<RoleName> = Vec::new();
        for raw in &input.roles {
            let name = RoleName::parse(raw.trim())
                .map_err(|e| AppError::from(ValidationErrors::single("roles", "invalid", e.to_string())))?;
            if !roles.contains(&name) {
                roles.push(name);
            }
        }
        let now = self.clock.now();
        let invitation = Invitation {
            id: InvitationId::new(),
            email,
            roles,
            // A placeholder nobody knows: the mail job mints the token it sends.
            token_hash: TokenHash::of(&self.tokens.refresh_token()),
            invited_by: Some(caller.user_id),
            created_at: now,
            expires_at: now + INVITATION_TTL,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        let payload = serde_json::to_value(InvitationMail { invitation_id: invitation.id }).map_err(|e| {
            AppError::Internal(crate::Cause::context("could not encode an invitation mail", e))
        })?;
        self.invitations.insert(&invitation, &[kinds::SEND_INVITATION.message(payload)], now).await?;
        let details = json!({
            "invitation_id": invitation.id,
            "email": invitation.email.as_str(),
            "roles": names(&invitation),
        });
        self.audit.record(AuditAction::InvitationCreated, Some(caller.user_id), ctx, details).await;
        Ok(invitation)
    }

    /// The newest invitations (at most `limit`, up to [`MAX_LISTED`]) and
    /// the moment their state is read at.
    pub async fn list(
        &self,
        caller: &Principal,
        limit: u32,
        ctx: &RequestContext,
    ) -> Result<(Vec<Invitation>, OffsetDateTime), AppError> {
        self.access.require(caller, &permissions::INVITATIONS_READ, ctx).await?;
        let listed = self.invitations.list(limit.clamp(1, MAX_LISTED)).await?;
        Ok((listed, self.clock.now()))
    }

    /// Withdraws an invitation that was not accepted yet (404 otherwise).
    pub async fn revoke(
        &self,
        caller: &Principal,
        id: InvitationId,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        self.access.require(caller, &permissions::INVITATIONS_WRITE, ctx).await?;
        if !self.invitations.revoke(id, self.clock.now()).await? {
            return Err(AppError::NotFound("invitation"));
        }
        self.audit
            .record(AuditAction::InvitationRevoked, Some(caller.user_id), ctx, json!({ "invitation_id": id }))
            .await;
        Ok(())
    }

    /// Accepts an invitation. A new account: the password meets the policy
    /// (checked before the token is spent, so a refused password leaves the
    /// invitation usable), the address counts as verified (the token came
    /// by mail), the roles are granted and a session opens. An existing
    /// account: its owner must be the signed-in caller; the roles are added.
    pub async fn accept(&self, acceptance: Acceptance, ctx: &RequestContext) -> Result<Accepted, AppError> {
        let result = self.accept_quietly(acceptance, ctx).await;
        if let Err(error @ (AppError::InvalidToken | AppError::TokenExpired)) = &result {
            let reason = if matches!(error, AppError::TokenExpired) { "expired" } else { "invalid" };
            let key = format!("link:{}:invitation", ctx.ip.as_deref().unwrap_or("-"));
            let details = json!({ "purpose": "invitation", "reason": reason });
            self.audit.record_deduped(&key, AuditAction::LinkRedemptionFailed, None, ctx, details).await;
        }
        result
    }

    async fn accept_quietly(
        &self,
        acceptance: Acceptance,
        ctx: &RequestContext,
    ) -> Result<Accepted, AppError> {
        let token = &acceptance.token;
        if token.expose().is_empty() || token.expose().len() > 256 {
            return Err(AppError::InvalidToken);
        }
        let hash = TokenHash::of(token);
        let now = self.clock.now();
        let invitation = self.invitations.find_by_token(&hash).await?.ok_or(AppError::InvalidToken)?;
        match invitation.state(now) {
            InvitationState::Pending => {}
            InvitationState::Expired => return Err(AppError::TokenExpired),
            InvitationState::Accepted | InvitationState::Revoked => return Err(AppError::InvalidToken),
        }
        match self.users.find_by_email(&invitation.email).await? {
            Some(user) => self.add_roles(user, &hash, acceptance.signed_in, ctx).await,
            None if acceptance.signed_in.is_some() => Err(InvitationMismatch::OtherAccount.into()),
            None => self.create_account(&invitation, &hash, acceptance, ctx).await,
        }
    }

    async fn add_roles(
        &self,
        user: User,
        hash: &TokenHash,
        signed_in: Option<UserId>,
        ctx: &RequestContext,
    ) -> Result<Accepted, AppError> {
        match signed_in {
            None => return Err(InvitationMismatch::SignInRequired.into()),
            Some(id) if id != user.id => return Err(InvitationMismatch::OtherAccount.into()),
            Some(_) => {}
        }
        let invitation =
            self.invitations.redeem(hash, user.id, self.clock.now()).await?.ok_or(AppError::InvalidToken)?;
        let roles = self.grant(&invitation, user.id, ctx, false).await?;
        Ok(Accepted::ExistingAccount { user, roles })
    }

    async fn create_account(
        &self,
        invitation: &Invitation,
        hash: &TokenHash,
        acceptance: Acceptance,
        ctx: &RequestContext,
    ) -> Result<Accepted, AppError> {
        let mut errors = ValidationErrors::default();
        let display_name = match acceptance.display_name.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => DisplayName::parse(raw).map_err(|e| errors.extend(e)).ok(),
            _ => None,
        };
        let password = match acceptance.password {
            Some(p) if !p.expose().is_empty() => Some(p),
            _ => {
                errors.0.push(FieldViolation::new(
                    "password",
                    "required",
                    "a password for the new account is required",
                ));
                None
            }
        };
        let Some(password) = password.filter(|_| errors.0.is_empty()) else {
            return Err(errors.into());
        };
        let user = match self
            .accounts
            .create_verified(&invitation.email, &password, display_name, "password", ctx)
            .await
        {
            Ok(user) => user,
            // Someone created the account a moment ago (a concurrent acceptance).
            Err(AppError::EmailTaken) => return Err(InvitationMismatch::SignInRequired.into()),
            Err(e) => return Err(e),
        };
        // The account exists now; the token is spent only now, so a refused
        // password above left it usable. Withdrawn in between: the account
        // stays a plain one (as if registered), the roles are not granted.
        let invitation =
            self.invitations.redeem(hash, user.id, self.clock.now()).await?.ok_or(AppError::InvalidToken)?;
        let roles = self.grant(&invitation, user.id, ctx, true).await?;
        let tokens = self.issuer.start(&user, SignInMethod::Invitation, None, ctx).await?;
        self.audit
            .record(AuditAction::LoginSucceeded, Some(user.id), ctx, json!({ "method": "invitation" }))
            .await;
        Ok(Accepted::NewAccount { signed_in: Authenticated { tokens, user }, roles })
    }

    /// Grants the invitation's roles that still exist (a role deleted or
    /// renamed since is skipped, and named in the audit event).
    async fn grant(
        &self,
        invitation: &Invitation,
        user: UserId,
        ctx: &RequestContext,
        new_account: bool,
    ) -> Result<Vec<RoleName>, AppError> {
        let mut granted = Vec::new();
        let mut missing = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for name in &invitation.roles {
            match self.roles.resolve(std::slice::from_ref(&name.as_str().to_owned()), "roles").await {
                Ok(found) => {
                    ids.extend(found);
                    granted.push(name.clone());
                }
                Err(AppError::Validation(_)) => missing.push(name.as_str()),
                Err(other) => return Err(other),
            }
        }
        self.roles.grant(user, &ids).await?;
        let details = json!({
            "invitation_id": invitation.id,
            "invited_by": invitation.invited_by,
            "roles": granted.iter().map(RoleName::as_str).collect::<Vec<_>>(),
            "roles_missing": missing,
            "new_account": new_account,
        });
        self.audit.record(AuditAction::InvitationAccepted, Some(user), ctx, details).await;
        Ok(granted)
    }
}

/// Runs `account.send_invitation` jobs: mints the token and mails the link.
pub struct SendInvitation {
    pub invitations: Arc<dyn InvitationStore>,
    pub tokens: Arc<dyn TokenGenerator>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    /// `{base}/accept-invitation?token=…`
    pub app_base_url: String,
}

#[async_trait]
impl JobHandler for SendInvitation {
    fn kind(&self) -> crate::jobs::JobKind {
        kinds::SEND_INVITATION
    }

    /// A retry mints a new token (the older mail's link stops working); an
    /// invitation withdrawn, accepted or expired meanwhile is not mailed.
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let request: InvitationMail = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(crate::Cause::context("unreadable invitation mail", e)))?;
        let token = self.tokens.refresh_token();
        let reissued =
            self.invitations.reissue(request.invitation_id, &TokenHash::of(&token), self.clock.now()).await;
        let invitation = match reissued {
            Ok(Some(invitation)) => invitation,
            Ok(None) => return Ok(()),
            Err(e @ StoreError::Conflict(_)) => return Err(JobError::Fatal(crate::Cause::new(e))),
            Err(e) => return Err(JobError::retry(e)),
        };
        let link =
            format!("{}/accept-invitation?token={}", self.app_base_url.trim_end_matches('/'), token.expose());
        let template = MailTemplate::Invitation {
            link,
            roles: names(&invitation).into_iter().map(str::to_owned).collect(),
            expires_at: invitation.expires_at.format(&Rfc3339).unwrap_or_default(),
        };
        crate::mail::deliver(self.mailer.as_ref(), invitation.email.as_str().to_owned(), &template).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MailError, MockClock, MockInvitationStore, MockMailer, MockTokenGenerator};
    use portcullis_domain::jobs::JobId;
    use time::Duration;

    fn at() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn invitation() -> Invitation {
        Invitation {
            id: InvitationId::new(),
            email: Email::parse("grace@example.com").unwrap_or_else(|e| panic!("{e:?}")),
            roles: vec![RoleName::parse("moderator").unwrap_or_else(|e| panic!("{e:?}"))],
            token_hash: TokenHash::of(&Secret::new("placeholder")),
            invited_by: None,
            created_at: at(),
            expires_at: at() + INVITATION_TTL,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        }
    }

    fn job(id: InvitationId) -> Job {
        Job {
            id: JobId::new(),
            queue: "mail".into(),
            kind: kinds::SEND_INVITATION.name.into(),
            payload: json!({ "invitation_id": id }),
            attempt: 1,
            max_retries: 3,
            enqueued_at: at(),
            last_error: None,
        }
    }

    /// The job with `store` answering `reissue`, and a mailer that must
    /// see `mails` messages answering `mailed`.
    fn handler(
        reissued: Result<Option<Invitation>, StoreError>,
        mails: usize,
        mailed: fn() -> Result<(), MailError>,
    ) -> SendInvitation {
        let mut store = MockInvitationStore::new();
        let fresh = TokenHash::of(&Secret::new("fresh-token"));
        store
            .expect_reissue()
            .withf(move |_, token, now| *token == fresh && *now == at())
            .times(1)
            .return_once(move |_, _, _| reissued);
        let mut tokens = MockTokenGenerator::new();
        tokens.expect_refresh_token().returning(|| Secret::new("fresh-token"));
        let mut clock = MockClock::new();
        clock.expect_now().returning(at);
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .withf(|mail| {
                mail.to == "grace@example.com"
                    && mail.text.contains("https://app.example/accept-invitation?token=fresh-token")
            })
            .times(mails)
            .returning(move |_| mailed());
        SendInvitation {
            invitations: Arc::new(store),
            tokens: Arc::new(tokens),
            mailer: Arc::new(mailer),
            clock: Arc::new(clock),
            app_base_url: "https://app.example/".into(),
        }
    }

    #[tokio::test]
    async fn the_job_mints_the_token_it_mails() {
        let invitation = invitation();
        let job = job(invitation.id);
        let sent = handler(Ok(Some(invitation.clone())), 1, || Ok(()));
        assert!(sent.handle(&job).await.is_ok());
        let retried = handler(Ok(Some(invitation)), 1, || Err(MailError::Transient("smtp down".into())));
        assert!(matches!(retried.handle(&job).await, Err(JobError::Retry(_))));
    }

    #[tokio::test]
    async fn nothing_is_mailed_for_an_invitation_no_longer_pending_or_unreadable() {
        let id = InvitationId::new();
        assert!(handler(Ok(None), 0, || Ok(())).handle(&job(id)).await.is_ok());
        let down = handler(Err(StoreError::Unavailable("db down".into())), 0, || Ok(()));
        assert!(matches!(down.handle(&job(id)).await, Err(JobError::Retry(_))));
        let clash = handler(Err(StoreError::Conflict("token")), 0, || Ok(()));
        assert!(matches!(clash.handle(&job(id)).await, Err(JobError::Fatal(_))));
    }
}
