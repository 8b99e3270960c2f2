use super::{AuthService, Authenticated, TokenPair};
use crate::error::AppError;
use crate::ports::{AttemptGate, Verification};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::SessionId;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, Session};
use portcullis_domain::user::User;
use serde_json::json;

impl AuthService {
    /// Password login. Unknown email and wrong password look the same, in body
    /// and (via a dummy hash verification) in timing.
    pub async fn login(
        &self,
        raw_email: &str,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<Authenticated, AppError> {
        let email = Email::parse(raw_email)?;
        let key = email.as_str();
        let policy = self.settings.lockout;

        let attempt = match self.ports.attempts.begin(key, &policy).await? {
            AttemptGate::Allowed { attempt } => attempt,
            AttemptGate::Locked { retry_after } => {
                return Err(AppError::AccountLocked { retry_after });
            }
        };

        let user = self.ports.users.find_by_email(&email).await?;
        let verification = match &user {
            Some(user) => self.ports.hasher.verify(password, &user.password_hash).await?,
            None => {
                self.ports.hasher.verify_dummy(password).await?;
                Verification::Mismatch
            }
        };

        let (user, needs_rehash) = match (user, verification) {
            (Some(user), Verification::Match { needs_rehash }) => (user, needs_rehash),
            (user, _) => {
                let user_id = user.as_ref().map(|u| u.id);
                // The failure that reaches the threshold locks the account.
                let locked = attempt >= policy.threshold;
                if locked {
                    self.ports.attempts.lock(key, policy.lock_for).await?;
                }
                self.audit
                    .record(
                        AuditAction::LoginFailed,
                        user_id,
                        ctx,
                        json!({ "email": key, "attempt": attempt }),
                    )
                    .await;
                if locked {
                    self.audit
                        .record(
                            AuditAction::AccountLocked,
                            user_id,
                            ctx,
                            json!({ "email": key, "locked_for_seconds": policy.lock_for.whole_seconds() }),
                        )
                        .await;
                }
                return Err(AppError::InvalidCredentials);
            }
        };

        self.ports.attempts.succeed(key).await?;
        if needs_rehash {
            self.rehash(&user, password).await;
        }
        if self.settings.require_email_verification && user.email_verified_at.is_none() {
            return Err(AppError::EmailNotVerified);
        }
        if self.is_new_location(&user, ctx).await {
            self.security_alert(&user, crate::mail::SecurityEvent::NewLogin, ctx).await;
        }
        let tokens = self.start_session(&user, ctx).await?;
        self.audit
            .record(AuditAction::LoginSucceeded, Some(user.id), ctx, json!({ "method": "password" }))
            .await;
        Ok(Authenticated { tokens, user })
    }

    /// True when none of the user's recent events came from this IP address
    /// (registration counts, so the first login after signing up is quiet).
    async fn is_new_location(&self, user: &User, ctx: &RequestContext) -> bool {
        let Some(ip) = ctx.ip.as_deref() else { return false };
        match self.ports.audit.list_for_user(user.id, None, 50).await {
            Ok(events) => !events.iter().any(|e| {
                e.ip.as_deref() == Some(ip)
                    && matches!(e.action, AuditAction::LoginSucceeded | AuditAction::UserRegistered)
            }),
            Err(error) => {
                tracing::warn!(%error, "could not read recent activity; no new-login alert");
                false
            }
        }
    }

    /// Upgrades a hash made with outdated parameters. Best effort: the login
    /// already succeeded, and the next one will try again.
    async fn rehash(&self, user: &User, password: &Secret) {
        let result = match self.ports.hasher.hash(password, None).await {
            Ok(hash) => self
                .ports
                .users
                .set_password_hash(user.id, &hash, self.ports.clock.now())
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

    /// Opens a session: first refresh token plus an access token.
    pub(crate) async fn start_session(
        &self,
        user: &User,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        let now = self.ports.clock.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            revoked_at: None,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
        };
        let refresh_token = self.ports.token_generator.refresh_token();
        let first = NewRefreshToken {
            hash: TokenHash::of(&refresh_token),
            expires_at: now + self.settings.refresh_token_ttl,
            sealed_for_parent: Vec::new(),
        };
        self.ports.sessions.create(&session, &first).await?;
        let access = self
            .ports
            .access_tokens
            .issue(user.id, session.id, now)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(TokenPair { access_token: access.token, expires_in: access.expires_in, refresh_token })
    }
}
