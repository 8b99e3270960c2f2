//! HMAC-SHA256 signed links to Portcullis's own `/storage` routes: the
//! presigned URLs of the memory and local-disk stores. The signature covers
//! the method, the key, the expiry and the size (PUT) or download name (GET);
//! it is checked in constant time (`hmac`'s `verify_slice`).

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use portcullis_application::ports::{
    LinkAccess, LinkVerifier, ObjectKey, ObjectStoreError, PresignedUrl, UrlPresigner,
};
use portcullis_domain::secret::Secret;
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The shortest `PRESIGNED_URL_SECRET` accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

pub struct SignedUrls {
    secret: Secret,
    /// Where `/storage` is reachable, e.g. `https://api.example.com/storage`.
    base_url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("PRESIGNED_URL_SECRET must be at least {MIN_SECRET_LEN} bytes")]
pub struct WeakSecret;

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl SignedUrls {
    pub fn new(secret: Secret, base_url: &str) -> Result<Self, WeakSecret> {
        if secret.expose().len() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        Ok(Self { secret, base_url: base_url.trim_end_matches('/').to_owned() })
    }

    fn mac(&self, key: &ObjectKey, access: &LinkAccess, expires: i64) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(self.secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        let detail = match access {
            LinkAccess::Put { size } => format!("PUT\n{size}"),
            LinkAccess::Get { filename } => format!("GET\n{filename}"),
        };
        mac.update(format!("portcullis-storage-v1\n{detail}\n{key}\n{expires}").as_bytes());
        mac
    }

    fn signature(&self, key: &ObjectKey, access: &LinkAccess, expires: i64) -> String {
        self.mac(key, access, expires).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn link(&self, key: &ObjectKey, access: &LinkAccess, expires_at: OffsetDateTime) -> String {
        let expires = expires_at.unix_timestamp();
        let signature = self.signature(key, access, expires);
        let detail = match access {
            LinkAccess::Put { size } => format!("size={size}"),
            LinkAccess::Get { filename } => format!("filename={}", encode(filename)),
        };
        format!("{}/{key}?{detail}&expires={expires}&signature={signature}", self.base_url)
    }
}

fn hex(signature: &str) -> Option<Vec<u8>> {
    if signature.len() != 64 {
        return None;
    }
    (0..64).step_by(2).map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok()).collect()
}

impl LinkVerifier for SignedUrls {
    fn verify(&self, key: &ObjectKey, access: &LinkAccess, expires: i64, signature: &str) -> bool {
        match hex(signature) {
            Some(bytes) => self.mac(key, access, expires).verify_slice(&bytes).is_ok(),
            None => false,
        }
    }
}

#[async_trait]
impl UrlPresigner for SignedUrls {
    async fn presign_put(
        &self,
        key: &ObjectKey,
        size: u64,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError> {
        Ok(PresignedUrl {
            url: self.link(key, &LinkAccess::Put { size }, expires_at),
            method: "PUT",
            headers: vec![("Content-Length".into(), size.to_string())],
            expires_at,
        })
    }

    async fn presign_get(
        &self,
        key: &ObjectKey,
        filename: &str,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError> {
        Ok(PresignedUrl {
            url: self.link(key, &LinkAccess::Get { filename: filename.to_owned() }, expires_at),
            method: "GET",
            headers: Vec::new(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> SignedUrls {
        SignedUrls::new(Secret::new("s".repeat(32)), "http://localhost:8080/storage/")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn parts(url: &str) -> (String, Vec<(String, String)>) {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        (path.to_owned(), pairs)
    }

    #[test]
    fn a_signed_link_verifies_and_any_change_breaks_it() {
        let s = signer();
        let key = ObjectKey::new("files/u/f").unwrap_or_else(|e| panic!("{e}"));
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let url = s.link(&key, &LinkAccess::Put { size: 42 }, at);
        let (path, query) = parts(&url);
        assert_eq!(path, "http://localhost:8080/storage/files/u/f");
        let sig = query.iter().find(|(k, _)| k == "signature").map(|(_, v)| v.clone()).unwrap_or_default();
        let expires = at.unix_timestamp();
        assert!(s.verify(&key, &LinkAccess::Put { size: 42 }, expires, &sig));
        assert!(!s.verify(&key, &LinkAccess::Put { size: 43 }, expires, &sig), "size");
        assert!(!s.verify(&key, &LinkAccess::Put { size: 42 }, expires + 1, &sig), "expiry");
        let other = ObjectKey::new("files/u/g").unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.verify(&other, &LinkAccess::Put { size: 42 }, expires, &sig), "key");
        assert!(!s.verify(&key, &LinkAccess::Get { filename: "42".into() }, expires, &sig), "method");
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert!(!s.verify(
            &key,
            &LinkAccess::Put { size: 42 },
            expires,
            &String::from_utf8(flipped).unwrap_or_default()
        ));
        assert!(!s.verify(&key, &LinkAccess::Put { size: 42 }, expires, "zz"), "not hex");
        let other_secret =
            SignedUrls::new(Secret::new("t".repeat(32)), "http://x").unwrap_or_else(|e| panic!("{e}"));
        assert!(!other_secret.verify(&key, &LinkAccess::Put { size: 42 }, expires, &sig), "secret");
    }

    #[test]
    fn download_names_are_encoded_and_signed() {
        let s = signer();
        let key = ObjectKey::new("files/u/f").unwrap_or_else(|e| panic!("{e}"));
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let access = LinkAccess::Get { filename: "Q1 report & co.xlsx".into() };
        let (_, query) = parts(&s.link(&key, &access, at));
        assert!(query.contains(&("filename".into(), "Q1 report & co.xlsx".into())), "{query:?}");
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(SignedUrls::new(Secret::new("short"), "http://x").is_err());
    }
}
