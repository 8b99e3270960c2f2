use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{CredentialStore, StoreError, WebauthnCredential};
use portcullis_domain::ids::UserId;
use portcullis_domain::webauthn::{CredentialKind, counter_advances};
use std::sync::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

/// WebAuthn credentials under one mutex, in registration order.
#[derive(Default)]
pub struct MemoryCredentialStore(Mutex<Vec<WebauthnCredential>>);

impl MemoryCredentialStore {
    /// A user's credentials of `kind` (the factor store counts security keys).
    pub(crate) fn count(&self, user: UserId, kind: CredentialKind) -> usize {
        lock(&self.0).iter().filter(|c| c.user_id == user && c.kind == kind).count()
    }

    pub(crate) fn remove_kind(&self, user: UserId, kind: CredentialKind) -> usize {
        let mut all = lock(&self.0);
        let before = all.len();
        all.retain(|c| !(c.user_id == user && c.kind == kind));
        before - all.len()
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn add(&self, credential: &WebauthnCredential) -> Result<(), StoreError> {
        let mut all = lock(&self.0);
        if all.iter().any(|c| c.credential_id == credential.credential_id) {
            return Err(StoreError::Conflict("credential_id"));
        }
        all.push(credential.clone());
        Ok(())
    }

    async fn list(&self, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError> {
        let mut mine: Vec<WebauthnCredential> =
            lock(&self.0).iter().filter(|c| c.user_id == user).cloned().collect();
        mine.sort_by_key(|c| c.created_at);
        Ok(mine)
    }

    async fn find_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        Ok(lock(&self.0).iter().find(|c| c.credential_id == credential_id).cloned())
    }

    async fn rename(&self, user: UserId, id: Uuid, name: &str) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        match all.iter_mut().find(|c| c.user_id == user && c.id == id) {
            Some(c) => {
                c.name = name.to_owned();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remove(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        let before = all.len();
        all.retain(|c| !(c.user_id == user && c.id == id));
        Ok(all.len() < before)
    }

    async fn record_use(
        &self,
        id: Uuid,
        sign_count: u32,
        data: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        match all.iter_mut().find(|c| c.id == id) {
            Some(c) if counter_advances(c.sign_count, sign_count) => {
                c.sign_count = sign_count;
                c.data = data.to_owned();
                c.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
