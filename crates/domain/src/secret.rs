//! Secrets in memory: passwords, tokens and codes. They never print, and the
//! stored form of a token is its SHA-256, compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A secret string (password, refresh token, code). `Debug` and `Display` show
/// `[REDACTED]`, so a secret cannot leak through a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext. Call sites are few and greppable on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// SHA-256 of a high-entropy token: what storage keeps instead of the token.
/// (Low-entropy secrets such as passwords use Argon2 instead.)
#[derive(Clone, Copy, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &Secret) -> Self {
        Self(Sha256::digest(token.expose().as_bytes()).into())
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The whole hash in lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Short, non-reversible label for logs (first 8 hex chars of the hash).
    pub fn fingerprint(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl PartialEq for TokenHash {
    /// Constant time, so comparing hashes leaks nothing through timing.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", self.fingerprint())
    }
}

/// Encodes random bytes as a URL-safe token (base64url, no padding).
pub fn encode_token(bytes: &[u8]) -> Secret {
    Secret(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret([REDACTED]) [REDACTED]");
    }

    #[test]
    fn token_hash_is_sha256() {
        let h = TokenHash::of(&Secret::new("abc"));
        assert_eq!(h.fingerprint(), "ba7816bf");
        assert_eq!(h, TokenHash::of(&Secret::new("abc")));
        assert_ne!(h, TokenHash::of(&Secret::new("abd")));
    }

    #[test]
    fn encode_is_base64url() {
        assert_eq!(encode_token(&[0xfb, 0xff]).expose(), "-_8");
    }
}
