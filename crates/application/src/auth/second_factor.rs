//! The second factor's shared part: checking a code under the account's code
//! budget, and the challenge a first factor ends in when the user has a
//! second factor. Used by sign-in (password, magic link) and by
//! [`super::MfaService`].

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{
    AttemptGate, Cipher, Clock, EphemeralStore, FactorStore, LockoutPolicy, LoginAttempts, TokenGenerator,
    TotpAlgorithm,
};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::UserId;
use portcullis_domain::mfa::{
    SecondFactor, SentSmsCode, SmsPurpose, SmsVerdict, TotpVerdict, backup_code_hash, decide_sms_code,
    decide_totp, normalize_code, totp_step,
};
use portcullis_domain::phone::PhoneNumber;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::SignInMethod;
use portcullis_domain::user::User;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// How long a sign-in challenge can be answered.
pub const CHALLENGE_TTL: Duration = Duration::minutes(5);

/// A first factor succeeded; the user must answer with a second one.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Shown once; kept only as its hash.
    pub id: Secret,
    pub methods: Vec<SecondFactor>,
    pub expires_in: Duration,
}

/// What a challenge remembers of the first factor (in the ephemeral store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingChallenge {
    pub(crate) user_id: uuid::Uuid,
    /// The first factor, by name (`SignInMethod::as_str`).
    pub(crate) method: String,
    /// The client that passed the first factor: another cannot answer.
    pub(crate) user_agent: Option<String>,
}

impl PendingChallenge {
    pub(crate) fn method(&self) -> Option<SignInMethod> {
        SignInMethod::parse(&self.method)
    }
}

/// The authenticated-data context a user's TOTP secret is sealed under: a
/// sealed secret moved to another user's row does not open.
pub(crate) fn totp_context(user: UserId) -> Vec<u8> {
    format!("totp:{user}").into_bytes()
}

pub(crate) fn challenge_key(id: &Secret) -> String {
    format!("mfa-challenge:{}", TokenHash::of(id).to_hex())
}

/// Codes and challenges: the factor store, the TOTP algorithm, the cipher
/// that opens secrets, and the code budget (its own lockout counter per
/// account, separate from the password's).
#[derive(Clone)]
pub struct SecondFactors {
    pub factors: Arc<dyn FactorStore>,
    pub totp: Arc<dyn TotpAlgorithm>,
    pub cipher: Arc<dyn Cipher>,
    pub challenges: Arc<dyn EphemeralStore>,
    pub attempts: Arc<dyn LoginAttempts>,
    /// Wrong codes that lock the account's second factor for a while.
    pub lockout: LockoutPolicy,
    pub tokens: Arc<dyn TokenGenerator>,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
}

/// What a code is checked for (audited; a texted code answers only the
/// purpose it was sent for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Answering a sign-in challenge.
    Challenge,
    /// Step-up.
    Reauthenticate,
    /// Turning the second factor off.
    Disable,
    RegenerateBackupCodes,
    /// Confirming a new phone with the code texted to it.
    ConfirmPhone,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Challenge => "challenge",
            Self::Reauthenticate => "reauthenticate",
            Self::Disable => "disable",
            Self::RegenerateBackupCodes => "regenerate_backup_codes",
            Self::ConfirmPhone => "confirm_phone",
        }
    }

    /// The texted code this check accepts.
    pub fn sms_purpose(self) -> SmsPurpose {
        match self {
            Self::Challenge => SmsPurpose::SignIn,
            Self::Reauthenticate | Self::Disable | Self::RegenerateBackupCodes => SmsPurpose::StepUp,
            Self::ConfirmPhone => SmsPurpose::Enrol,
        }
    }
}

/// Why a code was refused (audited; the client is told only INVALID_CODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Wrong,
    Replayed,
    NoFactor,
    /// No texted code is outstanding (never sent, expired, or used).
    NoCode,
    /// A texted code sent for another purpose.
    OtherPurpose,
    /// A security key's assertion did not verify.
    Ceremony(crate::ports::CeremonyRefusal),
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Wrong => "wrong",
            Self::Replayed => "replayed",
            Self::NoFactor => "no_factor",
            Self::NoCode => "no_code",
            Self::OtherPurpose => "other_purpose",
            Self::Ceremony(reason) => reason.as_str(),
        }
    }
}

