//! Second factors, from the user's side: enrol an authenticator app (TOTP),
//! backup codes, turn it off, answer a sign-in challenge, and step up
//! (reauthenticate) before a sensitive operation.

use super::notices::Notices;
use super::passwords::{Checked, Passwords};
use super::second_factor::Refusal;
use super::second_factor::{Check, PendingChallenge, SecondFactors, challenge_key, totp_context};
use super::sms::{SmsCodes, SmsSent};
use super::webauthn::Purpose;
use super::{Authenticated, SessionIssuer};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::mail::SecurityEvent;
use crate::ports::CeremonyRefusal;
use crate::ports::{AccessClaims, Clock, IssuedAccessToken, TotpProvisioning, UserRepository};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::UserId;
use portcullis_domain::mfa::{SecondFactor, SmsPurpose, TotpVerdict, decide_totp, normalize_code, totp_step};
use portcullis_domain::phone::PhoneNumber;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use portcullis_domain::webauthn::CredentialKind;
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// Which second factors are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// An authenticator app is confirmed.
    pub totp: bool,
    /// An enrolment waits for its first code.
    pub totp_pending: bool,
    pub backup_codes_left: usize,
    /// A phone is confirmed for texted codes.
    pub sms: bool,
    /// A phone waits for its texted code.
    pub sms_pending: bool,
    /// The phone (confirmed or pending), masked.
    pub phone: Option<String>,
    /// Registered security keys.
    pub security_keys: usize,
    /// What a sign-in challenge accepts now.
    pub methods: Vec<SecondFactor>,
}

/// How a user proves who they are again (step-up).
#[derive(Debug, Clone)]
pub enum Proof {
    Password(Secret),
    Code { method: SecondFactor, code: Secret },
}

#[derive(Clone)]
pub struct MfaService {
    pub users: Arc<dyn UserRepository>,
    pub second: SecondFactors,
    pub sms: SmsCodes,
    pub webauthn: super::webauthn::Ceremonies,
    pub passwords: Passwords,
    pub issuer: SessionIssuer,
    pub notices: Notices,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    /// Sensitive operations need a sign-in (or step-up) this recent
    /// (`REAUTH_WINDOW`).
    pub reauth_window: Duration,
}

impl MfaService {
    async fn user(&self, id: UserId) -> Result<User, AppError> {
        self.users.find_by_id(id).await?.ok_or(AppError::Unauthorized)
    }

    /// The caller, who must have a second factor on (409 MFA_NOT_ENABLED).
    async fn user_with_factor(&self, id: UserId) -> Result<User, AppError> {
        let user = self.user(id).await?;
        if self.second.methods(user.id).await?.is_empty() {
            return Err(AppError::MfaNotEnabled);
        }
        Ok(user)
    }

    pub async fn status(&self, claims: &AccessClaims) -> Result<MfaStatus, AppError> {
        let s = self.second.factors.summary(claims.user_id).await?;
        let phone = match s.sms_confirmed || s.sms_pending {
            true => self.second.factors.sms(claims.user_id).await?,
            false => None,
        };
        Ok(MfaStatus {
            totp: s.totp_confirmed,
            totp_pending: s.totp_pending,
            backup_codes_left: s.backup_codes_left,
            sms: s.sms_confirmed,
            sms_pending: s.sms_pending,
            phone: phone.and_then(|f| PhoneNumber::from_stored(&f.phone).ok()).map(|p| p.masked()),
            security_keys: s.security_keys,
            methods: portcullis_domain::mfa::offered_factors(
                s.totp_confirmed,
                s.sms_confirmed,
                s.security_keys,
                s.backup_codes_left,
            ),
        })
    }

    /// A factor was turned on: the owner is told, and it is audited.
    async fn enabled(&self, user: &User, factor: SecondFactor, ctx: &RequestContext) {
        self.notices.security_alert(user, SecurityEvent::MfaEnabled, ctx).await;
        let details = json!({ "factor": factor.as_str() });
        self.audit.record(AuditAction::MfaEnabled, Some(user.id), ctx, details).await;
    }

