use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{LinkedAccount, LinkedAccountStore, StoreError};
use portcullis_domain::ids::UserId;
use std::sync::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

/// Linked provider accounts under one mutex, in linking order.
#[derive(Default)]
pub struct MemoryLinkedAccounts(Mutex<Vec<LinkedAccount>>);

#[async_trait]
impl LinkedAccountStore for MemoryLinkedAccounts {
    async fn link(&self, account: &LinkedAccount) -> Result<(), StoreError> {
        let mut all = lock(&self.0);
        if all.iter().any(|a| a.provider == account.provider && a.subject == account.subject) {
            return Err(StoreError::Conflict("provider_subject"));
        }
        all.push(account.clone());
        Ok(())
    }

    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, StoreError> {
        Ok(lock(&self.0).iter().find(|a| a.provider == provider && a.subject == subject).cloned())
    }

    async fn list(&self, user: UserId) -> Result<Vec<LinkedAccount>, StoreError> {
        let mut mine: Vec<LinkedAccount> =
            lock(&self.0).iter().filter(|a| a.user_id == user).cloned().collect();
        mine.sort_by_key(|a| a.created_at);
        Ok(mine)
    }

    async fn unlink(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        let before = all.len();
        all.retain(|a| !(a.user_id == user && a.id == id));
        Ok(all.len() < before)
    }

    async fn record_use(
        &self,
        id: Uuid,
        sealed: Option<Vec<u8>>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        match all.iter_mut().find(|a| a.id == id) {
            Some(a) => {
                a.sealed_tokens = sealed;
                a.last_used_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
