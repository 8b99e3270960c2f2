//! The user account.

use crate::email::Email;
use crate::error::ValidationErrors;
use crate::ids::UserId;
use std::fmt;
use time::OffsetDateTime;

/// A name shown to people: trimmed, 1–100 characters, no control characters.
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
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationErrors::single(
                field,
                "invalid_characters",
                "display_name must not contain control characters",
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

    #[test]
    fn hash_never_prints() {
        assert_eq!(format!("{:?}", PasswordHash("$argon2id$x".into())), "PasswordHash([REDACTED])");
    }
}
