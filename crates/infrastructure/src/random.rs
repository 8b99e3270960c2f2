//! Tokens from the operating system's CSPRNG.

use portcullis_application::ports::TokenGenerator;
use portcullis_domain::secret::{Secret, encode_token};
use rand::RngCore;
use rand::rngs::OsRng;

#[derive(Debug, Default, Clone, Copy)]
pub struct OsTokenGenerator;

impl TokenGenerator for OsTokenGenerator {
    fn refresh_token(&self) -> Secret {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        encode_token(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_bytes_base64url_and_distinct() {
        let a = OsTokenGenerator.refresh_token();
        let b = OsTokenGenerator.refresh_token();
        assert_eq!(a.expose().len(), 43);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }
}
