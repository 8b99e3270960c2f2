//! The identity use cases: register, login, refresh, logout, profile, password.

mod account;
mod login;
mod recovery;
mod refresh;
mod register;

#[cfg(test)]
mod tests;

use crate::audit_trail::AuditTrail;
use crate::ports::{
    AccessTokenIssuer, AuditLog, Clock, LockoutPolicy, LoginAttempts, OneTimeTokenStore, Outbox,
    PasswordHasher, RevocationList, SessionStore, TokenGenerator, UserRepository,
};
use crate::revocation::Revocations;
use portcullis_domain::password::PasswordPolicy;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use std::sync::Arc;
use time::Duration;

pub use account::ActivityPage;
pub use register::RegisterInput;

/// Tunables of the identity use cases (from configuration).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub password_policy: PasswordPolicy,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    /// Wrong passwords for one account from one source (IPv4 address or
    /// IPv6 /64): the fast lock.
    pub lockout: LockoutPolicy,
    /// Wrong passwords for one account from all sources together: the slow
    /// bound on distributed guessing.
    pub account_lockout: LockoutPolicy,
    /// Where the links in mails point (`{base}/verify-email?token=…`).
    pub app_base_url: String,
    /// Refuse password logins until the email is verified (403 EMAIL_NOT_VERIFIED).
    pub require_email_verification: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            refresh_token_ttl: Duration::days(7),
            refresh_reuse_grace: Duration::seconds(10),
            lockout: LockoutPolicy {
                threshold: 5,
                window: Duration::minutes(15),
                lock_for: Duration::minutes(15),
            },
            account_lockout: LockoutPolicy {
                threshold: 50,
                window: Duration::hours(1),
                lock_for: Duration::minutes(15),
            },
            app_base_url: "http://localhost:8080".to_owned(),
            require_email_verification: false,
        }
    }
}

/// Every port the identity use cases need.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionStore>,
    pub attempts: Arc<dyn LoginAttempts>,
    pub revocations: Arc<dyn RevocationList>,
    pub audit: Arc<dyn AuditLog>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub access_tokens: Arc<dyn AccessTokenIssuer>,
    pub token_generator: Arc<dyn TokenGenerator>,
    pub clock: Arc<dyn Clock>,
    /// Where promised mail is recorded (relayed to the job queue).
    pub outbox: Arc<dyn Outbox>,
    pub one_time_tokens: Arc<dyn OneTimeTokenStore>,
}

/// Access + refresh token, as login and refresh return them.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: Secret,
    pub expires_in: Duration,
    pub refresh_token: Secret,
}

#[derive(Debug, Clone)]
pub struct Authenticated {
    pub tokens: TokenPair,
    pub user: User,
}

/// How a refresh was answered: a new pair, or the current pair again (grace).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub authenticated: Authenticated,
    pub grace: bool,
}

#[derive(Clone)]
pub struct AuthService {
    ports: AuthPorts,
    settings: AuthSettings,
    audit: AuditTrail,
    revocations: Revocations,
}

impl AuthService {
    pub fn new(ports: AuthPorts, settings: AuthSettings) -> Self {
        let audit = AuditTrail::new(ports.audit.clone(), ports.clock.clone());
        let revocations = Revocations::new(
            ports.revocations.clone(),
            ports.sessions.clone(),
            ports.clock.clone(),
            ports.access_tokens.ttl(),
        );
        Self { ports, settings, audit, revocations }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn audit_trail(&self) -> &AuditTrail {
        &self.audit
    }

    pub fn access_tokens(&self) -> &Arc<dyn AccessTokenIssuer> {
        &self.ports.access_tokens
    }

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
        let policy = &self.settings.password_policy;
        errors.extend(policy.check_rules(field, password));
        let check = crate::ports::StrengthCheck { policy: policy.clone(), field, context };
        if errors.is_empty() {
            return Ok(check);
        }
        if password.expose().chars().count() <= policy.max_length {
            errors.extend(self.ports.hasher.estimate(password, check).await?);
        }
        Err(crate::AppError::Validation(errors))
    }
}

/// The account's own words, which make a password built from them weak.
pub(crate) fn strength_context(email: &str, display_name: Option<&str>) -> Vec<String> {
    let email = email.trim().to_lowercase();
    let mut context = vec![email.clone()];
    context.extend(email.split('@').next().filter(|l| !l.is_empty()).map(str::to_owned));
    context.extend(display_name.map(str::to_owned));
    context
}
