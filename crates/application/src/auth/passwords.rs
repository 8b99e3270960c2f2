//! Password checks shared by sign-in and account changes: the policy, and
//! the counted check under the lockout budgets (ADR 0004, 0007, 0009).

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AttemptGate, LockoutPolicy, LoginAttempts, PasswordHasher, Verification};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::password::{PasswordPolicy, normalize};
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use serde_json::json;
use std::sync::Arc;

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

/// The password policy, the hasher and the lockout counters.
#[derive(Clone)]
pub struct Passwords {
    pub hasher: Arc<dyn PasswordHasher>,
    pub attempts: Arc<dyn LoginAttempts>,
    pub audit: AuditTrail,
    pub policy: PasswordPolicy,
    /// Wrong passwords for one account from one source.
    pub lockout: LockoutPolicy,
    /// Wrong passwords for one account from all sources together.
    pub account_lockout: LockoutPolicy,
}

impl Passwords {
    /// Checks a new password against every rule. `errors` carries failures
    /// already found in other fields; if anything failed, the strength
    /// estimate still runs (on the hashing pool) so the answer lists every
    /// broken rule. On success, returns the check for `PasswordHasher::hash`.
    pub(crate) async fn validate_new_password(
        &self,
        field: &'static str,
        password: &Secret,
        context: Vec<String>,
        mut errors: portcullis_domain::ValidationErrors,
    ) -> Result<crate::ports::StrengthCheck, crate::AppError> {
        let policy = &self.policy;
        errors.extend(policy.check_rules(field, password));
        let check = crate::ports::StrengthCheck { policy: policy.clone(), field, context };
        if errors.is_empty() {
            return Ok(check);
        }
        if password.expose().chars().count() <= policy.max_length {
            errors.extend(self.hasher.estimate(password, check).await?);
        }
        Err(crate::AppError::Validation(errors))
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
        let (source_policy, account_policy) = (self.lockout, self.account_lockout);
        // The source's own budget first, then the slower account-wide bound.
        let source_attempt = match self.attempts.begin(&keys.source, &source_policy).await? {
            AttemptGate::Allowed { attempt } => attempt,
            AttemptGate::Locked { retry_after } => {
                return Err(self.refused_locked(&keys, "source", retry_after, user_id, purpose, ctx).await);
            }
        };
        let account_attempt = match self.attempts.begin(&keys.account, &account_policy).await {
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
                match self.hasher.verify(&normalized, &user.password_hash).await {
                    // A hash made before passwords were normalised holds the
                    // form as typed then: accept it once, and rehash.
                    Ok(Verification::Mismatch) if normalized != *password => {
                        self.hasher.verify(password, &user.password_hash).await.map(|v| match v {
                            Verification::Match { .. } => Verification::Match { needs_rehash: true },
                            mismatch => mismatch,
                        })
                    }
                    other => other,
                }
            }
            // No account, or no password: the same work, the same answer.
            _ => self.hasher.verify_dummy(&normalized).await.map(|()| Verification::Mismatch),
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
                self.attempts.succeed(&keys.source).await?;
                self.attempts.succeed(&keys.account).await?;
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
                        self.attempts.lock(key, policy.lock_for).await?;
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
        if let Err(error) = self.attempts.release(key).await {
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
        self.attempts.reset(&keys.account).await?;
        self.attempts.reset(&keys.source).await?;
        Ok(())
    }
}
