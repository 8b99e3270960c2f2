use super::{AuthService, Authenticated, TokenPair};
use crate::error::AppError;
use crate::ports::{AttemptGate, Verification};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::SessionId;
use portcullis_domain::ids::UserId;
use portcullis_domain::password::normalize;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, Session};
use portcullis_domain::user::User;
use serde_json::json;

/// How long a sign-in address stays known (no "new sign-in" alert from it).
const KNOWN_LOCATION_FOR: time::Duration = time::Duration::days(90);

/// The verdict of a counted password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Match { needs_rehash: bool },
    Mismatch,
}

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
        let user = self.ports.users.find_by_email(&email).await?;
        let needs_rehash = match self.counted_check(&email, user.as_ref(), password, "login", ctx).await? {
            (Checked::Match { needs_rehash }, Some(_)) => needs_rehash,
            _ => return Err(AppError::InvalidCredentials),
        };
        let Some(user) = user else { return Err(AppError::InvalidCredentials) };
        if needs_rehash {
            self.rehash(&user, &normalize(password)).await;
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

    /// Checks a password under the account's lockout budget (login, and the
    /// current-password check of a password change). The attempt is counted
    /// before the check, so parallel guesses get at most the threshold through;
    /// an attempt that reaches no verdict (a backend failed, the hashing pool
    /// was full) is given back, so only a verified mismatch counts toward the
    /// lock. Without a user, a dummy hash is verified (same work, same answer).
    pub(crate) async fn counted_check(
        &self,
        email: &Email,
        user: Option<&User>,
        password: &Secret,
        purpose: &'static str,
        ctx: &RequestContext,
    ) -> Result<(Checked, Option<UserId>), AppError> {
        let key = email.as_str();
        let policy = self.settings.lockout;
        let attempt = match self.ports.attempts.begin(key, &policy).await? {
            AttemptGate::Allowed { attempt } => attempt,
            AttemptGate::Locked { retry_after } => {
                let details = json!({ "email": key, "check": purpose, "retry_after_seconds": retry_after.whole_seconds() });
                let user_id = user.map(|u| u.id);
                self.audit
                    .record_deduped(
                        &format!("locked:{key}"),
                        AuditAction::LoginRefusedLocked,
                        user_id,
                        ctx,
                        details,
                    )
                    .await;
                return Err(AppError::AccountLocked { retry_after });
            }
        };
        let normalized = normalize(password);
        let verdict = match user {
            Some(user) if user.password_hash.is_usable() => {
                match self.ports.hasher.verify(&normalized, &user.password_hash).await {
                    // A hash made before passwords were normalised holds the
                    // form as typed then: accept it once, and rehash.
                    Ok(Verification::Mismatch) if normalized != *password => {
                        self.ports.hasher.verify(password, &user.password_hash).await.map(|v| match v {
                            Verification::Match { .. } => Verification::Match { needs_rehash: true },
                            mismatch => mismatch,
                        })
                    }
                    other => other,
                }
            }
            // No account, or no password: the same work, the same answer.
            _ => self.ports.hasher.verify_dummy(&normalized).await.map(|()| Verification::Mismatch),
        };
        let user_id = user.map(|u| u.id);
        let verdict = match verdict {
            Ok(v) => v,
            Err(error) => {
                if let Err(release_error) = self.ports.attempts.release(key).await {
                    tracing::warn!(error = %release_error, "could not give back an unverified attempt");
                }
                return Err(error.into());
            }
        };
        match verdict {
            Verification::Match { needs_rehash } => {
                self.ports.attempts.succeed(key).await?;
                Ok((Checked::Match { needs_rehash }, user_id))
            }
            Verification::Mismatch => {
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
                        json!({ "email": key, "attempt": attempt, "check": purpose }),
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
                Ok((Checked::Mismatch, user_id))
            }
        }
    }

    /// True when the user has not signed in (or registered) from this IP
    /// address in the last 90 days. Asked of the audit log directly, so no
    /// amount of unrelated activity (token refreshes) can push the answer out
    /// of a window.
    pub(crate) async fn is_new_location(&self, user: &User, ctx: &RequestContext) -> bool {
        let Some(ip) = ctx.ip.as_deref() else { return false };
        let since = self.ports.clock.now() - KNOWN_LOCATION_FOR;
        let signed_in = [AuditAction::LoginSucceeded, AuditAction::UserRegistered];
        match self.ports.audit.seen_from(user.id, ip, &signed_in, since).await {
            Ok(seen) => !seen,
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
