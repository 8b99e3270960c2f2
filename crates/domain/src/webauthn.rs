//! WebAuthn credentials (passkeys and security keys): what kinds there are,
//! what a name may be, and when a signature counter proves a clone. The
//! ceremonies' cryptography is an adapter's (webauthn-rs).

use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// Longest credential name, in characters.
pub const MAX_CREDENTIAL_NAME: usize = 64;
/// Credentials one account may register (each is a way in).
pub const MAX_CREDENTIALS_PER_USER: usize = 20;

/// What a credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A discoverable credential with user verification: a first factor
    /// (sign-in without a password).
    Passkey,
    /// A roaming authenticator used for presence: a second factor.
    SecurityKey,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 2] = [Self::Passkey, Self::SecurityKey];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The name a credential gets when none is given.
    pub fn default_name(self) -> &'static str {
        match self {
            Self::Passkey => "Passkey",
            Self::SecurityKey => "Security key",
        }
    }
}

/// A credential's name as the user typed it: trimmed, 1 to 64 characters,
/// no control characters.
pub fn credential_name(raw: &str) -> Result<String, ValidationErrors> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationErrors::single("name", "required", "name must not be empty"));
    }
    if name.chars().count() > MAX_CREDENTIAL_NAME {
        return Err(ValidationErrors::single("name", "too_long", "name must be at most 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationErrors::single("name", "invalid", "name must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// Whether an assertion's signature counter may follow the stored one. An
/// authenticator without a counter always says 0; one with a counter must
/// go up. A counter at or below the stored one means two copies of the key
/// are in use (a cloned authenticator): refused (WebAuthn §6.1.1).
pub fn counter_advances(stored: u32, presented: u32) -> bool {
    (stored == 0 && presented == 0) || presented > stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_must_go_up_unless_there_is_none() {
        let table = [
            (0, 0, true),
            (0, 1, true),
            (1, 2, true),
            (5, 100, true),
            (1, 1, false),
            (2, 1, false),
            (7, 0, false),
            (u32::MAX, u32::MAX, false),
        ];
        for (stored, presented, advances) in table {
            assert_eq!(counter_advances(stored, presented), advances, "{stored} -> {presented}");
        }
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(credential_name("  YubiKey 5C  "), Ok("YubiKey 5C".to_owned()));
        assert_eq!(credential_name(&"é".repeat(64)).map(|n| n.chars().count()), Ok(64));
        for (raw, code) in
            [("", "required"), ("   ", "required"), (&*"x".repeat(65), "too_long"), ("a\u{7}b", "invalid")]
        {
            assert_eq!(credential_name(raw).unwrap_err().0[0].code, code, "{raw:?}");
        }
        for kind in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CredentialKind::parse("platform"), None);
    }
}
