/// Why a ciphertext could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Too short, or not in the expected format.
    #[error("the ciphertext is malformed")]
    Malformed,
    /// Sealed under a key this server does not have (`ENCRYPTION_KEYS`).
    #[error("the ciphertext names key {id:?}, which is not configured")]
    UnknownKey { id: String },
    /// The tag does not verify: the bytes or the context were changed.
    #[error("the ciphertext does not authenticate (tampered with, or another context)")]
    Tampered,
}

/// Encrypts secrets kept at rest (TOTP secrets, provider tokens, webhook
/// secrets). Each ciphertext names the key that sealed it, so keys rotate
/// without downtime: a new key encrypts, the older ones still decrypt.
/// `context` is authenticated, not stored: it binds a ciphertext to its
/// place (e.g. `totp:<user id>`), so one cannot be moved to another row.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Cipher: Send + Sync {
    fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8>;
    fn decrypt(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CipherError>;
}
