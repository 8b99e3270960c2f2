//! Security events: what happened, to whom, from where, how serious. Details are
//! redacted before they are stored or logged.

use crate::ids::{AuditEventId, UserId};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    Logout,
    TokenRefreshed,
    RefreshTokenReuseDetected,
    PasswordChanged,
    ProfileUpdated,
    RateLimitExceeded,
    AccountLocked,
    EmailVerificationRequested,
    EmailVerified,
    PasswordResetRequested,
    PasswordReset,
    MagicLinkRequested,
    /// The address was proved for the first time by a sign-in link: the
    /// sessions and password set up before were discarded.
    UnverifiedSetupDiscarded,
    /// A refresh token was refused (unknown, expired, revoked session).
    RefreshRefused,
    /// An access token was refused (invalid, expired, revoked).
    AccessTokenRejected,
    /// A mailed link's token did not redeem (unknown, used, expired).
    LinkRedemptionFailed,
    /// A password check was refused because the account is locked.
    LoginRefusedLocked,
    /// An authenticated caller was refused an action (403).
    AccessDenied,
    /// A file was uploaded (direct, or a presigned upload confirmed).
    FileUploaded,
    /// The virus scanner found something: the file is quarantined.
    FileInfected,
    /// A file moved in its pipeline (every transition but to `infected`).
    FileStatusChanged,
    FileDeleted,
    /// A quarantined file's bytes were removed after the retention period.
    FilePurged,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    /// A user's roles were set (by an admin, the bootstrap, an invitation).
    UserRolesChanged,
    /// A user ended one of their sessions, or all but the current one.
    SessionRevoked,
    /// A user marked a device trusted, or not.
    DeviceTrustChanged,
    /// A user removed a device (its sessions ended).
    DeviceRemoved,
    /// An admin locked an account (its sessions ended).
    UserLocked,
    UserUnlocked,
    /// An admin ended every session of an account.
    UserSessionsEnded,
    /// An admin sent a dead job back to its queue.
    JobRetried,
    /// An admin invited an address (with roles).
    InvitationCreated,
    /// An admin withdrew an invitation.
    InvitationRevoked,
    /// An invitation was accepted: a new account, or roles added to one.
    InvitationAccepted,
    /// A second factor (TOTP) was confirmed and turned on.
    MfaEnabled,
    /// The second factor was turned off.
    MfaDisabled,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
    /// A first factor succeeded and a second-factor challenge was opened.
    MfaChallengeIssued,
    /// A second-factor code was wrong, replayed or not for this account.
    MfaFailed,
    /// The user proved who they are again (step-up) in a session.
    Reauthenticated,
    /// A code was texted to a phone (enrolment, sign-in or step-up).
    SmsCodeSent,
    /// A passkey or security key was registered.
    WebauthnRegistered,
    /// A passkey or security key was removed.
    WebauthnRemoved,
    /// An account at an OAuth/OIDC provider was linked.
    OAuthLinked,
    /// A linked provider account was removed.
    OAuthUnlinked,
}

impl AuditAction {
    pub const ALL: [AuditAction; 51] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::TokenRefreshed,
        Self::RefreshTokenReuseDetected,
        Self::PasswordChanged,
        Self::ProfileUpdated,
        Self::RateLimitExceeded,
        Self::AccountLocked,
        Self::EmailVerificationRequested,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::MagicLinkRequested,
        Self::UnverifiedSetupDiscarded,
        Self::RefreshRefused,
        Self::AccessTokenRejected,
        Self::LinkRedemptionFailed,
        Self::LoginRefusedLocked,
        Self::AccessDenied,
        Self::FileUploaded,
        Self::FileInfected,
        Self::FileStatusChanged,
        Self::FileDeleted,
        Self::FilePurged,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::UserRolesChanged,
        Self::SessionRevoked,
        Self::DeviceTrustChanged,
        Self::DeviceRemoved,
        Self::UserLocked,
        Self::UserUnlocked,
        Self::UserSessionsEnded,
        Self::JobRetried,
        Self::InvitationCreated,
        Self::InvitationRevoked,
        Self::InvitationAccepted,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::BackupCodesRegenerated,
        Self::MfaChallengeIssued,
        Self::MfaFailed,
        Self::Reauthenticated,
        Self::SmsCodeSent,
        Self::WebauthnRegistered,
        Self::WebauthnRemoved,
        Self::OAuthLinked,
        Self::OAuthUnlinked,
    ];

    /// Stable name, used in storage, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "auth.login.succeeded",
            Self::LoginFailed => "auth.login.failed",
            Self::Logout => "auth.logout",
            Self::TokenRefreshed => "auth.token.refreshed",
            Self::RefreshTokenReuseDetected => "auth.token.reuse_detected",
            Self::PasswordChanged => "user.password.changed",
            Self::ProfileUpdated => "user.profile.updated",
            Self::RateLimitExceeded => "security.rate_limit.exceeded",
            Self::AccountLocked => "security.account.locked",
            Self::EmailVerificationRequested => "user.email.verification_requested",
            Self::EmailVerified => "user.email.verified",
            Self::PasswordResetRequested => "auth.password.reset_requested",
            Self::PasswordReset => "auth.password.reset",
            Self::MagicLinkRequested => "auth.magic_link.requested",
            Self::UnverifiedSetupDiscarded => "security.unverified_setup.discarded",
            Self::RefreshRefused => "auth.refresh.refused",
            Self::AccessTokenRejected => "auth.access_token.rejected",
            Self::LinkRedemptionFailed => "auth.link.redemption_failed",
            Self::LoginRefusedLocked => "auth.login.refused_locked",
            Self::AccessDenied => "security.access.denied",
            Self::FileUploaded => "file.uploaded",
            Self::FileInfected => "security.file.infected",
            Self::FileStatusChanged => "file.status.changed",
            Self::FileDeleted => "file.deleted",
            Self::FilePurged => "file.quarantine.purged",
            Self::RoleCreated => "admin.role.created",
            Self::RoleUpdated => "admin.role.updated",
            Self::RoleDeleted => "admin.role.deleted",
            Self::UserRolesChanged => "admin.user.roles_changed",
            Self::SessionRevoked => "auth.session.revoked",
            Self::DeviceTrustChanged => "user.device.trust_changed",
            Self::DeviceRemoved => "user.device.removed",
            Self::UserLocked => "admin.user.locked",
            Self::UserUnlocked => "admin.user.unlocked",
            Self::UserSessionsEnded => "admin.user.sessions_ended",
            Self::JobRetried => "admin.queue.job_retried",
            Self::InvitationCreated => "admin.invitation.created",
            Self::InvitationRevoked => "admin.invitation.revoked",
            Self::InvitationAccepted => "auth.invitation.accepted",
            Self::MfaEnabled => "auth.mfa.enabled",
            Self::MfaDisabled => "auth.mfa.disabled",
            Self::BackupCodesRegenerated => "auth.mfa.backup_codes_regenerated",
            Self::MfaChallengeIssued => "auth.mfa.challenge_issued",
            Self::MfaFailed => "auth.mfa.failed",
            Self::Reauthenticated => "auth.reauthenticated",
            Self::SmsCodeSent => "auth.mfa.sms_sent",
            Self::WebauthnRegistered => "auth.webauthn.registered",
            Self::WebauthnRemoved => "auth.webauthn.removed",
            Self::OAuthLinked => "auth.oauth.linked",
            Self::OAuthUnlinked => "auth.oauth.unlinked",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// How serious the event is by default.
    pub fn severity(self) -> Severity {
        match self {
            Self::RefreshTokenReuseDetected
            | Self::AccountLocked
            | Self::UnverifiedSetupDiscarded
            | Self::FileInfected => Severity::Critical,
            Self::LoginFailed
            | Self::RateLimitExceeded
            | Self::PasswordChanged
            | Self::PasswordReset
            | Self::RefreshRefused
            | Self::AccessTokenRejected
            | Self::LinkRedemptionFailed
            | Self::LoginRefusedLocked
            | Self::AccessDenied
            | Self::RoleUpdated
            | Self::RoleDeleted
            | Self::UserRolesChanged
            | Self::UserLocked
            | Self::UserSessionsEnded
            | Self::MfaDisabled
            | Self::MfaFailed => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical].into_iter().find(|s| s.as_str() == name)
    }
}