    /// Starts enrolling an authenticator app: a new secret (sealed at rest),
    /// pending until [`Self::confirm_totp`]. Asking again replaces a pending
    /// secret; with a confirmed one: 409 MFA_ALREADY_ENABLED.
    pub async fn setup_totp(&self, claims: &AccessClaims) -> Result<TotpProvisioning, AppError> {
        let user = self.user(claims.user_id).await?;
        let secret = self.second.totp.new_secret();
        let sealed = self.second.cipher.encrypt(&secret, &totp_context(user.id));
        if !self.second.factors.begin_totp(user.id, &sealed, self.clock.now()).await? {
            return Err(AppError::MfaAlreadyEnabled);
        }
        Ok(self.second.totp.provisioning(&secret, user.email.as_str()))
    }

    /// Confirms the pending authenticator app with a current code and turns
    /// it on; returns the ten backup codes, shown this once.
    pub async fn confirm_totp(
        &self,
        claims: &AccessClaims,
        code: &Secret,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, AppError> {
        let user = self.user(claims.user_id).await?;
        let factor = match self.second.factors.totp(user.id).await? {
            Some(f) if f.confirmed_at.is_some() => return Err(AppError::MfaAlreadyEnabled),
            Some(f) => f,
            None => return Err(AppError::MfaNotEnabled),
        };
        let secret = self.second.open(user.id, &factor.sealed_secret)?;
        let code = normalize_code(code.expose());
        let now = self.clock.now();
        let step =
            match decide_totp(&code, totp_step(now), None, |s| self.second.totp.matches(&secret, &code, s)) {
                TotpVerdict::Accepted { step } => step,
                TotpVerdict::Replayed | TotpVerdict::Wrong => return Err(AppError::InvalidCode),
            };
        let summary = self.second.factors.summary(user.id).await?;
        let (codes, hashes) = self.second.backup_codes_for_first_factor(&summary);
        if !self.second.factors.confirm_totp(user.id, step, &hashes, now).await? {
            return Err(AppError::MfaAlreadyEnabled);
        }
        self.enabled(&user, SecondFactor::Totp, ctx).await;
        Ok(codes)
    }

    /// Starts enrolling a phone for texted codes: the number is checked
    /// (E.164), kept pending, and a code is texted to it (202). With another
    /// factor on, adding a way past the challenge needs a recent sign-in.
    pub async fn setup_sms(
        &self,
        claims: &AccessClaims,
        phone: &str,
        ctx: &RequestContext,
    ) -> Result<SmsSent, AppError> {
        let phone = PhoneNumber::parse(phone)?;
        let user = self.user(claims.user_id).await?;
        let summary = self.second.factors.summary(user.id).await?;
        if summary.sms_confirmed {
            return Err(AppError::MfaAlreadyEnabled);
        }
        if summary.any_confirmed() {
            super::require_recent(claims, self.clock.now(), self.reauth_window)?;
        }
        if !self.second.factors.begin_sms(user.id, phone.as_str(), self.clock.now()).await? {
            return Err(AppError::MfaAlreadyEnabled);
        }
        self.sms.request(user.id, SmsPurpose::Enrol, ctx).await
    }

    /// Confirms the pending phone with the code texted to it. Returns ten
    /// backup codes when this is the account's first factor (else none: the
    /// existing set stays).
    pub async fn confirm_sms(
        &self,
        claims: &AccessClaims,
        code: &Secret,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, AppError> {
        let user = self.user(claims.user_id).await?;
        let summary = self.second.factors.summary(user.id).await?;
        if summary.sms_confirmed {
            return Err(AppError::MfaAlreadyEnabled);
        }
        if !summary.sms_pending {
            return Err(AppError::MfaNotEnabled);
        }
        self.second.verify(user.id, SecondFactor::Sms, code, Check::ConfirmPhone, ctx).await?;
        // The phone is pending: `summary` tells whether another factor is on.
        let (codes, hashes) = self.second.backup_codes_for_first_factor(&summary);
        if !self.second.factors.confirm_sms(user.id, &hashes, self.clock.now()).await? {
            return Err(AppError::MfaAlreadyEnabled);
        }
        self.enabled(&user, SecondFactor::Sms, ctx).await;
        Ok(codes)
    }

    /// Texts a step-up code (for reauthentication, turning factors off,
    /// new backup codes) to the confirmed phone.
    pub async fn send_sms_code(
        &self,
        claims: &AccessClaims,
        ctx: &RequestContext,
    ) -> Result<SmsSent, AppError> {
        let user = self.user(claims.user_id).await?;
        self.sms.request(user.id, SmsPurpose::StepUp, ctx).await
    }

    /// Texts a sign-in code for an open challenge (same checks as answering
    /// it: unknown, expired or another client's challenge → 401).
    pub async fn challenge_sms(
        &self,
        challenge_id: &Secret,
        ctx: &RequestContext,
    ) -> Result<SmsSent, AppError> {
        let (_, _, user) = self.open_challenge(challenge_id, ctx).await?;
        self.sms.request(user.id, SmsPurpose::SignIn, ctx).await
    }

    /// Replaces every backup code; needs a current code from the app or the
    /// phone (a backup code cannot mint more).
    pub async fn regenerate_backup_codes(
        &self,
        claims: &AccessClaims,
        method: SecondFactor,
        code: &Secret,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, AppError> {
        let user = self.user_with_factor(claims.user_id).await?;
        if method == SecondFactor::BackupCode {
            return Err(AppError::InvalidCode);
        }
        self.second.verify(user.id, method, code, Check::RegenerateBackupCodes, ctx).await?;
        let (codes, hashes) = self.second.new_backup_codes();
        self.second.factors.replace_backup_codes(user.id, &hashes, self.clock.now()).await?;
        self.notices.security_alert(&user, SecurityEvent::BackupCodesRegenerated, ctx).await;
        self.audit.record(AuditAction::BackupCodesRegenerated, Some(user.id), ctx, json!({})).await;
        Ok(codes)
    }

    /// Turns the second factor off (and drops the backup codes). Needs a
    /// recent sign-in and a current code (authenticator or backup).
    pub async fn disable(
        &self,
        claims: &AccessClaims,
        method: SecondFactor,
        code: &Secret,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        super::require_recent(claims, self.clock.now(), self.reauth_window)?;
        let user = self.user_with_factor(claims.user_id).await?;
        self.second.verify(user.id, method, code, Check::Disable, ctx).await?;
        if !self.second.factors.remove_all(user.id).await? {
            return Err(AppError::MfaNotEnabled);
        }
        self.notices.security_alert(&user, SecurityEvent::MfaDisabled, ctx).await;
        self.audit
            .record(AuditAction::MfaDisabled, Some(user.id), ctx, json!({ "proved_with": method.as_str() }))
            .await;
        Ok(())
    }

    /// Answers a sign-in challenge: the session opens with both factors.
    /// Unknown, expired or answered challenges, and a challenge presented
    /// by another client than the one that passed the first factor, are
    /// refused alike (401 MFA_CHALLENGE_INVALID). A wrong code leaves the
    /// challenge open (until it expires) and counts toward the lock.
    pub async fn answer_challenge(
        &self,
        challenge_id: &Secret,
        method: SecondFactor,
        code: &Secret,
        ctx: &RequestContext,
    ) -> Result<Authenticated, AppError> {
        let (key, first, user) = self.open_challenge(challenge_id, ctx).await?;
        self.second.verify(user.id, method, code, Check::Challenge, ctx).await?;
        self.complete_challenge(&key, first, user, method, ctx).await
    }

    /// Begins a security key's answer to an open challenge (the browser
    /// signs with one of the account's keys).
    pub async fn challenge_security_key(
        &self,
        challenge_id: &Secret,
        ctx: &RequestContext,
    ) -> Result<super::webauthn::Ceremony, AppError> {
        let (key, _, user) = self.open_challenge(challenge_id, ctx).await?;
        let keys: Vec<_> = self
            .webauthn
            .credentials
            .list(user.id)
            .await?
            .into_iter()
            .filter(|c| c.kind == CredentialKind::SecurityKey)
            .collect();
        if keys.is_empty() {
            return Err(AppError::MfaNotEnabled);
        }
        let start = self.webauthn.ceremonies.start_authentication(CredentialKind::SecurityKey, &keys);
        self.webauthn.begin(Purpose::Challenge { challenge_key: key }, start).await
    }

    /// Answers a challenge with a security key's assertion. A refused
    /// assertion counts toward the code lock like a wrong code.
    pub async fn answer_with_security_key(
        &self,
        challenge_id: &Secret,
        ceremony_id: &Secret,
        response: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<Authenticated, AppError> {
        let (key, first, user) = self.open_challenge(challenge_id, ctx).await?;
        let state =
            self.webauthn.take_for(ceremony_id, &Purpose::Challenge { challenge_key: key.clone() }).await?;
        let check = async {
            let credential = match self.webauthn.asserted(response).await {
                Ok(c) if c.user_id == user.id && c.kind == CredentialKind::SecurityKey => c,
                Ok(_) => return Ok(Err(Refusal::Ceremony(CeremonyRefusal::UnknownCredential))),
                Err(AppError::WebauthnRefused(reason)) => return Ok(Err(Refusal::Ceremony(reason))),
                Err(other) => return Err(other),
            };
            Ok(self.webauthn.verify(&credential, response, &state).await?.map_err(Refusal::Ceremony))
        };
        let method = SecondFactor::SecurityKey;
        self.second.budgeted(user.id, method, Check::Challenge, ctx, check).await?;
        self.complete_challenge(&key, first, user, method, ctx).await
    }

    /// A challenge answered: taken (once), and the session opens with both
    /// factors.
    async fn complete_challenge(
        &self,
        key: &str,
        first: portcullis_domain::session::SignInMethod,
        user: User,
        method: SecondFactor,
        ctx: &RequestContext,
    ) -> Result<Authenticated, AppError> {
        // Of concurrent right answers (two backup codes), one takes it.
        if self.second.challenges.take(key).await?.is_none() {
            return Err(AppError::ChallengeInvalid);
        }
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        let tokens = self.issuer.start(&user, first, Some(method), ctx).await?;
        self.audit
            .record(
                AuditAction::LoginSucceeded,
                Some(user.id),
                ctx,
                json!({ "method": first.as_str(), "second_factor": method.as_str() }),
            )
            .await;
        Ok(Authenticated { tokens, user })
    }

    /// An open challenge presented by the client that passed its first
    /// factor: its key, that factor, and the user.
    async fn open_challenge(
        &self,
        challenge_id: &Secret,
        ctx: &RequestContext,
    ) -> Result<(String, portcullis_domain::session::SignInMethod, User), AppError> {
        if challenge_id.expose().is_empty() || challenge_id.expose().len() > 256 {
            return Err(AppError::ChallengeInvalid);
        }
        let key = challenge_key(challenge_id);
        let pending: PendingChallenge = match self.second.challenges.get(&key).await? {
            Some(raw) => serde_json::from_slice(&raw).map_err(|_| AppError::ChallengeInvalid)?,
            None => return Err(AppError::ChallengeInvalid),
        };
        let first = pending.method().ok_or(AppError::ChallengeInvalid)?;
        if pending.user_agent != ctx.user_agent {
            return Err(AppError::ChallengeInvalid);
        }
        let user = self.users.find_by_id(UserId(pending.user_id)).await?.ok_or(AppError::ChallengeInvalid)?;
        Ok((key, first, user))
    }

    /// Step-up: proves the caller is still the user (password, or a code
    /// when a second factor is on) and moves the session's `auth_time` to
    /// now. Returns a new access token saying so; the session and its refresh
    /// token stay.
    pub async fn reauthenticate(
        &self,
        claims: &AccessClaims,
        proof: &Proof,
        ctx: &RequestContext,
    ) -> Result<IssuedAccessToken, AppError> {
        let user = self.user(claims.user_id).await?;
        let factor = match proof {
            Proof::Password(password) => {
                let (checked, _) = self
                    .passwords
                    .counted_check(&user.email, Some(&user), password, "reauthenticate", ctx)
                    .await?;
                if checked == Checked::Mismatch {
                    return Err(AppError::InvalidCredentials);
                }
                None
            }
            Proof::Code { method, code } => {
                self.second.verify(user.id, *method, code, Check::Reauthenticate, ctx).await?;
                Some(*method)
            }
        };
        let now = self.clock.now();
        let session = self
            .issuer
            .sessions
            .reauthenticated(claims.session_id, factor, now)
            .await?
            .ok_or(AppError::InvalidToken)?;
        let access = self.issuer.access_token(&session, now)?;
        let how = match proof {
            Proof::Password(_) => "password",
            Proof::Code { method, .. } => method.as_str(),
        };
        self.audit
            .record(
                AuditAction::Reauthenticated,
                Some(user.id),
                ctx,
                json!({ "session_id": session.id, "proved_with": how }),
            )
            .await;
        Ok(access)
    }
}
