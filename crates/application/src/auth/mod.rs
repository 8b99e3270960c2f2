//! The identity use cases, one service per feature, each holding only the
//! ports (and shared parts) it uses:
//! - [`SignInService`]: password login, refresh rotation, logout, bearer checks;
//! - [`AccountService`]: registration, profile, password change, activity;
//! - [`MailedLinkService`]: verification, password reset, magic links.
//!
//! Parts they share: [`Passwords`] (policy, hasher, lockout counters),
//! [`SessionIssuer`] (opening and ending sessions) and [`Notices`] (mail
//! through the outbox, new-place detection). [`Identity::new`] is the
//! composition root of this context.

mod account;
mod issuer;
mod mfa;
mod notices;
mod oauth;
mod passwords;
mod recovery;
mod second_factor;
mod sign_in;
mod sms;
mod webauthn;

#[cfg(test)]
mod tests;

use crate::audit_trail::AuditTrail;
use crate::ports::{
    AccessTokenIssuer, AuditLog, Cipher, Clock, DeviceStore, EphemeralStore, FactorStore, LockoutPolicy,
    LoginAttempts, OneTimeTokenStore, Outbox, PasswordHasher, RateLimiter, RevocationList, SessionStore,
    TokenGenerator, TotpAlgorithm, UserRepository,
};
use crate::revocation::Revocations;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::password::PasswordPolicy;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub use account::{AccountService, ActivityPage};
pub use issuer::SessionIssuer;
pub use mfa::{MfaService, MfaStatus, Proof};
pub use notices::Notices;
pub use oauth::{OAUTH_STATE_TTL, OAuthOutcome, OAuthService, OAuthSettings};
pub use passwords::Passwords;
pub use recovery::MailedLinkService;
pub use second_factor::{CHALLENGE_TTL, Challenge, Check, SecondFactors};
pub use sign_in::{SignInService, SignInSettings};
pub use sms::{SendSmsCode, SmsCodeRequest, SmsCodes, SmsLimits, SmsSent};
pub use webauthn::{CEREMONY_TTL, Ceremonies, Ceremony, WebauthnService};

#[derive(Debug, Clone)]
pub struct RegisterInput {
    pub email: String,
    pub password: Secret,
    pub display_name: Option<String>,
}

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
    /// Idle and absolute session timeouts.
    pub session_limits: portcullis_domain::session::SessionLimits,
    /// Sensitive operations need a sign-in this recent (`REAUTH_WINDOW`).
    pub reauth_window: Duration,
    /// Texted codes per user and per number.
    pub sms_limits: SmsLimits,
    /// Where providers send the browser back (`OAUTH_REDIRECT_BASE_URL`).
    pub oauth_redirect_base_url: String,
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
            session_limits: portcullis_domain::session::SessionLimits {
                idle: Duration::days(7),
                absolute: Duration::days(30),
            },
            reauth_window: Duration::minutes(5),
            sms_limits: SmsLimits::default(),
            oauth_redirect_base_url: "http://localhost:8080".to_owned(),
        }
    }
}

/// The ports of the identity context, handed to [`Identity::new`] only: each
/// service keeps the ones it uses.
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
    pub devices: Arc<dyn DeviceStore>,
    /// Second factors and backup codes.
    pub factors: Arc<dyn FactorStore>,
    pub totp: Arc<dyn TotpAlgorithm>,
    /// Seals secrets kept at rest (TOTP secrets).
    pub cipher: Arc<dyn Cipher>,
    /// Sign-in challenges and texted codes (Redis, or memory).
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// Limits texted codes per user and per number.
    pub limiter: Arc<dyn RateLimiter>,
    /// Passkeys and security keys.
    pub credentials: Arc<dyn crate::ports::CredentialStore>,
    pub ceremonies: Arc<dyn crate::ports::WebauthnCeremonies>,
    /// OAuth 2.0 / OpenID Connect providers (`OAUTH_PROVIDERS`; none: every
    /// provider route answers 404).
    pub providers: Arc<dyn crate::ports::IdentityProviders>,
    pub linked: Arc<dyn crate::ports::LinkedAccountStore>,
}

/// The identity services, built together from the context's ports.
#[derive(Clone)]
pub struct Identity {
    pub sign_in: SignInService,
    pub accounts: AccountService,
    pub links: MailedLinkService,
    pub mfa: MfaService,
    pub webauthn: WebauthnService,
    pub oauth: OAuthService,
    /// The audit trail the services write to (also used by the http layer
    /// for rate-limit events).
    pub audit: AuditTrail,
    /// Publishes the verification keys (JWKS).
    pub keys: Arc<dyn AccessTokenIssuer>,
}

