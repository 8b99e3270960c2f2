//! Tokens from the operating system's CSPRNG.

use portcullis_application::ports::TokenGenerator;
use portcullis_domain::secret::{Secret, encode_token};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};

#[derive(Debug, Default, Clone, Copy)]
pub struct OsTokenGenerator;

impl TokenGenerator for OsTokenGenerator {
    fn refresh_token(&self) -> Secret {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        encode_token(&bytes)
    }

    fn backup_code(&self) -> Secret {
        // RFC 4648 base32 without the look-alikes' trouble: lowercase letters
        // and 2–7, five bits a character, 16 characters = 80 bits.
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        Secret::new(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect::<String>())
    }

    fn sms_code(&self) -> Secret {
        // Uniform over 000000..=999999 (gen_range rejects the biased tail).
        let digits = portcullis_domain::mfa::SMS_CODE_DIGITS;
        let bound = 10u32.pow(u32::try_from(digits).unwrap_or(6));
        Secret::new(format!("{:0digits$}", OsRng.gen_range(0..bound)))
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

    #[test]
    fn sms_codes_are_six_digits() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| OsTokenGenerator.sms_code().expose().to_owned()).collect();
        assert!(codes.len() > 190, "random, not repeated: {}", codes.len());
        for code in &codes {
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.bytes().all(|c| c.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn backup_codes_are_16_base32_characters() {
        let codes: std::collections::HashSet<String> =
            (0..50).map(|_| OsTokenGenerator.backup_code().expose().to_owned()).collect();
        assert_eq!(codes.len(), 50);
        for code in &codes {
            assert_eq!(code.len(), 16);
            assert!(code.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)), "{code}");
            assert_eq!(portcullis_domain::mfa::normalize_code(code), *code, "canonical already");
        }
    }
}
