//! AES-256-GCM with a keyring (`ENCRYPTION_KEYS`, `ENCRYPTION_KEY_ID`).
//!
//! A ciphertext is `1 | id length | key id | 96-bit random nonce | sealed
//! bytes and tag`. The header (version and key id) is authenticated along
//! with the caller's context, so neither can be swapped unnoticed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use portcullis_application::ports::{Cipher, CipherError};
use rand::RngCore;
use rand::rngs::OsRng;
use std::collections::HashMap;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Key ids: 1–32 of `A-Z a-z 0-9 _ -`.
const MAX_ID_LEN: usize = 32;

/// What is wrong with a keyring's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("expected id:base64 pairs separated by commas, e.g. 2026a:<32 bytes in base64>")]
    Format,
    #[error("key id {0:?} must be 1–32 of A-Z a-z 0-9 _ -")]
    BadId(String),
    #[error("key {0:?} is not standard base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)")]
    BadKey(String),
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
    #[error("no key named {0:?} (ENCRYPTION_KEY_ID must name one of ENCRYPTION_KEYS)")]
    NoCurrent(String),
    #[error("several keys: ENCRYPTION_KEY_ID must name the one that encrypts")]
    CurrentUnnamed,
}

/// Parses `ENCRYPTION_KEYS` (`id:base64,id:base64`) into ids and 32-byte keys.
pub fn parse_keys(raw: &str) -> Result<Vec<(String, [u8; 32])>, KeyringError> {
    let mut keys: Vec<(String, [u8; 32])> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, key) = pair.split_once(':').ok_or(KeyringError::Format)?;
        let id = id.trim();
        let valid_id = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_id {
            return Err(KeyringError::BadId(id.to_owned()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| KeyringError::BadKey(id.to_owned()))?;
        if keys.iter().any(|(known, _)| known == id) {
            return Err(KeyringError::Duplicate(id.to_owned()));
        }
        keys.push((id.to_owned(), bytes));
    }
    if keys.is_empty() {
        return Err(KeyringError::Format);
    }
    Ok(keys)
}

/// The keyring: every configured key decrypts; the current one encrypts.
pub struct AesGcmCipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("AesGcmCipher").field("current", &self.current).field("key_ids", &ids).finish()
    }
}

impl AesGcmCipher {
    /// `current` names the key that encrypts; `None` is fine with one key.
    pub fn new(keys: &[(String, [u8; 32])], current: Option<&str>) -> Result<Self, KeyringError> {
        let current = match (current, keys) {
            (Some(id), _) => id.to_owned(),
            (None, [(only, _)]) => only.clone(),
            (None, _) => return Err(KeyringError::CurrentUnnamed),
        };
        if !keys.iter().any(|(id, _)| *id == current) {
            return Err(KeyringError::NoCurrent(current));
        }
        let keys = keys
            .iter()
            .map(|(id, key)| (id.clone(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))))
            .collect();
        Ok(Self { current, keys })
    }

    /// A random key for this process only: what it seals cannot be read
    /// after a restart (the in-memory mode, where nothing outlives it).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self {
            current: "ephemeral".into(),
            keys: HashMap::from([(
                "ephemeral".to_owned(),
                Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            )]),
        }
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }
}

fn header(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN);
    out.push(VERSION);
    // Ids are at most 32 bytes (checked when the keyring is built).
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out
}

fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    [header, context].concat()
}