impl Identity {
    pub fn new(ports: AuthPorts, settings: AuthSettings) -> Self {
        let audit = AuditTrail::new(ports.audit.clone(), ports.clock.clone());
        let revocations = Revocations::new(
            ports.revocations.clone(),
            ports.sessions.clone(),
            ports.clock.clone(),
            ports.access_tokens.ttl(),
        );
        let passwords = Passwords {
            hasher: ports.hasher.clone(),
            attempts: ports.attempts.clone(),
            audit: audit.clone(),
            policy: settings.password_policy.clone(),
            lockout: settings.lockout,
            account_lockout: settings.account_lockout,
        };
        let notices = Notices {
            outbox: ports.outbox.clone(),
            audit_log: ports.audit.clone(),
            clock: ports.clock.clone(),
        };
        let issuer = SessionIssuer {
            sessions: ports.sessions.clone(),
            access_tokens: ports.access_tokens.clone(),
            token_generator: ports.token_generator.clone(),
            clock: ports.clock.clone(),
            revocations,
            refresh_token_ttl: settings.refresh_token_ttl,
            limits: settings.session_limits,
            audit_log: ports.audit.clone(),
            devices: ports.devices.clone(),
            notices: notices.clone(),
        };
        let second = SecondFactors {
            factors: ports.factors.clone(),
            totp: ports.totp.clone(),
            cipher: ports.cipher.clone(),
            challenges: ports.ephemeral.clone(),
            attempts: ports.attempts.clone(),
            lockout: settings.lockout,
            tokens: ports.token_generator.clone(),
            audit: audit.clone(),
            clock: ports.clock.clone(),
        };
        let ceremonies = Ceremonies {
            credentials: ports.credentials.clone(),
            ceremonies: ports.ceremonies.clone(),
            states: ports.ephemeral.clone(),
            tokens: ports.token_generator.clone(),
            clock: ports.clock.clone(),
        };
        Self {
            oauth: OAuthService {
                users: ports.users.clone(),
                providers: ports.providers.clone(),
                linked: ports.linked.clone(),
                credentials: ports.credentials.clone(),
                states: ports.ephemeral.clone(),
                cipher: ports.cipher.clone(),
                tokens: ports.token_generator.clone(),
                passwords: passwords.clone(),
                second: second.clone(),
                issuer: issuer.clone(),
                notices: notices.clone(),
                audit: audit.clone(),
                clock: ports.clock.clone(),
                settings: OAuthSettings {
                    redirect_base_url: settings.oauth_redirect_base_url.clone(),
                    reauth_window: settings.reauth_window,
                },
            },
            webauthn: WebauthnService {
                users: ports.users.clone(),
                parts: ceremonies.clone(),
                second: second.clone(),
                issuer: issuer.clone(),
                notices: notices.clone(),
                audit: audit.clone(),
                clock: ports.clock.clone(),
                reauth_window: settings.reauth_window,
            },
            mfa: MfaService {
                webauthn: ceremonies,
                users: ports.users.clone(),
                second: second.clone(),
                sms: SmsCodes {
                    factors: ports.factors.clone(),
                    limiter: ports.limiter.clone(),
                    outbox: ports.outbox.clone(),
                    clock: ports.clock.clone(),
                    limits: settings.sms_limits,
                },
                passwords: passwords.clone(),
                issuer: issuer.clone(),
                notices: notices.clone(),
                audit: audit.clone(),
                clock: ports.clock.clone(),
                reauth_window: settings.reauth_window,
            },
            sign_in: SignInService {
                users: ports.users.clone(),
                passwords: passwords.clone(),
                second: second.clone(),
                issuer: issuer.clone(),
                notices: notices.clone(),
                audit: audit.clone(),
                clock: ports.clock.clone(),
                settings: SignInSettings {
                    refresh_reuse_grace: settings.refresh_reuse_grace,
                    require_email_verification: settings.require_email_verification,
                },
            },
            accounts: AccountService {
                users: ports.users.clone(),
                passwords: passwords.clone(),
                issuer: issuer.clone(),
                notices: notices.clone(),
                one_time_tokens: ports.one_time_tokens.clone(),
                audit_log: ports.audit.clone(),
                audit: audit.clone(),
                clock: ports.clock.clone(),
                reauth_window: settings.reauth_window,
            },
            links: MailedLinkService {
                users: ports.users,
                passwords,
                issuer,
                second,
                notices,
                one_time_tokens: ports.one_time_tokens,
                audit: audit.clone(),
                clock: ports.clock,
            },
            audit,
            keys: ports.access_tokens,
        }
    }
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

/// How a first factor ended: signed in, or a second factor is asked for.
#[derive(Debug, Clone)]
pub enum SignIn {
    Complete(Authenticated),
    MfaRequired(Challenge),
}

/// How a refresh was answered: a new pair, or the current pair again (grace).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub authenticated: Authenticated,
    pub grace: bool,
}

/// Refuses a sensitive operation unless the caller authenticated within
/// `window` (`REAUTH_WINDOW`): 401 REAUTHENTICATION_REQUIRED, then step up.
pub(crate) fn require_recent(
    claims: &crate::ports::AccessClaims,
    now: OffsetDateTime,
    window: Duration,
) -> Result<(), crate::AppError> {
    if portcullis_domain::session::recently_authenticated(claims.auth_time, now, window) {
        Ok(())
    } else {
        Err(crate::AppError::ReauthenticationRequired)
    }
}

/// A credential changed: reset and magic links mailed before stop working.
pub(crate) async fn end_pending_links(
    tokens: &dyn OneTimeTokenStore,
    now: OffsetDateTime,
    user: &User,
) -> Result<(), crate::AppError> {
    tokens.invalidate(user.id, &[TokenPurpose::PasswordReset, TokenPurpose::MagicLink], now).await?;
    Ok(())
}

/// The account's own words, which make a password built from them weak.
pub(crate) fn strength_context(email: &str, display_name: Option<&str>) -> Vec<String> {
    let email = email.trim().to_lowercase();
    let mut context = vec![email.clone()];
    context.extend(email.split('@').next().filter(|l| !l.is_empty()).map(str::to_owned));
    context.extend(display_name.map(str::to_owned));
    context
}
