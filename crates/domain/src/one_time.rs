//! Single-use tokens sent by mail (verification, password reset, magic link).

use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    EmailVerification,
    PasswordReset,
    MagicLink,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
            Self::MagicLink => "magic_link",
        }
    }

    /// How long a link stays valid by default (magic links: `MAGIC_LINK_TTL`
    /// overrides; ASVS 2.7.2 asks for at most 10 minutes).
    pub fn lifetime(self) -> Duration {
        match self {
            Self::EmailVerification => Duration::hours(24),
            Self::PasswordReset => Duration::minutes(30),
            Self::MagicLink => Duration::minutes(10),
        }
    }
}