impl SecondFactors {
    /// The factors `user` can answer a challenge with (none: no challenge).
    pub async fn methods(&self, user: UserId) -> Result<Vec<SecondFactor>, AppError> {
        // One read, asked by every sign-in.
        let s = self.factors.summary(user).await?;
        Ok(portcullis_domain::mfa::offered_factors(
            s.totp_confirmed,
            s.sms_confirmed,
            s.security_keys,
            s.backup_codes_left,
        ))
    }

    /// After a first factor: a challenge when the user has a second factor,
    /// `None` when the sign-in may complete.
    pub async fn challenge(
        &self,
        user: &User,
        method: SignInMethod,
        ctx: &RequestContext,
    ) -> Result<Option<Challenge>, AppError> {
        let methods = self.methods(user.id).await?;
        if methods.is_empty() {
            return Ok(None);
        }
        let id = self.tokens.refresh_token();
        let pending = PendingChallenge {
            user_id: user.id.as_uuid(),
            method: method.as_str().to_owned(),
            user_agent: ctx.user_agent.clone(),
        };
        let value = serde_json::to_vec(&pending)
            .map_err(|e| AppError::Internal(crate::Cause::context("could not encode a challenge", e)))?;
        self.challenges.put(&challenge_key(&id), &value, CHALLENGE_TTL).await?;
        let names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        self.audit
            .record(
                AuditAction::MfaChallengeIssued,
                Some(user.id),
                ctx,
                json!({ "method": method.as_str(), "factors": names }),
            )
            .await;
        Ok(Some(Challenge { id, methods, expires_in: CHALLENGE_TTL }))
    }

    /// Checks a code of `method` under the account's code budget: counted
    /// before the check (parallel guesses get at most the threshold through),
    /// given back when no verdict was reached (a backend failed), and a
    /// verified wrong code that reaches the threshold locks the second
    /// factor for `lockout.lock_for`. A TOTP code's step and a backup code
    /// are spent by a success: neither works twice.
    pub async fn verify(
        &self,
        user: UserId,
        method: SecondFactor,
        code: &Secret,
        purpose: Check,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        self.budgeted(user, method, purpose, ctx, self.check(user, method, code, purpose)).await
    }

    /// Runs `check` (a code's, or a security key's) under the account's
    /// budget of second-factor attempts; see [`Self::verify`].
    pub(crate) async fn budgeted(
        &self,
        user: UserId,
        method: SecondFactor,
        purpose: Check,
        ctx: &RequestContext,
        check: impl std::future::Future<Output = Result<Result<(), Refusal>, AppError>>,
    ) -> Result<(), AppError> {
        let key = format!("mfa|{user}");
        let attempt = match self.attempts.begin(&key, &self.lockout).await? {
            AttemptGate::Allowed { attempt } => attempt,
            AttemptGate::Locked { retry_after } => {
                let details = json!({ "scope": "second_factor", "check": purpose.as_str(), "retry_after_seconds": retry_after.whole_seconds() });
                self.audit
                    .record_deduped(
                        &format!("mfa-locked:{user}"),
                        AuditAction::LoginRefusedLocked,
                        Some(user),
                        ctx,
                        details,
                    )
                    .await;
                return Err(AppError::AccountLocked { retry_after });
            }
        };
        let verdict = match check.await {
            Ok(verdict) => verdict,
            Err(error) => {
                if let Err(e) = self.attempts.release(&key).await {
                    tracing::warn!(error = %e, "could not give back an unverified code attempt");
                }
                return Err(error);
            }
        };
        match verdict {
            Ok(()) => {
                self.attempts.succeed(&key).await?;
                Ok(())
            }
            Err(refusal) => {
                let details = json!({
                    "factor": method.as_str(),
                    "reason": refusal.as_str(),
                    "check": purpose.as_str(),
                    "attempt": attempt,
                });
                self.audit.record(AuditAction::MfaFailed, Some(user), ctx, details).await;
                if attempt >= self.lockout.threshold {
                    self.attempts.lock(&key, self.lockout.lock_for).await?;
                    let details = json!({
                        "scope": "second_factor",
                        "locked_for_seconds": self.lockout.lock_for.whole_seconds(),
                    });
                    self.audit.record(AuditAction::AccountLocked, Some(user), ctx, details).await;
                }
                Err(match refusal {
                    Refusal::Ceremony(reason) => AppError::WebauthnRefused(reason),
                    _ => AppError::InvalidCode,
                })
            }
        }
    }

