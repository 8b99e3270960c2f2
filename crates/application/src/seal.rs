//! Sealing a child refresh token for its parent.
//!
//! Rotation stores only hashes, yet the grace window must hand back the *same*
//! current token to a client that presents its parent again. So the child is
//! encrypted (AES-256-GCM) under a key derived from the parent token itself:
//! whoever presents the parent can recover the child, while the database — which
//! holds neither token — cannot.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use portcullis_domain::secret::{Secret, TokenHash};

const KEY_LABEL: &str = "portcullis/refresh-seal/v1:";
const NONCE_LEN: usize = 12;

fn cipher_for(parent: &Secret) -> Aes256Gcm {
    let key = TokenHash::of(&Secret::new(format!("{KEY_LABEL}{}", parent.expose())));
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_bytes()))
}

/// Encrypts `child` for `parent`. The nonce comes from the child's hash, so it is
/// unique per child (each key seals exactly one stored child).
pub fn seal_child(parent: &Secret, child: &Secret) -> Vec<u8> {
    let child_hash = TokenHash::of(child);
    let nonce_bytes = &child_hash.as_bytes()[..NONCE_LEN];
    let mut out = nonce_bytes.to_vec();
    // Encryption with a valid key and in-memory buffers cannot fail.
    if let Ok(ct) = cipher_for(parent).encrypt(Nonce::from_slice(nonce_bytes), child.expose().as_bytes()) {
        out.extend(ct);
    }
    out
}

/// Decrypts a sealed child with the parent that was presented; `None` if the
/// parent is wrong or the blob was tampered with.
pub fn unseal_child(parent: &Secret, sealed: &[u8]) -> Option<Secret> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let plain = cipher_for(parent).decrypt(Nonce::from_slice(nonce), ct).ok()?;
    String::from_utf8(plain).ok().map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_parent() {
        let parent = Secret::new("parent-token");
        let child = Secret::new("child-token");
        let sealed = seal_child(&parent, &child);
        assert_eq!(unseal_child(&parent, &sealed), Some(child));
        assert_eq!(unseal_child(&Secret::new("other"), &sealed), None);
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(unseal_child(&parent, &tampered), None);
        assert_eq!(unseal_child(&parent, &[1, 2]), None);
    }
}
