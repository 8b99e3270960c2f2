//! Texted codes: asking for one (limited per user and per number, promised
//! through the outbox) and the job that mints it, keeps its salted hash for
//! `SMS_CODE_TTL` and texts it. The code exists only in the message: the
//! request, the outbox and the queue carry `{user, purpose}`, nothing secret.

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::jobs::{JobError, JobHandler, JobKind, kinds};
use crate::ports::{
    Clock, EphemeralStore, FactorStore, Job, Outbox, RateLimiter, SmsError, SmsFactor, SmsSender,
    TokenGenerator,
};
use async_trait::async_trait;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::UserId;
use portcullis_domain::mfa::{SMS_CODE_TTL, SentSmsCode, SmsPurpose};
use portcullis_domain::phone::PhoneNumber;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// Where a user's outstanding texted code is kept (one at a time: a new
/// code replaces the last).
pub(crate) fn sms_code_key(user: UserId) -> String {
    format!("sms-code:{user}")
}

/// How many codes may be texted, per user and per number (`SMS_RATE_LIMIT_MAX`
/// in `SMS_RATE_LIMIT_WINDOW`): each message costs money and can be used to
/// pester the number's owner.
#[derive(Debug, Clone, Copy)]
pub struct SmsLimits {
    pub max: u32,
    pub window: Duration,
}

impl Default for SmsLimits {
    fn default() -> Self {
        Self { max: 5, window: Duration::hours(1) }
    }
}

/// A code is on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSent {
    /// The number, masked (`+44••••••••56`).
    pub phone: String,
    /// How long the code will work once it arrives.
    pub expires_in: Duration,
}

/// The payload of an `mfa.send_sms_code` job: nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCodeRequest {
    pub user_id: uuid::Uuid,
    pub purpose: SmsPurpose,
    #[serde(flatten)]
    pub origin: crate::jobs::Origin,
}

/// The phone a code of `purpose` goes to: the pending one to enrol, the
/// confirmed one for everything else.
pub(crate) fn phone_for(factor: Option<SmsFactor>, purpose: SmsPurpose) -> Option<SmsFactor> {
    factor.filter(|f| f.confirmed_at.is_some() != (purpose == SmsPurpose::Enrol))
}

/// Asking for texted codes.
#[derive(Clone)]
pub struct SmsCodes {
    pub factors: Arc<dyn FactorStore>,
    pub limiter: Arc<dyn RateLimiter>,
    pub outbox: Arc<dyn Outbox>,
    pub clock: Arc<dyn Clock>,
    pub limits: SmsLimits,
}

impl SmsCodes {
    /// Promises a code of `purpose` to the user's phone: 429 RATE_LIMITED
    /// past the limit per user or per number, 409 MFA_NOT_ENABLED without a
    /// phone for this purpose; otherwise recorded in the outbox (a queue
    /// outage delays the message, it does not lose it).
    pub async fn request(
        &self,
        user: UserId,
        purpose: SmsPurpose,
        ctx: &RequestContext,
    ) -> Result<SmsSent, AppError> {
        let factor = phone_for(self.factors.sms(user).await?, purpose).ok_or(AppError::MfaNotEnabled)?;
        let phone = PhoneNumber::from_stored(&factor.phone).map_err(|e| {
            AppError::Internal(crate::Cause::context("a stored phone number does not parse", e))
        })?;
        for key in [format!("sms-user:{user}"), format!("sms-number:{}", phone.as_str())] {
            let decision = self.limiter.hit(&key, self.limits.max, self.limits.window).await?;
            if !decision.allowed {
                return Err(AppError::RateLimited { retry_after: decision.reset_after });
            }
        }
        let request =
            SmsCodeRequest { user_id: user.as_uuid(), purpose, origin: crate::jobs::Origin::of(ctx) };
        let payload = serde_json::to_value(&request)
            .map_err(|e| AppError::Internal(crate::Cause::context("could not encode an SMS request", e)))?;
        self.outbox.add(&kinds::SEND_SMS_CODE.message(payload), self.clock.now()).await?;
        Ok(SmsSent { phone: phone.masked(), expires_in: SMS_CODE_TTL })
    }
}

/// Runs `mfa.send_sms_code` jobs.
pub struct SendSmsCode {
    pub factors: Arc<dyn FactorStore>,
    pub codes: Arc<dyn EphemeralStore>,
    pub tokens: Arc<dyn TokenGenerator>,
    pub sms: Arc<dyn SmsSender>,
    pub audit: AuditTrail,
    /// The name in the message (`TOTP_ISSUER`).
    pub product: String,
}

#[async_trait]
impl JobHandler for SendSmsCode {
    fn kind(&self) -> JobKind {
        kinds::SEND_SMS_CODE
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let request: SmsCodeRequest = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(crate::Cause::context("unreadable SMS request", e)))?;
        let user = UserId(request.user_id);
        // The phone may have changed or gone since the request: text the
        // number the factor has now, or nothing.
        let Some(factor) = phone_for(self.factors.sms(user).await.map_err(JobError::retry)?, request.purpose)
        else {
            return Ok(());
        };
        let phone = PhoneNumber::from_stored(&factor.phone)
            .map_err(|e| JobError::Fatal(crate::Cause::context("a stored phone number does not parse", e)))?;
        let code = self.tokens.sms_code();
        let sent =
            SentSmsCode::new(request.purpose, &phone, self.tokens.refresh_token().expose().to_owned(), &code);
        let value = serde_json::to_vec(&sent)
            .map_err(|e| JobError::Fatal(crate::Cause::context("could not encode a texted code", e)))?;
        // Kept before it is sent: a code that arrives always works.
        self.codes.put(&sms_code_key(user), &value, SMS_CODE_TTL).await.map_err(JobError::retry)?;
        let body = format!(
            "{} code: {}. It works for {} minutes. Never share it; we will not ask for it.",
            self.product,
            code.expose(),
            SMS_CODE_TTL.whole_minutes()
        );
        match self.sms.send(phone.as_str(), &body).await {
            Ok(()) => {}
            Err(SmsError::Unavailable(cause)) => return Err(JobError::Retry(cause)),
            Err(SmsError::Rejected(cause)) => return Err(JobError::Fatal(cause)),
        }
        let details = json!({ "purpose": request.purpose.as_str(), "phone": phone.masked() });
        self.audit.record(AuditAction::SmsCodeSent, Some(user), &request.origin.context(), details).await;
        Ok(())
    }
}