    /// The verdict on one code; `Err` only when no verdict was reached.
    async fn check(
        &self,
        user: UserId,
        method: SecondFactor,
        code: &Secret,
        purpose: Check,
    ) -> Result<Result<(), Refusal>, AppError> {
        let now = self.clock.now();
        let code = normalize_code(code.expose());
        match method {
            SecondFactor::Totp => {
                let Some(factor) = self.factors.totp(user).await?.filter(|f| f.confirmed_at.is_some()) else {
                    return Ok(Err(Refusal::NoFactor));
                };
                let secret = self.open(user, &factor.sealed_secret)?;
                let verdict = decide_totp(&code, totp_step(now), factor.last_used_step, |step| {
                    self.totp.matches(&secret, &code, step)
                });
                match verdict {
                    // The store has the last word: of two concurrent uses of a
                    // step, one is recorded.
                    TotpVerdict::Accepted { step } => Ok(if self.factors.use_totp_step(user, step).await? {
                        Ok(())
                    } else {
                        Err(Refusal::Replayed)
                    }),
                    TotpVerdict::Replayed => Ok(Err(Refusal::Replayed)),
                    TotpVerdict::Wrong => Ok(Err(Refusal::Wrong)),
                }
            }
            SecondFactor::Sms => self.check_texted(user, &code, purpose.sms_purpose()).await,
            // A security key answers with an assertion, never a typed code.
            SecondFactor::SecurityKey => Ok(Err(Refusal::NoFactor)),
            SecondFactor::BackupCode => {
                // Bounded input: a code is 16 characters; anything far longer
                // is wrong without hashing megabytes.
                if code.len() > 64 {
                    return Ok(Err(Refusal::Wrong));
                }
                let spent = self.factors.use_backup_code(user, &backup_code_hash(&code), now).await?;
                Ok(if spent { Ok(()) } else { Err(Refusal::Wrong) })
            }
        }
    }

    /// A texted code: the one outstanding for the user, sent for this
    /// purpose to the phone the factor has; taken by a success, so it works
    /// once (of two concurrent right answers, one takes it).
    async fn check_texted(
        &self,
        user: UserId,
        code: &str,
        purpose: SmsPurpose,
    ) -> Result<Result<(), Refusal>, AppError> {
        let Some(factor) = super::sms::phone_for(self.factors.sms(user).await?, purpose) else {
            return Ok(Err(Refusal::NoFactor));
        };
        let phone = PhoneNumber::from_stored(&factor.phone).map_err(|e| {
            AppError::Internal(crate::Cause::context("a stored phone number does not parse", e))
        })?;
        let key = super::sms::sms_code_key(user);
        let Some(raw) = self.challenges.get(&key).await? else { return Ok(Err(Refusal::NoCode)) };
        let Ok(sent) = serde_json::from_slice::<SentSmsCode>(&raw) else { return Ok(Err(Refusal::NoCode)) };
        Ok(match decide_sms_code(&sent, code, purpose, &phone) {
            SmsVerdict::Accepted => match self.challenges.take(&key).await? {
                Some(taken) if taken == raw => Ok(()),
                _ => Err(Refusal::Replayed),
            },
            SmsVerdict::OtherPurpose => Err(Refusal::OtherPurpose),
            SmsVerdict::Wrong | SmsVerdict::NumberChanged => Err(Refusal::Wrong),
        })
    }

    /// Opens a sealed TOTP secret. A failure is a server fault (a missing
    /// key, a corrupted row), never the client's.
    pub(crate) fn open(&self, user: UserId, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
        self.cipher
            .decrypt(sealed, &totp_context(user))
            .map_err(|e| AppError::Internal(crate::Cause::context("could not open a TOTP secret", e)))
    }

    /// Ten new backup codes when no second factor is on yet (`summary`, read
    /// before the new one is confirmed): the first factor brings a set, a
    /// later one keeps it. Empty otherwise.
    pub(crate) fn backup_codes_for_first_factor(
        &self,
        summary: &crate::ports::FactorSummary,
    ) -> (Vec<String>, Vec<TokenHash>) {
        match summary.any_confirmed() {
            true => (Vec::new(), Vec::new()),
            false => self.new_backup_codes(),
        }
    }