impl Cipher for AesGcmCipher {
    fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut out = header(&self.current);
        let aad = aad(&out, context);
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        // The current key exists (checked at construction); AES-GCM fails only
        // on inputs past 64 GiB.
        let Some(key) = self.keys.get(&self.current) else { return Vec::new() };
        match key.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad }) {
            Ok(sealed) => out.extend(sealed),
            Err(_) => return Vec::new(),
        }
        out
    }

    fn decrypt(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CipherError> {
        let (&version, rest) = sealed.split_first().ok_or(CipherError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(CipherError::Malformed)?;
        let id_len = usize::from(id_len);
        if version != VERSION || id_len == 0 || rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(CipherError::Malformed);
        }
        let (id, rest) = rest.split_at(id_len);
        let id = std::str::from_utf8(id).map_err(|_| CipherError::Malformed)?;
        let key = self.keys.get(id).ok_or_else(|| CipherError::UnknownKey { id: id.to_owned() })?;
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let aad = aad(&sealed[..2 + id_len], context);
        key.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: &aad })
            .map_err(|_| CipherError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> [u8; 32] {
        [byte; 32]
    }

    fn ring(keys: &[(&str, u8)], current: Option<&str>) -> AesGcmCipher {
        let keys: Vec<(String, [u8; 32])> = keys.iter().map(|(id, b)| ((*id).to_owned(), key(*b))).collect();
        AesGcmCipher::new(&keys, current).unwrap()
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let cipher = ring(&[("a", 1)], None);
        let one = cipher.encrypt(b"JBSWY3DPEHPK3PXP", b"totp:ada");
        let two = cipher.encrypt(b"JBSWY3DPEHPK3PXP", b"totp:ada");
        assert_ne!(one, two, "random nonces");
        assert_eq!(cipher.decrypt(&one, b"totp:ada").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(cipher.decrypt(&two, b"totp:ada").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(cipher.decrypt(&cipher.encrypt(b"", b""), b"").unwrap(), b"");
        assert!(!one.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"), "no plaintext inside");
    }

    #[test]
    fn tampering_and_another_context_are_refused() {
        let cipher = ring(&[("a", 1)], None);
        let sealed = cipher.encrypt(b"secret", b"totp:ada");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(cipher.decrypt(&bad, b"totp:ada").is_err(), "byte {i} flipped");
        }
        assert_eq!(cipher.decrypt(&sealed, b"totp:bob"), Err(CipherError::Tampered));
        assert_eq!(cipher.decrypt(&sealed[..sealed.len() - 1], b"totp:ada"), Err(CipherError::Tampered));
        for short in [&[][..], &[1][..], &[1, 1, b'a'][..], &sealed[..3 + NONCE_LEN]] {
            assert_eq!(cipher.decrypt(short, b"totp:ada"), Err(CipherError::Malformed), "{short:?}");
        }
        let mut wrong_version = sealed.clone();
        wrong_version[0] = 2;
        assert_eq!(cipher.decrypt(&wrong_version, b"totp:ada"), Err(CipherError::Malformed));
    }

    #[test]
    fn keys_rotate_and_an_unknown_key_is_named() {
        let old = ring(&[("2025", 1)], None);
        let sealed_before = old.encrypt(b"secret", b"ctx");
        // The new key encrypts; the old one still decrypts.
        let rotated = ring(&[("2025", 1), ("2026", 2)], Some("2026"));
        let sealed_after = rotated.encrypt(b"secret", b"ctx");
        assert_eq!(rotated.decrypt(&sealed_before, b"ctx").unwrap(), b"secret");
        assert_eq!(rotated.decrypt(&sealed_after, b"ctx").unwrap(), b"secret");
        assert_eq!(old.decrypt(&sealed_after, b"ctx"), Err(CipherError::UnknownKey { id: "2026".into() }));
        // Same id, other key bytes: refused, not garbage.
        let impostor = ring(&[("2025", 9)], None);
        assert_eq!(impostor.decrypt(&sealed_before, b"ctx"), Err(CipherError::Tampered));
        assert!(AesGcmCipher::ephemeral().decrypt(&sealed_before, b"ctx").is_err());
    }

    #[test]
    fn keyrings_are_checked_when_read() {
        let k = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let parsed = parse_keys(&format!(" a:{k} , b-2:{k} ")).unwrap();
        assert_eq!(parsed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["a", "b-2"]);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let table = [
            (String::new(), KeyringError::Format),
            (k.clone(), KeyringError::Format),
            (format!(":{k}"), KeyringError::BadId(String::new())),
            (format!("a b:{k}"), KeyringError::BadId("a b".into())),
            (format!("{}:{k}", "x".repeat(33)), KeyringError::BadId("x".repeat(33))),
            (format!("a:{short}"), KeyringError::BadKey("a".into())),
            ("a:not base64!".to_owned(), KeyringError::BadKey("a".into())),
            (format!("a:{k},a:{k}"), KeyringError::Duplicate("a".into())),
        ];
        for (raw, expected) in table {
            assert_eq!(parse_keys(&raw).map(|_| ()), Err(expected), "{raw:?}");
        }
        assert_eq!(AesGcmCipher::new(&parsed, None).map(|_| ()), Err(KeyringError::CurrentUnnamed));
        assert_eq!(
            AesGcmCipher::new(&parsed, Some("c")).map(|_| ()),
            Err(KeyringError::NoCurrent("c".into()))
        );
        assert_eq!(AesGcmCipher::new(&parsed, Some("b-2")).unwrap().current_key_id(), "b-2");
        assert!(!format!("{:?}", AesGcmCipher::new(&parsed, Some("a")).unwrap()).contains(&k));
    }
}
