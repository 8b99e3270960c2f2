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

/// What password attempts are counted under: the account from one source
/// (IPv4 address or IPv6 /64), and the account as a whole (ADR 0009).
pub(crate) struct AttemptKeys {
    pub(crate) source: String,
    pub(crate) account: String,
}

impl AttemptKeys {
    pub(crate) fn new(email: &Email, ctx: &RequestContext) -> Self {
        let source = portcullis_domain::source::source_key(ctx.ip.as_deref().unwrap_or("unknown"));
        Self { source: format!("{}|{source}", email.as_str()), account: email.as_str().to_owned() }
    }
}

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
        let user_id = user.map(|u| u.id);
        let keys = AttemptKeys::new(email, ctx);
        let (source_policy, account_policy) = (self.settings.lockout, self.settings.account_lockout);
        // The source's own budget first, then the slower account-wide bound.
        let source_attempt = match self.ports.attempts.begin(&keys.source, &source_policy).await? {
            AttemptGate::Allowed { attempt } => attempt,
            AttemptGate::Locked { retry_after } => {
                return Err(self.refused_locked(&keys, "source", retry_after, user_id, purpose, ctx).await);
            }
        };
        let account_attempt = match self.ports.attempts.begin(&keys.account, &account_policy).await {
            Ok(AttemptGate::Allowed { attempt }) => attempt,
            other => {
                self.give_back(&keys.source).await;
                return Err(match other {
                    Ok(AttemptGate::Locked { retry_after }) => {
                        self.refused_locked(&keys, "account", retry_after, user_id, purpose, ctx).await
                    }
                    Err(error) => error.into(),
                    Ok(AttemptGate::Allowed { .. }) => AppError::Internal("unreachable attempt gate".into()),
                });
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
        let verdict = match verdict {
            Ok(v) => v,
            Err(error) => {
                // No verdict: neither count may keep this attempt.
                self.give_back(&keys.source).await;
                self.give_back(&keys.account).await;
                return Err(error.into());
            }
        };
        match verdict {
            Verification::Match { needs_rehash } => {
                self.ports.attempts.succeed(&keys.source).await?;
                self.ports.attempts.succeed(&keys.account).await?;
                Ok((Checked::Match { needs_rehash }, user_id))
            }
            Verification::Mismatch => {
                self.audit
                    .record(
                        AuditAction::LoginFailed,
                        user_id,
                        ctx,
                        json!({
                            "email": keys.account,
                            "attempt": source_attempt,
                            "account_attempt": account_attempt,
                            "check": purpose,
                        }),
                    )
                    .await;
                // The failure that reaches a threshold locks what it counts.
                for (key, attempt, policy, scope) in [
                    (&keys.source, source_attempt, source_policy, "source"),
                    (&keys.account, account_attempt, account_policy, "account"),
                ] {
                    if attempt >= policy.threshold {
                        self.ports.attempts.lock(key, policy.lock_for).await?;
                        let details = json!({
                            "email": keys.account,
                            "scope": scope,
                            "locked_for_seconds": policy.lock_for.whole_seconds(),
                        });
                        self.audit.record(AuditAction::AccountLocked, user_id, ctx, details).await;
                    }
                }
                Ok((Checked::Mismatch, user_id))
            }
        }
    }

    async fn give_back(&self, key: &str) {
        if let Err(error) = self.ports.attempts.release(key).await {
            tracing::warn!(%error, "could not give back an unverified attempt");
        }
    }

    async fn refused_locked(
        &self,
        keys: &AttemptKeys,
        scope: &str,
        retry_after: time::Duration,
        user_id: Option<UserId>,
        purpose: &str,
        ctx: &RequestContext,
    ) -> AppError {
        let details = json!({
            "email": keys.account,
            "scope": scope,
            "check": purpose,
            "retry_after_seconds": retry_after.whole_seconds(),
        });
        let dedupe = format!("locked:{}:{scope}", keys.source);
        self.audit.record_deduped(&dedupe, AuditAction::LoginRefusedLocked, user_id, ctx, details).await;
        AppError::AccountLocked { retry_after }
    }

    /// The owner proved control of the mailbox (reset, magic link): lifts the
    /// account-wide lock and the lock of the source they came from (not the
    /// locks of other sources, which may be a guesser's).
    pub(crate) async fn lift_lockout(&self, email: &Email, ctx: &RequestContext) -> Result<(), AppError> {
        let keys = AttemptKeys::new(email, ctx);
        self.ports.attempts.reset(&keys.account).await?;
        self.ports.attempts.reset(&keys.source).await?;
        Ok(())
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
            .map_err(|e| AppError::Internal(crate::Cause::new(e)))?;
        Ok(TokenPair { access_token: access.token, expires_in: access.expires_in, refresh_token })
    }
}