    /// Ten new backup codes: (shown once, stored hashes).
    pub(crate) fn new_backup_codes(&self) -> (Vec<String>, Vec<TokenHash>) {
        (0..portcullis_domain::mfa::BACKUP_CODE_COUNT)
            .map(|_| {
                let code = self.tokens.backup_code();
                (portcullis_domain::mfa::format_backup_code(code.expose()), backup_code_hash(code.expose()))
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockAuditLog, MockCipher, MockClock, MockEphemeralStore, MockFactorStore, MockLoginAttempts,
        MockTokenGenerator, MockTotpAlgorithm, StoreError,
    };
    use time::OffsetDateTime;

    fn parts(factors: MockFactorStore, attempts: MockLoginAttempts, audited: usize) -> SecondFactors {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH + Duration::days(20_000));
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let mut log = MockAuditLog::new();
        log.expect_append().times(audited).returning(|_| Ok(()));
        SecondFactors {
            factors: Arc::new(factors),
            totp: Arc::new(MockTotpAlgorithm::new()),
            cipher: Arc::new(MockCipher::new()),
            challenges: Arc::new(MockEphemeralStore::new()),
            attempts: Arc::new(attempts),
            lockout: LockoutPolicy {
                threshold: 3,
                window: Duration::minutes(15),
                lock_for: Duration::minutes(15),
            },
            tokens: Arc::new(MockTokenGenerator::new()),
            audit: AuditTrail::new(Arc::new(log), clock.clone()),
            clock,
        }
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable(crate::Cause::context("test", std::io::Error::other("down")))
    }

    /// Only a verified wrong code counts: a store that fails mid-check gives
    /// the attempt back, locks nothing and audits no failure.
    #[tokio::test]
    async fn a_backend_failure_gives_the_attempt_back() {
        let mut factors = MockFactorStore::new();
        factors.expect_use_backup_code().times(1).returning(|_, _, _| Err(unavailable()));
        let mut attempts = MockLoginAttempts::new();
        attempts.expect_begin().times(1).returning(|_, _| Ok(AttemptGate::Allowed { attempt: 3 }));
        attempts.expect_release().withf(|key| key.starts_with("mfa|")).times(1).returning(|_| Ok(()));
        attempts.expect_lock().never();
        attempts.expect_succeed().never();
        let second = parts(factors, attempts, 0);
        let err = second
            .verify(
                UserId::new(),
                SecondFactor::BackupCode,
                &Secret::new("abcd-efgh-ijkl-mnop"),
                Check::Challenge,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
    }

    /// The wrong code that reaches the threshold locks the second factor.
    #[tokio::test]
    async fn the_threshold_failure_locks() {
        let mut factors = MockFactorStore::new();
        factors.expect_use_backup_code().times(1).returning(|_, _, _| Ok(false));
        let mut attempts = MockLoginAttempts::new();
        attempts.expect_begin().times(1).returning(|_, _| Ok(AttemptGate::Allowed { attempt: 3 }));
        attempts.expect_lock().withf(|_, d| *d == Duration::minutes(15)).times(1).returning(|_, _| Ok(()));
        attempts.expect_release().never();
        // The failure, then the lock.
        let second = parts(factors, attempts, 2);
        let err = second
            .verify(
                UserId::new(),
                SecondFactor::BackupCode,
                &Secret::new("wrong"),
                Check::Challenge,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::InvalidCode), "{err:?}");
    }

    /// While locked, no code is checked at all.
    #[tokio::test]
    async fn a_locked_factor_checks_nothing() {
        let mut factors = MockFactorStore::new();
        factors.expect_use_backup_code().never();
        factors.expect_totp().never();
        let mut attempts = MockLoginAttempts::new();
        attempts
            .expect_begin()
            .times(1)
            .returning(|_, _| Ok(AttemptGate::Locked { retry_after: Duration::minutes(4) }));
        let second = parts(factors, attempts, 1);
        let err = second
            .verify(
                UserId::new(),
                SecondFactor::BackupCode,
                &Secret::new("x"),
                Check::Challenge,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::AccountLocked { retry_after } if retry_after == Duration::minutes(4))
        );
    }
}
