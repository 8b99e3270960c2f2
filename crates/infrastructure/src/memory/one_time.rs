use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Consumed, OneTimeTokenStore, StoreError};
use portcullis_domain::ids::UserId;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::TokenHash;
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

struct Entry {
    purpose: TokenPurpose,
    user_id: UserId,
    expires_at: OffsetDateTime,
    used: bool,
}

#[derive(Default)]
pub struct MemoryOneTimeTokens(Mutex<HashMap<[u8; 32], Entry>>);

#[async_trait]
impl OneTimeTokenStore for MemoryOneTimeTokens {
    async fn issue(
        &self,
        purpose: TokenPurpose,
        user_id: UserId,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tokens = lock(&self.0);
        if tokens.contains_key(hash.as_bytes()) {
            return Err(StoreError::Conflict("one-time token"));
        }
        // Drop what can never be used again, and supersede older links.
        tokens.retain(|_, e| !e.used && e.expires_at > now);
        for entry in tokens.values_mut() {
            if entry.user_id == user_id && entry.purpose == purpose {
                entry.used = true;
            }
        }
        tokens.insert(*hash.as_bytes(), Entry { purpose, user_id, expires_at, used: false });
        Ok(())
    }

    async fn consume(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError> {
        let mut tokens = lock(&self.0);
        Ok(match tokens.get_mut(hash.as_bytes()) {
            Some(e) if e.purpose == purpose && !e.used && e.expires_at > now => {
                e.used = true;
                Consumed::Valid(e.user_id)
            }
            Some(e) if e.purpose == purpose && !e.used => Consumed::Expired,
            _ => Consumed::Invalid,
        })
    }

    async fn peek(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError> {
        let tokens = lock(&self.0);
        Ok(match tokens.get(hash.as_bytes()) {
            Some(e) if e.purpose == purpose && !e.used && e.expires_at > now => Consumed::Valid(e.user_id),
            Some(e) if e.purpose == purpose && !e.used => Consumed::Expired,
            _ => Consumed::Invalid,
        })
    }

    async fn invalidate(
        &self,
        user_id: UserId,
        purposes: &[TokenPurpose],
        _now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut tokens = lock(&self.0);
        let mut ended = 0;
        for entry in tokens.values_mut() {
            if entry.user_id == user_id && !entry.used && purposes.contains(&entry.purpose) {
                entry.used = true;
                ended += 1;
            }
        }
        Ok(ended)
    }
}
