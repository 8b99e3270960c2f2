//! The user account.

use crate::email::Email;
use crate::error::ValidationErrors;
use crate::ids::UserId;
use std::fmt;
use time::OffsetDateTime;

/// Invisible characters that change how text around them reads: bidi controls
/// (U+202E turns "gpj.exe" into "exe.jpg"), zero-width and other format
/// characters (Unicode category Cf), and line/paragraph separators.
fn is_format_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{070F}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// A name shown to people: trimmed, 1–100 characters, no control, format
/// (bidi, zero-width) or line-separator characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let trimmed = raw.trim();
        let field = "display_name";
        if trimmed.is_empty() {
            return Err(ValidationErrors::single(field, "required", "display_name must not be blank"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ValidationErrors::single(
                field,
                "too_long",
                "display_name must be at most 100 characters",
            ));
        }
        if trimmed.chars().any(|c| c.is_control() || is_format_or_separator(c)) {
            return Err(ValidationErrors::single(
                field,
                "invalid_characters",
                "display_name must not contain control, format (bidi, zero-width) or line-separator characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Argon2 PHC string (`$argon2id$v=19$m=…`). Opaque outside the hasher.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl PasswordHash {
    /// Stored instead of a hash when an account has no password any more
    /// (a password set before the address was proved was discarded). No
    /// password verifies against it.
    pub const UNUSABLE: &'static str = "!unusable";

    pub fn unusable() -> Self {
        Self(Self::UNUSABLE.to_owned())
    }

    pub fn is_usable(&self) -> bool {
        self.0 != Self::UNUSABLE
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: Option<DisplayName>,
    pub password_hash: PasswordHash,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the user proved control of the mailbox (verification or magic link).
    pub email_verified_at: Option<OffsetDateTime>,
    /// When an admin locked the account (no sign-in until unlocked).
    pub locked_at: Option<OffsetDateTime>,
}

impl User {
    /// The name to greet the user with in mail. Only once the address is
    /// verified: before that, whoever registered it chose the name, and a
    /// stranger's text ("URGENT … call +1 555…") must not reach the owner's
    /// inbox under our name.
    pub fn name_for_mail(&self) -> Option<&str> {
        self.email_verified_at.and(self.display_name.as_ref()).map(DisplayName::as_str)
    }
}

/// Changes a user may make to their own profile; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<DisplayName>>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_rules() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
    }

    /// ASVS review #12: bidi overrides, zero-width and separator characters
    /// are refused; ordinary letters of any script are not.
    #[test]
    fn format_and_separator_characters_are_refused() {
        for bad in [
            "Ada\u{202E}gpj.exe",
            "A\u{200B}da",
            "Ada\u{2028}URGENT",
            "Ada\u{2029}x",
            "\u{FEFF}Ada",
            "A\u{2066}d\u{2069}a",
            "Ada\u{00AD}",
        ] {
            let err = DisplayName::parse(bad).unwrap_err();
            assert_eq!(err.0[0].code, "invalid_characters", "{bad:?}");
        }
        for good in ["Ada Lovelace", "Ада", "李雷", "محمد", "Zoë-Renée O'Brien"] {
            assert!(DisplayName::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn names_reach_mail_only_once_the_address_is_verified() {
        let mut user = User {
            id: UserId::new(),
            email: Email::parse("ada@example.com").unwrap(),
            display_name: Some(DisplayName::parse("URGENT call +1 555 0100").unwrap()),
            password_hash: PasswordHash("h".into()),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            email_verified_at: None,
            locked_at: None,
        };
        assert_eq!(user.name_for_mail(), None);
        user.email_verified_at = Some(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(user.name_for_mail(), Some("URGENT call +1 555 0100"));
    }

    #[test]
    fn hash_never_prints() {
        assert_eq!(format!("{:?}", PasswordHash("$argon2id$x".into())), "PasswordHash([REDACTED])");
    }
}