/// Where a request came from; attached to every event it causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What the client says it is: its `X-Device-Id` when sent (checked
    /// and capped by the http layer), and its user agent's family and
    /// platform ("Firefox on Linux").
    pub device: Option<crate::device::DeviceHint>,
    pub request_id: Option<String>,
    /// The route that matched (its pattern, e.g. `/api/v1/files/{id}`), for
    /// refusals: which operation was refused.
    pub route: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub occurred_at: OffsetDateTime,
    pub action: AuditAction,
    pub severity: Severity,
    pub user_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Free-form, already redacted.
    pub details: Value,
}

impl AuditEvent {
    /// Builds an event; `details` is redacted here so no caller can forget.
    pub fn new(
        action: AuditAction,
        user_id: Option<UserId>,
        ctx: &RequestContext,
        occurred_at: OffsetDateTime,
        mut details: Value,
    ) -> Self {
        redact(&mut details);
        Self {
            id: AuditEventId::new(),
            occurred_at,
            action,
            severity: action.severity(),
            user_id,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            request_id: ctx.request_id.clone(),
            details,
        }
    }
}

pub const REDACTED: &str = "[REDACTED]";

/// True for keys that name secrets: password, token, secret, authorization,
/// cookie, credential, otp, and anything ending in "key" (api_key, private-key).
pub fn is_sensitive_key(key: &str) -> bool {
    let k: String =
        key.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    const MARKERS: [&str; 9] = [
        "password",
        "passwd",
        "token",
        "secret",
        "authorization",
        "cookie",
        "credential",
        "otp",
        "passphrase",
    ];
    MARKERS.iter().any(|m| k.contains(m)) || k.ends_with("key") || k == "code" || k.ends_with("hash")
}

/// Replaces the value of every sensitive key, at any depth, with `[REDACTED]`.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_sensitive_key(key) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_recursively() {
        let mut v = json!({
            "email": "a@b.co",
            "password": "hunter2",
            "nested": {"refresh_token": "x", "list": [{"API-Key": "k", "ok": 1}], "Authorization": "Bearer y"},
            "previous": {"display_name": "Ada"},
            "session_cookie": "c", "password_hash": "h", "code": "123456"
        });
        redact(&mut v);
        assert_eq!(
            v,
            json!({
                "email": "a@b.co",
                "password": REDACTED,
                "nested": {"refresh_token": REDACTED, "list": [{"API-Key": REDACTED, "ok": 1}], "Authorization": REDACTED},
                "previous": {"display_name": "Ada"},
                "session_cookie": REDACTED, "password_hash": REDACTED, "code": REDACTED
            })
        );
    }

    #[test]
    fn action_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
    }

    #[test]
    fn event_construction_redacts() {
        let e = AuditEvent::new(
            AuditAction::LoginFailed,
            None,
            &RequestContext::default(),
            OffsetDateTime::UNIX_EPOCH,
            json!({"password": "p"}),
        );
        assert_eq!(e.details, json!({"password": REDACTED}));
        assert_eq!(e.severity, Severity::Warning);
    }
}
